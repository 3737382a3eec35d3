"""Topology from launcher environments and GPU/CPU ownership rules (no GPU, no torch.distributed)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fakenvml import FakeNvml, make_gpus

from wattwatch.distributed.topology import (
    RULE_LEAD,
    RULE_LOCAL_RANK,
    Topology,
    cuda_visible_tokens,
    detect_topology,
    launcher_run_id,
    resolve_ownership,
)
from wattwatch.sensors.nvml import NvmlSensor

TORCHRUN = {
    "RANK": "5",
    "LOCAL_RANK": "1",
    "WORLD_SIZE": "8",
    "LOCAL_WORLD_SIZE": "4",
    "GROUP_RANK": "1",
    "TORCHELASTIC_RUN_ID": "job-42",
    "TORCHELASTIC_RESTART_COUNT": "2",
}


def test_single_process_default() -> None:
    t = detect_topology({"WATTWATCH_NODE_ID": "n0"}, use_torch=False)
    assert (t.rank, t.world_size, t.node_id, t.run_id, t.is_distributed) == (0, 1, "n0", None, False)


def test_torchrun() -> None:
    t = detect_topology({**TORCHRUN, "WATTWATCH_NODE_ID": "nodeB"}, use_torch=False)
    assert (t.rank, t.local_rank, t.world_size, t.local_world_size) == (5, 1, 8, 4)
    assert (t.node_rank, t.run_id, t.launcher, t.restart, t.node_id) == (1, "job-42", "torchrun", 2, "nodeB")


def test_torchrun_default_run_id_none_is_ignored() -> None:
    assert detect_topology({**TORCHRUN, "TORCHELASTIC_RUN_ID": "none"}, use_torch=False).run_id is None


def test_accelerate_without_local_world_size() -> None:
    t = detect_topology(
        {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "ACCELERATE_MIXED_PRECISION": "no"}
    )
    assert (t.launcher, t.local_world_size) == ("accelerate", 2)


def test_slurm() -> None:
    env = {
        "SLURM_PROCID": "6",
        "SLURM_LOCALID": "2",
        "SLURM_NTASKS": "8",
        "SLURM_NODEID": "1",
        "SLURM_JOB_ID": "777",
        "SLURM_TASKS_PER_NODE": "4(x2)",
    }
    t = detect_topology(env, use_torch=False)
    assert (t.rank, t.local_rank, t.world_size, t.local_world_size, t.node_rank) == (6, 2, 8, 4, 1)
    assert (t.run_id, t.launcher) == ("slurm-777", "slurm")


def test_openmpi() -> None:
    env = {
        "OMPI_COMM_WORLD_RANK": "3",
        "OMPI_COMM_WORLD_SIZE": "4",
        "OMPI_COMM_WORLD_LOCAL_RANK": "1",
        "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
    }
    t = detect_topology(env, use_torch=False)
    assert (t.rank, t.world_size, t.local_rank, t.local_world_size, t.launcher) == (3, 4, 1, 2, "openmpi")


def test_wattwatch_run_id_overrides() -> None:
    assert detect_topology({**TORCHRUN, "WATTWATCH_RUN_ID": "mine"}, use_torch=False).run_id == "mine"


def test_launcher_run_id_is_suffixed_for_later_trackers() -> None:
    t = Topology(run_id="unique-run-id-for-this-test")
    assert [launcher_run_id(t) for _ in range(3)] == [
        "unique-run-id-for-this-test",
        "unique-run-id-for-this-test.2",
        "unique-run-id-for-this-test.3",
    ]


def _topo(local_rank: int, local_world: int) -> Topology:
    return Topology(
        rank=local_rank, local_rank=local_rank, world_size=local_world, local_world_size=local_world
    )


def test_explicit_gpu_ids_first_and_host_by_local_rank_0() -> None:
    o = resolve_ownership(_topo(1, 4), [3], {}, cuda_device="GPU-x")
    assert (o.gpu_ids, o.measure_host) == ([3], False)


def test_cuda_device_beats_local_rank() -> None:
    o = resolve_ownership(_topo(2, 4), None, {}, visible_gpus=["a", "b", "c", "d"], cuda_device="GPU-x")
    assert o.gpu_ids == ["GPU-x"]


def test_local_rank_when_counts_match() -> None:
    owned = [resolve_ownership(_topo(r, 4), None, {}, visible_gpus=["a", "b", "c", "d"]) for r in range(4)]
    assert [o.gpu_ids for o in owned] == [["a"], ["b"], ["c"], ["d"]]
    assert [o.measure_host for o in owned] == [True, False, False, False]
    assert {o.rule for o in owned} == {RULE_LOCAL_RANK}


def test_lead_measures_everything_when_counts_differ() -> None:
    owned = [resolve_ownership(_topo(r, 2), None, {}, visible_gpus=["a", "b", "c", "d"]) for r in range(2)]
    assert [(o.gpu_ids, o.measure_host, o.rule) for o in owned] == [
        (None, True, RULE_LEAD),
        ([], False, RULE_LEAD),
    ]


def test_slurm_four_tasks_host_counted_once() -> None:
    base = {"SLURM_NTASKS": "4", "SLURM_NTASKS_PER_NODE": "4", "SLURM_JOB_ID": "9", "SLURM_NODEID": "0"}
    owned = []
    for r in range(4):
        t = detect_topology({**base, "SLURM_PROCID": str(r), "SLURM_LOCALID": str(r)}, use_torch=False)
        owned.append(resolve_ownership(t, None, {}, visible_gpus=[]))
    assert sum(o.measure_host for o in owned) == 1


@pytest.mark.parametrize("cvd", ["2,3", "GPU-fa4e0002-1111-2222-3333-000000000002,GPU-fa4e0003", "2,3,-1,0"])
def test_cuda_visible_devices_map_to_nvml(fake_nvml: Callable[..., FakeNvml], cvd: str) -> None:
    rig = fake_nvml(make_gpus(4))
    env = {"CUDA_VISIBLE_DEVICES": cvd}
    assert cuda_visible_tokens(env) is not None
    got = []
    for r in range(2):
        o = resolve_ownership(_topo(r, 2), None, env)
        sensor = NvmlSensor(o.gpu_ids, library_path=rig.library_path, environ=env)
        got.append([i.details["uuid"] for i in sensor.describe()])
        sensor.close()
    assert got == [[rig.uuid(2)], [rig.uuid(3)]]
