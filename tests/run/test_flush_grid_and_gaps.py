"""Smaller promises of issues 13 and 24, with an injected clock: the flush grid (a kill -9 loses at most
max(2 s, 10 % of the run), never more than flush_every_s), lost GPUs counted in ``gap_seconds``, absurd intensity
and PUE refused, an hourly intensity file that misses the run named at start."""

from __future__ import annotations

import logging
import math
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


@pytest.mark.parametrize("tick_s", [1.0, 1.1, 0.02])
def test_a_kill_never_loses_more_than_max_2s_or_10_percent_nor_flush_every_s(tmp_path: Path, tick_s: float) -> None:
    """Issue 24, item 7: at any instant of a run, the data on disk is at most max(2 s, 10 % of the elapsed time)
    old, never more than flush_every_s (a 25 s run killed lost all its GPU energy: the first rewrite came at
    30 s). The grid is dense at the start and no denser than the bound asks later."""
    mono, wall = Clock(1000.0), Clock(1.7e9)
    period = 30.0
    t = _manual(tmp_path, mono, wall, [ConstantPowerSensor(100.0, clock=mono)], flush_every_s=period).start()
    assert t._session is not None
    t._flushes.tick_s = tick_s  # the sampler's interval (1e6 s here: the test drives the ticks)
    origin = mono.t
    flushed: list[float] = [0.0]  # start() writes the first row
    write_row = t._session.outputs.write_row

    def spy(data, *, durable):  # type: ignore[no-untyped-def]
        flushed.append(mono.t - origin)
        write_row(data, durable=durable)

    t._session.outputs.write_row = spy  # type: ignore[method-assign]
    end = 400.0 if tick_s >= 1.0 else 40.0
    while mono.t - origin < end:
        mono.t += tick_s
        wall.t += tick_s
        t._on_tick(mono.t)
    t.stop()
    # a kill just before each flush loses what came since the one before: never more than the bound then
    for before, at in zip(flushed, flushed[1:], strict=False):
        assert at - before <= min(period, max(2.0, 0.1 * at)) + 1e-9, (before, at)
    assert flushed[-1] >= end - min(period, 0.1 * end)
    if tick_s >= 1.0:
        # not denser than needed: a grid whose gaps were exactly the bound (2 s to 20 s, 10 % of the elapsed time
        # to 300 s, then 30 s) has 10 + 10 ln(15) + 100/30 = 40 flushes; ticks 1 s apart cannot land on it
        ideal = 20.0 / 2.0 + 10.0 * math.log(300.0 / 20.0) + (end - 300.0) / period
        assert len(flushed) <= 1.5 * ideal
        late = [b - a for a, b in zip(flushed, flushed[1:], strict=False) if a >= 310.0]
        assert late and min(late) >= period - 2 * tick_s  # the steady period: flush_every_s


def test_an_explicit_flush_counts_as_one(tmp_path: Path) -> None:
    mono, wall = Clock(1000.0), Clock(1.7e9)
    t = _manual(tmp_path, mono, wall, [ConstantPowerSensor(100.0, clock=mono)], flush_every_s=30.0).start()
    assert t._session is not None
    for _ in range(400):
        mono.t += 1.0
        t._on_tick(mono.t)
    t.flush()
    assert t._flushes.last == mono.t
    t.stop()


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
