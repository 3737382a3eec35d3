"""``emissions.csv``: rows are only ever appended, in place, under the file's lock -- O(1) in the file's history.

Appending (:func:`append_row`)
  The user's file is opened with ``O_APPEND`` (never replaced), so a symlink still points at the shared target,
  and the file keeps its mode and owner. Only the header line and the last byte are read
  (:mod:`wattwatch.sinks.csv_layout`): rows are written in the file's own column order, with its separator
  (``;`` stays ``;``), its line ending and after its byte-order mark; a last row lacking its line ending (a
  writer killed mid-row) is closed first. Rows other tools wrote, and cells beyond a header, are never touched.
  The row is one ``write`` under the lock; a failed write (disk full) is cut back off (``ftruncate``), so the
  file never holds half a row. The row is UTF-8; old rows are never decoded, so a Windows-1252 byte in one cannot
  block a write.

A header without wattwatch's columns (CodeCarbon's file, an older wattwatch)
  A header cannot be extended without rewriting the whole file, which costs O(history). So the row is appended
  in the header's columns, and -- when a column the header lacks would hold a value -- the full row is also
  appended to the *companion* ``<stem>.wattwatch<suffix>`` (``emissions.wattwatch.csv``), which has every
  column. ``wattwatch report`` reads both and keeps the fuller row of a run.

Reading is :mod:`wattwatch.sinks.emissions_reader` (a start never reads the file's rows).

Units: none here; cells are the strings of :meth:`wattwatch.result.EmissionsData.to_row`.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from wattwatch.sinks.cells import bound_row, csv_line
from wattwatch.sinks.csv_layout import CsvLayout, read_layout
from wattwatch.sinks.csv_tail import closing_bytes
from wattwatch.sinks.files import OS_FILE_OPS, FileOps, locked, open_or_create, open_regular, write_all
from wattwatch.util.records import record

__all__ = [
    "COMPANION_TAG",
    "MAX_ROW_BYTES",
    "PendingAppend",
    "WriteOutcome",
    "append_row",
    "companion_path",
    "encode_row",
    "fits",
    "was_appended",
]

MAX_ROW_BYTES = 16 << 20
"""Longest row a :class:`PendingAppend` may announce (16 MiB; a row of bounded cells is a few KB): a larger
length in a planted journal would make the check read that much."""
COMPANION_TAG = ".wattwatch"
"""``emissions.csv`` -> ``emissions.wattwatch.csv``: full-schema rows when the main file's header lacks columns."""


@record
class PendingAppend:
    """Where a row is about to be appended: byte ``offset``, ``length`` and a digest of its bytes. A journal
    records it before the write, so whoever finishes the run after a crash can tell whether the row made it
    (:func:`was_appended`) and never writes it twice."""

    offset: int
    length: int
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "length": self.length, "digest": self.digest}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PendingAppend:
        """``ValueError`` when ``d`` is not one."""
        try:
            offset, length, digest = d["offset"], d["length"], d["digest"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a pending append ({exc!r})") from None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (offset, length)):
            raise ValueError("not a pending append (offset and length must be integers)")
        if not (0 <= offset < 1 << 62 and 0 < length <= MAX_ROW_BYTES and isinstance(digest, str) and len(digest) <= 64):
            raise ValueError("not a pending append (offset, length or digest out of range)")
        return cls(offset, length, digest)


@record
class WriteOutcome:
    """What :func:`append_row` did. ``saved_in`` is the file that holds the full row (the main file, or the
    companion when the main file's header lacks columns or cannot be read); ``None`` when it is on no disk.
    ``error`` says why a write failed (``""`` when none did)."""

    path: Path
    saved_in: Path | None
    error: str = ""
    appended_main: bool = False
    """The row (in the main file's columns) is in ``path``."""
    companion: Path | None = None
    """The companion file, when the full row was (or should have been) written there too."""

    @property
    def ok(self) -> bool:
        """The full row is on disk (``saved_in``) and no write failed."""
        return self.saved_in is not None and not self.error


def companion_path(path: str | os.PathLike[str]) -> Path:
    """``dir/emissions.csv`` -> ``dir/emissions.wattwatch.csv`` (full-schema rows)."""
    p = Path(path)
    return p.with_name(f"{p.stem}{COMPANION_TAG}{p.suffix or '.csv'}")


def encode_row(cells: Sequence[str], layout: CsvLayout) -> bytes:
    """One CSV line in ``layout``'s separator and line ending, UTF-8 (cells must be valid Unicode); a cell
    holding any common separator is quoted (:func:`wattwatch.sinks.cells.csv_line`)."""
    return csv_line(cells, layout.delimiter, layout.line_terminator).encode("utf-8")


def _digest(data: bytes) -> str:
    """64 bits of checksum over a row's bytes (CRC-32 and Adler-32, ``"z"`` + 16 hex digits): enough to tell
    whether the bytes at a known offset and length are that row (not a defence against anyone forging it), and
    ``zlib`` costs nothing to import where ``hashlib`` loads OpenSSL (2 ms of every start)."""
    return f"z{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def _matches(data: bytes, digest: str) -> bool:
    """Whether ``data`` has ``digest``: :func:`_digest`'s, or the SHA-256 prefix (32 hex digits) that journals
    written by wattwatch 0.1.0 before this change recorded."""
    if digest.startswith("z"):
        return _digest(data) == digest
    import hashlib

    return hashlib.sha256(data).hexdigest()[:32] == digest


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror if exc.filename is None else f"{exc.strerror}: {exc.filename}"
    return str(exc) or type(exc).__name__


def append_row(
    path: str | os.PathLike[str],
    row: Mapping[str, str],
    columns: Sequence[str],
    *,
    durable: bool = True,
    ops: FileOps = OS_FILE_OPS,
    lock_timeout_s: float | None = None,
    on_prepared: Callable[[PendingAppend], None] | None = None,
    main_done: bool = False,
    follow_link: bool = True,
    bounded: bool = False,
) -> WriteOutcome:
    """Append ``row`` to the CSV at ``path`` (created with header ``columns`` when missing or empty), in place,
    under the file's lock. Never raises for I/O: the returned :class:`WriteOutcome` says what happened.

    Cells are bounded and cleaned first (:func:`wattwatch.sinks.cells.bound_row`; ``bounded``: the caller did, as
    a journal's row is). ``durable`` ``fsync``s
    the file after the write. ``on_prepared`` is called under the lock with the :class:`PendingAppend` just
    before the main file is written (the journal records it; an exception from it is ignored). ``main_done``:
    the row is already in the main file (a journal's recorded append), only the companion may still need it.

    Links: ``path`` may be a symbolic link the user made (the row goes to its target, which keeps its owner and
    mode; ``follow_link=False`` for files wattwatch names itself, such as the per-node side file); a link to
    nothing is refused. The companion file is never written through a link, nor is a file
    created through one. A FIFO or a device under either name is refused, never waited on."""
    p = Path(path)
    clean = dict(row) if bounded else bound_row(row)
    try:
        with locked(p, lock_timeout_s):
            if main_done:
                layout, wrote_main = _main_layout(p, ops), True
            else:
                layout, wrote_main = _append_locked(
                    p, clean, columns, durable, ops, on_prepared, follow=follow_link
                )
    except Exception as exc:  # noqa: BLE001 - OSError, filelock.Timeout, ...: reported, never raised
        return WriteOutcome(p, None, error=_describe(exc))
    if wrote_main and fits(layout, clean, columns):
        return WriteOutcome(p, p, appended_main=True)
    # The main file could not take every cell: the full row also goes to the companion file.
    side = companion_path(p)
    full = list(columns) + [c for c in clean if c not in columns]
    try:
        with locked(side, lock_timeout_s):
            _, wrote_side = _append_locked(side, clean, full, durable, ops, None, follow=False)
    except Exception as exc:  # noqa: BLE001
        return WriteOutcome(p, None, error=_describe(exc), appended_main=wrote_main, companion=side)
    if not wrote_side:  # a file that is not a CSV sits under the companion's name: the row is in no file
        error = f"{side} is not a CSV file wattwatch can add rows to; move it away"
        return WriteOutcome(p, None, error=error, appended_main=wrote_main, companion=side)
    return WriteOutcome(p, side, appended_main=wrote_main, companion=side)


def fits(layout: CsvLayout, row: Mapping[str, str], columns: Sequence[str]) -> bool:
    """Whether a file of ``layout`` holds every non-empty cell of ``row`` (else the companion gets the row)."""
    if not layout.readable:
        return False
    header = set(layout.header)
    if header and any(c not in header and row.get(c, "") for c in columns):
        return False
    return not any(v and c not in header and c not in columns for c, v in row.items())


def _main_layout(p: Path, ops: FileOps) -> CsvLayout:
    """The layout of the main file whose row is already in (``main_done``): only the companion may be due."""
    fd = open_regular(p, os.O_RDONLY, follow=True, ops=ops)
    try:
        return read_layout(ops, fd)
    finally:
        ops.close(fd)


def _append_locked(
    p: Path,
    row: Mapping[str, str],
    columns: Sequence[str],
    durable: bool,
    ops: FileOps,
    on_prepared: Callable[[PendingAppend], None] | None,
    *,
    follow: bool,
) -> tuple[CsvLayout, bool]:
    """Append under the lock; returns the file's layout and whether the row went into it. ``follow``: an
    existing symbolic link at ``p`` is followed (the user's own file). ``OSError``."""
    fd, _ = open_or_create(p, os.O_RDWR | os.O_APPEND, follow=follow, ops=ops)
    try:
        layout = read_layout(ops, fd)
        if not layout.readable:
            return layout, False  # not a CSV header we can follow: the companion gets the row
        if layout.empty:
            header = list(columns) + [c for c in row if c not in columns]
            layout = CsvLayout(header=tuple(header))
            data = encode_row(header, layout) + encode_row([row.get(c, "") for c in header], layout)
        else:
            # a damaged tail (cut inside a quoted cell, zero-filled) is closed off first, so this row is read
            data = encode_row([row.get(c, "") for c in layout.header], layout)
            data = closing_bytes(ops, fd, layout, data) + data
        offset = layout.size
        if on_prepared is not None:
            try:
                on_prepared(PendingAppend(offset, len(data), _digest(data)))
            except Exception:  # noqa: BLE001 - the row matters more than the record of it
                pass
        try:
            write_all(ops, fd, data)
            if durable:
                ops.fsync(fd)
        except OSError:
            _cut_back(ops, fd, offset)
            raise
        return layout, True
    finally:
        ops.close(fd)


def _cut_back(ops: FileOps, fd: int, offset: int) -> None:
    """Remove the part of a row a failed write left at the end (we hold the lock: nobody appended since)."""
    try:
        if ops.fstat(fd).st_size > offset:
            ops.ftruncate(fd, offset)
    except OSError:
        pass


def was_appended(path: str | os.PathLike[str], pending: PendingAppend, *, ops: FileOps = OS_FILE_OPS) -> bool:
    """Whether the bytes announced by ``pending`` are in the file at its offset (O(1): one read of the row)."""
    try:
        fd = open_regular(Path(path), os.O_RDONLY, follow=True, ops=ops)
    except OSError:
        return False
    try:
        if ops.fstat(fd).st_size < pending.offset + pending.length:
            return False
        return _matches(ops.pread(fd, pending.length, pending.offset), pending.digest)
    except OSError:
        return False
    finally:
        ops.close(fd)
