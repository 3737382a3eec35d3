"""Job metadata in every row: Slurm, Kubernetes (downward API environment), torchrun, the user and the git
commit of the working folder -- read from the environment and .git files only (no subprocess at start)."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattwatch.run.job import JOB_COLUMNS, MAX_CHARS, git_commit, job_fields, slurm_step_name

SLURM = {
    "SLURM_JOB_ID": "4242",
    "SLURM_ARRAY_JOB_ID": "4240",
    "SLURM_ARRAY_TASK_ID": "2",
    "SLURM_STEP_ID": "1",
    "SLURM_JOB_NODELIST": "gpu[01-04]",
    "SLURM_JOB_USER": "alice",
    "SLURM_JOB_PARTITION": "a100",
    "USER": "alice",
}
K8S = {
    "KUBERNETES_SERVICE_HOST": "10.0.0.1",
    "POD_NAME": "trainer-0",
    "POD_NAMESPACE": "ml",
    "NODE_NAME": "node-7",
    "HOSTNAME": "trainer-0",
}


def test_slurm_variables_land_in_their_columns(tmp_path: Path) -> None:
    f = job_fields(SLURM, cwd=str(tmp_path))
    assert f["slurm_job_id"] == "4242" and f["slurm_array_job_id"] == "4240" and f["slurm_array_task_id"] == "2"
    assert f["slurm_step_id"] == "1" and f["slurm_node_list"] == "gpu[01-04]"
    assert f["slurm_job_user"] == "alice" and f["slurm_partition"] == "a100" and f["user_name"] == "alice"
    assert f["k8s_pod"] == "" and f["torchrun_world_size"] is None and f["git_commit"] == ""
    assert list(f) == list(JOB_COLUMNS)


@pytest.mark.parametrize(
    ("env", "step"),
    [
        ({"SLURM_JOB_ID": "9", "ENVIRONMENT": "BATCH"}, "batch"),  # the batch script itself (sbatch)
        ({"SLURM_JOB_ID": "9", "SLURM_STEP_ID": "4294967291"}, "batch"),  # Slurm's numbers for special steps
        ({"SLURM_JOB_ID": "9", "SLURM_STEP_ID": "4294967292"}, "extern"),
        ({"SLURM_JOB_ID": "9", "SLURM_STEP_ID": "4294967290"}, "interactive"),
        ({"SLURM_JOBID": "9", "SLURM_STEPID": "0"}, "0"),  # the older names
        ({"SLURM_JOB_ID": "9"}, ""),  # an salloc shell: the environment does not say
        ({}, ""),
    ],
)
def test_the_step_as_sacct_names_it(env: dict[str, str], step: str) -> None:
    assert slurm_step_name(env) == step


def test_kubernetes_downward_api_variables(tmp_path: Path) -> None:
    f = job_fields(K8S, cwd=str(tmp_path))
    assert (f["k8s_pod"], f["k8s_namespace"], f["k8s_node"]) == ("trainer-0", "ml", "node-7")
    own = job_fields({**K8S, "WATTWATCH_K8S_POD": "mine", "WATTWATCH_K8S_NAMESPACE": "ns"}, cwd=str(tmp_path))
    assert (own["k8s_pod"], own["k8s_namespace"]) == ("mine", "ns")
    bare = job_fields({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": "job-abc12"}, cwd=str(tmp_path))
    assert bare["k8s_pod"] == "job-abc12"  # Kubernetes sets a pod's host name to its name
    assert job_fields({"HOSTNAME": "laptop"}, cwd=str(tmp_path))["k8s_pod"] == ""


def test_torchrun_world_size(tmp_path: Path) -> None:
    env = {"TORCHELASTIC_RUN_ID": "abc", "WORLD_SIZE": "16", "RANK": "3"}
    assert job_fields(env, cwd=str(tmp_path))["torchrun_world_size"] == 16
    assert job_fields({"WORLD_SIZE": "16"}, cwd=str(tmp_path))["torchrun_world_size"] is None  # not torchrun
    assert job_fields({**env, "WORLD_SIZE": "-1"}, cwd=str(tmp_path))["torchrun_world_size"] is None


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.mark.skipif(subprocess.run(["which", "git"], capture_output=True).returncode != 0, reason="git not installed")
def test_git_commit_of_the_working_folder(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "src" / "deep").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("a")
    _git(repo, "add", "a.txt")
    _git(repo, "commit", "-qm", "one")
    head = _git(repo, "rev-parse", "HEAD")
    assert git_commit(str(repo / "src" / "deep")) == head  # from a subfolder
    _git(repo, "pack-refs", "--all")  # the ref now only in packed-refs
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert git_commit(str(repo)) == head
    _git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "other")  # a .git *file*, commondir
    assert git_commit(str(tmp_path / "wt")) == head
    _git(repo, "checkout", "-q", "--detach")
    assert git_commit(str(repo)) == head
    assert git_commit(str(tmp_path)) == ""  # not a repository


def test_hostile_git_files_give_no_commit(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/../../../../etc/passwd\n")
    assert git_commit(str(tmp_path)) == ""
    (tmp_path / ".git" / "HEAD").write_text("not a ref")
    assert git_commit(str(tmp_path)) == ""
    (tmp_path / ".git" / "HEAD").unlink()
    (tmp_path / ".git" / "HEAD").mkdir()  # a folder where a file belongs
    assert git_commit(str(tmp_path)) == ""


@given(st.dictionaries(st.sampled_from(sorted(SLURM) + sorted(K8S)), st.text(max_size=600)))
def test_outside_values_are_bounded_and_printable(env: dict[str, str]) -> None:
    for name, value in job_fields(env, cwd="/").items():
        if isinstance(value, str):
            assert len(value) <= MAX_CHARS and value.isprintable(), name


def test_a_tracker_row_carries_them(tmp_path: Path) -> None:
    from ledgerruns import make_run

    _, data = make_run(tmp_path, environ={**SLURM, **K8S, "TORCHELASTIC_RUN_ID": "x", "WORLD_SIZE": "1"})
    assert data.slurm_job_id == "4242" and data.slurm_step_id == "1" and data.k8s_namespace == "ml"
    assert data.torchrun_world_size == 1 and data.user_name == "alice"
    with open(tmp_path / "emissions.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    for name in JOB_COLUMNS:
        assert name in row
    assert (row["slurm_job_id"], row["slurm_array_job_id"], row["slurm_array_task_id"]) == ("4242", "4240", "2")
    assert (row["k8s_pod"], row["k8s_node"], row["slurm_partition"]) == ("trainer-0", "node-7", "a100")
