"""EmissionsData rows: to_row / from_row round trip and the per-column parsers (chosen once per class)."""

from __future__ import annotations

import pytest

from wattwatch.result import EmissionsData


def test_round_trip_every_kind_of_column() -> None:
    data = EmissionsData(
        run_id="r1",
        project_name="p",
        duration=12.5,
        energy_consumed=0.25,
        emissions=0.0125,
        status="completed",
        phase_energy_kwh={"train": 0.2, "eval": 0.05},
        gpu_method_by_device={"gpu:0": "counter", "gpu:1": "power"},
    )
    back = EmissionsData.from_row(data.to_row())
    assert back == data


@pytest.mark.parametrize(
    ("column", "raw", "message"),
    [
        ("duration", "inf", "not a finite number"),
        ("duration", "abc", "could not convert"),
        ("phase_energy_kwh", '{"train": "x"}', "finite numbers"),
        ("phase_energy_kwh", "[1, 2]", "not a JSON object"),
        ("gpu_method_by_device", '{"gpu:0": 3}', "must be strings"),
    ],
)
def test_bad_cells_name_their_column(column: str, raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"column '{column}'.*{message}"):
        EmissionsData.from_row({"run_id": "r", column: raw})


def test_unknown_and_empty_columns_keep_defaults() -> None:
    data = EmissionsData.from_row({"run_id": "r", "not_a_column": "x", "duration": ""})
    assert data.run_id == "r" and data.duration == EmissionsData().duration


def test_a_row_from_a_file_without_a_status_column_is_not_a_running_run() -> None:
    """CodeCarbon's emissions.csv has no status column: its rows are read as ``unknown``, not ``running`` (which
    made `wattwatch report` call a finished CodeCarbon run "still running or killed")."""
    data = EmissionsData.from_row({"run_id": "cc", "energy_consumed": "0.5", "emissions": "0.1"})
    assert data.status == "unknown"
    assert EmissionsData.from_row({"run_id": "ww", "status": ""}).status == "running"  # our column, empty cell
    assert EmissionsData.from_row({"run_id": "ww", "status": "completed"}).status == "completed"
