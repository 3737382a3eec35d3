"""CpuModelSensor: the curve's shape, TDP lookup from CodeCarbon's table, machine and process modes."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest

from wattwatch.carbon.codecarbon_data import codecarbon_data_dir
from wattwatch.sensors.base import POWER, Sensor
from wattwatch.sensors.cpu import (
    IDLE_FRACTION,
    CpuModelSensor,
    ProcessTreeCpu,
    dynamic_power_w,
    machine_power_w,
)
from wattwatch.sensors.cpuinfo import (
    DEFAULT_TDP_W,
    load_tdp_table,
    lookup_tdp,
    normalize_cpu_name,
    read_cpuinfo,
)

needs_csv = pytest.mark.skipif(codecarbon_data_dir() is None, reason="CodeCarbon data not installed")


def write_cpuinfo(root: Path, model: str | None, sockets: int = 1, cpus_per_socket: int = 2) -> Path:
    blocks = []
    for s in range(sockets):
        for c in range(cpus_per_socket):
            lines = [f"processor\t: {s * cpus_per_socket + c}", "vendor_id\t: GenuineIntel"]
            if model is not None:
                lines.append(f"model name\t: {model}")
            lines.append(f"physical id\t: {s}")
            blocks.append("\n".join(lines))
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpuinfo").write_text("\n\n".join(blocks) + "\n")
    return root


# --- the curve ---------------------------------------------------------------------------------------------


def test_curve_idle_full_and_monotone() -> None:
    tdp = 200.0
    assert IDLE_FRACTION == pytest.approx(0.74 / 3.5)
    assert machine_power_w(0.0, tdp) == pytest.approx(tdp * 0.2114, rel=1e-3)
    assert machine_power_w(1.0, tdp) == pytest.approx(tdp)
    assert machine_power_w(0.5, tdp) == pytest.approx(tdp * (0.2114 + 0.7886 * 0.5), rel=1e-3)
    us = [i / 100 for i in range(101)]
    ps = [machine_power_w(u, tdp) for u in us]
    assert all(b > a for a, b in zip(ps, ps[1:], strict=False))
    assert all(0 < p <= tdp for p in ps)
    assert machine_power_w(1.7, tdp) == pytest.approx(tdp)  # clamped: never above TDP
    assert machine_power_w(-0.2, tdp) == pytest.approx(tdp * IDLE_FRACTION)


def test_process_curve_charges_no_idle() -> None:
    tdp = 200.0
    assert dynamic_power_w(0.0, tdp) == 0.0
    assert dynamic_power_w(1.0, tdp) == pytest.approx(tdp * (1 - IDLE_FRACTION))
    # idle + the dynamic part of a process using everything = full machine power
    assert dynamic_power_w(1.0, tdp) + machine_power_w(0.0, tdp) == pytest.approx(machine_power_w(1.0, tdp))
    assert dynamic_power_w(3.0, tdp) <= tdp


# --- cpuinfo and TDP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "intel xeon platinum 8375c"),
        ("Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz", "intel xeon e5-2686 v4"),
        ("AMD EPYC 7763 64-Core Processor", "amd epyc 7763"),
        ("11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", "intel core i7-1165g7"),
        ("AMD Ryzen 7 5800H with Radeon Graphics", "amd ryzen 7 5800h"),
    ],
)
def test_normalize(raw: str, normalized: str) -> None:
    assert normalize_cpu_name(raw) == normalized


@needs_csv
@pytest.mark.parametrize(
    ("raw", "table_name", "tdp"),
    [
        ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "Intel Xeon Platinum 8375C", 300.0),
        ("Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz", "Intel Xeon E5-2686 v4", 145.0),
        ("AMD EPYC 7763 64-Core Processor", "AMD EPYC 7763", 280.0),
        ("AMD EPYC 7R13 Processor", "AMD EPYC 7R13", 225.0),
        ("Intel(R) Xeon(R) Platinum 8480+", "Intel Xeon Platinum 8480+", 350.0),
        ("AMD Ryzen 9 5950X 16-Core Processor", "AMD Ryzen 9 5950X", 105.0),
        ("Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", "Intel Xeon Gold 6148", 150.0),
    ],
)
def test_tdp_lookup_real_names(raw: str, table_name: str, tdp: float) -> None:
    match = lookup_tdp(raw, load_tdp_table())
    assert (match.name, match.tdp_w, match.source) == (table_name, tdp, "codecarbon-csv")


@needs_csv
def test_tdp_lookup_without_vendor_and_unknown() -> None:
    table = load_tdp_table()
    partial = lookup_tdp("Xeon Platinum 8375C", table)
    assert (partial.tdp_w, partial.source) == (300.0, "codecarbon-csv-partial")
    for unknown in ("AMD EPYC", "", "Frobnicator 9000 CPU", "QEMU Virtual CPU version 2.5+"):
        assert lookup_tdp(unknown, table).source == "default"
        assert lookup_tdp(unknown, table).tdp_w == DEFAULT_TDP_W


def test_tdp_table_absent_gives_default(tmp_path: Path) -> None:
    table = load_tdp_table(tmp_path)  # no hardware/cpu_power.csv there
    assert table == {}
    assert lookup_tdp("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", table).source == "default"


def test_read_cpuinfo(tmp_path: Path) -> None:
    write_cpuinfo(tmp_path, "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", sockets=2, cpus_per_socket=4)
    info = read_cpuinfo(tmp_path)
    assert (info.model_name, info.sockets, info.logical_cpus) == (
        "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
        2,
        8,
    )
    assert read_cpuinfo(tmp_path / "absent").model_name == ""


# --- the sensor --------------------------------------------------------------------------------------------


class FakeMachine:
    """Cumulative (busy, total) CPU seconds advanced by the test."""

    def __init__(self) -> None:
        self.busy = 1000.0
        self.total = 5000.0

    def run(self, seconds: float, n_cpus: int, utilisation: float) -> None:
        self.total += seconds * n_cpus
        self.busy += seconds * n_cpus * utilisation

    def __call__(self) -> tuple[float, float]:
        return self.busy, self.total


@needs_csv
def test_machine_mode_two_sockets(tmp_path: Path) -> None:
    proc = write_cpuinfo(
        tmp_path, "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", sockets=2, cpus_per_socket=4
    )
    machine = FakeMachine()
    sensor = CpuModelSensor("machine", proc_root=proc, machine_seconds=machine, clock=lambda: 0.0)
    assert isinstance(sensor, Sensor)
    assert sensor.channels() == ["cpu"]
    (info,) = sensor.describe()
    assert info.model == "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz"
    assert info.method == "model:tdp/machine"
    assert info.details["tdp_w"] == 600.0 and info.details["sockets"] == 2
    assert info.details["tdp_source"] == "codecarbon-csv" and info.details["n_cpus"] == 8
    machine.run(10.0, 8, 0.25)
    r = sensor.read(10.0)["cpu"]
    assert r.kind == POWER
    assert r.value == pytest.approx(machine_power_w(0.25, 600.0))
    machine.run(10.0, 8, 1.0)
    assert sensor.read(20.0)["cpu"].value == pytest.approx(600.0)
    # no CPU time passed: the previous value is repeated, no division by zero
    assert sensor.read(20.0)["cpu"].value == pytest.approx(600.0)


def test_unknown_model_uses_default_tdp(tmp_path: Path) -> None:
    proc = write_cpuinfo(tmp_path, "AMD EPYC")
    sensor = CpuModelSensor("machine", proc_root=proc, machine_seconds=FakeMachine(), data_dir=tmp_path)
    (info,) = sensor.describe()
    assert info.details["tdp_source"] == "default" and info.details["tdp_w"] == DEFAULT_TDP_W


def test_user_tdp_overrides(tmp_path: Path) -> None:
    proc = write_cpuinfo(tmp_path, "AMD EPYC")
    sensor = CpuModelSensor("machine", proc_root=proc, tdp_w=7.0, machine_seconds=FakeMachine())
    assert sensor.describe()[0].details["tdp_source"] == "user"
    assert sensor.read(1.0)["cpu"].value == pytest.approx(7.0 * IDLE_FRACTION)


def test_process_mode_share(tmp_path: Path) -> None:
    proc = write_cpuinfo(tmp_path, "AMD EPYC", cpus_per_socket=4)
    tree = {"s": 50.0}
    sensor = CpuModelSensor(
        "process", pid=1234, proc_root=proc, tdp_w=100.0, tree_seconds=lambda: tree["s"], clock=lambda: 100.0
    )
    (info,) = sensor.describe()
    assert info.details["mode"] == "process" and info.details["pid"] == 1234
    tree["s"] += 20.0  # 20 CPU s in 10 s wall on 4 CPUs: half the machine
    assert sensor.read(110.0)["cpu"].value == pytest.approx(100.0 * (1 - IDLE_FRACTION) * 0.5)
    assert sensor.read(120.0)["cpu"].value == 0.0  # idle process: nothing charged


def test_bad_configuration_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        CpuModelSensor("node", proc_root=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tdp_w"):
        CpuModelSensor(proc_root=tmp_path, tdp_w=-3.0)


def _burn(cpu_seconds: float, done: mp.synchronize.Event, release: mp.synchronize.Event) -> None:
    start = time.process_time()
    x = 0
    while time.process_time() - start < cpu_seconds:
        x += 1
    done.set()
    release.wait(30)


def test_process_tree_counts_children_once() -> None:
    """A child burning a fixed amount of CPU time shows up in the parent's tree, once, alive or reaped."""
    ctx = mp.get_context("fork")
    done, release = ctx.Event(), ctx.Event()
    tree = ProcessTreeCpu()
    base = tree()
    child = ctx.Process(target=_burn, args=(0.4, done, release))
    child.start()
    assert done.wait(60)
    alive = tree() - base
    release.set()
    child.join(30)
    reaped = tree() - base
    assert alive >= 0.35  # CPU seconds, not wall time: independent of machine load
    assert reaped >= alive
    assert reaped < alive + 0.3  # the reaped child is not counted a second time


def test_proc_stat_reader_matches_psutil_arithmetic(tmp_path: Path) -> None:
    from wattwatch.sensors.base import ProcFile
    from wattwatch.sensors.cpu import _CLOCK_TICKS, parse_proc_stat

    def proc_stat_cpu_seconds(root: Path) -> tuple[float, float]:
        f = ProcFile(root / "stat")
        try:
            return parse_proc_stat(f.read())
        finally:
            f.close()

    # user nice system idle iowait irq softirq steal guest guest_nice (guest* already inside user/nice)
    (tmp_path / "stat").write_text("cpu  100 20 30 400 50 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
    busy, total = proc_stat_cpu_seconds(tmp_path)
    assert total == pytest.approx((100 + 20 + 30 + 400 + 50 + 6 + 7 + 8) / _CLOCK_TICKS)
    assert busy == pytest.approx((100 + 20 + 30 + 6 + 7 + 8) / _CLOCK_TICKS)
    (tmp_path / "stat").write_text("intr 1 2 3\n")
    with pytest.raises(ValueError):
        proc_stat_cpu_seconds(tmp_path)


def test_real_proc_stat_agrees_with_psutil() -> None:
    from wattwatch.sensors.cpu import machine_cpu_seconds, parse_proc_stat

    if not Path("/proc/stat").exists():
        pytest.skip("no /proc/stat")
    direct, via_psutil = parse_proc_stat(Path("/proc/stat").read_bytes()), machine_cpu_seconds()
    assert direct[1] == pytest.approx(via_psutil[1], abs=1.0)  # a tick or two may pass between the reads
    assert direct[0] == pytest.approx(via_psutil[0], abs=1.0)
