"""The Tracker fills CodeCarbon's columns as CodeCarbon does: usage means, forced powers, integers, the
world-average warning, and one row per flush when asked."""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor
from powercap import FakePowercap

from wattwatch import Tracker
from wattwatch.sensors.cpu import IDLE_FRACTION

GIB_KB = 1024 * 1024


def write_proc(root: Path, busy: int, idle: int, available_kb: int) -> None:
    (root / "stat").write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\n")
    (root / "meminfo").write_text(f"MemTotal: {16 * GIB_KB} kB\nMemAvailable: {available_kb} kB\n")


def test_usage_columns_are_the_means_of_what_was_sampled(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    write_proc(proc, busy=1000, idle=9000, available_kb=12 * GIB_KB)
    t = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()], proc_root=proc, measure_power_secs=0.05,
                handle_signals=False, country_iso_code="FRA")
    t.start()  # the meter reads its baseline here
    write_proc(proc, busy=1000 + 300, idle=9000 + 700, available_kb=12 * GIB_KB)  # 30 % busy, 25 % of RAM
    deadline = time.monotonic() + 30
    while t.usage_totals().samples == 0 and time.monotonic() < deadline:
        time.sleep(0.05)  # the next tick samples (later ticks see no change in the counters: no sample)
    data = t.stop()
    assert data is not None
    assert data.cpu_utilization_percent == pytest.approx(30.0)
    assert data.ram_utilization_percent == pytest.approx(25.0)
    assert data.ram_used_gb == pytest.approx(4.0)
    assert data.gpu_utilization_percent == 0.0  # no GPU sampled: 0, as CodeCarbon writes
    with open(tmp_path / "emissions.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert float(row["cpu_utilization_percent"]) == pytest.approx(30.0)
    assert row["cpu_count"].isdigit() and row["gpu_count"] == "1"
    assert row["codecarbon_version"] == "3.3.2"


def test_forced_ram_power_is_exact_and_forced_cpu_power_skips_rapl(tmp_path: Path) -> None:
    powercap = tmp_path / "powercap"
    FakePowercap.server(powercap)
    t = Tracker(output_dir=tmp_path, powercap_root=powercap, nvml_library=tmp_path / "no-nvml.so",
                force_cpu_power=1000.0, force_ram_power=7.0, pue=1.5, handle_signals=False,
                country_iso_code="FRA")
    t.start()
    time.sleep(0.3)
    data = t.stop()
    assert data is not None
    # constant power, PUE applied as CodeCarbon; the mean is energy over the run (readings cover all but its edges)
    assert data.ram_power == pytest.approx(7.0 * 1.5, rel=1e-3)
    assert data.ram_method == "user:ram-7w" and data.cpu_method == "model:user-tdp/machine"
    # The load model at 1000 W full load: between its idle share and full load, whatever the machine did.
    assert 1000.0 * IDLE_FRACTION * 1.5 * 0.999 <= data.cpu_power <= 1000.0 * 1.5 * 1.001


def test_without_a_location_one_warning_at_start_says_how_to_set_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        with Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()], handle_signals=False):
            pass
        warned = [r.getMessage() for r in caplog.records if "no location" in r.getMessage()]
        assert len(warned) == 1 and "world-average" in warned[0] and "country_iso_code=" in warned[0]
        caplog.clear()
        with Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()], handle_signals=False,
                     country_iso_code="FRA"):
            pass
        assert not [r for r in caplog.records if "no location" in r.getMessage()]
