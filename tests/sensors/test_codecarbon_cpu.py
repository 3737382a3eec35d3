"""CodeCarbon 3.3.2's CPU power for a forced full-load power: its load curve, its process share, its constant mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattwatch.sensors.codecarbon_cpu import (
    CONSTANT_SHARE,
    CodeCarbonCpuSensor,
    SystemCpuLoad,
    cpu_load_available,
    load_power_w,
)


class Counters:
    """Cumulative (busy, total) CPU seconds the test moves."""

    def __init__(self) -> None:
        self.busy, self.total = 100.0, 400.0

    def __call__(self) -> tuple[float, float]:
        return self.busy, self.total

    def run(self, busy: float, total: float) -> None:
        self.busy += busy
        self.total += total


@pytest.mark.parametrize(("load", "factor"), [(0.0, 0.1), (50.0, 0.2125), (100.0, 1.0), (150.0, 1.0), (-5, 0.1)])
def test_load_curve_is_codecarbons(load: float, factor: float) -> None:
    """``0.1 + 0.9 * (load/100)**3`` (codecarbon/external/hardware.py, CPU._get_power_from_cpu_load), load clamped."""
    assert load_power_w(1000.0, load) == pytest.approx(1000.0 * factor, rel=1e-12)


def test_machine_mode_charges_each_window_its_own_load() -> None:
    counters = Counters()
    sensor = CodeCarbonCpuSensor(1000.0, load=SystemCpuLoad(machine_seconds=counters))
    counters.run(busy=5.0, total=5.0)  # before the first read: not the run's
    first = sensor.read(0.0)["cpu"]
    assert first.value == pytest.approx(100.0) and first.kind == "power_w"
    counters.run(busy=1.0, total=2.0)  # 50 % for the first second
    assert sensor.read(1.0)["cpu"].value == pytest.approx(212.5)
    counters.run(busy=2.0, total=2.0)  # 100 % for the next
    assert sensor.read(2.0)["cpu"].value == pytest.approx(1000.0)
    assert sensor.read(2.0)["cpu"].value == pytest.approx(1000.0)  # no time passed: the same mean
    info = sensor.describe()[0]
    assert info.method == "model:cpu-codecarbon-load/machine" and info.details["read_every_s"] == 1.0
    assert info.details["interval_mean"] is True


def test_process_mode_charges_the_tree_share_without_a_floor() -> None:
    used = [10.0]
    sensor = CodeCarbonCpuSensor(800.0, mode="process", tree_seconds=lambda: used[0], cpu_count=4)
    used[0] += 7.0  # before the first read: not the run's
    assert sensor.read(0.0)["cpu"].value == 0.0
    used[0] += 2.0  # two CPU-seconds in one second on four CPUs: half the machine
    assert sensor.read(1.0)["cpu"].value == pytest.approx(400.0)
    assert sensor.read(3.0)["cpu"].value == 0.0  # idle: nothing, no 10 % floor in process mode
    assert sensor.describe()[0].method == "model:cpu-codecarbon-load/process"


def test_constant_mode_when_the_cpu_times_cannot_be_read(caplog: pytest.LogCaptureFixture) -> None:
    sensor = CodeCarbonCpuSensor(1000.0, load_available=lambda root: False)
    assert sensor.constant
    assert sensor.read(0.0)["cpu"].value == 1000.0 * CONSTANT_SHARE == 500.0
    assert sensor.read(5.0)["cpu"].value == 500.0
    assert sensor.describe()[0].method == "model:cpu-codecarbon-constant/machine"
    assert any("constant mode" in r.getMessage() for r in caplog.records)


def test_load_meter_reads_proc_stat(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 1 1 1\n")
    assert cpu_load_available(tmp_path)
    meter = SystemCpuLoad(tmp_path)
    with open(stat, "r+") as fh:  # rewritten in place: the meter keeps the file open
        fh.write("cpu  200 0 200 900 0 0 0 0 0 0\ncpu0 1 1 1 1\n")
    assert meter.percent() == pytest.approx(200 / 300 * 100)
    assert meter.percent() == 0.0  # no time passed
    meter.close()


def test_a_bad_full_load_power_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        CodeCarbonCpuSensor(0.0, load_available=lambda root: False)
