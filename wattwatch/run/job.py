"""Who ran a run, and in which scheduler job: the job-metadata columns of every row (CSV and ledger).

:func:`job_fields` reads, once per ``start()``, only the environment and a few small files -- no subprocess, no
network, no module heavier than :mod:`os` (``tests/run/test_import_cost.py`` guards the start path):

- **Slurm** (``sbatch``, ``srun``, ``salloc``): job id, array job id and task id, step, node list, the job's
  user and partition. ``slurm_step_id`` is the step as ``sacct`` names it: ``0``, ``1``... under ``srun``;
  ``batch`` for the batch script itself (``sbatch`` sets ``ENVIRONMENT=BATCH`` and no step id), ``extern`` and
  ``interactive`` for Slurm's special step numbers. A row then joins ``sacct -j <slurm_job_id>.<slurm_step_id>``
  (``slurm_job_id`` is the raw id, ``JobIDRaw``, also for a task of an array job).
- **Kubernetes**: pod, namespace and node from the downward API's environment variables. Kubernetes has no
  fixed names for them; wattwatch reads ``WATTWATCH_K8S_POD`` / ``_NAMESPACE`` / ``_NODE`` first, then the
  names the Kubernetes documentation's examples use (``POD_NAME``, ``POD_NAMESPACE``, ``NODE_NAME``; also
  ``MY_POD_NAME``...). Inside a pod without them (``KUBERNETES_SERVICE_HOST`` set), the pod name is the host
  name, which Kubernetes sets to it.
- **torchrun**: ``WORLD_SIZE`` when ``TORCHELASTIC_RUN_ID`` says torchrun (or torch.distributed.elastic) started
  the process.
- **The user**: ``$USER`` / ``$LOGNAME``, else the password database's name of the process's uid.
- **The git commit** of the working folder: ``.git/HEAD`` and the ref it names (loose, then ``packed-refs``),
  read directly -- worktrees and submodules (a ``.git`` *file* with ``gitdir:``) included; empty outside a
  repository or when the files cannot be read.

Every value is bounded (at most :data:`MAX_CHARS` characters, control characters dropped): the environment is
outside data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["JOB_COLUMNS", "MAX_CHARS", "git_commit", "job_fields", "slurm_step_name"]

MAX_CHARS = 256
"""Longest value kept (a Slurm node list can be long; the rest is cut)."""

JOB_COLUMNS: tuple[str, ...] = (
    "user_name",
    "git_commit",
    "slurm_job_id",
    "slurm_array_job_id",
    "slurm_array_task_id",
    "slurm_step_id",
    "slurm_node_list",
    "slurm_job_user",
    "slurm_partition",
    "k8s_pod",
    "k8s_namespace",
    "k8s_node",
    "torchrun_world_size",
)
"""The columns :func:`job_fields` fills, in the order they follow the other columns of a row."""

_SPECIAL_STEPS = {4294967290: "interactive", 4294967291: "batch", 4294967292: "extern", 4294967293: "pending"}
"""Slurm's reserved step numbers (``slurm.h``: ``SLURM_INTERACTIVE_STEP``, ``SLURM_BATCH_SCRIPT``,
``SLURM_EXTERN_CONT``, ``SLURM_PENDING_STEP``) and the names ``sacct`` shows for them."""

_K8S = {
    "k8s_pod": ("WATTWATCH_K8S_POD", "POD_NAME", "MY_POD_NAME", "K8S_POD_NAME", "KUBERNETES_POD_NAME"),
    "k8s_namespace": (
        "WATTWATCH_K8S_NAMESPACE",
        "POD_NAMESPACE",
        "MY_POD_NAMESPACE",
        "K8S_NAMESPACE",
        "KUBERNETES_NAMESPACE",
    ),
    "k8s_node": ("WATTWATCH_K8S_NODE", "NODE_NAME", "MY_NODE_NAME", "K8S_NODE_NAME", "KUBERNETES_NODE_NAME"),
}


def _clean(value: object) -> str:
    text = "" if value is None else str(value).strip()
    if not text.isprintable():
        text = "".join(ch for ch in text if ch.isprintable())
    return text[:MAX_CHARS]


def _first(env: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = _clean(env.get(name))
        if value:
            return value
    return ""


def slurm_step_name(env: Mapping[str, str]) -> str:
    """The Slurm step as ``sacct`` names it (``0``, ``batch``, ``extern``...); ``""`` outside a job or where the
    environment does not say (an ``salloc`` shell)."""
    raw = _first(env, "SLURM_STEP_ID", "SLURM_STEPID")
    if raw:
        try:
            number = int(raw)
        except ValueError:
            return raw
        return _SPECIAL_STEPS.get(number, str(number))
    if _first(env, "SLURM_JOB_ID", "SLURM_JOBID") and env.get("ENVIRONMENT", "") == "BATCH":
        return "batch"
    return ""


def _user(env: Mapping[str, str]) -> str:
    name = _first(env, "USER", "LOGNAME")
    if name:
        return name
    try:
        import pwd  # a builtin module: no file is read to import it

        return _clean(pwd.getpwuid(os.getuid()).pw_name)
    except (ImportError, KeyError, OSError, AttributeError):
        return ""


def _read_small(path: str, limit: int = 4096) -> str:
    """The start of a small text file (``""`` when it cannot be read: missing, a folder, a FIFO...)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return ""
    try:
        return os.read(fd, limit).decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def _git_dir(start: str, max_depth: int = 64) -> str:
    """The git folder of the repository holding ``start`` (following a ``.git`` file's ``gitdir:``), or ``""``."""
    folder = os.path.abspath(start)
    for _ in range(max_depth):
        dot = os.path.join(folder, ".git")
        if os.path.isdir(dot):
            return dot
        if os.path.isfile(dot):
            line = _read_small(dot, 1024).strip()
            if line.startswith("gitdir:"):
                target = line[len("gitdir:") :].strip()
                return target if os.path.isabs(target) else os.path.normpath(os.path.join(folder, target))
            return ""
        parent = os.path.dirname(folder)
        if parent == folder:
            return ""
        folder = parent
    return ""


def git_commit(start: str | None = None) -> str:
    """The commit checked out in the repository holding ``start`` (default: the working folder), as 40 (or 64)
    hex digits; ``""`` when there is none or it cannot be read. Reads ``HEAD`` and the ref it names (loose, then
    ``packed-refs``, in the worktree's folder and then its ``commondir``); never runs ``git``."""
    try:
        gitdir = _git_dir(start if start is not None else os.getcwd())
    except OSError:
        return ""
    if not gitdir:
        return ""
    head = _read_small(os.path.join(gitdir, "HEAD"), 1024).strip()
    if _is_sha(head):
        return head  # a detached HEAD
    if not head.startswith("ref:"):
        return ""
    ref = head[4:].strip()
    if not ref.startswith("refs/") or ".." in ref.split("/"):
        return ""
    folders = [gitdir]
    common = _read_small(os.path.join(gitdir, "commondir"), 1024).strip()
    if common:
        folders.append(common if os.path.isabs(common) else os.path.normpath(os.path.join(gitdir, common)))
    for folder in folders:
        value = _read_small(os.path.join(folder, *ref.split("/")), 256).strip()
        if _is_sha(value):
            return value
    for folder in folders:
        for line in _read_small(os.path.join(folder, "packed-refs"), 8 << 20).splitlines():
            sha, _, name = line.partition(" ")
            if name.strip() == ref and _is_sha(sha):
                return sha
    return ""


def job_fields(environ: Mapping[str, str] | None = None, *, cwd: str | None = None) -> dict[str, object]:
    """The job-metadata columns (:data:`JOB_COLUMNS`) for a run started now in this process. ``environ``
    defaults to ``os.environ``, ``cwd`` (where the git commit is looked for) to the working folder."""
    env = os.environ if environ is None else environ
    kubernetes = {name: _first(env, *names) for name, names in _K8S.items()}
    if not kubernetes["k8s_pod"] and env.get("KUBERNETES_SERVICE_HOST"):
        kubernetes["k8s_pod"] = _first(env, "HOSTNAME") or _clean(os.uname().nodename if hasattr(os, "uname") else "")
    world: int | None = None
    if "TORCHELASTIC_RUN_ID" in env:
        try:
            world = int(env.get("WORLD_SIZE", "").strip())
        except ValueError:
            world = None
        if world is not None and not 0 < world <= 1 << 20:
            world = None
    return {
        "user_name": _user(env),
        "git_commit": git_commit(cwd),
        "slurm_job_id": _first(env, "SLURM_JOB_ID", "SLURM_JOBID"),
        "slurm_array_job_id": _first(env, "SLURM_ARRAY_JOB_ID"),
        "slurm_array_task_id": _first(env, "SLURM_ARRAY_TASK_ID"),
        "slurm_step_id": slurm_step_name(env),
        "slurm_node_list": _first(env, "SLURM_JOB_NODELIST", "SLURM_NODELIST"),
        "slurm_job_user": _first(env, "SLURM_JOB_USER"),
        "slurm_partition": _first(env, "SLURM_JOB_PARTITION"),
        **kubernetes,
        "torchrun_world_size": world,
    }
