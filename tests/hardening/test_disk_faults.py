"""Disk faults during a run: output folder deleted, disk full (mid-run and at stop), files and folders made
immutable, the CSV path taken by a folder. In every case the run goes on and ``stop()`` never raises; the user
sees ONE warning per fault; mid-run, totals stay in memory and go into the journal at the first flush that
succeeds; at the end, a final row that cannot be written stays in the run's journal (the warning names both
files) and the next opener of the folder adds it, or -- when not even the journal can be written -- the warning
says so and ``stop()``'s status ends in ``-unsaved``."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor
from hardhelp import csv_rows, fill_disk, run_python

from wattwatch import Tracker
from wattwatch.sinks.journal import finalize_stale, journal_dir


def _tracker(out: Path, **kw: object) -> Tracker:
    return Tracker(
        output_dir=out,
        sensors=[ConstantPowerSensor(100.0)],
        measure_power_secs=0.02,
        flush_every_s=1000.0,
        handle_signals=False,
        **kw,  # type: ignore[arg-type]
    )


def _journal_warnings(caplog: pytest.LogCaptureFixture) -> int:
    return sum("cannot write the run's journal" in r.getMessage() for r in caplog.records)


def _final_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "could not write the final row" in r.getMessage()]


def test_output_dir_deleted_mid_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: the output folder is removed (rm -rf) mid-run. User sees: nothing to act on (it is recreated).
    Not lost: the run's row (completed, full energy) and the time series from then on."""
    caplog.set_level(logging.WARNING)
    out = tmp_path / "out"
    t = _tracker(out, timeseries_every_s=0.02).start()
    time.sleep(0.1)
    for _ in range(100):  # the sampler thread may recreate the time series while rmtree walks the folder
        try:
            shutil.rmtree(out)
            break
        except OSError:
            continue
    t.flush()
    time.sleep(0.1)
    data = t.stop()
    assert data is not None
    (row,) = csv_rows(out / "emissions.csv")
    assert row["status"] == "completed" and float(row["energy_consumed"]) == data.energy_consumed
    series = out / f"{t.run_id}.timeseries.csv"
    assert series.exists() and len(series.read_text().splitlines()) >= 2  # header + rows after the deletion


def test_disk_full_mid_run(tiny_tmpfs: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: the disk fills up mid-run (ENOSPC on a 64 KiB tmpfs). User sees: one warning, however many flushes
    fail, then one line when writing works again. Not lost: the totals (in memory, then in the journal once
    space is back, then in the row); the earlier rows of emissions.csv."""
    caplog.set_level(logging.WARNING)
    with _tracker(tiny_tmpfs, save_timeseries=False):
        pass
    before = (tiny_tmpfs / "emissions.csv").read_bytes()
    t = _tracker(tiny_tmpfs, save_timeseries=False).start()
    t.flush()
    filler = fill_disk(tiny_tmpfs)
    for _ in range(3):
        time.sleep(0.02)
        assert t.flush() is not None
    assert _journal_warnings(caplog) == 1
    assert (tiny_tmpfs / "emissions.csv").read_bytes() == before  # the old row, intact
    filler.unlink()
    t.flush()
    assert any("writable again" in r.getMessage() for r in caplog.records)
    data = t.stop()
    assert data is not None and data.status == "completed"
    rows = csv_rows(tiny_tmpfs / "emissions.csv")
    assert len(rows) == 2 and rows[1]["status"] == "completed"
    assert float(rows[1]["energy_consumed"]) == data.energy_consumed
    assert not [p for p in tiny_tmpfs.rglob("*.tmp")]


@pytest.mark.parametrize("inside_with", [False, True], ids=["stop", "with-and-an-exception"])
def test_disk_full_at_stop(tiny_tmpfs: Path, caplog: pytest.LogCaptureFixture, inside_with: bool) -> None:
    """Fault: the disk is full when the run ends, with time-series rows still buffered. User sees: stop()
    return (no OSError: neither from the time series nor from the row), one warning naming emissions.csv and
    where the numbers are, the status ``completed-unsaved``; inside ``with``, the user's own exception, unchanged;
    the SIGTERM handler given back. Not lost: what the journal held at the last flush (added by the next
    opener)."""
    caplog.set_level(logging.WARNING)
    previous = signal.getsignal(signal.SIGTERM)
    t = Tracker(
        output_dir=tiny_tmpfs, sensors=[ConstantPowerSensor(100.0)], measure_power_secs=0.01,
        flush_every_s=1000.0, timeseries_every_s=0.01,
    )  # fmt: skip
    if inside_with:
        with pytest.raises(ValueError, match="the user's own"), t:
            time.sleep(0.05)
            t.flush()
            filler = fill_disk(tiny_tmpfs)
            time.sleep(0.3)  # time-series rows pile up in the buffer
            raise ValueError("the user's own")
        data = t.final_emissions_data
        expected = "failed-unsaved"
    else:
        t.start()
        time.sleep(0.05)
        t.flush()
        filler = fill_disk(tiny_tmpfs)
        time.sleep(0.3)
        data = t.stop()
        expected = "completed-unsaved"
    assert data is not None and data.status == expected and data.energy_consumed > 0
    assert signal.getsignal(signal.SIGTERM) is previous
    (message,) = _final_warnings(caplog)
    assert str(tiny_tmpfs / "emissions.csv") in message and "stop() returned" in message
    assert str(journal_dir(tiny_tmpfs)) in message  # the last flush's numbers are there
    filler.unlink()
    finalize_stale(tiny_tmpfs)  # the next opener
    (row,) = csv_rows(tiny_tmpfs / "emissions.csv")
    assert row["run_id"] == data.run_id and row["status"] == "running"  # the last write stands
    assert 0 < float(row["energy_consumed"]) < data.energy_consumed


def test_disk_full_file_size_limit(tmp_path: Path) -> None:
    """Fault: every write beyond 8 KiB fails with EFBIG (RLIMIT_FSIZE, SIGXFSZ ignored: the same errno path as
    a full disk) in a process whose emissions.csv already holds other runs: the small journal can be written,
    the big CSV cannot take the final row. User sees: the program finish normally, one warning naming both
    files, status ``completed-unsaved``. Not lost: the other runs' rows (never truncated); the final row, which
    the next opener adds, status ``completed``, with the energy stop() returned."""
    seed = _tracker(tmp_path, save_timeseries=False)
    for _ in range(12):
        seed.start()
        seed.stop()
    before = (tmp_path / "emissions.csv").read_text()
    assert len(before) > 8192  # (8 KiB: a journal holds a whole row, 4.2 KB with the job columns)
    code = f"""
import json, resource, signal, time
from fakesensors import ConstantPowerSensor
from wattwatch import Tracker
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
t = Tracker(output_dir={str(tmp_path)!r}, sensors=[ConstantPowerSensor(100.0)], measure_power_secs=0.02,
            flush_every_s=0.05, save_timeseries=False)
t.start()
time.sleep(0.3)
data = t.stop()
print(json.dumps({{"status": data.status, "kwh": data.energy_consumed, "run_id": data.run_id}}))
"""
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed-unsaved" and result["kwh"] > 0
    assert done.stderr.count("could not write the final row") == 1, done.stderr
    assert str(tmp_path / "emissions.csv") in done.stderr and str(journal_dir(tmp_path)) in done.stderr
    assert (tmp_path / "emissions.csv").read_text() == before
    finalize_stale(tmp_path)
    row = csv_rows(tmp_path / "emissions.csv")[-1]
    assert (row["run_id"], row["status"]) == (result["run_id"], "completed")
    assert float(row["energy_consumed"]) == result["kwh"]


def _chattr(flag: str, path: Path) -> bool:
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


def test_immutable_csv_at_stop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: emissions.csv is immutable (``chattr +i``: even root cannot write it) when the run ends. User
    sees: one warning naming the file and the journal holding the numbers; status ``completed-unsaved``. Not
    lost: the final row, added by the next opener once the file is writable."""
    caplog.set_level(logging.WARNING)
    with _tracker(tmp_path, save_timeseries=False):
        pass
    path = tmp_path / "emissions.csv"
    t = _tracker(tmp_path, save_timeseries=False).start()
    if shutil.which("chattr") is None or not _chattr("+i", path):
        t.stop()
        pytest.skip("chattr +i not available on this filesystem")
    try:
        data = t.stop()
        assert data is not None and data.status == "completed-unsaved"
        (message,) = _final_warnings(caplog)
        assert str(path) in message and str(journal_dir(tmp_path)) in message
        assert finalize_stale(tmp_path)[0].saved is False  # still immutable: kept, not lost, no exception
    finally:
        _chattr("-i", path)
    finalize_stale(tmp_path)
    rows = csv_rows(path)
    assert len(rows) == 2 and rows[1]["status"] == "completed"
    assert float(rows[1]["energy_consumed"]) == data.energy_consumed


def test_immutable_folder_mid_run_and_at_stop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: the output folder is made immutable (``chattr +i``) mid-run: no file can be created in it, not even
    a temporary one. The journal already exists and is appended to (issue 24: a flush appends a line), so the
    flushes go on, and the final state is appended to it too. User sees: one warning at stop() naming the
    journal; status ``completed-unsaved``. Not lost: the final row, added once the folder is writable again."""
    caplog.set_level(logging.WARNING)
    out = tmp_path / "out"
    t = _tracker(out, save_timeseries=False).start()
    folders = [out, journal_dir(out)]  # the journals' folder too: nothing new can be created anywhere
    if shutil.which("chattr") is None or not all(_chattr("+i", f) for f in folders):
        for f in folders:
            _chattr("-i", f)
        t.stop()
        pytest.skip("chattr +i not available on this filesystem")
    try:
        t.flush()
        t.flush()
        data = t.stop()
    finally:
        for f in folders:
            _chattr("-i", f)
    assert data is not None and data.status == "completed-unsaved" and data.energy_consumed > 0
    assert _journal_warnings(caplog) == 0
    (message,) = _final_warnings(caplog)
    assert "are kept in" in message and str(journal_dir(out)) in message
    finalize_stale(out)
    (row,) = csv_rows(out / "emissions.csv")
    assert row["status"] == "completed" and float(row["energy_consumed"]) == data.energy_consumed


def test_csv_path_is_a_directory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: the CSV path is taken by a directory when the run ends (an unwritable path that works as root on
    any filesystem). User sees: one warning. Not lost: the final row, added once the path is free again."""
    caplog.set_level(logging.WARNING)
    t = _tracker(tmp_path, save_timeseries=False).start()
    path = tmp_path / "emissions.csv"
    path.mkdir()
    t.flush()
    data = t.stop()
    assert data is not None and data.status == "completed-unsaved"
    assert len(_final_warnings(caplog)) == 1
    path.rmdir()
    finalize_stale(tmp_path)
    (row,) = csv_rows(path)
    assert row["status"] == "completed" and float(row["energy_consumed"]) == data.energy_consumed
