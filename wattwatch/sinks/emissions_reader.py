"""Reading ``emissions.csv`` and the other CSV files wattwatch meets (CodeCarbon's, a spreadsheet's, ours).

Whole rows (:func:`read_table`, streaming: :class:`TableReader`)
  Accepts what other tools write: byte-order mark, ``;``/tab separators, undecodable bytes (replaced by
  U+FFFD), cells of any size (the ``csv`` module's field limit is raised), extra or missing cells, and a damaged
  line (skipped, with a note) -- one bad row never hides the others.

Some columns of every row (:class:`ColumnScan`, :func:`read_row_at`)
  What ``wattwatch report`` reads over a long history: only the named cells of each row, with the row's byte
  offset, so that one row can be read again whole later.

Writing is :mod:`wattwatch.sinks.emissions_file`; this module is kept apart so that a start, which only appends,
does not import it. Units: none here; cells are the strings of :meth:`wattwatch.result.EmissionsData.to_row`.
"""

from __future__ import annotations

import csv
import io
import operator
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from wattwatch.sinks.csv_layout import BOM, CsvLayout, parse_header, read_layout
from wattwatch.sinks.files import OS_FILE_OPS, FileOps, open_regular
from wattwatch.sinks.lines import MAX_ROW_BYTES, BoundedLines, RowTooLong, split_cr

__all__ = [
    "SEGMENT_KEY",
    "ColumnScan",
    "CsvTable",
    "is_blank",
    "open_csv",
    "TableLayout",
    "TableReader",
    "read_row_at",
    "read_rows",
    "read_table",
    "holds_segment",
    "table_layout",
]


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
        self._fh: BinaryIO | None = None
        raw = open_csv(self.path)
        if raw is None:
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
            self._fh = raw
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

    @property
    def position(self) -> int:
        """Bytes of the file read so far (read-ahead included; 0 when nothing is open): for progress bars."""
        try:
            return os.lseek(self._fh.fileno(), 0, os.SEEK_CUR) if self._fh is not None else 0
        except (OSError, ValueError):
            return 0

    def __iter__(self) -> Iterator[dict[str, str]]:
        if self._fh is None:
            return
        _allow_large_fields()
        source = BoundedLines(self._fh)
        reader = csv.reader(source.lines(), delimiter=self.delimiter)
        try:
            next(reader)  # the header
        except (csv.Error, StopIteration, RowTooLong):
            return
        source.row_done()
        header, width = self.header, len(self.header)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self.notes.append(f"{self.path} line {source.line}: skipped ({exc})")
                source.row_done()
                continue
            except RowTooLong as exc:  # skipped whole; a fresh reader goes on from the next line
                self.notes.append(f"{self.path} {exc}")
                reader = csv.reader(source.lines(), delimiter=self.delimiter)
                continue
            source.row_done()
            if not cells or (len(cells) == 1 and is_blank(cells[0])):
                continue
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            yield dict(zip(header, cells[:width], strict=True))


def open_csv(path: Path) -> BinaryIO | None:
    """``path`` open for reading, or ``None`` when there is no such file. A FIFO, a device or anything else
    that is not a regular file (also through a link: a link to ``/dev/zero`` never ends) is refused with
    ``OSError`` instead of being waited on or read for ever."""
    try:
        fd = open_regular(path, os.O_RDONLY, follow=True)
    except FileNotFoundError:
        return None
    return os.fdopen(fd, "rb")


def is_blank(cell: str) -> bool:
    """A lone cell that makes no row: spaces, or NUL bytes (a zero-filled tail left by a crash)."""
    return not cell.replace("\0", "").strip()


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


@dataclass
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
    fh = open_csv(p)
    if fh is None:
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
        self._state = [self.start, 1, 0, 0]
        """Where the lines read end, 1 while the CSV reader is between rows (0 inside one), the ``"`` bytes
        counted before ``end``, the lines read."""

    def _lines(self, fh: BinaryIO) -> Iterator[str]:
        """The lines from where the last call stopped; a row passing :data:`MAX_ROW_BYTES` has the rest of its
        line skipped (its quotes still counted) and :class:`RowTooLong` raised."""
        state, end, limit = self._state, self.end, MAX_ROW_BYTES
        pos, quotes, lines = state[0], state[2], state[3]
        readline = fh.readline
        size = 0
        try:
            while True:
                if state[1]:  # the reader asks for a row's first line
                    if pos >= end:
                        break
                    state[1] = 0
                    size = 0
                line = readline(limit + 1 - size)
                if not line:
                    break
                if pos < end:
                    quotes += line.count(b'"')
                pos += len(line)
                lines += 1
                size += len(line)
                if size > limit:
                    while not line.endswith(b"\n"):
                        line = readline(1 << 20)
                        if not line:
                            break
                        if pos < end:
                            quotes += line.count(b'"')
                        pos += len(line)
                    state[0] = pos
                    raise RowTooLong(lines, limit)
                if b"\r" not in line:
                    state[0] = pos
                    yield line.decode("utf-8", "replace")
                    continue
                at = pos - len(line)
                for k, piece in enumerate(split_cr(line)):  # a lone CR ends a line too, as for csv
                    if k and state[1]:  # a row ended at that CR: the next one starts here
                        if at >= end:
                            pos = at
                            return
                        state[1] = 0
                        size = 0
                    at += len(piece)
                    state[0] = at
                    yield piece.decode("utf-8", "replace")
        finally:
            state[0], state[2], state[3] = pos, quotes, lines
            self.quotes, self.lines, self.stopped_at = quotes, lines, pos

    def __iter__(self) -> Iterator[tuple[int, Sequence[str]]]:
        _allow_large_fields()
        picks = self._picks
        whole = max(picks, default=-1) + 1
        pick = operator.itemgetter(*picks) if len(picks) > 1 and min(picks) >= 0 else None
        state = self._state
        fh = open_csv(self.layout.path)
        if fh is None:
            raise FileNotFoundError(2, "No such file or directory", str(self.layout.path))
        with fh:
            fh.seek(self.start)
            reader = csv.reader(self._lines(fh), delimiter=self.layout.delimiter)
            at = self.start
            while True:
                try:
                    for cells in reader:
                        state[1] = 1
                        n = len(cells)
                        if n > 1 or (n == 1 and not is_blank(cells[0])):
                            self.rows += 1
                            if pick is not None and n >= whole:
                                yield at, pick(cells)
                            else:
                                yield at, [cells[i] if 0 <= i < n else "" for i in picks]
                        at = state[0]
                    return
                except csv.Error as exc:
                    self.notes.append((state[3], str(exc)))
                    state[1] = 1
                    at = state[0]
                except RowTooLong as exc:  # skipped whole: a fresh reader goes on from the next line
                    self.notes.append((exc.line, f"a row of more than {MAX_ROW_BYTES} bytes, skipped"))
                    state[1] = 1
                    at = state[0]
                    reader = csv.reader(self._lines(fh), delimiter=self.layout.delimiter)


def read_row_at(layout: TableLayout, offset: int) -> dict[str, str]:
    """The row starting at byte ``offset`` (as :class:`TableReader` gives it: cells by header name, missing
    ones ``""``; a quoted cell's line breaks included). ``ValueError`` when no row starts there; ``OSError`` from the read."""
    for _, cells in ColumnScan(layout, layout.header, start=offset, end=offset + 1):
        return dict(zip(layout.header, cells, strict=True))
    raise ValueError(f"{layout.path}: no row at byte {offset}")


SEGMENT_KEY = ("run_id", "resumed_segments", "start_time")
"""The cells that name a run's segment (``wattwatch report``'s segment: :mod:`wattwatch.report.segments`)."""

_SEARCH_CHUNK = 4 << 20


def holds_segment(
    path: str | os.PathLike[str], row: Mapping[str, str], offset: int | None, *, ops: FileOps = OS_FILE_OPS
) -> bool:
    """Whether the CSV at ``path`` holds, from byte ``offset`` on, a whole row of the segment ``row`` is a row
    of -- the same :data:`SEGMENT_KEY` cells (those the file's header has; ``run_id`` at least) -- ending with
    its line ending (a row cut short by a crash is not one). ``offset``: the file's size when the run started
    (its row, if appended, lies after it); ``None``, or not inside the file's rows (the file was replaced): the
    whole file.

    How a journal whose pending append was never made durable is finalised exactly once (:mod:`.journal`): the
    run's id is searched as bytes (chunks of 4 MiB, a few ms for the rows of a busy folder), and each place it
    occurs is read as a row. Never raises (``False`` when the file cannot be read)."""
    run_id = row.get("run_id", "")
    if not run_id:
        return False
    try:
        fd = open_regular(Path(path), os.O_RDONLY, follow=True, ops=ops)
    except OSError:
        return False
    try:
        layout = read_layout(ops, fd)
        if not layout.readable or layout.empty or "run_id" not in layout.header:
            return False
        start = offset if offset is not None and layout.data_start <= offset <= layout.size else layout.data_start
        needle = run_id.replace('"', '""').encode("utf-8", "surrogateescape")
        keep = len(needle) - 1
        pos, carry = start, b""
        while pos < layout.size:
            data = ops.pread(fd, min(_SEARCH_CHUNK, layout.size - pos), pos)
            if not data:
                break
            buf, base = carry + data, pos - len(carry)
            hit = buf.find(needle)
            while hit >= 0:
                if _segment_row_at(ops, fd, layout, base + hit, row):
                    return True
                hit = buf.find(needle, hit + 1)
            carry = buf[len(buf) - keep :] if keep else b""
            pos += len(data)
        return False
    except OSError:
        return False
    finally:
        ops.close(fd)


def _segment_row_at(ops: FileOps, fd: int, layout: CsvLayout, at: int, row: Mapping[str, str]) -> bool:
    """Whether the line holding byte ``at`` is a whole row with ``row``'s segment cells."""
    back = min(at - layout.data_start, MAX_ROW_BYTES)
    before = ops.pread(fd, back, at - back) if back > 0 else b""
    line_start = at - back + before.rfind(b"\n") + 1 if b"\n" in before else at - back
    if line_start < layout.data_start:
        line_start = layout.data_start
    data = ops.pread(fd, min(MAX_ROW_BYTES, layout.size - line_start), line_start)
    if b"\n" not in data[at - line_start :]:
        return False  # no line ending after it: a row cut short
    try:
        record = next(csv.reader(io.StringIO(data.decode("utf-8", "replace")), delimiter=layout.delimiter))
    except (csv.Error, StopIteration):
        return False
    if len(record) != len(layout.header):
        return False
    cells = dict(zip(layout.header, record, strict=True))
    return all(cells[k] == row.get(k, "") for k in SEGMENT_KEY if k in cells)
