"""The end of an existing CSV file, checked before a row is appended to it: a damaged tail never costs a later row.

A writer killed mid-row, a power loss, or a careless script can leave a file that does not end between two rows:

- the last row cut **inside a quoted cell** (``..."{""train"": 0.1``): a row appended after it would be read as
  more of that cell -- Python's ``csv`` and ``wattwatch report`` would never see it, yet the run said
  ``completed``;
- the last row cut **outside a cell** (no line ending): the next row would be glued to it;
- a **zero-filled tail** (a file system that committed the file's size but not its data after a crash): NUL
  bytes where rows should be.

:func:`closing_bytes` says what to write before the new row so that it starts on a row of its own: a ``"`` that
closes the open quoted cell, and a line ending -- checked by parsing the last row and the new one with Python's
``csv`` itself, so a stray quote in the middle of a cell (text to ``csv``) is not taken for an open one. The
damaged bytes are kept where they are (the file is only ever appended to; readers skip a damaged row with a
note, and a line of NUL bytes as blank).

Cost: one ``pread`` of the file's last :data:`LAST_LINE_BYTES` (4 KiB; a row is 1-2 KB). When that reaches
the header (a file of two or three rows) every row is parsed: exact. In a longer file the last line is checked to be
a whole row -- as many cells as the header, quotes balanced -- which it is unless the file is damaged; only then
is the file read further back (at most :data:`MAX_WINDOW_BYTES`) to find where its last row begins: from the
header when the window reaches it (exact), else from the first line break in the window whose next line parses
as a row of the header's width. A long file whose tail was *crafted* to look like whole rows inside an open
quoted cell can still fool that check (documented in ``docs/security.md``): whoever can write the file can also
delete rows from it.
"""

from __future__ import annotations

import csv
import io

from wattwatch.sinks.csv_layout import CsvLayout
from wattwatch.sinks.files import FileOps

__all__ = ["LAST_LINE_BYTES", "MAX_WINDOW_BYTES", "closing_bytes"]

LAST_LINE_BYTES = 4096
"""Bytes read from the end for the common case's check of the last line (16 times more when the last line is
longer: a row of many phases)."""
MAX_WINDOW_BYTES = 1 << 20
"""Bytes read at most, from the end, to find where a damaged file's last row begins (1 MiB)."""
_CANDIDATES = 16
"""Line breaks tried as row boundaries in a window that does not reach the header."""


def _width(line: bytes, delimiter: str) -> int:
    """Cells in ``line`` parsed alone as one CSV row (``-1`` when it is not one whole row)."""
    try:
        rows = list(csv.reader(io.StringIO(line.decode("utf-8", "replace"), newline=""), delimiter=delimiter))
    except csv.Error:
        return -1
    return len(rows[0]) if len(rows) == 1 else -1


def _last_line_is_a_row(chunk: bytes, layout: CsvLayout) -> bool | None:
    """The common case of a long file: ``chunk`` (its last bytes) ends with a line break and its last line alone
    is a whole row of the header's width, quotes balanced (so no quoted cell is open). ``None`` when the
    chunk holds no whole last line (read more)."""
    if not chunk.endswith(b"\n"):
        return False
    body = chunk[:-1].rstrip(b"\r")
    cut = body.rfind(b"\n")
    if cut < 0:
        return None
    line = body[cut + 1 :]
    return line.count(b'"') % 2 == 0 and b"\0" not in line and _width(line, layout.delimiter) == len(layout.header)


def _row_start(window: bytes, exact: bool, layout: CsvLayout) -> int:
    """Offset in ``window`` taken for the start of a row, from which the rows are parsed: 0 when the window
    starts at the first row (``exact``), else just after the first line break (of the first :data:`_CANDIDATES`)
    whose next line parses as a whole row of the header's width, else after the first line break; ``-1`` when
    the window holds none."""
    if exact:
        return 0
    first = pos = window.find(b"\n")
    for _ in range(_CANDIDATES):
        if pos < 0:
            break
        end = window.find(b"\n", pos + 1)
        if end < 0:
            break
        if _width(window[pos + 1 : end].rstrip(b"\r"), layout.delimiter) == len(layout.header):
            return pos + 1
        pos = end
    return -1 if first < 0 else first + 1


def _reads_as_last_row(text: bytes, row: bytes, delimiter: str) -> bool:
    """Whether Python's ``csv`` reads ``row`` (one encoded row) as the last row of ``text + row``."""
    try:
        rows = list(csv.reader(io.StringIO((text + row).decode("utf-8", "replace"), newline=""), delimiter=delimiter))
        want = next(csv.reader(io.StringIO(row.decode("utf-8", "replace"), newline=""), delimiter=delimiter))
    except (csv.Error, StopIteration):
        return False
    return bool(rows) and rows[-1] == want


def closing_bytes(ops: FileOps, fd: int, layout: CsvLayout, row: bytes) -> bytes:
    """What to append to the file open at ``fd`` (``layout`` read from it) before ``row`` (one encoded row), so
    that Python's ``csv`` reads ``row`` as a row of its own: ``b""`` when the file ends between rows, else the
    line ending -- after a ``"`` when the file ends inside a quoted cell. Decided by parsing the file's last row
    with ``csv`` itself (a quote in the middle of an unquoted cell is text to it, not the start of a quoted cell),
    followed by each candidate. ``OSError`` from the reads."""
    newline = layout.line_terminator.encode()
    if layout.empty or layout.size <= layout.data_start:
        return b"" if layout.ends_with_newline else newline
    for read in (LAST_LINE_BYTES, 16 * LAST_LINE_BYTES):
        start = max(layout.data_start, layout.size - read)
        chunk = ops.pread(fd, layout.size - start, start)
        if start == layout.data_start:  # every row is in the chunk: parsed whole, exact
            return _closing(chunk, row, layout.delimiter, newline)
        whole = _last_line_is_a_row(chunk, layout)
        if whole is not None:
            if whole:
                return b""
            break
    start = max(layout.data_start, layout.size - MAX_WINDOW_BYTES)
    window = ops.pread(fd, layout.size - start, start)
    base = _row_start(window, start == layout.data_start, layout)
    if base < 0:  # one line longer than the window: it cannot be told apart, close it as a line
        return b"" if window.endswith(b"\n") else newline
    return _closing(window[base:], row, layout.delimiter, newline)


def _closing(tail: bytes, row: bytes, delimiter: str, newline: bytes) -> bytes:
    """The first of ``b""``, a line ending, ``"`` + a line ending after which ``csv`` reads ``row`` as the last
    row of ``tail`` (rows from a row's start)."""
    for closing in (b"", newline, b'"' + newline):
        if (closing or not tail or tail.endswith(b"\n")) and _reads_as_last_row(tail + closing, row, delimiter):
            return closing
    return b'"' + newline  # not reachable for a file csv can read; closes a quoted cell at worst
