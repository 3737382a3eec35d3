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

Reading (:func:`read_table`)
  Accepts what other tools write: byte-order mark, ``;``/tab separators, undecodable bytes (replaced by
  U+FFFD), cells of any size (the ``csv`` module's field limit is raised), extra or missing cells, and a damaged
  line (skipped, with a note) -- one bad row never hides the others.

Units: none here; cells are the strings of :meth:`wattwatch.result.EmissionsData.to_row`.
"""

from __future__ import annotations

import csv
import io
import operator
import os
import sys
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattwatch.sinks.cells import bound_row
from wattwatch.sinks.csv_layout import BOM, CsvLayout, parse_header, read_layout
from wattwatch.sinks.files import OS_FILE_OPS, FileOps, locked, write_all

__all__ = [
    "COMPANION_TAG",
    "ColumnScan",
    "CsvTable",
    "PendingAppend",
    "TableLayout",
    "TableReader",
    "WriteOutcome",
    "append_row",
    "companion_path",
    "encode_row",
    "read_row_at",
    "read_rows",
    "read_table",
    "table_layout",
    "was_appended",
]

COMPANION_TAG = ".wattwatch"
"""``emissions.csv`` -> ``emissions.wattwatch.csv``: full-schema rows when the main file's header lacks columns."""


@dataclass(frozen=True)
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
            return cls(int(d["offset"]), int(d["length"]), str(d["digest"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a pending append ({exc!r})") from None


@dataclass(frozen=True)
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
    """One CSV line in ``layout``'s separator and line ending, UTF-8 (cells must be valid Unicode)."""
    buf = io.StringIO()
    csv.writer(buf, delimiter=layout.delimiter, lineterminator=layout.line_terminator).writerow(cells)
    return buf.getvalue().encode("utf-8")


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
) -> WriteOutcome:
    """Append ``row`` to the CSV at ``path`` (created with header ``columns`` when missing or empty), in place,
    under the file's lock. Never raises for I/O: the returned :class:`WriteOutcome` says what happened.

    Cells are bounded and cleaned first (:func:`wattwatch.sinks.cells.bound_row`). ``durable`` ``fsync``s
    the file after the write. ``on_prepared`` is called under the lock with the :class:`PendingAppend` just
    before the main file is written (the journal records it; an exception from it is ignored)."""
    p = Path(path)
    clean = bound_row(row)
    try:
        with locked(p, lock_timeout_s):
            layout, wrote_main = _append_locked(p, clean, columns, durable, ops, on_prepared)
    except Exception as exc:  # noqa: BLE001 - OSError, filelock.Timeout, ...: reported, never raised
        return WriteOutcome(p, None, error=_describe(exc))
    lacking = [c for c in columns if c not in layout.header and clean.get(c, "")] if layout.header else []
    extra = [c for c in clean if c not in columns and c not in layout.header and clean[c]]
    if wrote_main and not lacking and not extra:
        return WriteOutcome(p, p, appended_main=True)
    # The main file could not take every cell: the full row also goes to the companion file.
    side = companion_path(p)
    full = list(columns) + [c for c in clean if c not in columns]
    try:
        with locked(side, lock_timeout_s):
            _append_locked(side, clean, full, durable, ops, None)
    except Exception as exc:  # noqa: BLE001
        return WriteOutcome(p, None, error=_describe(exc), appended_main=wrote_main, companion=side)
    return WriteOutcome(p, side, appended_main=wrote_main, companion=side)


def _append_locked(
    p: Path,
    row: Mapping[str, str],
    columns: Sequence[str],
    durable: bool,
    ops: FileOps,
    on_prepared: Callable[[PendingAppend], None] | None,
) -> tuple[CsvLayout, bool]:
    """Append under the lock; returns the file's layout and whether the row went into it. ``OSError``."""
    fd = ops.open(p, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        layout = read_layout(ops, fd)
        if not layout.readable:
            return layout, False  # not a CSV header we can follow: the companion gets the row
        if layout.empty:
            header = list(columns) + [c for c in row if c not in columns]
            layout = CsvLayout(header=tuple(header))
            data = encode_row(header, layout) + encode_row([row.get(c, "") for c in header], layout)
        else:
            data = encode_row([row.get(c, "") for c in layout.header], layout)
            if not layout.ends_with_newline:
                data = layout.line_terminator.encode() + data
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
        fd = ops.open(Path(path), os.O_RDONLY)
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


# ---------------------------------------------------------------------------------------------- reading


@dataclass
class CsvTable:
    """A CSV file as read by :func:`read_table`: its header, its rows (cells beyond the header dropped, missing
    ones ``""``) and a note per line that could not be read."""

    header: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    delimiter: str = ","


def _allow_large_fields() -> None:
    """Readers accept cells of any size (a row written before cells were bounded may hold megabytes)."""
    limit = sys.maxsize
    while True:
        try:
            if csv.field_size_limit() < limit:
                csv.field_size_limit(limit)
            return
        except OverflowError:  # pragma: no cover - a C long smaller than Py_ssize_t (Windows)
            limit //= 2


class TableReader:
    """Streams the rows of a CSV file, one at a time (memory: one row, whatever the file's size), tolerating
    what other tools write (see the module's docstring). Use as a context manager (closes the file) and iterate;
    :attr:`header` and :attr:`delimiter` are known once it is open, :attr:`notes` fills as damaged lines are
    skipped. A missing or empty file has no header and no rows; ``OSError`` when it cannot be opened."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.header: list[str] = []
        self.delimiter = ","
        self.notes: list[str] = []
        self._fh: io.TextIOWrapper | None = None
        try:
            raw = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            return
        try:
            head = raw.read(1 << 20)
            parsed = parse_header(head, whole_file=len(head) < (1 << 20))
            if parsed is None:
                raw.close()
                return
            header, self.delimiter, _, bom = parsed
            self.header = list(header)
            raw.seek(len(BOM) if bom else 0)
            self._fh = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        except BaseException:
            raw.close()
            raise

    def __enter__(self) -> TableReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __iter__(self) -> Iterator[dict[str, str]]:
        if self._fh is None:
            return
        _allow_large_fields()
        reader = csv.reader(self._fh, delimiter=self.delimiter)
        try:
            next(reader)  # the header
        except (csv.Error, StopIteration):
            return
        header, width = self.header, len(self.header)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self.notes.append(f"{self.path} line {reader.line_num}: skipped ({exc})")
                continue
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            yield dict(zip(header, cells[:width], strict=True))


def read_table(path: str | os.PathLike[str]) -> CsvTable:
    """Read a whole CSV file into memory (see :class:`TableReader` to stream it)."""
    with TableReader(path) as reader:
        rows = list(reader)
        return CsvTable(
            header=list(reader.header), rows=rows, notes=list(reader.notes), delimiter=reader.delimiter
        )


def read_rows(path: str | os.PathLike[str]) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV file (``([], [])`` when it does not exist or is empty); see :func:`read_table`."""
    table = read_table(path)
    return table.header, table.rows


# ------------------------------------------------------------------------------ column-selective streaming


@dataclass(frozen=True)
class TableLayout:
    """Where a CSV file's rows are: its ``header`` (names stripped), ``delimiter``, the byte offset of its first
    row (``data_start``: after the byte-order mark and the header line), its ``size`` in bytes and the number of
    ``"`` bytes before ``data_start`` (the header's, for :class:`ColumnScan`'s quote parity)."""

    path: Path
    header: tuple[str, ...]
    delimiter: str
    data_start: int
    size: int
    header_quotes: int


def table_layout(path: str | os.PathLike[str]) -> TableLayout | None:
    """The :class:`TableLayout` of ``path``, or ``None`` when it has no header (missing, empty, not a table: as
    for :class:`TableReader`, whose header rule it shares). ``OSError`` when it cannot be read."""
    p = Path(path)
    try:
        fh = open(p, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    with fh:
        head = fh.read(1 << 20)
        size = os.fstat(fh.fileno()).st_size
    parsed = parse_header(head, whole_file=len(head) >= size)
    if parsed is None:
        return None
    header, delimiter, _, bom = parsed
    skip = len(BOM) if bom else 0
    end = head.find(b"\n", skip)
    if end < 0:  # a header alone, without its line ending
        end = len(head) - 1
    return TableLayout(p, header, delimiter, end + 1, size, head[: end + 1].count(b'"'))


class ColumnScan:
    """Streams some cells of each row whose first byte lies in ``[start, end)`` of a file (memory: one row).

    Iterating gives ``(byte offset of the row, cells)`` with one cell per name of ``names`` (``""`` where the
    row has none), a tuple or a list. It tolerates what :class:`TableReader` tolerates -- undecodable bytes
    (U+FFFD), extra or missing cells, blank lines, a torn last line, a damaged line (skipped; see
    :attr:`notes`) -- and reads a quoted cell holding line breaks as one cell, even past ``end``.

    ``start`` must be a row's first byte (``data_start``, or a line's first byte that is outside quotes). For a
    caller who split a file at a line break: :attr:`quotes` counts the ``"`` bytes in ``[start, end)`` (an even
    count before the split means it is outside quoted cells, in a well-formed file), and :attr:`stopped_at` is
    where reading stopped: ``end`` exactly when the last row read ended there, beyond it when the CSV reader
    found a row running on across ``end`` (the split was inside a row, whatever the quotes said).
    :attr:`rows` counts the rows given, :attr:`lines` the lines read."""

    def __init__(
        self, layout: TableLayout, names: Sequence[str], *, start: int | None = None, end: int | None = None
    ) -> None:
        self.layout = layout
        index = {n: i for i, n in reversed(list(enumerate(layout.header)))}
        self._picks = [index.get(n, -1) for n in names]
        self.start = layout.data_start if start is None else start
        self.end = layout.size if end is None else end
        self.quotes = 0
        self.rows = 0
        self.lines = 0
        self.stopped_at = self.start
        self.notes: list[tuple[int, str]] = []
        """``(line number counted from ``start``, 1-based; why)`` for each line skipped."""
        self._state = [self.start, 1]
        """Where the lines read end, and 1 while the CSV reader is between rows (0 inside one)."""

    def _lines(self, fh: io.BufferedReader) -> Iterator[str]:
        state, end = self._state, self.end
        fh.seek(self.start)
        pos, quotes, lines = self.start, 0, 0
        try:
            for line in fh:
                if state[1]:  # the reader asks for a row's first line
                    if pos >= end:
                        break
                    state[1] = 0
                if pos < end:
                    quotes += line.count(b'"')
                pos += len(line)
                lines += 1
                state[0] = pos
                yield line.decode("utf-8", "replace")
        finally:
            self.quotes, self.lines, self.stopped_at = quotes, lines, pos

    def __iter__(self) -> Iterator[tuple[int, Sequence[str]]]:
        _allow_large_fields()
        picks = self._picks
        whole = max(picks, default=-1) + 1
        pick = operator.itemgetter(*picks) if len(picks) > 1 and min(picks) >= 0 else None
        state = self._state
        with open(self.layout.path, "rb") as fh:
            reader = csv.reader(self._lines(fh), delimiter=self.layout.delimiter)
            at = self.start
            while True:
                try:
                    for cells in reader:
                        state[1] = 1
                        n = len(cells)
                        if n > 1 or (n == 1 and cells[0].strip()):
                            self.rows += 1
                            if pick is not None and n >= whole:
                                yield at, pick(cells)
                            else:
                                yield at, [cells[i] if 0 <= i < n else "" for i in picks]
                        at = state[0]
                    return
                except csv.Error as exc:
                    self.notes.append((reader.line_num, str(exc)))
                    state[1] = 1
                    at = state[0]


def read_row_at(layout: TableLayout, offset: int) -> dict[str, str]:
    """The row starting at byte ``offset`` (as :class:`TableReader` gives it: cells by header name, missing
    ones ``""``; a quoted cell's line breaks included). ``ValueError`` when no row starts there; ``OSError`` from the read."""
    for _, cells in ColumnScan(layout, layout.header, start=offset, end=offset + 1):
        return dict(zip(layout.header, cells, strict=True))
    raise ValueError(f"{layout.path}: no row at byte {offset}")
