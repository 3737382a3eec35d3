"""RamModelSensor: the memory the slice holds (installed, a container's limit, a process's resident set)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from wattwatch.sensors.base import POWER, Sensor
from wattwatch.sensors.ram import (
    GIB,
    WATTS_PER_GIB,
    RamModelSensor,
    machine_used_bytes,
    process_tree_rss_bytes,
)


def test_figure_is_codecarbon_3w_per_8gb() -> None:
    assert WATTS_PER_GIB == pytest.approx(3.0 / 8.0)


def test_machine_mode_charges_the_installed_memory(tmp_path: Path) -> None:
    """Issue 24: DRAM draws its background power for every installed gigabyte; a 24 GiB VM using 0.5 GiB is
    charged 24 GiB x 0.375 W (9 W), not 0.2 W for what is in use."""
    (tmp_path / "meminfo").write_text(
        f"MemTotal:       {24 * 1024 * 1024} kB\nMemFree:        1000 kB\nMemAvailable:   {int(23.5 * 1024 * 1024)} kB\n"
    )
    sensor = RamModelSensor("machine", proc_root=tmp_path)
    assert isinstance(sensor, Sensor)
    reading = sensor.read(0.0)["ram"]
    assert reading.kind == POWER and reading.value == pytest.approx(24 * WATTS_PER_GIB)
    (info,) = sensor.describe()
    assert info.details["charged_gib"] == pytest.approx(24.0) and "crucial.com" in str(info.details["source"])
    assert info.details["unit"] == "W per GiB installed"
    sensor.close()


def test_machine_used_bytes_on_this_host_is_bounded() -> None:
    import psutil

    used = machine_used_bytes()
    assert 0 < used <= psutil.virtual_memory().total


def test_linear_in_the_charged_memory_and_custom_figure() -> None:
    charged = {"b": 0}
    sensor = RamModelSensor("machine", watts_per_gb=1.0, charged_bytes=lambda: charged["b"])
    assert sensor.read(0.0)["ram"].value == 0.0
    charged["b"] = 3 * GIB
    assert sensor.read(1.0)["ram"].value == pytest.approx(3.0)
    (info,) = sensor.describe()
    assert info.component == "ram" and info.method == "model:ram-1w-per-gib/machine"
    assert info.details["watts_per_gb"] == 1.0 and info.details["mode"] == "machine"


def test_default_method_name() -> None:
    assert RamModelSensor(charged_bytes=lambda: 0).method == "model:ram-0.375w-per-gib/machine"


def test_process_mode_reads_this_process_rss() -> None:
    rss = process_tree_rss_bytes(os.getpid())
    assert rss > 10 * 2**20  # a Python interpreter with pytest loaded
    sensor = RamModelSensor("process", pid=os.getpid())
    assert sensor.describe()[0].details["pid"] == os.getpid()
    value = sensor.read(0.0)["ram"].value
    assert 0 < value < 64 * WATTS_PER_GIB


def test_vanished_process_reads_zero() -> None:
    assert process_tree_rss_bytes(2**22 + 12345) == 0


def test_failure_is_a_gap_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> int:
        raise OSError("no /proc/meminfo")

    sensor = RamModelSensor(charged_bytes=broken)
    with caplog.at_level(logging.WARNING):
        assert sensor.read(0.0) == {} and sensor.read(1.0) == {}
    assert len(caplog.records) == 1


def test_bad_configuration_raises() -> None:
    with pytest.raises(ValueError, match="mode"):
        RamModelSensor("node")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="watts_per_gb"):
        RamModelSensor(watts_per_gb=-1.0)


def test_meminfo_reader_and_fallback(tmp_path: Path) -> None:
    from wattwatch.sensors.ram import GIB, RamModelSensor, parse_meminfo_total, parse_meminfo_used

    (tmp_path / "meminfo").write_text(
        "MemTotal:       2147483648 kB\nMemFree:        1000 kB\nMemAvailable:   2130706432 kB\n"
    )
    used = parse_meminfo_used((tmp_path / "meminfo").read_bytes())
    assert used == (2147483648 - 2130706432) * 1024  # 16 GiB in use on a 2 TiB host
    total = parse_meminfo_total((tmp_path / "meminfo").read_bytes())
    assert total == 2147483648 * 1024
    sensor = RamModelSensor("machine", proc_root=tmp_path)
    assert sensor.read(0.0)["ram"].value == pytest.approx(total / GIB * sensor.watts_per_gb)  # installed: 768 W
    (tmp_path / "meminfo").write_text("MemFree: 1 kB\n")
    with pytest.raises(ValueError):
        parse_meminfo_total((tmp_path / "meminfo").read_bytes())
    with pytest.raises(ValueError):
        parse_meminfo_used((tmp_path / "meminfo").read_bytes())
