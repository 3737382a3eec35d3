"""RaplSensor on fake powercap trees: zone choice, wraparound, gaps, permission denied."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from powercap import FakePowercap

from wattwatch.sensors.base import ENERGY, Sensor
from wattwatch.sensors.rapl import PERMISSION_HINT, RaplSensor, discover_zones


def test_server_tree_counts_each_package_once_without_psys_or_mmio(tmp_path: Path) -> None:
    FakePowercap.server(tmp_path)
    sensor = RaplSensor(tmp_path)
    assert isinstance(sensor, Sensor)
    assert sensor.channels() == ["cpu:package-0", "cpu:package-1"]
    zones = {z.channel: z.zone for z in sensor.zones}
    assert zones == {"cpu:package-0": "intel-rapl:0", "cpu:package-1": "intel-rapl:1"}  # not mmio, not psys
    info = sensor.describe()
    assert [i.method for i in info] == ["counter", "counter"]
    assert {i.component for i in info} == {"cpu"}
    reading = sensor.read(0.0)
    assert reading["cpu:package-0"].kind == ENERGY
    assert reading["cpu:package-0"].value == pytest.approx(1.0)  # 1_000_000 uJ


def test_dram_only_when_asked(tmp_path: Path) -> None:
    FakePowercap.server(tmp_path)
    sensor = RaplSensor(tmp_path, include_dram=True)
    assert sensor.channels() == ["cpu:package-0", "ram:dram-0", "cpu:package-1", "ram:dram-1"]
    assert {i.channel: i.component for i in sensor.describe()}["ram:dram-1"] == "ram"
    assert sensor.read(0.0)["ram:dram-1"].value == pytest.approx(0.4)


def test_mmio_only_package_is_still_read(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path)
    fake.zone("intel-rapl-mmio:0", "package-0", energy_uj=5)
    assert [z.zone for z in discover_zones(tmp_path)] == ["intel-rapl-mmio:0"]


def test_psys_alone_gives_no_channel(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path)
    fake.zone("intel-rapl:0", "psys")
    sensor = RaplSensor(tmp_path)
    assert sensor.channels() == []
    assert sensor.unavailable_reason is not None


def test_amd_rapl_style(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path)
    fake.zone("amd-rapl:0", "package-0", energy_uj=3_000_000)
    assert RaplSensor(tmp_path).read(0.0)["cpu:package-0"].value == pytest.approx(3.0)


def test_missing_root_is_not_an_error(tmp_path: Path) -> None:
    sensor = RaplSensor(tmp_path / "absent")
    assert sensor.channels() == [] and sensor.read(0.0) == {}


def test_energy_across_psys_and_mmio_equals_package_sum(tmp_path: Path) -> None:
    """Adding energy to psys and mmio never moves the total: only the packages count."""
    fake = FakePowercap.server(tmp_path)
    sensor = RaplSensor(tmp_path)
    before = sum(r.value for r in sensor.read(0.0).values())
    fake.add("intel-rapl:0", 10_000_000)
    fake.add("intel-rapl:1", 5_000_000)
    fake.add("intel-rapl:2", 99_000_000)  # psys
    fake.add("intel-rapl:2:0", 99_000_000)  # psys child
    fake.add("intel-rapl-mmio:0", 10_000_000)  # duplicate of package-0
    fake.add("intel-rapl:0:0", 3_000_000)  # core: inside package-0
    after = sum(r.value for r in sensor.read(1.0).values())
    assert after - before == pytest.approx(15.0, abs=1e-9)


def test_wraparound_is_exact(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path)
    max_uj = 1_000_000_000  # 1 kJ range, to wrap quickly
    fake.zone("intel-rapl:0", "package-0", energy_uj=max_uj - 250_000, max_uj=max_uj)
    sensor = RaplSensor(tmp_path)
    first = sensor.read(0.0)["cpu:package-0"].value
    steps = [400_000_000, 700_000_123, 999_999_999, 1, 250_000_000]  # each < one range: at most one wrap
    values = [first]
    for i, step in enumerate(steps):
        fake.add("intel-rapl:0", step)
        values.append(sensor.read(float(i + 1))["cpu:package-0"].value)
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    # Exact in integer microjoules: the total is the sum of the steps.
    assert round((values[-1] - first) * 1e6) == sum(steps)
    assert values[2] - values[1] == pytest.approx(700.000123, abs=1e-9)


def test_unreadable_counter_mid_run_is_a_gap_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakePowercap.server(tmp_path, psys=False, mmio=False)
    sensor = RaplSensor(tmp_path)
    sensor.read(0.0)
    fake.break_counter("intel-rapl:1")  # a directory where the file was: unreadable, even for root
    with caplog.at_level(logging.WARNING):
        r1 = sensor.read(1.0)
        r2 = sensor.read(2.0)
    assert set(r1) == set(r2) == {"cpu:package-0"}
    assert len([r for r in caplog.records if "intel-rapl:1" in r.getMessage()]) == 1
    fake.repair_counter("intel-rapl:1", 2_000_000 + 4_000_000)
    with caplog.at_level(logging.WARNING):
        r3 = sensor.read(3.0)
    assert r3["cpu:package-1"].value == pytest.approx(6.0)
    fake.break_counter("intel-rapl:1")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        sensor.read(4.0)
    assert not caplog.records  # warned once per channel for the whole run


def _denying_reader(path: Path) -> str:
    if path.name == "energy_uj":
        raise PermissionError(13, "Permission denied", str(path))
    return path.read_text()


def test_permission_denied_warns_once_with_the_fix(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    FakePowercap.server(tmp_path)
    with caplog.at_level(logging.WARNING):
        sensor = RaplSensor(tmp_path, reader=_denying_reader)
    assert sensor.channels() == [] and sensor.read(0.0) == {}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "chmod -R a+r /sys/class/powercap/intel-rapl*" in warnings[0].getMessage()
    assert "udev" in warnings[0].getMessage() and "udev" in PERMISSION_HINT
    assert sensor.unavailable_reason is not None and "permission denied" in sensor.unavailable_reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads chmod 000 files; the reader test covers this")
def test_permission_denied_real_chmod(tmp_path: Path) -> None:
    FakePowercap.server(tmp_path, psys=False, mmio=False)
    (tmp_path / "intel-rapl:0" / "energy_uj").chmod(0)
    assert RaplSensor(tmp_path).channels() == []


# --- multi-die packages -------------------------------------------------------------------------------------


def _die_tree(tmp_path: Path, die0_uj: int, die1_uj: int) -> FakePowercap:
    fake = FakePowercap(tmp_path)
    fake.zone("intel-rapl:0", "package-0-die-0", energy_uj=die0_uj)
    fake.zone("intel-rapl:1", "package-0-die-1", energy_uj=die1_uj)
    fake.zone("intel-rapl:2", "package-1-die-0", energy_uj=die0_uj)
    fake.zone("intel-rapl:3", "package-1-die-1", energy_uj=die1_uj)
    return fake


def test_amd_die_zones_mirror_one_package_counter(tmp_path: Path) -> None:
    """On AMD every die zone reads the package MSR: counted once per package, even when reads differ."""
    fake = _die_tree(tmp_path, 5_000_000, 5_000_123)  # read a moment apart: not equal, still one counter
    sensor = RaplSensor(tmp_path, cpu_model="AMD EPYC 9654 96-Core Processor")
    assert sensor.channels() == ["cpu:package-0", "cpu:package-1"]
    fake.add("intel-rapl:0", 2_000_000)
    fake.add("intel-rapl:1", 2_000_000)  # the mirror moves too; it must not be added
    assert sensor.read(0.0)["cpu:package-0"].value == pytest.approx(7.0)


def test_equal_die_counters_are_one_counter(tmp_path: Path) -> None:
    _die_tree(tmp_path, 9_000_000, 9_000_000)
    assert RaplSensor(tmp_path).channels() == ["cpu:package-0", "cpu:package-1"]


def test_intel_dies_with_their_own_counters_are_each_counted(tmp_path: Path) -> None:
    _die_tree(tmp_path, 1_000_000, 3_000_000)
    sensor = RaplSensor(tmp_path, cpu_model="Intel(R) Xeon(R) Platinum 9282 CPU @ 2.60GHz")
    assert sensor.channels() == [
        "cpu:package-0-die-0",
        "cpu:package-0-die-1",
        "cpu:package-1-die-0",
        "cpu:package-1-die-1",
    ]
    assert sum(r.value for r in sensor.read(0.0).values()) == pytest.approx(8.0)
