"""The grid-aware pause: the planner's rule, and a tracker that pauses and resumes around an hourly file's
dirty hours with a fake clock (the test drives every reading and every second)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor

from wattwatch.carbon.series import StepSeries
from wattwatch.policy.pause import PausePlanner
from wattwatch.run.tracker import Tracker

H = 3600.0
T0 = 1_704_067_200.0  # 2024-01-01T00:00Z


def series(values: list[float], start: float = T0) -> StepSeries:
    return StepSeries(tuple((start + i * H, g) for i, g in enumerate(values)), H)


def test_clean_enough_or_out_of_time_runs() -> None:
    p = PausePlanner(300.0, T0 + 10 * H)
    s = series([100, 600, 600, 100, 100, 100, 100, 100, 100, 100])
    assert not p.decide(T0 + 10, s, 3 * H).pause  # 100 <= 300
    assert not p.decide(T0 + H, s, 9.5 * H).pause  # no slack left
    assert not p.decide(T0 + H, s, None).pause  # length unknown: never wait
    assert not p.decide(T0 + 20 * H, s, H).pause  # no data for now


def test_the_plan_waits_for_cleaner_hours_and_runs_a_partial_hour_at_its_end() -> None:
    p = PausePlanner(300.0, T0 + 5.5 * H, recheck_s=2 * H)
    s = series([100, 100, 600, 650, 100, 100, 100])
    first = p.decide(T0 + 2 * H, s, 2 * H)  # 1.5 h clean before the deadline: 0.5 h of 02:00-03:00 needed
    assert first.pause and first.until == pytest.approx(T0 + 2.5 * H)
    assert not p.decide(T0 + 2.5 * H, s, 2 * H).pause  # its last half hour
    later = p.decide(T0 + 3 * H, s, 1.5 * H)  # 04:00-05:30 holds the rest
    assert later.pause and later.until == pytest.approx(T0 + 4 * H)
    assert "above 300; cleaner hours ahead" in later.reason


def test_without_a_forecast_the_threshold_alone_decides() -> None:
    p = PausePlanner(300.0, T0 + 10 * H, recheck_s=300)
    live = StepSeries(((T0, 600.0),), H)  # a live value, nothing ahead
    d = p.decide(T0 + 60, live, 2 * H)
    assert d.pause and d.until == pytest.approx(T0 + 360)  # ask again in recheck_s
    assert not p.decide(T0 + 8.5 * H, live, 2 * H).pause  # no more slack


def test_an_unknown_stretch_counts_as_an_average_hour() -> None:
    p = PausePlanner(0.0, T0 + 6 * H)
    s = series([500, 400, 300])  # known until 03:00; the deadline is 06:00
    assert p.decide(T0, s, 2 * H).pause  # 02:00 (300) and an unknown hour (as 400 ahead: 350) beat 00:00
    assert not p.decide(T0 + H, series([500, 300, 400]), 2 * H).pause  # 01:00 (300) is the cleanest known
    assert p.decide(T0 + 2 * H, s, 2 * H).pause  # nothing known ahead: the threshold alone (0) decides


class Clock:
    """Monotonic and wall time that move only when told (``sleep`` moves them too)."""

    def __init__(self, wall0: float) -> None:
        self.t = 1000.0
        self.wall0 = wall0 - self.t

    def __call__(self) -> float:
        return self.t

    def wall(self) -> float:
        return self.wall0 + self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_a_run_pauses_through_dirty_hours_and_keeps_its_deadline(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """3 hours of work from 01:00 with a deadline 4.5 h later; 02:00-04:00 dirty. The oracle runs 01-02, the last
    half hour of 02-03, then 04:00-05:30: half an hour dirty. So does the policy."""
    hourly = tmp_path / "hourly.csv"
    values = [100, 100, 600, 650, 100, 100, 100, 100, 100, 100]
    hourly.write_text("timestamp,g_per_kwh\n" + "".join(f"{T0 + i * H:.0f},{g}\n" for i, g in enumerate(values)))
    clock = Clock(T0 + H)
    sensor = ConstantPowerSensor(300.0, clock=clock)
    t = Tracker(
        output_dir=tmp_path / "out", sensors=[sensor], clock=clock, wall_clock=clock.wall, sleep=clock.sleep,
        measure_power_secs=1e6, intensity_csv=hourly, pause_above_g_per_kwh=300, deadline="+4.5h",
        total_steps=30, save_timeseries=False, handle_signals=False,
    )  # fmt: skip
    step_walls = []
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        t.start()
        for _ in range(30):
            clock.t += 360.0  # six minutes of work per step
            step_walls.append(clock.wall())
            t.current(refresh=True)
            t.step()
            t.pause_if_dirty()
        data = t.stop()
    assert data is not None
    dirty = [w for w in step_walls if T0 + 2 * H < w <= T0 + 4 * H]
    assert len(dirty) <= 6  # half an hour of dirty work, give or take a step
    assert step_walls[-1] <= T0 + 5.5 * H  # the deadline holds
    paused_kwh = data.phase_energy_kwh["paused"]
    assert paused_kwh > 0 and sum(data.phase_energy_kwh.values()) == pytest.approx(data.energy_consumed, rel=1e-9)
    paused_s = paused_kwh * 3.6e6 / 300.0
    assert paused_s == pytest.approx(clock.wall() - (T0 + H) - 30 * 360.0, rel=1e-6)  # all the rest was paused
    per_step_kwh = 300 * 360 / 3.6e6
    no_pause_g = per_step_kwh * sum(values[int((H + 360 * (i + 0.5)) // H)] for i in range(30))  # 01:00-04:00
    oracle_g = per_step_kwh * (10 * 100 + 5 * 600 + 15 * 100)  # 01-02, the last half of 02-03, 04:00-05:30
    worked_g = data.phase_emissions_kg["(unphased)"] * 1000  # the work's own carbon (the fake draws 300 W paused too)
    assert worked_g <= oracle_g + 2 * per_step_kwh * 650  # within two steps of the oracle
    assert (no_pause_g - worked_g) >= 0.9 * (no_pause_g - oracle_g)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("wattwatch: pausing at step 10: grid at 600 g/kWh") for m in messages)
    assert any(m.startswith("wattwatch: resuming after") for m in messages)


def test_no_pause_without_a_time_varying_intensity_or_a_length(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(T0)
    common: dict[str, object] = dict(
        output_dir=tmp_path, sensors=[ConstantPowerSensor(100.0, clock=clock)], clock=clock, wall_clock=clock.wall,
        sleep=clock.sleep, measure_power_secs=1e6, pause_above_g_per_kwh=10, deadline="+8h",
        save_timeseries=False, handle_signals=False,
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        static = Tracker(carbon_intensity_g_per_kwh=500, total_steps=10, **common).start()  # type: ignore[arg-type]
        static.step()
        assert static.pause_if_dirty() == 0.0 and not static.pause_due()
        static.stop()
    assert any("intensity is one fixed figure" in r.getMessage() for r in caplog.records)


def test_a_budget_used_up_while_waiting_ends_the_wait(tmp_path: Path) -> None:
    hourly = tmp_path / "hourly.csv"
    hourly.write_text("timestamp,g_per_kwh\n" + "".join(f"{T0 + i * H:.0f},{900 if i < 3 else 100}\n" for i in range(12)))
    clock = Clock(T0)
    t = Tracker(
        output_dir=tmp_path / "out", sensors=[ConstantPowerSensor(1000.0, clock=clock)], clock=clock,
        wall_clock=clock.wall, sleep=clock.sleep, measure_power_secs=1e6, intensity_csv=hourly,
        pause_above_g_per_kwh=300, deadline="+8h", total_steps=20, energy_budget_kwh=1.0,
        save_timeseries=False, handle_signals=False,
    )  # fmt: skip
    t.start()
    for _ in range(3):  # 3 x 6 min at 1 kW: 0.3 kWh
        clock.t += 360.0
        t.current(refresh=True)
        t.step()
    waited = t.pause_if_dirty()  # 02:42 of dirty grid ahead, but 0.7 kWh of idle draw uses the budget up first
    assert 0 < waited <= 0.7 * 3600 + 600
    assert t.should_stop
    assert t.stop().status == "budget-stopped"  # type: ignore[union-attr]
