"""Disk faults during a run: output folder deleted, disk full, CSV made read-only. In every case the run goes
on, the user sees ONE warning, the totals stay in memory and are written at the first flush that succeeds."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor
from hardhelp import csv_rows, run_python

from wattwatch import Tracker


def _tracker(out: Path, **kw: object) -> Tracker:
    return Tracker(
        output_dir=out,
        sensors=[ConstantPowerSensor(100.0)],
        measure_power_secs=0.02,
        flush_every_s=1000.0,
        handle_signals=False,
        **kw,  # type: ignore[arg-type]
    )


def _write_warnings(caplog: pytest.LogCaptureFixture) -> int:
    return sum("cannot write" in r.getMessage() and "emissions.csv" in r.getMessage() for r in caplog.records)


def test_output_dir_deleted_mid_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: the output folder is removed (rm -rf) mid-run. User sees: nothing to act on (it is recreated).
    Not lost: the run's row (completed, full energy) and the time series from then on."""
    caplog.set_level(logging.WARNING)
    out = tmp_path / "out"
    t = _tracker(out, timeseries_every_s=0.02).start()
    time.sleep(0.1)
    shutil.rmtree(out)
    t.flush()
    time.sleep(0.1)
    data = t.stop()
    assert data is not None
    (row,) = csv_rows(out / "emissions.csv")
    assert row["status"] == "completed" and float(row["energy_consumed"]) == data.energy_consumed
    series = out / f"{t.run_id}.timeseries.csv"
    assert series.exists() and len(series.read_text().splitlines()) >= 2  # header + rows after the deletion


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (needs root and mount rights; skipped elsewhere -- the RLIMIT_FSIZE test covers it)."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_tmpfs(tiny_tmpfs: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: the disk fills up mid-run (ENOSPC on a 64 KiB tmpfs). User sees: one warning, however many flushes
    fail, then one line when writing works again. Not lost: the totals (kept in memory, written once space is
    back); the previous contents of emissions.csv."""
    caplog.set_level(logging.WARNING)
    t = _tracker(tiny_tmpfs, save_timeseries=False).start()
    t.flush()
    before = (tiny_tmpfs / "emissions.csv").read_text()
    filler = tiny_tmpfs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"x" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    for _ in range(3):
        time.sleep(0.02)
        assert t.flush() is not None
    assert _write_warnings(caplog) == 1
    assert (tiny_tmpfs / "emissions.csv").read_text() == before  # the old row, intact
    assert not [p for p in tiny_tmpfs.iterdir() if p.name.endswith(".tmp")]
    filler.unlink()
    data = t.stop()
    assert data is not None
    (row,) = csv_rows(tiny_tmpfs / "emissions.csv")
    assert row["status"] == "completed" and float(row["energy_consumed"]) == data.energy_consumed
    assert any("writable again" in r.getMessage() for r in caplog.records)


def test_disk_full_file_size_limit(tmp_path: Path) -> None:
    """Fault: every write beyond 4 KiB fails with EFBIG (RLIMIT_FSIZE, SIGXFSZ ignored: the same errno path as
    a full disk) in a process whose emissions.csv already holds other runs. User sees: the program finish normally
    with one warning on stderr. Not lost: the other runs' rows (the file is never truncated); the run's totals
    (returned by stop())."""
    seed = _tracker(tmp_path, save_timeseries=False)
    for _ in range(12):
        seed.start()
        seed.stop()
    before = (tmp_path / "emissions.csv").read_text()
    assert len(before) > 4096
    code = f"""
import json, resource, signal, time
from fakesensors import ConstantPowerSensor
from wattwatch import Tracker
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
t = Tracker(output_dir={str(tmp_path)!r}, sensors=[ConstantPowerSensor(100.0)], measure_power_secs=0.02,
            flush_every_s=0.05, timeseries_every_s=0.02)
t.start()
time.sleep(0.3)
data = t.stop()
print(json.dumps({{"status": data.status, "kwh": data.energy_consumed}}))
"""
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed" and result["kwh"] > 0
    assert done.stderr.count("cannot write") == 1, done.stderr
    assert (tmp_path / "emissions.csv").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _chattr(flag: str, path: Path) -> bool:
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


def test_csv_made_read_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: emissions.csv made read-only mid-run. As root chmod does not stop writes, so the file is made
    immutable with ``chattr +i`` (ext4) -- rename onto it fails with EPERM like for a user on a read-only file.
    User sees: one warning for all failed flushes, one line when it is writable again. Not lost: the totals,
    written at the first flush that succeeds."""
    caplog.set_level(logging.WARNING)
    t = _tracker(tmp_path, save_timeseries=False).start()
    path = tmp_path / "emissions.csv"
    if shutil.which("chattr") is None or not _chattr("+i", path):
        t.stop()
        pytest.skip("chattr +i not available on this filesystem")
    try:
        for _ in range(3):
            t.flush()
        (row,) = csv_rows(path)
        assert row["status"] == "running"
        assert _write_warnings(caplog) == 1
    finally:
        _chattr("-i", path)
    time.sleep(0.05)
    t.flush()
    assert any("writable again" in r.getMessage() for r in caplog.records)
    data = t.stop()
    assert data is not None
    (row,) = csv_rows(path)
    assert row["status"] == "completed" and float(row["energy_consumed"]) == data.energy_consumed
    assert _write_warnings(caplog) == 1


def test_csv_path_is_a_directory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: the CSV path turns into a directory mid-run (an unwritable path that works as root on any
    filesystem). User sees: one warning. Not lost: the totals, written once the path is free again."""
    caplog.set_level(logging.WARNING)
    t = _tracker(tmp_path, save_timeseries=False).start()
    path = tmp_path / "emissions.csv"
    os.unlink(path)
    path.mkdir()
    t.flush()
    t.flush()
    path.rmdir()
    data = t.stop()
    assert data is not None
    (row,) = csv_rows(path)
    assert row["status"] == "completed" and float(row["energy_consumed"]) == data.energy_consumed
    assert _write_warnings(caplog) == 1
