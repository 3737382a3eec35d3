"""Smaller promises of issue 13, with an injected clock: flushes on a fixed grid (no drift), lost GPUs counted in
``gap_seconds``, absurd intensity and PUE refused, an hourly intensity file that misses the run named at start."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor

from wattwatch import Tracker
from wattwatch.errors import ConfigurationError
from wattwatch.sensors.base import ENERGY, ChannelInfo, Reading


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _manual(tmp_path: Path, mono: Clock, wall: Clock, sensors: list[object], **kw: object) -> Tracker:
    """A tracker whose sampler thread never ticks by itself: the test drives readings and ticks."""
    return Tracker(
        output_dir=tmp_path, sensors=sensors, clock=mono, wall_clock=wall, measure_power_secs=1e6,  # type: ignore[arg-type]
        handle_signals=False, save_timeseries=False, carbon_intensity_g_per_kwh=100.0, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_flushes_stay_on_the_grid_however_late_the_ticks(tmp_path: Path) -> None:
    mono, wall = Clock(1000.0), Clock(1.7e9)
    t = _manual(tmp_path, mono, wall, [ConstantPowerSensor(100.0, clock=mono)], flush_every_s=10.0).start()
    assert t._session is not None
    origin = mono.t
    flushed: list[float] = []
    write_row = t._session.outputs.write_row

    def spy(data, *, durable):  # type: ignore[no-untyped-def]
        flushed.append(mono.t - origin)
        write_row(data, durable=durable)

    t._session.outputs.write_row = spy  # type: ignore[method-assign]
    for _ in range(209):  # ticks 1.1 s apart (a 1 s sampler that is always a little late), 229.9 s
        mono.t += 1.1
        wall.t += 1.1
        t._on_tick(mono.t)
    t.stop()
    assert len(flushed) == 22  # one per 10 s of the grid, not one per 11 s (the drift made it 20)
    for k, at in enumerate(flushed, start=1):
        assert 10.0 * k <= at < 10.0 * k + 1.1  # the first tick at or after each grid point
    gaps = [b - a for a, b in zip([0.0, *flushed], flushed, strict=False)]
    assert max(gaps) < 10.0 + 1.1  # a kill -9 loses at most one period plus one tick


class LosingGpus:
    """Four GPUs drawing 100 W (energy counters); from ``lost_at`` on, GPUs 1-3 stop answering."""

    def __init__(self, clock: Clock, lost_at: float) -> None:
        self.clock = clock
        self.origin = clock.t
        self.lost_at = lost_at

    def channels(self) -> list[str]:
        return [f"gpu:{i}" for i in range(4)]

    def describe(self) -> list[ChannelInfo]:
        return [ChannelInfo(c, "gpu", "counter", model="Fake") for c in self.channels()]

    def read(self, t: float) -> dict[str, Reading]:
        elapsed = self.clock.t - self.origin
        alive = self.channels() if self.clock.t < self.lost_at else ["gpu:0"]
        return {c: Reading(100.0 * elapsed, ENERGY) for c in alive}

    def close(self) -> None:
        pass


def test_gpus_lost_until_the_end_are_a_gap_not_a_zero(tmp_path: Path) -> None:
    mono, wall = Clock(1000.0), Clock(1.7e9)
    gpus = LosingGpus(mono, lost_at=1004.5)
    t = _manual(tmp_path, mono, wall, [gpus], flush_every_s=1e6).start()
    assert t._sampler is not None
    for _ in range(10):  # readings at 1001 ... 1010; the last answer of GPUs 1-3 is at 1004
        mono.t += 1.0
        wall.t += 1.0
        t._sampler.sample_now()
    data = t.stop()
    assert data is not None and data.gaps == 3
    # gap_seconds sums the channels' unmeasured time: 3 GPUs x (1010 - 1004) s = 18 channel-seconds
    assert data.gap_seconds == pytest.approx(18.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pue": 1e300}, "pue must be at most 5"),
        ({"pue": 5.5}, "pue must be at most 5"),
        ({"carbon_intensity_g_per_kwh": 1e308}, "at most 5000 gCO2eq/kWh"),
    ],
)
def test_absurd_figures_are_refused_before_any_work(tmp_path: Path, kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()], **kwargs)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_realistic_pue_is_accepted(tmp_path: Path) -> None:
    assert Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()], pue=2.9).pue == 2.9


def test_an_hourly_file_that_misses_the_run_is_named_once_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    hourly = tmp_path / "intensity-2025.csv"
    hourly.write_text("timestamp,g_per_kwh\n2025-01-01T00:00:00Z,50\n2025-01-01T01:00:00Z,60\n")
    mono, wall = Clock(1000.0), Clock(1.8e9)  # 2027
    t = Tracker(
        output_dir=tmp_path / "out", sensors=[ConstantPowerSensor(clock=mono)], clock=mono, wall_clock=wall,
        intensity_csv=hourly, handle_signals=False, measure_power_secs=1e6,
    ).start()  # fmt: skip
    t.flush()
    t.stop()
    messages = [r.getMessage() for r in caplog.records if "intensity-2025.csv" in r.getMessage()]
    assert len(messages) == 1 and "2025-01-01T00:00Z" in messages[0] and "2027-01-15" in messages[0]
