"""read_measured_run reads emissions.csv through sinks/csv.read_rows, the reader every command uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattwatch import planning
from wattwatch.result import COLUMNS, EmissionsData
from wattwatch.sinks.emissions_file import append_row


def _write(path: Path, **fields: object) -> None:
    append_row(path, EmissionsData(**fields).to_row(), COLUMNS)  # type: ignore[arg-type]


def test_a_row_written_by_the_tracker_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    _write(path, run_id="a", status="completed", duration=10.0, energy_consumed=2.0, emissions=0.5, steps=20)
    _write(path, run_id="b", status="running", duration=1.0, energy_consumed=0.1, emissions=0.02)
    run = planning.read_measured_run(path)
    assert (run.run_id, run.energy_kwh, run.emissions_kg, run.steps, run.tokens) == ("a", 2.0, 0.5, 20, None)
    assert planning.read_measured_run(path, "b").duration_s == 1.0


def test_a_spreadsheet_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text("\ufeffrun_id,duration,energy_consumed,emissions,steps\nx,5,1.5,0.3,nan\n", encoding="utf-8")
    run = planning.read_measured_run(path)
    assert run.run_id == "x" and run.energy_kwh == 1.5 and run.steps is None


def test_missing_file_and_bad_numbers(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        planning.read_measured_run(tmp_path / "nope.csv")
    path = tmp_path / "bad.csv"
    path.write_text("run_id,duration,energy_consumed,emissions\nx,5,lots,0.3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="column 'energy_consumed' of the chosen run is missing or not a number"):
        planning.read_measured_run(path)
