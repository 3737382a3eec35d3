"""Links and odd files planted in a shared output folder (issue 23): every file wattwatch creates is created
without following links (``O_CREAT | O_EXCL | O_NOFOLLOW``, in the target's folder, then renamed, or appended
to only when it is a regular file), and nothing that is not its own temporary file is ever deleted. The user's
own symlinked ``emissions.csv`` keeps working.

Each test plants the link an attacker with write access to the folder would, and checks that the victim file
(the user's, outside or inside the folder) is unchanged, that the run says what happened once, and that its
numbers are kept."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor
from hardhelp import csv_rows

from wattwatch import Tracker
from wattwatch.cli.main import main
from wattwatch.result import CODECARBON_COLUMNS, COLUMNS
from wattwatch.sinks.journal import read_journals

VICTIM = b"the user's own file\n"


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(VICTIM)
    return victim


def _run(out: Path, run_id: str = "run1", **kw: object) -> Tracker:
    t = Tracker(
        output_dir=out,
        run_id=run_id,
        sensors=[ConstantPowerSensor(100.0)],
        handle_signals=False,
        measure_power_secs=0.01,
        timeseries_every_s=0.01,
        flush_every_s=0.02,
        **kw,  # type: ignore[arg-type]
    )
    t.start()
    t.flush()
    t.stop()
    return t


def _warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and text in r.getMessage()]


def test_report_html_never_writes_through_a_planted_temp_link(tmp_path: Path) -> None:
    """Fault: a link planted at ``.<page>.wattwatch-tmp`` (the temporary name report --html used to write with
    a plain open) pointing at the user's file. Used to: overwrite that file with 235 KB of HTML. User sees: the
    page written. Not written: the victim."""
    victim = _victim(tmp_path)
    out = tmp_path / "out"
    _run(out, save_timeseries=False)
    page = tmp_path / "report.html"
    (tmp_path / ".report.html.wattwatch-tmp").symlink_to(victim)
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        assert main(["report", str(out), "--html", str(page)]) == 0
    assert victim.read_bytes() == VICTIM
    assert page.is_file() and not page.is_symlink() and b"<html" in page.read_bytes()[:2000].lower()


def test_journals_are_never_written_through_a_planted_folder_link(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fault: ``.wattwatch/runs`` planted as a link to another folder. Used to: have every journal written
    (and dead writers' temporary files deleted) there. User sees: one warning; the run's row in emissions.csv.
    Not written: anything in the other folder."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    (out / ".wattwatch").mkdir(parents=True)
    (out / ".wattwatch" / "runs").symlink_to(elsewhere, target_is_directory=True)
    caplog.set_level(logging.WARNING, logger="wattwatch")
    t = _run(out)
    assert list(elsewhere.iterdir()) == []
    assert len(_warnings(caplog, "journal")) == 1, caplog.text
    (row,) = csv_rows(out / "emissions.csv")
    assert row["run_id"] == "run1" and row["status"] == "completed"
    assert t.final_emissions_data is not None and t.final_emissions_data.status == "completed"
    assert read_journals(out)[1] == [f"skipped the journals in {out / '.wattwatch' / 'runs'}: "
                                     "it is a symbolic link; wattwatch refuses to use it (move it away)"]  # fmt: skip


@pytest.mark.rows_unchecked("the run's time series is a planted link on purpose (check refuses to read it)")
def test_a_planted_time_series_link_gets_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: ``<run_id>.timeseries.csv`` planted as a link to the user's file. Used to: have the series appended
    to it. User sees: one warning saying the series is not written; the run's row. Not written: the victim."""
    victim = _victim(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "run1.timeseries.csv").symlink_to(victim)
    caplog.set_level(logging.WARNING, logger="wattwatch")
    _run(out)
    assert victim.read_bytes() == VICTIM
    assert len(_warnings(caplog, "time series")) == 1, caplog.text
    assert "symbolic link" in _warnings(caplog, "time series")[0]
    (row,) = csv_rows(out / "emissions.csv")
    assert row["status"] == "completed"


def test_a_dangling_lock_link_creates_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: ``emissions.csv.lock`` planted as a link to a file that does not exist yet (say the user's
    ``~/.bashrc`` on a fresh account). Used to: create that file (``O_CREAT`` follows a dangling link). User
    sees: one warning; the status ``completed-unsaved``; the numbers kept in the run's journal. Not written: the
    link's target."""
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "created-through-the-link"
    (out / "emissions.csv.lock").symlink_to(target)
    caplog.set_level(logging.WARNING, logger="wattwatch")
    t = _run(out)
    assert not target.exists()
    data = t.final_emissions_data
    assert data is not None and data.status == "completed-unsaved"
    assert len(_warnings(caplog, "could not write the final row")) == 1, caplog.text
    assert len(read_journals(out)[0]) == 1  # the numbers are kept for the next opener


def test_a_planted_side_file_link_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: a CodeCarbon-headed emissions.csv (so the full row goes to the side file) and
    ``emissions.wattwatch.csv`` planted as a link to a CSV of the user's elsewhere (one wattwatch could append
    to). User sees: the status ``completed-unsaved`` and one warning; the journal kept. Not written: the
    victim."""
    victim = tmp_path / "users-own.csv"
    victim.write_bytes(",".join(COLUMNS).encode() + b"\n")
    VICTIM = victim.read_bytes()  # noqa: N806 - the same name as the module's, for this victim
    out = tmp_path / "out"
    out.mkdir()
    (out / "emissions.csv").write_text(",".join(CODECARBON_COLUMNS) + "\n")
    (out / "emissions.wattwatch.csv").symlink_to(victim)
    caplog.set_level(logging.WARNING, logger="wattwatch")
    t = _run(out, save_timeseries=False)
    assert victim.read_bytes() == VICTIM
    assert t.final_emissions_data is not None and t.final_emissions_data.status == "completed-unsaved"
    assert len(_warnings(caplog, "could not write the final row")) == 1, caplog.text
    assert len(read_journals(out)[0]) == 1


def test_the_users_own_symlinked_emissions_csv_keeps_working_and_a_dangling_one_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not an attack: the user links ``emissions.csv`` to a shared file (documented). User sees: the row in
    the link's target, the link kept. A link to nothing (a file the user meant to create elsewhere) is refused
    with one warning (``completed-unsaved``), never created through."""
    shared = tmp_path / "shared"
    shared.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "emissions.csv").symlink_to(shared / "emissions.csv")
    (shared / "emissions.csv").touch()
    _run(out, save_timeseries=False)
    assert (out / "emissions.csv").is_symlink()
    assert [r["run_id"] for r in csv_rows(shared / "emissions.csv")] == ["run1"]
    (shared / "emissions.csv").unlink()
    caplog.set_level(logging.WARNING, logger="wattwatch")
    t = _run(out, run_id="run2", save_timeseries=False)
    assert not (shared / "emissions.csv").exists()
    assert t.final_emissions_data is not None and t.final_emissions_data.status == "completed-unsaved"
    assert "symbolic link to a file that does not exist" in _warnings(caplog, "could not write")[0]


def _dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def test_only_our_own_dead_temp_files_are_deleted(tmp_path: Path) -> None:
    """Fault: files named like a dead writer's temporary file (``.emissions.csv.<dead pid>.<hex>.tmp``) that
    are not one: a link to the user's file, a FIFO, someone else's file. Used to: be deleted by the next start.
    User sees: only wattwatch's own leftovers (regular files of this user) removed. Not deleted: the others."""
    out = tmp_path / "out"
    out.mkdir()
    pid = _dead_pid()
    ours = out / f".emissions.csv.{pid}.0badc0de.tmp"
    ours.write_text("half a row")
    link = out / f".emissions.csv.{pid}.0badf00d.tmp"
    link.symlink_to(_victim(tmp_path))
    fifo = out / f".emissions.csv.{pid}.deadbeef.tmp"
    os.mkfifo(fifo)
    others = out / f".emissions.csv.{pid}.feedface.tmp"
    others.write_text("not ours")
    if os.geteuid() == 0:
        os.chown(others, 12345, 12345)  # another user's file (the suite runs as root in the dev container)
    _run(out, save_timeseries=False)
    assert not ours.exists()
    assert link.is_symlink() and fifo.exists()
    assert others.exists() or os.geteuid() != 0


def test_the_model_card_never_writes_through_a_planted_temp_link(tmp_path: Path) -> None:
    """Fault: a link planted at ``.README.md.wattwatch-tmp`` (the temporary name the card used to be saved to
    with a plain open). User sees: the card updated. Not written: the victim."""
    pytest.importorskip("huggingface_hub")
    from wattwatch.result import EmissionsData
    from wattwatch.sinks.modelcard import read_co2_eq_emissions, update_model_card

    victim = _victim(tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    (model / ".README.md.wattwatch-tmp").symlink_to(victim)
    data = EmissionsData(run_id="r", energy_consumed=1.0, emissions=0.4, duration=3600.0, status="completed")
    update_model_card(model, data)
    assert victim.read_bytes() == VICTIM
    assert read_co2_eq_emissions(model) is not None


def test_merge_ignores_a_planted_parts_folder_link_and_a_nodes_file_link(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fault: ``.wattwatch/parts/<run>`` planted as a link to a folder of parts elsewhere, and
    ``emissions.nodes.csv`` planted as a link to the user's file. Used to: merge the planted parts (writing its
    marker into the other folder) and append node rows through the link. User sees: the real run merged, one
    warning-free exit; the planted folder not read or written. Not written: the victim."""
    from wattwatch.distributed.parts import Part, parts_dir, write_part
    from wattwatch.result import EmissionsData

    out = tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    for folder, run in ((parts_dir(out, "real"), "real"), (elsewhere, "planted")):
        for rank in range(2):
            data = EmissionsData(run_id=run, energy_consumed=0.5, emissions=0.05, duration=10.0, status="completed")
            write_part(folder, Part(run, rank, 2, f"n{rank}", local_rank=0, status="completed", data=data, channels={}))
    (out / ".wattwatch" / "parts" / "planted").symlink_to(elsewhere, target_is_directory=True)
    victim = _victim(tmp_path)
    (out / "emissions.nodes.csv").symlink_to(victim)
    before = sorted(p.name for p in elsewhere.iterdir())
    caplog.set_level(logging.WARNING, logger="wattwatch")
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        assert main(["merge", str(out)]) == 0
    assert victim.read_bytes() == VICTIM
    assert sorted(p.name for p in elsewhere.iterdir()) == before  # no marker written there
    assert [r["run_id"] for r in csv_rows(out / "emissions.csv")] == ["real"]
    assert len(_warnings(caplog, "per-node rows of run real are not written")) == 1, caplog.text
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        assert main(["merge", str(out)]) == 0  # its marker was written: not appended twice
    assert [r["run_id"] for r in csv_rows(out / "emissions.csv")] == ["real"]


def test_a_fifo_named_codecarbon_config_does_not_hang(tmp_path: Path) -> None:
    """Fault: ``.codecarbon.config`` planted as a FIFO in the (shared) folder a CodeCarbon script runs from.
    Used to: hang the tracker's construction (reading a FIFO waits for a writer). User sees: the tracker built,
    the file ignored as unreadable."""
    os.mkfifo(tmp_path / ".codecarbon.config")
    code = (
        "from wattwatch.compat import EmissionsTracker\n"
        "t = EmissionsTracker(output_dir='out', log_level='error', save_to_file=False)\n"
        "print('built')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HOME": str(tmp_path / "home")})  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "built", done.stderr[-2000:]
