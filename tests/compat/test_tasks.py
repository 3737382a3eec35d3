"""CodeCarbon's task API on wattwatch: a reading at each task edge, the task's own figures, the task CSV."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest
from compathelp import make

from wattwatch import TaskEmissionsTracker, track_task_emissions
from wattwatch.compat.tasks import TASK_COLUMNS
from wattwatch.measure.ledger import J_PER_KWH

W = 360.0


def kwh(seconds: float) -> float:
    return W * seconds / J_PER_KWH


def test_task_figures_are_the_run_between_its_two_readings(tmp_path: Path) -> None:
    t = make(tmp_path, watts=W, force_carbon_intensity_g_co2e_kwh=50.0)
    t.start()
    t.test_clock.advance(3.0)  # before the task: not the task's
    t.start_task("load")
    t.test_clock.advance(2.0)
    load = t.stop_task()
    t.test_clock.advance(7.0)  # between tasks
    t.start_task("infer")
    t.test_clock.advance(4.0)
    infer = t.stop_task("infer")
    t.stop()
    assert load is not None and infer is not None
    assert load.energy_consumed == pytest.approx(kwh(2.0), rel=1e-9)
    assert load.gpu_energy == pytest.approx(kwh(2.0), rel=1e-9)
    assert load.duration == pytest.approx(2.0, rel=1e-9)
    assert load.gpu_power == pytest.approx(W, rel=1e-9)
    assert load.emissions == pytest.approx(kwh(2.0) * 50.0 / 1000.0, rel=1e-9)
    assert infer.energy_consumed == pytest.approx(kwh(4.0), rel=1e-9)
    assert t.final_emissions_data.energy_consumed == pytest.approx(kwh(16.0), rel=1e-9)
    assert t._tasks["load"].emissions_data is load and not t._tasks["load"].is_active


def test_task_csv_has_codecarbons_name_and_columns(tmp_path: Path) -> None:
    t = make(tmp_path, watts=W, experiment_name="exp")
    t.start()
    for name in ("model_loading", "inference_0", "inference_1"):
        t.start_task(name)
        t.test_clock.advance(1.0)
        t.stop_task()
    t.stop()
    path = tmp_path / f"emissions_exp_{t.run_id}.csv"
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == TASK_COLUMNS
        got = list(reader)
    assert [r["task_name"] for r in got] == ["model_loading", "inference_0", "inference_1"]
    assert float(got[1]["energy_consumed"]) == pytest.approx(kwh(1.0), rel=1e-9)


def test_task_names_edge_cases(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    t = make(tmp_path, watts=W)
    t.start_task()  # no start(): the tracker starts (CodeCarbon measures tasks without start() too)
    assert t.running and t._active_task is not None
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        t.start_task("second")  # one task at a time, as CodeCarbon
        assert "already under measure" in caplog.text
        t.stop_task()
        assert t.stop_task() is None
    t.start_task("same")
    t.stop_task()
    t.start_task("same")
    t.stop_task()
    names = list(t._tasks)
    assert names[1] == "same" and names[2].startswith("same_") and len(names) == 3
    t.start_task("left-running")
    t.test_clock.advance(1.0)
    t.stop()  # stops the running task first
    assert t._tasks["left-running"].emissions_data is not None


def test_task_context_manager_and_decorator(tmp_path: Path) -> None:
    t = make(tmp_path, watts=W)
    t.start()
    with TaskEmissionsTracker("block", tracker=t):
        t.test_clock.advance(2.0)

    @track_task_emissions(tracker=t, task_name="fn")
    def work() -> str:
        t.test_clock.advance(1.0)
        return "done"

    assert work() == "done"
    t.stop()
    assert t._tasks["block"].emissions_data.energy_consumed == pytest.approx(kwh(2.0), rel=1e-9)
    assert t._tasks["fn"].emissions_data.energy_consumed == pytest.approx(kwh(1.0), rel=1e-9)
