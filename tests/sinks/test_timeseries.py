"""The time series format: written by TimeseriesWriter and read back by read_timeseries, the one reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattwatch.sinks.timeseries import MAX_PENDING_ROWS, TimeseriesWriter, read_timeseries, timeseries_path


def test_written_rows_read_back(tmp_path: Path) -> None:
    path = timeseries_path(tmp_path, "run-1")
    w = TimeseriesWriter(path, ["gpu:0", "cpu"])
    w.write(1_740_787_200.0, 1.0, "train", {"gpu:0": 300.0, "cpu": None}, 0.001, 0.0004)
    w.write(1_740_787_201.0, 2.0, "eval", {"gpu:0": 150.5, "cpu": 20.0}, 0.002, 0.0008)
    w.close()
    s = read_timeseries(path)
    assert s.elapsed_s == [1.0, 2.0]
    assert s.phase == ["train", "eval"]
    assert s.power_w == {"gpu:0": [300.0, 150.5], "cpu": [None, 20.0]}
    assert s.energy_kwh == [0.001, 0.002] and s.emissions_kg == [0.0004, 0.0008]
    assert s.phase_spans() == [("train", 1.0, 1.0), ("eval", 1.0, 2.0)]


def test_rows_have_the_header_s_cells_with_no_channel_and_with_a_phase_csv_must_quote(tmp_path: Path) -> None:
    import csv

    path = timeseries_path(tmp_path, "run-0")
    w = TimeseriesWriter(path, [])
    w.write(1_740_787_200.0, 1.0, 'eval, "held-out"', {}, 0.001, 0.0004)
    w.close()
    rows = list(csv.reader(path.open(newline="", encoding="utf-8")))
    assert [len(r) for r in rows] == [5, 5] and rows[1][2] == 'eval, "held-out"'
    assert read_timeseries(path).energy_kwh == [0.001]


def test_a_torn_last_row_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "x.timeseries.csv"
    w = TimeseriesWriter(path, ["gpu:0"])
    w.write(0.0, 1.0, "train", {"gpu:0": 1.0}, 0.0, 0.0)
    w.close()
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("2025-03-01T00:00:01.000+00:00,2.")  # a crash mid-row
    assert read_timeseries(path).elapsed_s == [1.0]


def test_not_a_time_series(tmp_path: Path) -> None:
    other = tmp_path / "emissions.csv"
    other.write_text("timestamp,energy_consumed\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a wattwatch time series"):
        read_timeseries(other)
    empty = tmp_path / "e.timeseries.csv"
    TimeseriesWriter(empty, ["gpu:0"]).close()
    empty.write_text("timestamp,elapsed_s,phase,gpu:0_w,energy_kwh,emissions_kg\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no samples yet"):
        read_timeseries(empty)


def test_a_damaged_power_cell_skips_the_whole_row(tmp_path: Path) -> None:
    path = tmp_path / "d.timeseries.csv"
    path.write_text(
        "timestamp,elapsed_s,phase,gpu:0_w,energy_kwh,emissions_kg\n"
        "t,1.0,train,10.0,0.1,0.01\n"
        "t,2.0,train,garbage,0.2,0.02\n"
        "t,3.0,eval,,0.3,0.03\n",
        encoding="utf-8",
    )
    s = read_timeseries(path)
    assert s.elapsed_s == [1.0, 3.0] and s.phase == ["train", "eval"]
    assert s.power_w == {"gpu:0": [10.0, None]} and s.energy_kwh == [0.1, 0.3]


def test_rows_reach_the_file_at_flush_or_when_the_buffer_is_full(tmp_path: Path) -> None:
    path = tmp_path / "b.timeseries.csv"
    w = TimeseriesWriter(path, ["gpu:0", "cpu"])
    w.write(0.0, 1.0, "a,b", [1.0, None], 0.0, 0.0)  # channels in order; a phase that needs quoting
    assert not path.exists()  # no system call per row
    w.flush()
    s = read_timeseries(path)
    assert s.phase == ["a,b"] and s.power_w == {"gpu:0": [1.0], "cpu": [None]}
    for i in range(MAX_PENDING_ROWS):
        w.write(0.0, 2.0 + i, "train", {"gpu:0": 2.0, "cpu": 3.0}, 0.0, 0.0)
    assert len(read_timeseries(path).elapsed_s) == 1 + MAX_PENDING_ROWS  # pushed without a flush: O(1) memory
    w.close()


def test_a_deleted_file_is_recreated_at_the_next_flush(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "d.timeseries.csv"
    w = TimeseriesWriter(path, ["gpu:0"])
    w.write(0.0, 1.0, "train", [1.0], 0.0, 0.0)
    w.flush()
    path.unlink()
    path.parent.rmdir()
    w.write(0.0, 2.0, "train", [2.0], 0.0, 0.0)
    w.close()
    assert read_timeseries(path).elapsed_s == [2.0]  # header written again, the row after the deletion kept


def test_a_failed_flush_drops_its_rows_instead_of_keeping_them(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    w = TimeseriesWriter(blocker / "x.timeseries.csv", ["gpu:0"])
    w.write(0.0, 1.0, "train", [1.0], 0.0, 0.0)
    with pytest.raises(OSError):
        w.flush()
    w.close()  # nothing left to write: no second error


def test_a_resumed_segment_is_joined_even_when_its_time_does_not_go_back(tmp_path: Path) -> None:
    """Issue 24: two short segments, the second's first row later (0.21 s) than the first's last (0.2 s): the
    reader took them for one segment and the series ended at the second's energy alone (half the run's)."""
    path = tmp_path / "r.timeseries.csv"
    first = TimeseriesWriter(path, ["gpu:0"])
    first.write(0.0, 0.2, "train", [100.0], 0.5, 0.05)
    first.close()
    with open(path, "a") as fh:
        fh.write("2026-01-01T00:00:00.000Z,0.3,tr")  # the first process was killed mid-row
    second = TimeseriesWriter(path, ["gpu:0"])
    second.write(1.0, 0.21, "train", [100.0], 0.4, 0.04)
    second.close()
    s = read_timeseries(path)
    assert s.elapsed_s == pytest.approx([0.2, 0.41]) and s.energy_kwh == pytest.approx([0.5, 0.9])
    assert s.segment_starts == pytest.approx([0.2])
