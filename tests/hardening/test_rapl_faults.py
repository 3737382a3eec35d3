"""RAPL faults during a tracked run: wraparound at high power with a slow interval, a counter that becomes
unreadable. The fake powercap tree is tests/support/powercap.py; counters follow the monotonic clock through a reader."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor
from powercap import FakePowercap

from wattwatch import Tracker
from wattwatch.sensors.rapl import RaplSensor


class LiveCounter:
    """A reader for RaplSensor whose ``energy_uj`` follows ``watts`` x monotonic time, wrapping like hardware;
    ``broken`` makes the counter unreadable (OSError) until cleared."""

    def __init__(self, watts: float, max_uj: int) -> None:
        self.watts = watts
        self.max_uj = max_uj
        self.origin = time.monotonic()
        self.broken = threading.Event()

    def total_j(self, t: float) -> float:
        return self.watts * (t - self.origin)

    def __call__(self, path: Path) -> str:
        if path.name == "energy_uj":
            if self.broken.is_set():
                raise PermissionError(13, "Permission denied", str(path))
            return str(int(self.total_j(time.monotonic()) * 1e6) % self.max_uj)
        return path.read_text()


def _rapl(tmp_path: Path, counter: LiveCounter, max_power_w: float | None) -> RaplSensor:
    fake = FakePowercap(tmp_path / "powercap")
    zone = fake.zone("intel-rapl:0", "package-0", max_uj=counter.max_uj)
    if max_power_w is not None:
        (zone / "constraint_0_max_power_uw").write_text(f"{int(max_power_w * 1e6)}\n")
    return RaplSensor(fake.root, reader=counter)


def _measured(t: Tracker) -> tuple[float, float, float]:
    snap = t.snapshot()
    assert snap is not None
    ch = snap.channels["cpu:package-0"]
    assert ch.first_t is not None and ch.last_t is not None
    return ch.energy_j, ch.first_t, ch.last_t


def test_wraparound_at_high_power_with_a_slow_interval(tmp_path: Path) -> None:
    """Fault: a 400 W package whose counter range (200 J) wraps every 0.5 s, with the user asking for one read
    every 5 s: several wraps between two reads cannot be told apart. User sees: one INFO line saying the read
    interval was shortened to half the counter's wrap time at the zone's maximum power. Not lost: every joule."""
    counter = LiveCounter(400.0, 200_000_000)
    rapl = _rapl(tmp_path, counter, max_power_w=500.0)
    t = Tracker(
        output_dir=tmp_path,
        sensors=[rapl],
        measure_power_secs=5.0,
        handle_signals=False,
        save_timeseries=False,
        carbon_intensity_g_per_kwh=100.0,
    )
    with t:
        time.sleep(1.3)
    assert t._sampler is not None and t._sampler.interval_s <= 0.2
    energy, first, last = _measured(t)
    assert energy == pytest.approx(400.0 * (last - first), rel=0.01)


def test_wraparound_without_a_power_rating_uses_a_safe_default(tmp_path: Path) -> None:
    """Fault: as above, but the zone has no power constraint files (many VMs). User sees: the interval bounded
    by an assumed peak power. Not lost: every joule at any power up to that peak."""
    counter = LiveCounter(400.0, 2_000_000_000)  # 2 kJ: wraps every 5 s at 400 W
    rapl = _rapl(tmp_path, counter, max_power_w=None)
    info = rapl.describe()[0]
    limit = info.details.get("max_read_interval_s")
    assert isinstance(limit, float) and 0 < limit <= 2_000.0 / 400.0 / 2


def test_counter_unreadable_mid_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: energy_uj becomes unreadable mid-run, then readable again. User sees: one warning, a gap in the
    row (gaps, gap_seconds). Not lost: the energy spent during the gap (the counter kept counting), nor the
    other channels' energy."""
    caplog.set_level(logging.WARNING)
    counter = LiveCounter(100.0, 262_143_328_850)
    rapl = _rapl(tmp_path, counter, max_power_w=200.0)
    gpu = ConstantPowerSensor(50.0)
    t = Tracker(
        output_dir=tmp_path,
        sensors=[rapl, gpu],
        measure_power_secs=0.02,
        handle_signals=False,
        save_timeseries=False,
    )
    t.start()
    time.sleep(0.2)
    counter.broken.set()
    time.sleep(0.3)
    mid = t.current()
    counter.broken.clear()
    time.sleep(0.2)
    data = t.stop()
    assert data is not None and data.status == "completed"
    assert data.gaps == 1 and data.gap_seconds >= 0.25
    assert mid.gpu_energy > 0
    energy, first, last = _measured(t)
    assert energy == pytest.approx(counter.total_j(last) - counter.total_j(first), rel=0.01)
    assert sum("unreadable" in r.getMessage() for r in caplog.records) == 1
