"""Names as an attacker or a careless script gives them (issue 23): a run id that is a path, an experiment name
that is a path, control characters in names, a reading interval that would spin a core, cells a spreadsheet
would split, and ESC/BEL bytes in cells that ``wattwatch report`` prints.

Each test names the fault, what the user sees, and what is not written."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor
from hardhelp import child_env, csv_rows

from wattwatch import Tracker
from wattwatch.cli.main import main
from wattwatch.errors import ConfigurationError
from wattwatch.result import COLUMNS
from wattwatch.util.names import safe_name
from wattwatch.util.terminal import printable


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def _run(out: Path, **kw: object) -> Tracker:
    t = Tracker(
        output_dir=out,
        sensors=[ConstantPowerSensor(100.0)],
        handle_signals=False,
        measure_power_secs=0.01,
        timeseries_every_s=0.01,
        **kw,  # type: ignore[arg-type]
    )
    t.start()
    t.flush()
    t.stop()
    return t


@pytest.mark.parametrize("run_id", ["../../escaped", "../../../tmp-escaped-abs", "/ABSOLUTE/escaped", ".hidden", ".."])
def test_a_run_id_that_is_a_path_never_leaves_the_folder(tmp_path: Path, run_id: str) -> None:
    """Fault: ``run_id="../../x"`` (or absolute, or ``..``). Used to: write ``x.timeseries.csv`` two folders up
    and create folders there. User sees: the run, its row holding the run id as given, its time series and
    journal named by a slug inside the folder. Not written: anything outside ``output_dir``."""
    out = tmp_path / "a" / "b" / "out"
    out.mkdir(parents=True)
    before = _files(tmp_path)
    t = _run(out, run_id=run_id.replace("/ABSOLUTE", str(tmp_path)))
    created = _files(tmp_path) - before
    assert created and all(out in p.parents for p in created), sorted(map(str, created))
    (row,) = csv_rows(out / "emissions.csv")
    assert row["run_id"] == t.run_id
    series = out / f"{safe_name(t.run_id)}.timeseries.csv"
    assert series.is_file() and series.parent == out and not series.name.startswith(".")


def test_the_same_through_the_environment_and_the_command_line(tmp_path: Path) -> None:
    """Fault: ``WATTWATCH_RUN_ID=../../x`` and ``wattwatch run --run-id ../../x``. User sees: the run, in the
    folder. Not written: anything outside it."""
    out = tmp_path / "a" / "out"
    out.mkdir(parents=True)
    before = _files(tmp_path)
    _run(out, environ={"WATTWATCH_RUN_ID": "../../env-escaped"})
    cmd = [sys.executable, "-m", "wattwatch", "run", "--output-dir", str(out), "--run-id", "../../cli-escaped",
           "--log-every-s", "600", "--measure-power-secs", "0.05", "--", sys.executable, "-c", "pass"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=child_env())
    assert done.returncode == 0, done.stderr
    created = _files(tmp_path) - before
    assert all(out in p.parents for p in created), sorted(map(str, created))
    ids = sorted(r["run_id"] for r in csv_rows(out / "emissions.csv"))
    assert ids == ["../../cli-escaped", "../../env-escaped"]


def test_an_experiment_name_that_is_a_path_stays_in_the_folder(tmp_path: Path) -> None:
    """Fault: CodeCarbon's ``experiment_name="../../x"`` names the task file. User sees: the task CSV in the
    output folder, named by a slug. Not written: anything outside it."""
    from wattwatch.compat import EmissionsTracker

    out = tmp_path / "a" / "out"
    out.mkdir(parents=True)
    before = _files(tmp_path)
    tracker = EmissionsTracker(output_dir=str(out), experiment_name="../../task-escaped", log_level="error")
    tracker.start_task("t1")
    tracker.stop_task()
    tracker.stop()
    created = _files(tmp_path) - before
    assert all(out in p.parents for p in created), sorted(map(str, created))
    assert [p.name for p in out.glob("emissions_*.csv")], sorted(p.name for p in out.iterdir())


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("run_id", "run\x00nul"),
        ("run_id", "\x1b]0;owned\x07"),
        ("project_name", "proj\x1b[2J"),
        ("experiment_id", "exp\x07"),
        ("output_file", "emis\x00sions.csv"),
        ("project_name", "line\nbreak"),
    ],
)
def test_control_characters_are_refused_at_construction(tmp_path: Path, option: str, value: str) -> None:
    """Fault: a NUL, ESC or BEL in a name. Used to: make ``stop()`` raise inside ``with Tracker():`` after the
    user's code succeeded (NUL), and land in the CSV and the terminal. User sees: one ``ConfigurationError``
    line naming the option, when the tracker is built. Not written: anything."""
    with pytest.raises(ConfigurationError, match=f"^{option} must not contain control characters") as info:
        Tracker(output_dir=tmp_path / "out", sensors=[ConstantPowerSensor()], handle_signals=False, **{option: value})
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_stop_never_raises_for_a_name_set_after_construction(tmp_path: Path) -> None:
    """Fault: code sets ``tracker.run_id`` to a name with a NUL byte after construction (the attribute is
    settable). User sees: ``stop()`` returning the row, saved (the file names are slugs). Not written:
    anything outside the folder."""
    t = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()], handle_signals=False, timeseries_every_s=0.01)
    t.run_id = "a\x00b/../c"
    with t:
        pass
    data = t.final_emissions_data
    assert data is not None and data.status == "completed"
    assert all(tmp_path in p.parents for p in _files(tmp_path))


def test_control_characters_on_the_command_line_exit_2(tmp_path: Path) -> None:
    """Fault: ``wattwatch run --project-name $'\\e]0;x\\a'``. User sees: exit code 2 and one line naming the
    option, before the command runs. Not written: a row."""
    cmd = [sys.executable, "-m", "wattwatch", "run", "--output-dir", str(tmp_path), "--project-name", "p\x1b]0;x\x07",
           "--", sys.executable, "-c", "open('ran', 'w')"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=child_env(), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "project_name must not contain control characters" in done.stderr
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
    assert not (tmp_path / "ran").exists() and not (tmp_path / "emissions.csv").exists()


@pytest.mark.parametrize("secs", [1e-9, 0.0001, "1e-5"])
def test_an_interval_that_would_spin_a_core_is_refused(tmp_path: Path, secs: object) -> None:
    """Fault: ``measure_power_secs=1e-9``. Used to: be accepted, the sampler burning a whole core. User sees:
    one ``ConfigurationError`` naming the option and the bound (1 ms). Not written: anything."""
    with pytest.raises(ConfigurationError, match="measure_power_secs must be at least 0.001 s"):
        Tracker(output_dir=tmp_path / "o", measure_power_secs=secs, sensors=[], handle_signals=False)
    Tracker(output_dir=tmp_path / "o", measure_power_secs=0.001, sensors=[], handle_signals=False)


def test_a_cell_with_a_semicolon_is_quoted_and_inert(tmp_path: Path) -> None:
    """Fault: a project name ``a;=cmd|' /C calc'!A0`` in a comma-separated file. Used to: be written unquoted,
    so a spreadsheet that splits on ``;`` saw a cell starting with ``=``. User sees: the cell quoted, and the
    formula start after the ``;`` neutralised with ``'`` (quotes in the middle of a ``;`` field mean nothing to
    such a spreadsheet); read with any separator, no cell starts a formula. Not lost: the name, after the
    ``'``, read back with ``,``."""
    name = "a;=cmd|' /C calc'!A0"
    _run(tmp_path, project_name=name, save_timeseries=False)
    text = (tmp_path / "emissions.csv").read_text(encoding="utf-8")
    assert "\"a;'=cmd|' /C calc'!A0\"" in text
    for delimiter in (",", ";", "|", "\t"):
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            assert not any(c.startswith(("=", "+", "@")) for c in row), (delimiter, row)
    (row,) = csv_rows(tmp_path / "emissions.csv")
    assert row["project_name"] == "a;'=cmd|' /C calc'!A0"


def _hostile_row(path: Path, **cells: str) -> None:
    """Append a row written by someone else (no wattwatch cleaning) to ``path``."""
    values = dict.fromkeys(COLUMNS, "")
    values.update(status="completed", energy_consumed="0.5", emissions="0.1", duration="10", **cells)
    with open(path, "a", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerow([values[c] for c in COLUMNS])


def test_report_prints_no_control_character(tmp_path: Path) -> None:
    """Fault: a row planted in a shared emissions.csv whose project name and run id hold ESC and BEL bytes
    (they can retitle the terminal or clear the screen), and a planted journal file whose name holds them. User
    sees: the table with those bytes stripped, on stdout and stderr. Not lost: the run and its energy."""
    _run(tmp_path, save_timeseries=False)
    _hostile_row(
        tmp_path / "emissions.csv",
        run_id="\x1b]0;owned\x07r1",
        project_name="\x1b[2J\x1b[H\u202eevil\x9b31m",
        timestamp="2024-01-01T00:00:00",
        codecarbon_version="3.3.2",
    )
    runs = tmp_path / ".wattwatch" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "\x1b]0;x\x07.json").write_text("{")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert main(["report", str(tmp_path)]) == 0
    for stream in (out.getvalue(), err.getvalue()):
        assert not any(ch in stream for ch in "\x1b\x07\x9b\u202e"), repr(stream)
    assert "2 run(s)" in out.getvalue() and "evil" in out.getvalue()


def test_printable_keeps_text_and_strips_controls() -> None:
    assert printable("café 2×3 — ok") == "café 2×3 — ok"
    assert printable("a\tb\x1b[31mc\x07\x00\r\n\u202ed") == "a b[31mcd"


def test_a_checkpoint_whose_run_id_holds_control_characters_is_refused(tmp_path: Path) -> None:
    """Fault: a state dict (from a checkpoint file someone else wrote) whose run id holds ESC bytes. User sees:
    ``load_state_dict`` raising ``ValueError`` before the run starts, as for any state wattwatch did not make.
    Not written: anything."""
    t = Tracker(output_dir=tmp_path / "o", sensors=[ConstantPowerSensor()], handle_signals=False)
    state = t.state_dict()
    state["run_id"] = "\x1b]0;owned\x07"
    with pytest.raises(ValueError, match="control characters"):
        Tracker(output_dir=tmp_path / "o", sensors=[], handle_signals=False).load_state_dict(state)
    assert not (tmp_path / "o").exists()
