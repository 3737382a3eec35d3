"""Distributed runs on a fake 4-GPU node: torchrun (gloo, CPU), two simulated nodes, a dying rank, part files
and ``wattwatch merge``. Every GPU counted once; one row per run; every rank's stop() returns the same totals."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import fakenvml
import pytest
from fakenvml import FakeGpu, FakeNvml

from wattwatch.distributed.combine import combine
from wattwatch.distributed.parts import ChannelPart, Part
from wattwatch.measure.ledger import J_PER_KWH
from wattwatch.result import EmissionsData
from wattwatch.sinks.csv import read_rows

WORKER = str(Path(__file__).resolve().parents[1] / "support" / "dist_worker.py")
pytestmark = pytest.mark.timeout(120)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(rig: FakeNvml, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("RANK", "LOCAL_", "WORLD_", "TORCHELASTIC"))
    }
    env.update({fakenvml.CONFIG_ENV: str(rig.config_path), "OMP_NUM_THREADS": "1", **extra})
    return env


def _torchrun(
    args: Sequence[str], out: Path, rig: FakeNvml, seconds: float, env: dict[str, str]
) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *args,
        WORKER,
        str(out),
        str(rig.library_path),
        str(seconds),
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(procs: Sequence[subprocess.Popen[str]], timeout: float = 90) -> list[int]:
    codes = []
    for p in procs:
        out, _ = p.communicate(timeout=timeout)
        if p.returncode != 0:
            print(out)
        codes.append(p.returncode)
    return codes


def _results(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("result-*.json"))]


def _truth_kwh(results: Sequence[dict], rigs: dict[str, FakeNvml]) -> float:
    """Exact energy of each GPU over its owner's first..last reading (kWh); each GPU once."""
    total = 0.0
    seen = set()
    for r in results:
        rig = rigs[r["node_id"]]
        for channel, (first, last) in r["windows"].items():
            index = int(channel.split(":")[1])
            assert (r["node_id"], index) not in seen, "a GPU was read by two ranks"
            seen.add((r["node_id"], index))
            total += rig.energy_j(index, first, last) / J_PER_KWH
    return total


def _rig(tmp: Path, library: Path, n: int, tag: int = 0) -> FakeNvml:
    tmp.mkdir(parents=True, exist_ok=True)
    gpus = [
        FakeGpu(trace=g.trace, uuid=f"GPU-{tag:04x}{i:04x}-0000-0000-0000-{i:012x}")
        for i, g in enumerate(fakenvml.square_wave_gpus(n=n, period_s=0.9))
    ]
    return fakenvml.install(tmp, gpus, library, environ={})


def _one_row(out: Path) -> dict[str, str]:
    _, rows = read_rows(out / "emissions.csv")
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize("nproc", [2, 4])
def test_torchrun_one_node(fake_nvml_library: Path, tmp_path: Path, nproc: int) -> None:
    rig = _rig(tmp_path / "rig", fake_nvml_library, 4)
    out = tmp_path / "out"
    p = _torchrun(
        ["--standalone", f"--nproc-per-node={nproc}"], out, rig, 2.5, _env(rig, WATTWATCH_NODE_ID="n0")
    )
    assert _wait([p]) == [0]
    results = _results(out)
    assert len(results) == nproc
    truth = _truth_kwh(results, {"n0": rig})
    assert len({(r["gpu_energy"], r["energy_consumed"], r["emissions"]) for r in results}) == 1  # same totals
    assert results[0]["gpu_energy"] == pytest.approx(truth, rel=0.01)
    assert sum(r["measures_host"] for r in results) == 1
    row = _one_row(out)
    assert float(row["gpu_energy"]) == pytest.approx(truth, rel=0.01)
    assert (row["gpu_count"], row["node_count"], row["rank_count"], row["status"]) == (
        "4",
        "1",
        str(nproc),
        "completed",
    )
    assert row["missing_ranks"] == ""
    _, nodes = read_rows(out / "emissions.nodes.csv")
    assert [n["node_id"] for n in nodes] == ["n0"]


def test_two_nodes_one_total(fake_nvml_library: Path, tmp_path: Path) -> None:
    rigs = {f"node{i}": _rig(tmp_path / f"rig{i}", fake_nvml_library, 2, tag=i) for i in range(2)}
    out = tmp_path / "out"
    port = _port()
    procs = [
        _torchrun(
            [
                "--nnodes=2",
                f"--node-rank={i}",
                "--nproc-per-node=2",
                "--master-addr=127.0.0.1",
                f"--master-port={port}",
                "--rdzv-id=twonodes",
            ],
            out,
            rig,
            2.5,
            _env(rig, WATTWATCH_NODE_ID=node),
        )
        for i, (node, rig) in enumerate(rigs.items())
    ]
    assert _wait(procs) == [0, 0]
    results = _results(out)
    assert len(results) == 4
    truth = _truth_kwh(results, rigs)
    assert len({r["gpu_energy"] for r in results}) == 1
    row = _one_row(out)
    assert row["run_id"] == "twonodes"
    assert float(row["gpu_energy"]) == pytest.approx(truth, rel=0.01)
    assert (row["gpu_count"], row["node_count"], row["rank_count"]) == ("4", "2", "4")
    # embodied CO2 of the whole run's hardware (4 GPUs, 2 servers), not of rank 0's share of it
    from wattwatch.carbon.embodied import Hardware, amortise, embodied_for_run, manufacture_footprint
    from wattwatch.carbon.embodied_slice import parse_charged
    from wattwatch.result import EmissionsData

    combined = EmissionsData.from_row(row)
    charged = parse_charged(row["embodied_source"])  # the slice each node is charged (issue 24), per node
    assert charged is not None
    assert float(row["embodied_emissions"]) == pytest.approx(embodied_for_run(combined, charged=charged).kg, rel=1e-9)
    one_node = Hardware.from_emissions(combined, charged)
    one_node = Hardware(
        one_node.gpu_models[:2], one_node.cpu_model, one_node.cpu_threads, one_node.ram_gb, 1, charged=charged
    )
    assert float(row["embodied_emissions"]) == pytest.approx(
        2 * amortise(manufacture_footprint(one_node), combined.duration).kg, rel=1e-9
    )
    assert sorted(json.loads(row["gpu_energy_by_device_kwh"])) == [
        f"node{n}/gpu:{g}" for n in range(2) for g in range(2)
    ]
    _, nodes = read_rows(out / "emissions.nodes.csv")
    assert sorted(n["node_id"] for n in nodes) == ["node0", "node1"]


def _direct(
    out: Path, rig: FakeNvml, world: int, seconds: float, extra: dict[int, list[str]], **env: str
) -> list[subprocess.Popen[str]]:
    port = str(_port())
    procs = []
    for r in range(world):
        e = _env(
            rig,
            RANK=str(r),
            LOCAL_RANK=str(r),
            WORLD_SIZE=str(world),
            LOCAL_WORLD_SIZE=str(world),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
            WATTWATCH_NODE_ID="n0",
            **env,
        )
        cmd = [sys.executable, WORKER, str(out), str(rig.library_path), str(seconds), *extra.get(r, [])]
        procs.append(
            subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    return procs


def test_dead_rank_is_named_and_others_finish(fake_nvml_library: Path, tmp_path: Path) -> None:
    rig = _rig(tmp_path / "rig", fake_nvml_library, 3)
    out = tmp_path / "out"
    procs = _direct(
        out,
        rig,
        3,
        3.0,
        {2: ["--die-after", "1.5"]},
        WATTWATCH_DIST_TIMEOUT_S="4",
        WATTWATCH_RUN_ID="deadrank",
    )
    assert _wait(procs, timeout=60) == [0, 0, 3]
    results = _results(out)
    assert [r["rank"] for r in results] == [0, 1]
    assert {r["missing_ranks"] for r in results} == {"2"}
    assert results[0]["gpu_energy"] == results[1]["gpu_energy"]
    row = _one_row(out)
    assert (row["missing_ranks"], row["status"], row["gpu_count"]) == (
        "2",
        "completed",
        "3",
    )  # rank 2's last part kept


def test_without_torch_distributed_parts_merge(fake_nvml_library: Path, tmp_path: Path) -> None:
    rig = _rig(tmp_path / "rig", fake_nvml_library, 4)
    out = tmp_path / "out"
    rid = f"nodist-{uuid.uuid4().hex[:8]}"
    procs = _direct(out, rig, 4, 2.0, {r: ["--no-dist"] for r in range(4)}, TORCHELASTIC_RUN_ID=rid)
    assert _wait(procs) == [0] * 4
    results = _results(out)
    truth = _truth_kwh(results, {"n0": rig})
    row = _one_row(out)
    assert (row["run_id"], row["status"], row["gpu_count"]) == (rid, "completed", "4")
    assert float(row["gpu_energy"]) == pytest.approx(truth, rel=0.01)
    (out / "emissions.csv").unlink()
    from wattwatch.cli.main import main

    assert main(["merge", str(out)]) == 0
    again = _one_row(out)
    assert float(again["gpu_energy"]) == pytest.approx(float(row["gpu_energy"]), rel=1e-12)


def _part(rank: int, node: str, channels: dict[str, ChannelPart], local_rank: int = 0) -> Part:
    kwh = sum(c.kwh for c in channels.values())
    data = EmissionsData(
        run_id="r", emissions=kwh * 0.1, energy_consumed=kwh, duration=10.0 + rank, status="completed"
    )
    return Part("r", rank, 2, node, local_rank=local_rank, status="completed", data=data, channels=channels)


def test_combine_counts_a_doubly_claimed_gpu_once() -> None:
    g0 = ChannelPart("gpu", 1.0, "H100", "GPU-a")
    cpu = ChannelPart("cpu", 0.5)
    a = _part(0, "n", {"gpu:0": g0, "cpu": cpu})
    b = _part(1, "n", {"gpu:0": g0, "cpu": cpu}, local_rank=1)  # misconfigured: both ranks read everything
    data, nodes = combine([a, b])
    assert (data.gpu_energy, data.cpu_energy, data.gpu_count, data.duration) == (1.0, 0.5, 1.0, 11.0)
    assert data.emissions == pytest.approx(0.15)
    assert nodes[0].ranks == [0, 1]


def test_combine_reports_missing_and_running() -> None:
    data, _ = combine([_part(0, "n", {"gpu:0": ChannelPart("gpu", 1.0, uuid="GPU-a")})], world_size=3)
    assert (data.missing_ranks, data.status, data.rank_count) == ("1,2", "running", 3)


def test_missing_ranks_are_written_as_ranges() -> None:
    from wattwatch.distributed.combine import format_ranks

    assert format_ranks([]) == ""
    assert format_ranks([2]) == "2"
    assert format_ranks([1, 2]) == "1,2"
    assert format_ranks([7, 1, 2, 3, 5]) == "1-3,5,7"
    assert format_ranks(range(1, 1 << 20)) == f"1-{(1 << 20) - 1}"


def test_combine_adds_the_ranks_error_bands_and_slices() -> None:
    import dataclasses

    a = _part(0, "n1", {"gpu:0": ChannelPart("gpu", 1.0, uuid="GPU-a")})
    b = _part(1, "n2", {"gpu:0": ChannelPart("gpu", 2.0, uuid="GPU-b")})
    a.data = dataclasses.replace(
        a.data, energy_low_kwh=0.95, energy_high_kwh=1.05, energy_band="gpu=nvml-counter", gpu_slice="whole-gpu"
    )
    b.data = dataclasses.replace(
        b.data,
        energy_low_kwh=1.0,
        energy_high_kwh=3.15,
        energy_band="gpu=share-estimate*nvml-counter",
        gpu_slice="gpu-process-share",
    )
    data, _ = combine([a, b])
    assert data.energy_low_kwh == pytest.approx(1.95) and data.energy_high_kwh == pytest.approx(4.2)
    assert data.gpu_slice == "gpu-process-share+whole-gpu"
    assert data.energy_band == "gpu=nvml-counter gpu=share-estimate*nvml-counter"
    # a rank without a band (an older wattwatch) leaves the run without one rather than a wrong one
    b.data = dataclasses.replace(b.data, energy_low_kwh=None, energy_high_kwh=None)
    data, _ = combine([a, b])
    assert data.energy_low_kwh is None and data.energy_high_kwh is None


def test_a_rank_without_energy_leaves_the_band_whole() -> None:
    """Found by ``wattwatch check`` in this suite (issue 24): a rank with no channel (no band) set the combined
    band's high end to its low end, so the band no longer contained the energy."""
    from dataclasses import replace

    g0 = ChannelPart("gpu", 1.0, "H100", "GPU-a")
    a = _part(0, "n", {"gpu:0": g0})
    a = replace(a, data=replace(a.data, energy_low_kwh=0.9, energy_high_kwh=1.1))
    b = _part(1, "n", {})
    data, _ = combine([a, b])
    assert (data.energy_low_kwh, data.energy_high_kwh) == pytest.approx((0.9, 1.1))
    assert data.energy_low_kwh <= data.energy_consumed <= data.energy_high_kwh  # type: ignore[operator]
