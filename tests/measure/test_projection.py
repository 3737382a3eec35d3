"""Projection of a run's final energy and CO2 from the rate so far (fake constant-power sensor, fake clock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattwatch.cli.live import LiveView
from wattwatch.measure.projection import Projector, project
from wattwatch.run.tracker import Tracker
from wattwatch.sensors.base import POWER, ChannelInfo, Reading


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1.7e9 + self.t


class ConstantSensor:
    """A GPU drawing ``watts`` (a phase of start-up can draw less)."""

    def __init__(self, watts: float) -> None:
        self.watts = watts

    def channels(self) -> list[str]:
        return ["gpu:0"]

    def describe(self) -> list[ChannelInfo]:
        return [ChannelInfo("gpu:0", "gpu", "power-integral", "Fake GPU")]

    def read(self, t: float) -> dict[str, Reading]:
        return {"gpu:0": Reading(self.watts, POWER)}

    def close(self) -> None:
        pass


def test_project_by_proportion() -> None:
    p = project(1.0, 0.4, 25, 100)
    assert p is not None and p.energy_kwh == 4.0 and p.emissions_kg == pytest.approx(1.6)
    assert project(1.0, 0.4, 0, 100) is None
    assert project(1.0, 0.4, 120, 100).energy_kwh == 1.0  # type: ignore[union-attr]  # overran: no less than so far


def test_projector_ignores_start_up_and_keeps_predicting() -> None:
    pr = Projector(100)
    assert pr.update(5.0, None, 0.1, 0.04) is None  # loading data: no steps yet
    first = pr.update(10.0, 1, 0.2, 0.08)
    assert first is not None and first.energy_kwh == pytest.approx(20.0)  # one point: proportion
    # then 0.1 kWh and 1 s per step
    for s in range(2, 51):
        p = pr.update(10.0 + (s - 1), s, 0.2 + 0.1 * (s - 1), 0.08 + 0.04 * (s - 1))
    assert p is not None
    assert p.energy_kwh == pytest.approx(0.2 + 0.1 * 99)
    assert p.emissions_kg == pytest.approx(0.08 + 0.04 * 99)
    assert p.remaining_s == pytest.approx(50.0)
    assert p.fraction_done == 0.5
    with pytest.raises(ValueError):
        Projector(0)


def test_projection_after_a_quarter_is_within_5_percent(tmp_path: Path) -> None:
    clock = Clock()
    sensor = ConstantSensor(80.0)  # start-up at idle power
    total = 200
    tracker = Tracker(
        output_dir=tmp_path,
        sensors=[sensor],
        clock=clock,
        wall_clock=clock.wall,
        measure_power_secs=1e6,  # no background ticks: the test drives every reading
        total_steps=total,
        carbon_intensity_g_per_kwh=400,
        handle_signals=False,
        save_timeseries=False,
    )
    tracker.start()
    view = LiveView(tracker, tty=False)  # the projection the live view shows; not started (no thread)
    clock.t += 30.0  # 30 s of loading
    tracker.flush()
    sensor.watts = 300.0
    at_quarter = None
    for step in range(1, total + 1):
        clock.t += 0.5  # 0.5 s per step, constant power
        tracker.step()
        tracker.flush()
        line = view.line()
        if step == total // 4:
            at_quarter = view.projector.latest if view.projector else None
            assert "end ~" in line and "25 % of 200 steps" in line
            naive = tracker.current().projected_energy_kwh
    final = tracker.stop()
    assert final is not None and at_quarter is not None
    assert at_quarter.energy_kwh == pytest.approx(final.energy_consumed, rel=0.05)
    assert at_quarter.emissions_kg == pytest.approx(final.emissions, rel=0.05)
    assert at_quarter.remaining_s == pytest.approx(150 * 0.5, rel=0.05)
    assert naive is not None  # the tracker's own proportional figure counts start-up 4 x
    print(
        f"projection at 25 %: {at_quarter.energy_kwh:.6g} kWh (tracker: {naive:.6g}), final {final.energy_consumed:.6g}"
    )
