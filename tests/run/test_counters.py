"""Counters: unknown counts stay unknown, the projection's base is the first counted step, state round-trips."""

from __future__ import annotations

import pytest
from fakesensors import ConstantPowerSensor

from wattwatch.measure.ledger import J_PER_KWH, Ledger
from wattwatch.run.counters import Counters, WorkDone


def test_counters_never_fed_are_unknown_not_zero() -> None:
    c = Counters()
    assert c.done() == WorkDone(None, None, None)
    c.add("steps", 3)
    c.set("tokens", 0)
    assert c.done() == WorkDone(steps=3, samples=None, tokens=0)
    c.reset()
    assert c.done() == WorkDone()


def test_state_round_trip() -> None:
    c = Counters()
    c.add("steps", 5)
    c.add("samples", 40)
    other = Counters()
    other.load_state(*c.to_state())
    assert other.done() == WorkDone(5, 40, None)
    other.load_state({}, {})
    assert other.done() == WorkDone()


def test_projection_counts_start_up_work_once() -> None:
    """1 kWh of start-up before the first step, then 0.5 kWh per step: 10 steps project 1 + 10 * 0.5 kWh."""
    sensor = ConstantPowerSensor(100.0)
    ledger = Ledger(sensor.describe())
    c = Counters()
    c.start_projection(10)
    assert c.project(1.0, 1.0, 0.1) is None  # no step yet
    c.add("steps", 1)
    c.feed_first_step(ledger)  # base: the ledger's totals at the first step (empty ledger: zero)
    c.add("steps", 1)
    p = c.project(2.0, 0.5, 0.05)
    assert p is not None
    # base (0 steps of energy 0 at step 1) -> one step later 0.5 kWh: 8 steps left at 0.5 kWh each
    assert p.energy_kwh == pytest.approx(0.5 + 8 * 0.5)
    assert p.emissions_kg == pytest.approx(0.05 + 8 * 0.05)
    assert J_PER_KWH > 0


def test_no_total_steps_no_projection() -> None:
    c = Counters()
    c.start_projection(None)
    c.add("steps", 4)
    assert c.project(1.0, 1.0, 1.0) is None


def _tracker_run(tmp_path: object, body: object) -> dict[str, object]:
    """A real tracker on a constant 200 W sensor running ``body(tracker)``; its run as ``report --json`` shows it."""
    import contextlib
    import csv
    import io
    import json
    import time

    from wattwatch import Tracker
    from wattwatch.cli.main import main

    t = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor(200.0)], country_iso_code="FRA",
                measure_power_secs=0.02, handle_signals=False, save_timeseries=False).start()  # fmt: skip
    time.sleep(0.05)
    body(t)  # type: ignore[operator]
    time.sleep(0.05)
    t.stop()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["report", str(tmp_path), "--json"]) == 0
    (run,) = json.loads(out.getvalue())["runs"]
    with open(f"{tmp_path}/emissions.csv", newline="") as fh:
        (row,) = csv.DictReader(fh)
    run["phase_energy_kwh"] = json.loads(row["phase_energy_kwh"])
    return run  # type: ignore[no-any-return]


def test_requests_counted_outside_a_phase_divide_the_energy_they_ran_in(tmp_path: object) -> None:
    """A plain inference script (no phases) counting requests: J/request is its energy over them, not 0.0 (the
    requests used to be charged to an ``inference`` phase that never ran)."""
    run = _tracker_run(tmp_path, lambda t: t.count_requests(4, generated_tokens=40))
    assert set(run["phase_energy_kwh"]) == {"(unphased)"}  # type: ignore[arg-type]
    assert run["requests"] == 4 and run["generated_tokens"] == 40
    energy_j = float(run["energy_kwh"]) * J_PER_KWH  # type: ignore[arg-type]
    assert energy_j > 0
    assert run["joules_per_request"] == pytest.approx(energy_j / 4, rel=1e-9)
    assert run["joules_per_generated_token"] == pytest.approx(energy_j / 40, rel=1e-9)


def test_requests_in_a_named_phase_keep_training_figures_apart(tmp_path: object) -> None:
    """Steps counted outside a phase, generation inside ``phase("gen")``: J/step is the unphased energy over the
    steps, J/request the ``gen`` phase's over the requests (the phase the tracker was in at the call)."""

    def body(t: object) -> None:
        import time

        t.step(10)  # type: ignore[attr-defined]
        with t.phase("gen"):  # type: ignore[attr-defined]
            time.sleep(0.05)
            t.count_requests(2)  # type: ignore[attr-defined]

    run = _tracker_run(tmp_path, body)
    phases = run["phase_energy_kwh"]
    assert set(phases) == {"(unphased)", "gen"}  # type: ignore[arg-type]
    assert run["joules_per_request"] == pytest.approx(phases["gen"] * J_PER_KWH / 2, rel=1e-9)  # type: ignore[index]
    assert run["joules_per_step"] == pytest.approx(phases["(unphased)"] * J_PER_KWH / 10, rel=1e-9)  # type: ignore[index]


def test_a_training_loop_without_requests_keeps_its_j_per_step(tmp_path: object) -> None:
    run = _tracker_run(tmp_path, lambda t: t.step(10))
    assert run["requests"] is None and run["joules_per_request"] is None
    assert run["joules_per_step"] == pytest.approx(float(run["energy_kwh"]) * J_PER_KWH / 10, rel=1e-9)  # type: ignore[arg-type]
