"""A running run's journal: rewritten at each flush, turned into its row exactly once -- by its owner at stop(),
or by whoever next opens the folder when the owner is gone or could not write."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wattwatch.result import COLUMNS, EmissionsData
from wattwatch.sinks.emissions_file import PendingAppend, append_row
from wattwatch.sinks.emissions_reader import read_table
from wattwatch.sinks.files import OsFileOps
from wattwatch.sinks.journal import (
    ProcessIdentity,
    RunJournal,
    finalize_stale,
    journal_dir,
    journal_path,
    process_state,
    read_journal,
    read_journals,
)

REPO = Path(__file__).resolve().parents[2]


def _row(run_id: str, status: str = "running", kwh: float = 1.0) -> dict[str, str]:
    return EmissionsData(run_id=run_id, status=status, energy_consumed=kwh, duration=kwh * 10).to_row()


def _fake_proc(root: Path, boot_id: str = "boot-1", procs: dict[int, int] | None = None) -> Path:
    """A /proc with a boot id and ``pid -> start ticks`` entries (``self`` included, so /proc is 'there')."""
    (root / "sys" / "kernel" / "random").mkdir(parents=True, exist_ok=True)
    (root / "sys" / "kernel" / "random" / "boot_id").write_text(boot_id + "\n")
    (root / "self").mkdir(exist_ok=True)
    for pid, ticks in (procs or {}).items():
        (root / str(pid)).mkdir(exist_ok=True)
        fields = ["S"] + ["0"] * 18 + [str(ticks)] + ["0"] * 10
        (root / str(pid) / "stat").write_text(f"{pid} (py thon) {' '.join(fields)}\n")
    return root


def test_process_identity_tells_a_reused_pid_and_a_reboot_apart(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path / "proc", procs={4242: 1000})
    owner = ProcessIdentity.of(4242, proc_root=proc, host="h")
    assert owner == ProcessIdentity(4242, "h", "boot-1", 1000)
    assert process_state(owner, proc_root=proc, host="h") == "alive"
    _fake_proc(proc, procs={4242: 2000})  # the pid now belongs to a later process
    assert process_state(owner, proc_root=proc, host="h") == "gone"
    _fake_proc(proc, procs={4242: 1000}, boot_id="boot-2")  # same ticks, but after a reboot
    assert process_state(owner, proc_root=proc, host="h") == "gone"
    (proc / "4242" / "stat").unlink()
    _fake_proc(proc, boot_id="boot-1")
    assert process_state(owner, proc_root=proc, host="h") == "gone"
    assert process_state(owner, proc_root=proc, host="other") == "unknown"


def test_update_then_finish_appends_one_row_and_removes_the_journal(tmp_path: Path) -> None:
    j = RunJournal(tmp_path, "emissions.csv", "run-1")
    assert j.update(_row("run-1", kwh=0.5), COLUMNS)
    (entry,) = read_journals(tmp_path)[0]
    assert entry.status == "running" and entry.row["energy_consumed"] == "0.5" and entry.owner.pid == os.getpid()
    assert not (tmp_path / "emissions.csv").exists()  # the CSV only gets final rows
    outcome = j.finish(_row("run-1", "completed", 2.0), COLUMNS)
    assert outcome.saved and outcome.saved_in == tmp_path / "emissions.csv" and not outcome.warning()
    assert not j.path.exists()
    (row,) = read_table(tmp_path / "emissions.csv").rows
    assert (row["status"], row["energy_consumed"]) == ("completed", "2.0")


def test_a_journal_of_a_live_process_is_left_alone(tmp_path: Path) -> None:
    RunJournal(tmp_path, "emissions.csv", "mine").update(_row("mine"), COLUMNS)
    assert finalize_stale(tmp_path) == []  # our own
    proc = _fake_proc(tmp_path / "proc", procs={777: 5})
    other = ProcessIdentity(777, "h", "boot-1", 5)
    RunJournal(tmp_path, "emissions.csv", "theirs", owner=other).update(_row("theirs"), COLUMNS)
    assert finalize_stale(tmp_path, proc_root=proc, host="h") == []
    assert not (tmp_path / "emissions.csv").exists()


def test_another_hosts_journal_is_finalised_once_it_is_stale(tmp_path: Path) -> None:
    far = ProcessIdentity(1, "node-7", "b", 1)
    j = RunJournal(tmp_path, "emissions.csv", "far", owner=far)
    j.update(_row("far"), COLUMNS)
    written = read_journal(j.path).written_at
    assert finalize_stale(tmp_path, now=written + 60, foreign_stale_s=3600) == []
    (outcome,) = finalize_stale(tmp_path, now=written + 7200, foreign_stale_s=3600)
    assert outcome.saved and not j.path.exists()


_KILLED = """
import os, signal, sys
from wattwatch.result import COLUMNS, EmissionsData
from wattwatch.sinks.journal import RunJournal
j = RunJournal(sys.argv[1], "emissions.csv", "killed")
for i in range(5):
    j.update(EmissionsData(run_id="killed", status="running", energy_consumed=0.1 * (i + 1), duration=10.0 * (i + 1)).to_row(), COLUMNS)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_kill_9_leaves_the_journal_and_the_next_opener_writes_its_row_once(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _KILLED, str(tmp_path)], env=_env(), timeout=60)
    assert done.returncode == -signal.SIGKILL
    (left,) = journal_dir(tmp_path).glob("killed.*.json")  # one journal, named by run id and writer
    assert left.name.startswith("killed.")
    (outcome,) = finalize_stale(tmp_path)
    assert outcome.saved
    assert finalize_stale(tmp_path) == []
    (row,) = read_table(tmp_path / "emissions.csv").rows
    # the energy and duration it had reached stand; it is no longer "running" (its process is gone): it was
    # interrupted (issue 25: a kill -9'd run stayed "running" for ever once its journal was finalised)
    assert (row["run_id"], row["status"], row["energy_consumed"], row["duration"]) == (
        "killed", "interrupted", "0.5", "50.0"
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


_OPENER = """
import sys
from wattwatch.sinks.journal import finalize_stale
finalize_stale(sys.argv[1])
"""


def test_concurrent_openers_finalise_each_dead_run_exactly_once(tmp_path: Path) -> None:
    dead = ProcessIdentity(2**22 + 12345, ProcessIdentity.of().host, ProcessIdentity.of().boot_id, 1)
    for i in range(20):
        RunJournal(tmp_path, "emissions.csv", f"dead-{i}", owner=dead).update(_row(f"dead-{i}"), COLUMNS)
    procs = [subprocess.Popen([sys.executable, "-c", _OPENER, str(tmp_path)], env=_env()) for _ in range(6)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    ids = sorted(r["run_id"] for r in read_table(tmp_path / "emissions.csv").rows)
    assert ids == sorted(f"dead-{i}" for i in range(20))
    assert read_journals(tmp_path) == ([], [])


def test_a_crash_between_the_append_and_the_unlink_does_not_duplicate_the_row(tmp_path: Path) -> None:
    csv_path = tmp_path / "emissions.csv"
    j = RunJournal(tmp_path, "emissions.csv", "r")
    j.update(_row("r"), COLUMNS)
    entry = read_journal(j.path)
    seen: list[PendingAppend] = []
    append_row(csv_path, entry.row, entry.columns, on_prepared=seen.append)  # the row made it...
    data = json.loads(j.path.read_text())
    data["final"], data["pending"] = True, seen[0].to_dict()  # ...and the journal says it was about to
    j.path.write_text(json.dumps(data))
    (outcome,) = finalize_stale(tmp_path)
    assert outcome.saved and not j.path.exists()
    assert len(read_table(csv_path).rows) == 1


class _CsvRefused(OsFileOps):
    """Writes to ``emissions.csv`` fail with ``err``; the journal folder still works."""

    def __init__(self, err: int = errno.ENOSPC) -> None:
        self.err = err

    def write(self, fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("emissions.csv"):
            raise OSError(self.err, os.strerror(self.err))
        return super().write(fd, data)


def test_a_final_row_that_cannot_be_written_stays_in_the_journal_and_says_so(tmp_path: Path) -> None:
    j = RunJournal(tmp_path, "emissions.csv", "r", ops=_CsvRefused())
    j.update(_row("r", kwh=0.1), COLUMNS)
    outcome = j.finish(_row("r", "completed", 3.0), COLUMNS)
    assert not outcome.saved and outcome.journal == j.path and "No space" in outcome.error
    message = outcome.warning()
    assert str(tmp_path / "emissions.csv") in message and str(j.path) in message
    entry = read_journal(j.path)
    assert entry.final and entry.status == "completed" and entry.row["energy_consumed"] == "3.0"
    # space is back: the next opener (any process, even the owner's) adds the final row
    (later,) = finalize_stale(tmp_path)
    assert later.saved
    (row,) = read_table(tmp_path / "emissions.csv").rows
    assert (row["status"], row["energy_consumed"]) == ("completed", "3.0")


class _ReadOnlyFolder(OsFileOps):
    """Nothing new can be created or written (an immutable folder, as ``chattr +i`` makes it even for root)."""

    def open(self, path: str | os.PathLike[str], flags: int, mode: int = 0o666) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EPERM, os.strerror(errno.EPERM), str(path))
        return super().open(path, flags, mode)


def test_an_immutable_folder_loses_nothing_silently(tmp_path: Path) -> None:
    j = RunJournal(tmp_path, "emissions.csv", "r", ops=_ReadOnlyFolder())
    assert not j.update(_row("r"), COLUMNS) and "not permitted" in j.last_error
    outcome = j.finish(_row("r", "completed", 3.0), COLUMNS)
    assert not outcome.saved and outcome.journal is None
    assert "exist only in what stop() returned" in outcome.warning()


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/ro``: a read-only bind mount (needs root and mount rights; skipped elsewhere)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    first = subprocess.run(["mount", "--bind", str(ro), str(ro)], capture_output=True)
    if first.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {first.stderr.decode().strip()}")
    second = subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], capture_output=True)
    try:
        if second.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {second.stderr.decode().strip()}")
        yield ro
    finally:
        subprocess.run(["umount", "-l", str(ro)], capture_output=True)


def test_a_read_only_folder_for_real(read_only_mount: Path) -> None:
    j = RunJournal(read_only_mount, "emissions.csv", "r")
    assert not j.update(_row("r"), COLUMNS) and "Read-only" in j.last_error
    outcome = j.finish(_row("r", "completed"), COLUMNS)
    assert not outcome.saved and outcome.journal is None and "Read-only" in outcome.error
    assert finalize_stale(read_only_mount) == []  # nothing to do, nothing raised


def test_journal_names_are_safe_and_distinct(tmp_path: Path) -> None:
    a = RunJournal(tmp_path, "emissions.csv", "same-id")
    b = RunJournal(tmp_path, "emissions.csv", "same-id")
    assert a.path != b.path and a.path.parent == journal_dir(tmp_path)
    odd = journal_path(tmp_path, "../../etc/passwd\x00", "t")
    assert odd.parent == journal_dir(tmp_path) and "/" not in odd.name[:-5]
    a.update(_row("same-id", kwh=1.0), COLUMNS)
    b.update(_row("same-id", kwh=2.0), COLUMNS)
    assert sorted(e.row["energy_consumed"] for e in read_journals(tmp_path)[0]) == ["1.0", "2.0"]


class _CountingOps(OsFileOps):
    """Real system calls, counted (how a flush writes: one append, no new file, no rename)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def open(self, path: str | os.PathLike[str], flags: int, mode: int = 0o666) -> int:
        self.calls.append("open")
        return super().open(path, flags, mode)

    def replace(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        self.calls.append("replace")
        super().replace(src, dst)

    def write(self, fd: int, data: bytes) -> int:
        self.calls.append("write")
        return super().write(fd, data)


def test_a_flush_appends_one_line_and_the_last_whole_line_stands(tmp_path: Path) -> None:
    """Issue 24: a flush is one append on the open journal (no temporary file, no rename: ~30 us instead of
    ~1 ms on ext4), and a reader takes the last whole record, so a line cut short by a kill is never read."""
    ops = _CountingOps()
    j = RunJournal(tmp_path, "emissions.csv", "run-a", ops=ops)
    assert j.update(_row("run-a", kwh=0.1), COLUMNS)  # the first write creates the file atomically
    assert ops.calls.count("replace") == 1
    ops.calls.clear()
    for i in range(2, 6):
        assert j.update(_row("run-a", kwh=0.1 * i), COLUMNS)
    assert ops.calls == ["write"] * 4  # one write per flush
    assert read_journal(j.path).row["energy_consumed"] == repr(0.1 * 5)
    with open(j.path, "ab") as fh:  # a record cut short, as a kill in the middle of a write leaves it
        fh.write(b'{"format":"wattwatch.journal","version":1,"run_id":"run-a","row":{"energy_consu')
    assert read_journal(j.path).row["energy_consumed"] == repr(0.1 * 5)
    finalize_stale(tmp_path)  # our own, live: left alone
    outcome = j.finish(_row("run-a", "completed", 1.0), COLUMNS)
    assert outcome.saved and not j.path.exists()
    (row,) = read_table(tmp_path / "emissions.csv").rows
    assert row["energy_consumed"] == "1.0"


class _Killed(BaseException):
    """The process dies here (nothing after this line of the writer runs)."""


def test_the_final_record_is_appended_and_a_kill_before_the_row_loses_nothing(tmp_path: Path) -> None:
    """Issue 25: stop() records the run's final state as one more line of its open journal (no temporary file,
    no rename before the row is appended); a kill between that record and the row leaves a journal whose last
    line is final, and the next opener appends the row exactly once. A journal someone else wrote to is
    replaced whole instead (a line glued to theirs would not read)."""
    ops = _CountingOps()
    j = RunJournal(tmp_path, "emissions.csv", "run-f", ops=ops)
    assert j.update(_row("run-f", kwh=0.1), COLUMNS) and j.update(_row("run-f", kwh=0.2), COLUMNS)
    ops.calls.clear()
    assert j.finish(_row("run-f", "completed", 0.3), COLUMNS).saved
    assert "replace" not in ops.calls and ops.calls.count("write") == 2  # the journal's line, the CSV's row
    assert not j.path.exists() and len(read_table(tmp_path / "emissions.csv").rows) == 1

    class KilledBeforeTheRow(OsFileOps):
        def write(self, fd: int, data: bytes) -> int:
            if os.readlink(f"/proc/self/fd/{fd}").endswith("other.csv"):
                raise _Killed
            return super().write(fd, data)

    k = RunJournal(tmp_path, "other.csv", "run-k", ops=KilledBeforeTheRow())
    assert k.update(_row("run-k", kwh=1.0), COLUMNS)
    with pytest.raises(_Killed):
        k.finish(_row("run-k", "completed", 2.0), COLUMNS)
    entry = read_journal(k.path)
    assert entry.final and entry.pending is not None and entry.row["energy_consumed"] == "2.0"
    assert len(k.path.read_bytes().splitlines()) == 2  # the running record, then the final one
    (outcome,) = finalize_stale(tmp_path)
    assert outcome.saved and finalize_stale(tmp_path) == [] and not k.path.exists()
    (row,) = read_table(tmp_path / "other.csv").rows
    assert (row["status"], row["energy_consumed"]) == ("completed", "2.0")

    ops = _CountingOps()
    w = RunJournal(tmp_path, "emissions.csv", "run-w", ops=ops)
    assert w.update(_row("run-w"), COLUMNS)
    with open(w.path, "ab") as fh:  # another writer's line, cut short
        fh.write(b'{"format":"wattwatch.journal","version":1,"run_id":"run-w","row":{"energy_consu')
    ops.calls.clear()
    assert w.finish(_row("run-w", "completed", 4.0), COLUMNS).saved and "replace" in ops.calls


def test_the_journal_stays_small_and_survives_deletion(tmp_path: Path) -> None:
    """Past COMPACT_BYTES the journal is replaced by its last record; deleted under the writer (the folder
    cleaned mid-run), it is made again at the next flush instead of appending to a file nobody can see."""
    from wattwatch.sinks.journal import COMPACT_BYTES

    j = RunJournal(tmp_path, "emissions.csv", "run-b")
    sizes = []
    for i in range(200):
        assert j.update(_row("run-b", kwh=float(i)), COLUMNS)
        sizes.append(j.path.stat().st_size)
    assert max(sizes) <= COMPACT_BYTES and len(j.path.read_bytes().splitlines()) < 200
    assert read_journal(j.path).row["energy_consumed"] == "199.0"
    j.path.unlink()
    assert j.update(_row("run-b", kwh=500.0), COLUMNS)
    assert read_journal(j.path).row["energy_consumed"] == "500.0"
    j.finish(_row("run-b", "completed", 501.0), COLUMNS)


def test_a_failed_append_is_followed_by_a_whole_rewrite(tmp_path: Path) -> None:
    """A write that fails half-way (disk full) leaves a torn line: the next flush replaces the file rather than
    append after it (a line glued to a torn one would never read)."""

    class FailOnce(OsFileOps):
        failed = False

        def write(self, fd: int, data: bytes) -> int:
            if not self.failed and b'"energy_consumed":"2.0"' in data:
                self.failed = True
                super().write(fd, data[:50])
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(fd, data)

    j = RunJournal(tmp_path, "emissions.csv", "run-c", ops=FailOnce())
    assert j.update(_row("run-c", kwh=1.0), COLUMNS)
    assert not j.update(_row("run-c", kwh=2.0), COLUMNS) and "space" in j.last_error
    assert read_journal(j.path).row["energy_consumed"] == "1.0"
    assert j.update(_row("run-c", kwh=3.0), COLUMNS)
    assert read_journal(j.path).row["energy_consumed"] == "3.0"
    assert len(j.path.read_bytes().splitlines()) == 1
    j.finish(_row("run-c", "completed", 3.0), COLUMNS)


# -- stop() waits for one fsync, the row's; the pending record before it is not fsynced (issue 25) --------------


def _segment_row(run_id: str, segment: int, start: str, status: str = "running", kwh: float = 1.0) -> dict[str, str]:
    return EmissionsData(
        run_id=run_id, resumed_segments=segment, start_time=start, status=status, energy_consumed=kwh, duration=kwh
    ).to_row()


_START = "2026-12-07T10:00:00.000+00:00"


def _dead(boot_id: str = "a-boot-before-the-power-loss") -> ProcessIdentity:
    """An owner that is gone: by default it ran before this boot (a power loss is a reboot)."""
    me = ProcessIdentity.of()
    return ProcessIdentity(2**22 + 4321, me.host, boot_id, 1)


def _history(csv_path: Path) -> None:
    """Rows before the run: its own earlier segment, and a retry of the same segment number that started at
    another time (neither is the run's row)."""
    for row in (_segment_row("r", 0, "2026-12-06T10:00:00.000+00:00", "failed"),
                _segment_row("r", 1, "2026-12-07T09:00:00.000+00:00", "failed")):  # fmt: skip
        assert append_row(csv_path, row, COLUMNS).saved_in == csv_path


def _rows_of_the_segment(csv_path: Path) -> list[dict[str, str]]:
    return [
        r for r in read_table(csv_path).rows
        if (r["run_id"], r["resumed_segments"], r["start_time"]) == ("r", "1", _START)
    ]  # fmt: skip


def _ended_then_power_lost(tmp_path: Path) -> tuple[Path, RunJournal, bytes]:
    """A run that ended (its row appended and fsynced, its journal deleted); returns what the disk held of its
    journal before ``stop()``: its last flush, without the pending record ``stop()`` did not fsync."""
    csv_path = tmp_path / "emissions.csv"
    _history(csv_path)
    j = RunJournal(tmp_path, "emissions.csv", "r", owner=_dead())
    assert j.update(_segment_row("r", 1, _START, kwh=1.0), COLUMNS)
    on_disk = j.path.read_bytes()
    outcome = j.finish(_segment_row("r", 1, _START, "completed", kwh=2.0), COLUMNS)
    assert outcome.saved and not j.path.exists()
    return csv_path, j, on_disk


def test_a_power_loss_that_kept_the_row_but_not_its_pending_record_adds_no_second_row(tmp_path: Path) -> None:
    csv_path, j, on_disk = _ended_then_power_lost(tmp_path)
    j.path.write_bytes(on_disk)  # the journal as the disk held it: the owner's last flush, its process gone
    (outcome,) = finalize_stale(tmp_path)
    assert outcome.saved and not j.path.exists()
    (row,) = _rows_of_the_segment(csv_path)
    assert row["status"] == "completed" and float(row["energy_consumed"]) == 2.0  # the owner's final row, once
    assert len(read_table(csv_path).rows) == 3


def test_a_row_the_power_loss_cut_short_is_not_taken_for_the_row(tmp_path: Path) -> None:
    csv_path, j, on_disk = _ended_then_power_lost(tmp_path)
    data = csv_path.read_bytes()
    os.truncate(csv_path, len(data) - 40)  # the row's last bytes never reached the disk
    j.path.write_bytes(on_disk)
    (outcome,) = finalize_stale(tmp_path)
    assert outcome.saved and not j.path.exists()
    (row,) = _rows_of_the_segment(csv_path)  # the journal's row, its cut copy closed off and not read as one
    assert row["status"] == "interrupted" and float(row["energy_consumed"]) == 1.0


def test_without_the_row_the_journal_becomes_it(tmp_path: Path) -> None:
    csv_path, j, on_disk = _ended_then_power_lost(tmp_path)
    csv_path.write_bytes(b"".join(csv_path.read_bytes().splitlines(True)[:-1]))  # the row never reached the disk
    j.path.write_bytes(on_disk)
    (outcome,) = finalize_stale(tmp_path)
    assert outcome.saved
    (row,) = _rows_of_the_segment(csv_path)
    assert row["status"] == "interrupted"
    assert len(read_table(csv_path).rows) == 3


def test_a_journal_from_before_the_offset_searches_the_whole_file(tmp_path: Path) -> None:
    csv_path, j, on_disk = _ended_then_power_lost(tmp_path)
    old = json.loads(on_disk.decode().splitlines()[-1])
    del old["csv_offset"]  # written by a wattwatch that did not record it
    j.path.write_text(json.dumps(old) + "\n")
    (outcome,) = finalize_stale(tmp_path)
    assert outcome.saved
    assert len(_rows_of_the_segment(csv_path)) == 1


@pytest.mark.parametrize("bad", [-1, "12", True, 1.5])
def test_a_journal_with_a_bad_csv_offset_is_refused(tmp_path: Path, bad: object) -> None:
    j = RunJournal(tmp_path, "emissions.csv", "r", owner=_dead())
    assert j.update(_segment_row("r", 0, _START), COLUMNS)
    record = json.loads(j.path.read_text().splitlines()[-1])
    record["csv_offset"] = bad
    j.path.write_text(json.dumps(record) + "\n")
    with pytest.raises(ValueError, match="csv_offset"):
        read_journal(j.path)


class _CountingFsyncs(OsFileOps):
    def __init__(self) -> None:
        self.fsynced: list[str] = []

    def fsync(self, fd: int) -> None:
        self.fsynced.append(os.readlink(f"/proc/self/fd/{fd}"))
        super().fsync(fd)


def test_finish_waits_for_one_fsync_the_rows(tmp_path: Path) -> None:
    ops = _CountingFsyncs()
    j = RunJournal(tmp_path, "emissions.csv", "r", ops=ops)
    assert j.update(_segment_row("r", 0, _START), COLUMNS, durable=True)
    ops.fsynced.clear()
    assert j.finish(_segment_row("r", 0, _START, "completed"), COLUMNS).saved
    assert [Path(p).name for p in ops.fsynced] == ["emissions.csv"]


def test_a_journal_of_this_boot_is_not_searched_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run killed in this boot: what its process wrote is in the page cache, so a journal without a pending
    record means no row was appended -- the finaliser appends it without searching the CSV."""
    import wattwatch.sinks.emissions_reader as reader

    csv_path = tmp_path / "emissions.csv"
    _history(csv_path)
    j = RunJournal(tmp_path, "emissions.csv", "r", owner=_dead(ProcessIdentity.of().boot_id))
    assert j.update(_segment_row("r", 1, _START, kwh=1.0), COLUMNS)
    searched: list[str] = []
    monkeypatch.setattr(reader, "holds_segment", lambda path, row, offset, ops: searched.append(row["run_id"]))
    (outcome,) = finalize_stale(tmp_path)
    assert outcome.saved and searched == []
    (row,) = _rows_of_the_segment(csv_path)
    assert row["status"] == "interrupted"
    j2 = RunJournal(tmp_path, "emissions.csv", "r2", owner=_dead())  # of another boot: searched
    assert j2.update(_segment_row("r2", 0, _START), COLUMNS)
    finalize_stale(tmp_path)
    assert searched == ["r2"]
