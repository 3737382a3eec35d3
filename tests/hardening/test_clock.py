"""Clock faults: the wall clock stepped back and forward (NTP, a VM resumed) during a run."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor
from hardhelp import csv_rows

from wattwatch import Tracker


class FakeClock:
    """A settable clock (s)."""

    def __init__(self, start: float) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, dt: float) -> None:
        with self._lock:
            self.now += dt


def test_wall_clock_stepped_back_and_forward(tmp_path: Path) -> None:
    """Fault: the wall clock jumps back 1 h, then forward 2 h, while 30 monotonic seconds pass. User sees: a
    duration of 30 s and the energy of 30 s (durations come from the monotonic clock; the wall clock only stamps
    rows and picks the hour's intensity). Not lost: no energy, no negative interval."""
    mono = FakeClock(1000.0)
    wall = FakeClock(1_700_000_000.0)
    sensor = ConstantPowerSensor(200.0, clock=mono)
    t = Tracker(
        output_dir=tmp_path,
        sensors=[sensor],
        clock=mono,
        wall_clock=wall,
        measure_power_secs=3600.0,
        flush_every_s=3600.0,
        handle_signals=False,
        carbon_intensity_g_per_kwh=100.0,
    )
    t.start()
    mono.advance(10.0)
    wall.advance(10.0 - 3600.0)
    t.flush()
    mono.advance(10.0)
    wall.advance(10.0 + 7200.0)
    t.flush()
    mono.advance(10.0)
    wall.advance(10.0)
    data = t.stop()
    assert data is not None
    assert data.duration == pytest.approx(30.0, abs=1e-6)
    assert data.gpu_energy == pytest.approx(200.0 * 30.0 / 3.6e6, rel=1e-9)
    assert data.emissions == pytest.approx(data.energy_consumed * 100.0 / 1000.0, rel=1e-9)
    (row,) = csv_rows(tmp_path / "emissions.csv")
    assert float(row["duration"]) == pytest.approx(30.0, abs=1e-6)
