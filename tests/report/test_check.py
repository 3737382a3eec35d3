"""Issue 24, item 10: ``wattwatch check`` recomputes every run's figures from the energy they come from, and
finds each seeded inconsistency (exit 1, one line saying what); a history written by trackers passes (exit 0)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor

from wattwatch import Tracker
from wattwatch.cli.main import main
from wattwatch.report.check import check_paths

pytestmark = pytest.mark.rows_unchecked("the copies are seeded with inconsistencies on purpose")


def _tracker(folder: Path, sensor: ConstantPowerSensor) -> Tracker:
    return Tracker(output_dir=folder, sensors=[sensor], country_iso_code="FRA", measure_power_secs=0.02,
                   timeseries_every_s=0.02, handle_signals=False)  # fmt: skip


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run with phases and tokens, and a run resumed once (two segments, a time series across both)."""
    folder = tmp_path_factory.mktemp("history")
    t = _tracker(folder, ConstantPowerSensor(200.0, n=2)).start()
    t.set_phase("train")
    time.sleep(0.15)
    with t.phase("eval"):
        time.sleep(0.05)
    t.step(10, samples=40, tokens=4000)
    t.stop()
    first = _tracker(folder, ConstantPowerSensor(100.0)).start()
    first.set_phase("train")
    first.step(5, tokens=500)
    time.sleep(0.1)
    saved = json.loads(json.dumps(first.state_dict()))
    first.stop()
    second = _tracker(folder, ConstantPowerSensor(300.0))
    second.load_state_dict(saved)
    second.start()
    second.set_phase("train")
    second.step(5, tokens=500)
    time.sleep(0.1)
    second.stop()
    return folder


def _check(folder: Path) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["check", str(folder)])
    return code, out.getvalue()


def test_a_history_written_by_trackers_agrees(history: Path) -> None:
    code, text = _check(history)
    assert code == 0, text
    assert "checked 3 row(s) of 2 run(s), 2 time series: every figure agrees" in text


def _edit(folder: Path, change: Callable[[list[dict[str, str]]], None]) -> None:
    path = folder / "emissions.csv"
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    change(rows)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header or [])
        w.writeheader()
        w.writerows(rows)


def _scale(row: dict[str, str], column: str, factor: float) -> None:
    row[column] = repr(float(row[column]) * factor)


def _scale_map(row: dict[str, str], column: str, factor: float) -> None:
    row[column] = json.dumps({k: v * factor for k, v in json.loads(row[column]).items()})


def _relabel_second_segment(rows: list[dict[str, str]]) -> None:
    row = rows[2]
    phases = json.loads(row["phase_energy_kwh"])
    phases["(unphased)"] = phases.pop("train") + phases.get("(unphased)", 0.0)
    row["phase_energy_kwh"] = json.dumps(phases)


SEEDS: dict[str, tuple[Callable[[list[dict[str, str]]], None], str]] = {
    "components": (lambda rows: _scale(rows[0], "cpu_energy", 1.5) if float(rows[0]["cpu_energy"]) else
                   _scale(rows[0], "gpu_energy", 1.5), "components sum to"),  # fmt: skip
    "phases": (lambda rows: _scale_map(rows[0], "phase_energy_kwh", 1.1), "phases sum to"),
    "phase CO2": (lambda rows: _scale_map(rows[0], "phase_emissions_kg", 0.9), "phases' CO2 sums to"),
    "GPUs": (lambda rows: _scale_map(rows[0], "gpu_energy_by_device_kwh", 2.0), "GPUs sum to"),
    "power": (lambda rows: _scale(rows[0], "gpu_power", 2.0), "gpu_power is"),
    "rate": (lambda rows: _scale(rows[0], "emissions_rate", 3.0), "emissions_rate is"),
    "intensity": (lambda rows: _scale(rows[0], "intensity_g_per_kwh", 1.2), "energy (PUE applied) x intensity"),
    "water": (lambda rows: rows[0].update(water_consumed="1.0"), "water_consumed"),
    "band": (lambda rows: _scale(rows[0], "energy_high_kwh", 0.5), "does not contain energy_consumed"),
    "embodied": (lambda rows: _scale(rows[0], "embodied_emissions", 2.0), "its hardware and stated slice give"),
    "overlap": (lambda rows: rows[0].update(overlap_energy_kwh="5.0"), "overlap_energy_kwh 5 is more"),
    "segment counts": (lambda rows: rows[2].update(tokens="100"), "segment 1's tokens (100) are fewer"),
    "unreadable": (lambda rows: rows[1].update(energy_consumed="lots"), "cannot read the row"),
}


def test_a_run_whose_segments_differ_in_phases_is_not_an_inconsistency(history: Path, tmp_path: Path) -> None:
    """The second segment's ``train`` relabelled ``(unphased)`` (a run resumed without the callbacks) was seeded
    as a J/token inconsistency while ``report --json`` divided the summed phases' ``train`` alone; report now
    takes each segment's training energy from its own phases (measure/figures.py ``run_joules_per``), as check
    does, so the run agrees with itself."""
    folder = tmp_path / "copy"
    shutil.copytree(history, folder)
    _edit(folder, _relabel_second_segment)
    code, text = _check(folder)
    assert "J/token" not in text, text


@pytest.mark.parametrize("seed", list(SEEDS))
def test_each_seeded_inconsistency_is_found(history: Path, tmp_path: Path, seed: str) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(history, folder)
    change, said = SEEDS[seed]
    _edit(folder, change)
    code, text = _check(folder)
    assert code == 1 and said in text, text
    assert "disagreement(s)" in text.splitlines()[-1]


def test_a_time_series_that_does_not_end_at_its_rows_is_found(history: Path, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(history, folder)
    for series in folder.glob("*.timeseries.csv"):
        lines = series.read_text().splitlines(keepends=True)
        series.write_text("".join(lines[: max(2, len(lines) // 2)]))  # its last half lost
    code, text = _check(folder)
    assert code == 1 and "the time series ends at" in text


def test_a_series_going_back_in_time_is_found(history: Path, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(history, folder)
    series = next(p for p in folder.glob("*.timeseries.csv") if len(p.read_text().splitlines()) > 6)
    lines = series.read_text().splitlines(keepends=True)
    lines[3], lines[4] = lines[4], lines[3]
    series.write_text("".join(lines))
    report = check_paths([str(folder)])
    assert any("goes back in time" in p.what for p in report.problems)


def test_statuses_other_features_add_are_data_and_json_output(history: Path, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(history, folder)
    _edit(folder, lambda rows: rows[0].update(status="budget-stopped"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["check", str(folder), "--json"]) == 0
    doc = json.loads(out.getvalue())
    assert doc["ok"] and doc["problems"] == [] and doc["rows"] == 3
