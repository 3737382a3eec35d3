"""The projection with an interval: its coverage over the synthetic scenarios (tests/support/runscenarios.py),
when the interval is given, and the early warning on the fake GPUs -- fired for a run that will overshoot its
budget, not for one that will not -- with the live view and Prometheus showing the interval."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import fakenvml
import pytest
from fakenvml import FakeNvml
from runscenarios import FAMILIES, draw, simulate

from wattwatch.cli.live import LiveView
from wattwatch.policy.outlook import Outlook
from wattwatch.run.tracker import Tracker


def test_the_interval_holds_the_final_energy_in_nine_scenarios_out_of_ten() -> None:
    checks = [c for family in FAMILIES for seed in range(6) for c in simulate(draw(family, seed)).checks]
    assert len(checks) > 150
    covered = sum(c.covered for c in checks) / len(checks)
    assert covered >= 0.9, covered
    late = [c for c in checks if c.fraction >= 0.5]
    assert all(c.low_j <= c.mid_j <= c.high_j for c in checks)
    assert sum(c.covered for c in late) / len(late) >= 0.9
    widths = sorted((c.high_j - c.low_j) / c.final_j for c in checks)
    assert widths[len(widths) // 2] < 0.15  # and it says something: the median interval is narrow


def test_a_constant_run_is_projected_exactly_and_the_interval_waits_for_five_percent() -> None:
    o = Outlook(1000, min_active_s=1e9)
    assert o.project() is None
    o.observe(0.0, 0, 0.0, 0.0)  # before the first step: start-up
    for step in range(1, 41):
        o.observe(step * 0.5, step, 5000.0 + 100.0 * step, 0.0)
    view = o.project()
    assert view is not None and not view.has_interval  # 4 % done
    assert view.energy_kwh * 3.6e6 == pytest.approx(5000.0 + 100.0 * 1000)  # start-up counted once
    assert view.remaining_s == pytest.approx(960 * 0.5)
    for step in range(41, 61):
        o.observe(step * 0.5, step, 5000.0 + 100.0 * step, 0.0)
    view = o.project()
    assert view is not None and view.has_interval
    assert view.energy_low_kwh < view.energy_kwh < view.energy_high_kwh
    assert view.energy_low_kwh * 3.6e6 <= 105000.0 <= view.energy_high_kwh * 3.6e6
    assert (view.energy_high_kwh - view.energy_low_kwh) / view.energy_kwh < 0.1


def test_evaluations_are_carried_at_their_cadence() -> None:
    o = Outlook(1000)
    evals = 0.0
    for step in range(1, 301):
        if step % 100 == 0:
            o.observe(step * 1.0, step, 100.0 * step, {"eval": evals})
            evals += 2000.0  # every 100 steps, as much as 20 steps
        o.observe(step * 1.0 + 0.5, step, 100.0 * step, {"eval": evals})
    view = o.project()
    assert view is not None and view.has_interval
    final = 100.0 * 1000 + 2000.0 * 9  # evaluations at 100, ..., 900 (none at the very end)
    assert view.energy_low_kwh * 3.6e6 <= final <= view.energy_high_kwh * 3.6e6


@pytest.fixture
def gpus(fake_nvml: Callable[..., FakeNvml]) -> FakeNvml:
    return fake_nvml(fakenvml.make_gpus(4, (fakenvml.Constant(600.0),)))


def run_for(rig: FakeNvml, out: Path, budget_kg: float, seconds: float) -> tuple[Tracker, list[str]]:
    t = Tracker(
        output_dir=out, nvml_library=rig.library_path, carbon_intensity_g_per_kwh=1000.0, measure_power_secs=0.1,
        total_steps=1000, carbon_budget_kg=budget_kg, on_budget="warn", save_timeseries=False, handle_signals=False,
    )  # fmt: skip
    t.start()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.01)
        t.step()
    return t, []


def test_the_early_warning_fires_for_a_run_that_will_overshoot(
    gpus: FakeNvml, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """1,000 steps of 10 ms at 2.4 kW: about 6.7 g at 1000 g/kWh (more if the machine is slow). A 1.5 g budget
    is warned about as soon as the interval exists, before it is reached."""
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        t, _ = run_for(gpus, tmp_path, 0.0015, 1.6)
        view = t.outlook()
        line = LiveView(t, tty=False).line()
        families = _scrape(t)
        data = t.stop()
    assert data is not None and data.emissions < 0.0015  # warned before the budget was reached
    warnings = [r.getMessage() for r in caplog.records if "projected" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith("wattwatch: projected ") and warnings[0].endswith(" for 1,000 steps exceeds the 1.5 g budget")
    assert view is not None and view.energy.has_interval and view.emissions_kg > 0.0015  # (its interval may have
    assert view.emissions_low_kg <= view.emissions_kg <= view.emissions_high_kg  # widened since, on a busy machine)
    assert "range " in line and "budget 0.0015 kg" in line and "of 1000 steps" in line
    low, high = families["wattwatch_projected_emissions_low_kg"], families["wattwatch_projected_emissions_high_kg"]
    assert 0 < low <= high and families["wattwatch_projected_energy_low_kwh"] > 0
    assert families["wattwatch_budget_kg"] == 0.0015 and families["wattwatch_over_budget"] == 0.0
    assert data.projected_emissions_kg is not None


def test_no_early_warning_for_a_run_within_its_budget(
    gpus: FakeNvml, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        # 1 kg: 1,000 steps would need 625 ms each at 2.4 kW to reach it (10 ms steps took 68 ms on a loaded
        # machine, and 50 g was then projected over budget)
        t, _ = run_for(gpus, tmp_path, 1.0, 2.0)
        view = t.outlook()
        t.stop()
    assert view is not None and view.energy.has_interval and view.emissions_high_kg < 1.0
    assert not [r for r in caplog.records if "projected" in r.getMessage()]


def _scrape(t: Tracker) -> dict[str, float]:
    pytest.importorskip("prometheus_client")
    from wattwatch.sinks.prometheus import TrackerCollector

    out = {}
    for family in TrackerCollector(t).collect():  # type: ignore[arg-type]
        for sample in family.samples:
            out[sample.name] = sample.value
    return out
