"""A damaged emissions.csv never costs a later row, and a row that cannot be written where it belongs is never
reported as saved (issue 23).

- the last row cut inside a quoted cell: the next run's row used to be absorbed by the open quote (Python's csv
  and ``report`` never saw it, yet the run said ``completed``);
- a zero-filled tail (a crash after the file system committed the size, not the data) showed as a phantom run;
- a 1 GB line made ``report`` fail with ``MemoryError`` (memory about 9x the line);
- ``emissions.wattwatch.csv`` (the side file of a CodeCarbon-headed CSV) that is not a CSV: the row was lost
  with status ``completed``, no warning, its journal deleted.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import textwrap
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor
from hardhelp import run_python

from wattwatch import Tracker
from wattwatch.cli.main import main
from wattwatch.result import CODECARBON_COLUMNS
from wattwatch.sinks.emissions_reader import read_table
from wattwatch.sinks.journal import read_journals


def _run(out: Path, run_id: str) -> Tracker:
    t = Tracker(output_dir=out, run_id=run_id, sensors=[ConstantPowerSensor(100.0)], handle_signals=False,
                save_timeseries=False)  # fmt: skip
    t.start()
    t.stop()
    return t


def _report_json(*paths: Path) -> dict[str, object]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert main(["report", *map(str, paths), "--json", "--all"]) == 0
    result: dict[str, object] = json.loads(out.getvalue())
    return result


def _python_csv_ids(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        return [r.get("run_id") or "" for r in csv.DictReader(fh)]


def _history(out: Path, rows: int) -> Path:
    for i in range(rows):
        _run(out, f"old-{i}")
    return out / "emissions.csv"


def _cut_inside_a_quoted_cell(path: Path) -> None:
    """Cut the last row in the middle of its first quoted cell (a JSON column), as a killed writer or a lost
    power supply would leave it."""
    data = path.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    quote = data.index(b'"{', last)
    path.write_bytes(data[: quote + 8])


@pytest.mark.rows_unchecked("the file's last row is cut inside a quoted cell on purpose (check says it cannot read it)")
@pytest.mark.parametrize("history", [1, 1200], ids=["small-file", "file-larger-than-the-window"])
def test_a_tail_cut_inside_a_quoted_cell_never_swallows_the_next_row(tmp_path: Path, history: int) -> None:
    """Fault: the last row of emissions.csv cut inside a quoted cell. Used to: absorb the next run's row into
    the open quote. User sees: the next run's row in Python's csv and in report, complete; the damaged row
    skipped or shown as damaged, never merged with it. Not lost: the damaged bytes (the file is only appended
    to) nor any earlier row."""
    path = _history(tmp_path, history) if history < 10 else None
    if path is None:  # a long history, written fast: copies of one real row
        path = _history(tmp_path, 1)
        data = path.read_bytes()
        header, row = data.split(b"\n", 1)
        path.write_bytes(header + b"\n" + row * history)  # ~1.3 MB: more than the 1 MiB window
        assert path.stat().st_size > 1 << 20
    _cut_inside_a_quoted_cell(path)
    damaged = path.read_bytes()
    t = _run(tmp_path, "after-the-damage")
    assert t.final_emissions_data is not None and t.final_emissions_data.status == "completed"
    assert path.read_bytes().startswith(damaged)  # nothing rewritten
    assert _python_csv_ids(path)[-1] == "after-the-damage"
    rows = read_table(path).rows
    assert rows[-1]["run_id"] == "after-the-damage" and rows[-1]["status"] == "completed"
    ids = {r["run_id"] for r in _report_json(path)["runs"]}  # type: ignore[union-attr]
    assert "after-the-damage" in ids


def test_a_zero_filled_tail_is_no_run_and_costs_no_row(tmp_path: Path) -> None:
    """Fault: 4 KiB of NUL bytes at the end of emissions.csv (a file system that committed the file's size but
    not its data). Used to: show as a phantom run in report. User sees: report counting the real runs only;
    the next run's row readable. Not lost: the NUL bytes (kept, on their own line)."""
    path = _history(tmp_path, 2)
    with open(path, "ab") as fh:
        fh.write(b"\0" * 4096)
    assert _report_json(path)["runs_total"] == 2
    _run(tmp_path, "after-the-zeros")
    assert _python_csv_ids(path)[-1] == "after-the-zeros"
    assert _report_json(path)["runs_total"] == 3
    assert b"\0" * 4096 in path.read_bytes()


_GIANT = textwrap.dedent(
    """
    import io, json, resource, sys
    from contextlib import redirect_stderr, redirect_stdout
    from wattwatch.cli.main import main
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["report", sys.argv[1], "--json", "--all"])
    # VmHWM, not RUSAGE_SELF: on Linux ru_maxrss survives exec, so it would count the pages of the (large) test
    # process this one was forked from; RUSAGE_CHILDREN is report's own forked worker
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    peak = max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    doc = json.loads(out.getvalue())
    print(json.dumps({"code": code, "peak_mib": peak / 1024, "runs": doc["runs_total"], "notes": doc["notes"]}))
    """
)


def test_a_1_gb_line_is_skipped_with_a_note_in_bounded_memory(tmp_path: Path) -> None:
    """Fault: a 1 GB line in emissions.csv (a tool gone wrong, or an attacker). Used to: make report fail with
    MemoryError (memory about 9x the line). User sees: report under 200 MB, the line skipped with a note naming
    it, the runs around it counted. (The line is a hole in a sparse file: written in no time, read as 1 GiB of
    NUL bytes like any other bytes.)"""
    path = _history(tmp_path, 1)
    size = 1 << 30
    with open(path, "r+b") as fh:
        fh.seek(0, 2)
        fh.write(b"x")
        fh.seek(size, 1)  # a hole: 1 GiB that reads as NUL bytes, in one line
        fh.write(b"\n")
    _run(tmp_path, "after-the-giant")
    done = run_python(_GIANT.replace("sys.argv[1]", repr(str(path))), timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0 and result["runs"] == 2, result
    assert result["peak_mib"] < 200, result
    assert any("more than" in n and "bytes, skipped" in n for n in result["notes"]), result["notes"]


def test_a_side_file_that_is_not_a_csv_is_never_reported_as_saved(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fault: emissions.csv has CodeCarbon's header (so the full row goes to emissions.wattwatch.csv) and that
    side file is not a CSV. Used to: return ``completed`` with no warning, delete the journal, and report showed
    0 kWh. User sees: the status ``completed-unsaved`` and one warning naming the side file; once the side file
    is moved away, the next start adds the full row there exactly once (the CodeCarbon columns are not
    appended twice). Not lost: the row (kept in the journal meanwhile)."""
    (tmp_path / "emissions.csv").write_text(",".join(CODECARBON_COLUMNS) + "\n")
    side = tmp_path / "emissions.wattwatch.csv"
    side.write_bytes(b"\x89PNG\r\n\x1a\n not a csv at all")
    caplog.set_level(logging.WARNING, logger="wattwatch")
    t = _run(tmp_path, "unsaved-run")
    data = t.final_emissions_data
    assert data is not None and data.status == "completed-unsaved"
    warnings = [r.getMessage() for r in caplog.records if "could not write the final row" in r.getMessage()]
    assert len(warnings) == 1 and "emissions.wattwatch.csv is not a CSV" in warnings[0], caplog.text
    assert len(read_journals(tmp_path)[0]) == 1
    side.rename(tmp_path / "moved-away.bin")
    _run(tmp_path, "next-run")
    assert read_journals(tmp_path)[0] == []
    assert [r["run_id"] for r in read_table(side).rows] == ["unsaved-run", "next-run"]
    assert _python_csv_ids(tmp_path / "emissions.csv") == ["unsaved-run", "next-run"]
    runs = {r["run_id"]: r for r in _report_json(tmp_path)["runs"]}  # type: ignore[union-attr]
    assert runs["unsaved-run"]["energy_kwh"] == pytest.approx(data.energy_consumed)
