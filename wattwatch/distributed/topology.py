"""Who this process is in a (possibly distributed) run, and which hardware it measures.

Rank facts come from the launchers' environments, first match wins:

- torchrun / ``torch.distributed.elastic``, accelerate, DeepSpeed: ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
  ``LOCAL_WORLD_SIZE``, ``GROUP_RANK`` (node rank), ``TORCHELASTIC_RUN_ID`` (run id; ``"none"`` is ignored);
- Open MPI: ``OMPI_COMM_WORLD_RANK`` / ``_SIZE`` / ``_LOCAL_RANK`` / ``_LOCAL_SIZE``;
- SLURM: ``SLURM_PROCID``, ``SLURM_LOCALID``, ``SLURM_NTASKS``, ``SLURM_NODEID``, ``SLURM_JOB_ID`` (+ step),
  ``SLURM_NTASKS_PER_NODE`` / ``SLURM_TASKS_PER_NODE``;
- an initialised ``torch.distributed`` (only when torch is already imported: this module never imports it)
  overrides rank and world size.

``WATTWATCH_NODE_ID`` overrides the node id (default: the host name) and ``WATTWATCH_RUN_ID`` the run id.

Ownership (:func:`resolve_ownership`): within a node every GPU is read by exactly one process and CPU/RAM by
one process (local rank 0).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence

from wattwatch.util.records import record

__all__ = [
    "MAX_WORLD_SIZE",
    "Ownership",
    "Topology",
    "cuda_visible_tokens",
    "current_cuda_device",
    "detect_topology",
    "launcher_run_id",
    "resolve_ownership",
]

RULE_SINGLE = "single process: all visible GPUs and CPU/RAM"
RULE_EXPLICIT = "explicit gpu_ids; CPU/RAM by local rank 0"
RULE_CUDA = "the CUDA device torch uses; CPU/RAM by local rank 0"
RULE_LOCAL_RANK = "GPU[local rank] (local world size == visible GPUs); CPU/RAM by local rank 0"
RULE_LEAD = "local rank 0 measures all visible GPUs and CPU/RAM, other ranks none"

MAX_WORLD_SIZE = 1 << 20
"""Largest world size believed (a million ranks): beyond it the launcher variables are garbage, and per-rank
bookkeeping (missing ranks, part files) would run for ever."""


@record
class Topology:
    """Rank facts of this process. ``run_id`` is the launcher's shared job/run id when it has one.

    ``node_rank`` is the launcher's node index when known (else ``None``); ``restart`` the elastic restart
    count (keeps collective keys of a restarted group apart).
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    node_id: str = ""
    run_id: str | None = None
    launcher: str = "none"
    node_rank: int | None = None
    restart: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


@record
class Ownership:
    """What this process measures. ``gpu_ids`` ``None`` means every visible GPU; ``[]`` none."""

    gpu_ids: list[int | str] | None
    measure_host: bool
    rule: str


def _int(env: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        raw = env.get(name, "").strip()
        if raw:
            try:
                return int(raw)
            except ValueError:
                continue
    return None


def _slurm_tasks_per_node(env: Mapping[str, str], node: int | None) -> int | None:
    """``SLURM_NTASKS_PER_NODE`` or this node's entry in ``SLURM_TASKS_PER_NODE`` (``"4(x2),2"``)."""
    direct = _int(env, "SLURM_NTASKS_PER_NODE")
    if direct is not None:
        return direct
    raw = env.get("SLURM_TASKS_PER_NODE", "").strip()
    if not raw:
        return None
    runs: list[tuple[int, int]] = []  # (tasks, nodes): "4(x1000000)" is not expanded into a list
    for item in raw.split(","):
        m = re.fullmatch(r"\s*(\d+)(?:\(x(\d+)\))?\s*", item)
        if not m:
            return None
        runs.append((int(m.group(1)), int(m.group(2) or 1)))
    if not runs:
        return None
    index = node if node is not None and 0 <= node else 0
    for tasks, nodes in runs:
        if index < nodes:
            return tasks
        index -= nodes
    return runs[0][0]


def _torch_dist() -> tuple[int, int] | None:
    """``(rank, world_size)`` of an initialised ``torch.distributed``; ``None`` when torch is not imported."""
    if "torch" not in sys.modules:
        return None
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return int(dist.get_rank()), int(dist.get_world_size())
    except Exception:  # noqa: BLE001 - a broken torch must not stop the run
        return None
    return None


def _hostname() -> str:
    """``socket.gethostname()``; on POSIX read from ``os.uname()`` (the same value) so a start does not import
    ``socket``."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def detect_topology(environ: Mapping[str, str] | None = None, *, use_torch: bool = True) -> Topology:
    """This process's rank facts from the environment (single process when no launcher is found).

    ``use_torch``: let an initialised ``torch.distributed`` override rank and world size (never imports torch).
    """
    env = os.environ if environ is None else environ
    node_id = env.get("WATTWATCH_NODE_ID") or _hostname()
    rank = local_rank = 0
    world = local_world = 1
    node_rank: int | None = None
    run_id: str | None = None
    launcher = "none"
    restart = _int(env, "TORCHELASTIC_RESTART_COUNT") or 0

    if _int(env, "RANK") is not None and _int(env, "WORLD_SIZE") is not None:
        rank = _int(env, "RANK") or 0
        world = _int(env, "WORLD_SIZE") or 1
        local_rank = _int(env, "LOCAL_RANK") or 0
        local_world = _int(env, "LOCAL_WORLD_SIZE") or 0
        node_rank = _int(env, "GROUP_RANK", "NODE_RANK")
        if "TORCHELASTIC_RUN_ID" in env:
            launcher = "torchrun"
            rid = env["TORCHELASTIC_RUN_ID"].strip()
            run_id = rid if rid and rid.lower() != "none" else None
        elif any(k.startswith("ACCELERATE_") for k in env):
            launcher = "accelerate"
        elif "DEEPSPEED_VERSION" in env or any(k.startswith("DS_") for k in env):
            launcher = "deepspeed"
        else:
            launcher = "env"
        if local_world == 0:
            local_world = _slurm_tasks_per_node(env, node_rank) or (world if node_rank is None else 1)
    elif _int(env, "OMPI_COMM_WORLD_RANK") is not None:
        launcher = "openmpi"
        rank = _int(env, "OMPI_COMM_WORLD_RANK") or 0
        world = _int(env, "OMPI_COMM_WORLD_SIZE") or 1
        local_rank = _int(env, "OMPI_COMM_WORLD_LOCAL_RANK") or 0
        local_world = _int(env, "OMPI_COMM_WORLD_LOCAL_SIZE") or 1
        node_rank = _int(env, "OMPI_COMM_WORLD_NODE_RANK")
        jobid = env.get("OMPI_MCA_orte_ess_jobid") or env.get("PMIX_NAMESPACE")
        run_id = f"mpi-{jobid}" if jobid else None
    elif _int(env, "SLURM_PROCID") is not None and _int(env, "SLURM_NTASKS") is not None:
        launcher = "slurm"
        rank = _int(env, "SLURM_PROCID") or 0
        world = _int(env, "SLURM_NTASKS") or 1
        local_rank = _int(env, "SLURM_LOCALID") or 0
        node_rank = _int(env, "SLURM_NODEID")
        local_world = _slurm_tasks_per_node(env, node_rank) or 1
        job = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID")
        step = env.get("SLURM_STEP_ID") or env.get("SLURM_STEPID")
        if job:
            run_id = f"slurm-{job}" + (f".{step}" if step else "")

    if use_torch:
        got = _torch_dist()
        if got is not None:
            rank, world = got
            if launcher == "none":
                launcher = "torch.distributed"
                local_rank, local_world = (_int(env, "LOCAL_RANK") or 0), (_int(env, "LOCAL_WORLD_SIZE") or 1)
    run_id = _checked_run_id(env.get("WATTWATCH_RUN_ID") or run_id)
    if world > MAX_WORLD_SIZE or (world > 1 and not 0 <= rank < world):
        raise ValueError(
            f"{launcher} launcher variables give rank {rank} of a world of {world}: not a plausible job "
            f"(0 <= rank < world size <= {MAX_WORLD_SIZE}); check WORLD_SIZE/RANK, SLURM_NTASKS/SLURM_PROCID or "
            "OMPI_COMM_WORLD_SIZE/OMPI_COMM_WORLD_RANK"
        )
    return Topology(
        rank=rank,
        local_rank=local_rank,
        world_size=max(1, world),
        local_world_size=max(1, local_world),
        node_id=node_id,
        run_id=run_id,
        launcher=launcher,
        node_rank=node_rank,
        restart=restart,
    )


def cuda_visible_tokens(environ: Mapping[str, str] | None = None) -> list[str] | None:
    """``CUDA_VISIBLE_DEVICES`` entries in CUDA order (``None`` when unset); stops at ``-1`` like CUDA."""
    env = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" not in env:
        return None
    out: list[str] = []
    for part in env["CUDA_VISIBLE_DEVICES"].split(","):
        token = part.strip()
        if not token or token == "-1":
            break
        out.append(token)
    return out


def current_cuda_device() -> str | None:
    """The NVML-resolvable id (``GPU-<uuid>``) of the CUDA device this process uses, when torch has
    initialised CUDA; ``None`` otherwise. Never imports torch and never initialises CUDA."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        if not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return None
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        uuid = getattr(props, "uuid", None)
        if uuid is not None:
            text = str(uuid)
            return text if text.upper().startswith(("GPU-", "MIG-")) else f"GPU-{text}"
        bus = getattr(props, "pci_bus_id", None)
        if bus is not None:
            domain = getattr(props, "pci_domain_id", 0)
            device = getattr(props, "pci_device_id", 0)
            return f"{int(domain):08X}:{int(bus):02X}:{int(device):02X}.0"
    except Exception:  # noqa: BLE001 - never into user code
        return None
    return None


def resolve_ownership(
    topology: Topology,
    gpu_ids: Sequence[int | str] | None,
    environ: Mapping[str, str] | None = None,
    *,
    visible_gpus: Sequence[str] | None = None,
    cuda_device: str | None = None,
) -> Ownership:
    """Which GPUs and whether CPU/RAM this process measures.

    Rules, first that applies: explicit ``gpu_ids``; the CUDA device torch uses (``cuda_device``, an id NVML
    resolves: ``GPU-<uuid>`` or a PCI bus id); when the node's local world size equals the number of visible
    GPUs, GPU[local rank]; else local rank 0 measures every visible GPU and the others none. CPU/RAM: local rank
    0 only. ``visible_gpus`` are this process's visible GPUs in CUDA order, as NVML ids (default: the
    ``CUDA_VISIBLE_DEVICES`` entries, which NVML resolves as indices or UUIDs).
    """
    lead = topology.local_rank == 0
    if gpu_ids is not None:
        return Ownership(
            list(gpu_ids), lead, RULE_EXPLICIT if topology.is_distributed else "explicit gpu_ids"
        )
    if not topology.is_distributed:
        return Ownership(None, True, RULE_SINGLE)
    if cuda_device:
        return Ownership([cuda_device], lead, RULE_CUDA)
    visible = list(visible_gpus) if visible_gpus is not None else cuda_visible_tokens(environ)
    if (
        visible is not None
        and len(visible) == topology.local_world_size
        and topology.local_rank < len(visible)
    ):
        token = visible[topology.local_rank]
        return Ownership([int(token) if token.isdigit() else token], lead, RULE_LOCAL_RANK)
    return Ownership(None if lead else [], lead, RULE_LEAD)


_RUN_SEQ: dict[str, int] = {}
"""Trackers started so far in this process, per launcher run id."""


def _checked_run_id(run_id: str | None) -> str | None:
    """A run id taken from the environment (``WATTWATCH_RUN_ID`` first, else the launcher's) may not hold
    control characters (they would reach cells and terminals): ``ValueError`` naming the variables, raised by
    ``start()`` before any work."""
    from wattwatch.util.names import control_characters

    found = control_characters(run_id or "")
    if found and run_id is not None:
        raise ValueError(
            f"the run id from the environment ({run_id[:40]!r}) contains control characters ({', '.join(found)}); "
            "fix WATTWATCH_RUN_ID (or the launcher's TORCHELASTIC_RUN_ID, SLURM_JOB_ID, OMPI job id)"
        )
    return run_id


def launcher_run_id(topology: Topology) -> str | None:
    """The launcher's run id for this tracker: the first tracker of a process gets it as is, later ones get
    ``<id>.2``, ``<id>.3``... (the same on every rank when every rank starts its trackers in the same order)."""
    base = topology.run_id
    if not base:
        return None
    n = _RUN_SEQ.get(base, 0) + 1
    _RUN_SEQ[base] = n
    return base if n == 1 else f"{base}.{n}"
