"""emissions.csv is appended to in place, in O(1), in whatever dialect the file already has."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hardhelp import fill_disk

from wattwatch.result import CODECARBON_COLUMNS, COLUMNS, EmissionsData
from wattwatch.sinks.emissions_file import (
    PendingAppend,
    append_row,
    companion_path,
    was_appended,
)
from wattwatch.sinks.emissions_reader import read_table
from wattwatch.sinks.files import OsFileOps


def _row(run_id: str = "r1", **kw: object) -> dict[str, str]:
    return EmissionsData(run_id=run_id, status="completed", energy_consumed=1.5, emissions=0.3, **kw).to_row()  # type: ignore[arg-type]


def test_a_new_file_gets_the_header_and_rows_are_appended(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    assert append_row(path, _row("a"), COLUMNS).ok
    first = path.read_bytes()
    assert append_row(path, _row("b"), COLUMNS).ok
    assert path.read_bytes().startswith(first)  # appended: earlier bytes untouched
    table = read_table(path)
    assert table.header == list(COLUMNS)
    assert [r["run_id"] for r in table.rows] == ["a", "b"]
    assert not companion_path(path).exists()


def test_a_symlinked_file_stays_a_symlink_and_the_target_gets_the_row(tmp_path: Path) -> None:
    shared = tmp_path / "shared" / "all-runs.csv"
    shared.parent.mkdir()
    append_row(shared, _row("old"), COLUMNS)
    link = tmp_path / "emissions.csv"
    link.symlink_to(shared)
    assert append_row(link, _row("new"), COLUMNS).ok
    assert link.is_symlink() and os.readlink(link) == str(shared)
    assert [r["run_id"] for r in read_table(shared).rows] == ["old", "new"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_mode_and_owner_survive(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    append_row(path, _row("a"), COLUMNS)
    os.chmod(path, 0o600)
    os.chown(path, 65534, 65534)
    assert append_row(path, _row("b"), COLUMNS).ok
    st = path.stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o600, 65534, 65534)
    assert len(read_table(path).rows) == 2


def test_a_windows_1252_byte_in_an_old_row_does_not_block_a_write(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    append_row(path, _row("a"), COLUMNS)
    old = path.read_bytes() + _row_bytes(project_name=b"Caf\xe9 \x96 \x80")  # cp1252: é, en dash, euro
    path.write_bytes(old)
    assert append_row(path, _row("b"), COLUMNS).ok
    assert path.read_bytes().startswith(old)  # the old row is kept byte for byte
    rows = read_table(path).rows
    assert [r["run_id"] for r in rows] == ["a", "cp", "b"]
    assert rows[1]["project_name"] == "Caf\ufffd \ufffd \ufffd"


def _row_bytes(project_name: bytes) -> bytes:
    cells = [b""] * len(COLUMNS)
    cells[COLUMNS.index("project_name")] = project_name
    cells[COLUMNS.index("run_id")] = b"cp"
    return b",".join(cells) + b"\n"


def test_a_byte_order_mark_does_not_make_a_second_timestamp_column(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ",".join(COLUMNS).encode() + b"\n")
    assert append_row(path, _row("a", timestamp="2026-01-01T00:00:00+00:00"), COLUMNS).ok
    data = path.read_bytes()
    assert data.count(b"\xef\xbb\xbf") == 1 and data.count(b"timestamp") == 1
    table = read_table(path)
    assert table.header == list(COLUMNS)
    assert table.rows[0]["timestamp"] == "2026-01-01T00:00:00+00:00"


def test_a_semicolon_separated_file_stays_semicolon_separated(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    path.write_text(";".join(COLUMNS) + "\n")
    append_row(path, _row("a", project_name="x,y"), COLUMNS)
    lines = path.read_text().splitlines()
    assert lines[1].count(";") == len(COLUMNS) - 1
    (row,) = read_table(path).rows
    assert row["run_id"] == "a" and row["project_name"] == "x,y"


def test_crlf_line_endings_and_a_last_row_without_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    path.write_bytes(",".join(COLUMNS).encode() + b"\r\n" + _row_bytes(b"half").rstrip(b"\n"))
    append_row(path, _row("a"), COLUMNS)
    data = path.read_bytes()
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    assert [r["run_id"] for r in read_table(path).rows] == ["cp", "a"]


def test_extra_cells_other_tools_wrote_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    append_row(path, _row("a"), COLUMNS)
    old = path.read_bytes().rstrip(b"\n") + b",extra1,extra2\n"
    path.write_bytes(old)
    append_row(path, _row("b"), COLUMNS)
    assert path.read_bytes().startswith(old)
    assert [r["run_id"] for r in read_table(path).rows] == ["a", "b"]


def test_a_codecarbon_header_gets_its_columns_and_a_full_companion_row(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    path.write_text(",".join(CODECARBON_COLUMNS) + "\n")
    outcome = append_row(path, _row("a", gpu_method="counter"), COLUMNS)
    assert outcome.ok and outcome.appended_main and outcome.saved_in == companion_path(path)
    main = read_table(path)
    assert main.header == list(CODECARBON_COLUMNS) and main.rows[0]["run_id"] == "a"
    (full,) = read_table(companion_path(path)).rows
    assert full["status"] == "completed" and full["gpu_method"] == "counter"


def test_a_file_that_is_not_csv_is_left_alone_and_the_row_goes_to_the_companion(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    path.write_bytes(b"\x00" * 10)
    outcome = append_row(path, _row("a"), COLUMNS)
    assert outcome.ok and not outcome.appended_main and outcome.saved_in == companion_path(path)
    assert path.read_bytes() == b"\x00" * 10


def test_readers_accept_huge_cells_and_skip_a_damaged_line(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    append_row(path, _row("a"), COLUMNS)
    with open(path, "ab") as fh:
        fh.write(_row_bytes(b'"' + b"x" * 600_000 + b'"'))  # an old, unbounded cell
        fh.write(b'bad,"unterminated\x00\n')
    append_row(path, _row("b"), COLUMNS)
    table = read_table(path)
    ids = [r["run_id"] for r in table.rows]
    assert ids[:2] == ["a", "cp"] and len(table.rows[1]["project_name"]) == 600_000


class _CountingOps(OsFileOps):
    """Counts the bytes read, to show an append reads the header and the last byte only."""

    def __init__(self) -> None:
        self.read = 0

    def pread(self, fd: int, length: int, offset: int) -> bytes:
        data = super().pread(fd, length, offset)
        self.read += len(data)
        return data


def test_an_append_reads_the_header_and_the_last_line_whatever_the_history(tmp_path: Path) -> None:
    from wattwatch.sinks.csv_tail import LAST_LINE_BYTES

    path = tmp_path / "emissions.csv"
    append_row(path, _row("a"), COLUMNS)
    line = path.read_bytes().splitlines(keepends=True)[1]
    with open(path, "ab") as fh:
        fh.write(line * 20_000)  # ~20 MB of history
    ops = _CountingOps()
    assert append_row(path, _row("b"), COLUMNS, ops=ops).ok
    # one header chunk, the last byte and the last line (checked to be a whole row), not 20 MB
    assert ops.read <= 64 * 1024 + 1 + LAST_LINE_BYTES


class _FailingWrites(OsFileOps):
    """A disk that takes ``room`` bytes of the next write, then fails with ``err``."""

    def __init__(self, room: int = 0, err: int = errno.ENOSPC) -> None:
        self.room = room
        self.err = err

    def write(self, fd: int, data: bytes) -> int:
        if self.room:
            n = min(self.room, len(data))
            self.room = 0
            return super().write(fd, data[:n])
        raise OSError(self.err, os.strerror(self.err))


def test_a_write_that_fails_half_way_leaves_no_half_row(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    append_row(path, _row("a"), COLUMNS)
    before = path.read_bytes()
    outcome = append_row(path, _row("b"), COLUMNS, ops=_FailingWrites(room=100))
    assert not outcome.ok and outcome.saved_in is None and "No space left" in outcome.error
    assert path.read_bytes() == before  # the 100 bytes written were cut back off
    assert append_row(path, _row("c"), COLUMNS).ok  # and the next write works
    assert [r["run_id"] for r in read_table(path).rows] == ["a", "c"]


def test_a_full_disk_fails_cleanly_and_recovers(tiny_tmpfs: Path) -> None:
    path = tiny_tmpfs / "emissions.csv"
    assert append_row(path, _row("a"), COLUMNS).ok
    before = path.read_bytes()
    filler = fill_disk(tiny_tmpfs)
    outcome = append_row(path, _row("b", project_name="p" * 4000), COLUMNS)  # more than the page's slack
    assert not outcome.ok and "No space" in outcome.error
    assert path.read_bytes() == before
    filler.unlink()
    assert append_row(path, _row("c"), COLUMNS).ok
    assert [r["run_id"] for r in read_table(path).rows] == ["a", "c"]


def test_was_appended_checks_the_recorded_bytes(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    seen: list[PendingAppend] = []
    append_row(path, _row("a"), COLUMNS, on_prepared=seen.append)
    assert was_appended(path, seen[0])
    bad = PendingAppend(seen[0].offset, seen[0].length, "0" * 32)
    assert not was_appended(path, bad)
    assert not was_appended(path, PendingAppend(10**9, 5, seen[0].digest))


def test_was_appended_reads_the_sha256_digest_older_journals_recorded(tmp_path: Path) -> None:
    """A journal written by wattwatch 0.1.0 before the checksum change holds a SHA-256 prefix; a run finished
    after an upgrade must still recognise its row (else it would be written twice)."""
    import hashlib

    path = tmp_path / "emissions.csv"
    seen: list[PendingAppend] = []
    append_row(path, _row("a"), COLUMNS, on_prepared=seen.append)
    p = seen[0]
    with open(path, "rb") as fh:
        fh.seek(p.offset)
        old = hashlib.sha256(fh.read(p.length)).hexdigest()[:32]
    assert p.digest != old and was_appended(path, PendingAppend(p.offset, p.length, old))
    assert not was_appended(path, PendingAppend(p.offset, p.length, "f" * 32))
    changed = PendingAppend(p.offset, p.length, p.digest[:-1] + ("0" if p.digest[-1] != "0" else "1"))
    assert not was_appended(path, changed)


_WRITER = """
import sys
from wattwatch.result import COLUMNS, EmissionsData
from wattwatch.sinks.emissions_file import append_row
path, who = sys.argv[1], sys.argv[2]
for i in range(40):
    row = EmissionsData(run_id=f"{who}-{i}", status="completed", project_name="x" * (i * 37)).to_row()
    assert append_row(path, row, COLUMNS, durable=False).ok
"""


def test_concurrent_writers_never_lose_or_tear_a_row(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), f"w{k}"]) for k in range(6)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    table = read_table(path)
    assert not table.notes
    ids = sorted(r["run_id"] for r in table.rows)
    assert ids == sorted(f"w{k}-{i}" for k in range(6) for i in range(40))
    assert all(r["project_name"] == "x" * (int(r["run_id"].split("-")[1]) * 37) for r in table.rows)
