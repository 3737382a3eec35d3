"""Lines of a CSV file for Python's ``csv`` reader, with a bound on the bytes of one row.

``csv.reader`` over a file object reads a whole line into memory, and keeps a whole row's cells: a single 1 GB
line (a hostile file, a tool gone wrong) cost about nine times that in a ``wattwatch report`` and ended in
``MemoryError``. :class:`BoundedLines` feeds the reader one line at a time with ``readline(limit)``, counts the
bytes of the row being read, and once a row passes :data:`MAX_ROW_BYTES` skips the rest of its line in chunks
(memory stays near the bound) and raises :class:`RowTooLong` out of the reader: the caller notes it and goes on
with a fresh reader from the next line. Rows wattwatch writes are a few KB (cells are bounded); older rows with
unbounded cells were at most a few hundred KB.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["MAX_ROW_BYTES", "BoundedLines", "RowTooLong", "split_cr"]

MAX_ROW_BYTES = 8 << 20
"""Longest row read (8 MiB); a longer one is skipped with a note."""
_SKIP_CHUNK = 1 << 20


class RowTooLong(Exception):
    """A row passed the bound; its bytes up to the end of the current line were skipped."""

    def __init__(self, line: int, size: int) -> None:
        super().__init__(f"line {line}: a row of more than {size} bytes, skipped")
        self.line = line


class BoundedLines:
    """Line source for ``csv.reader`` over the binary file ``fh`` from its current position.

    Iterate :meth:`lines` (a fresh generator after each :class:`RowTooLong`); call :meth:`row_done` each time
    the reader gives a row. :attr:`line` counts the lines read (1-based, as ``csv``'s ``line_num``),
    :attr:`pos` is the byte offset after them, :attr:`quotes` counts their ``"`` bytes (skipped ones included,
    for callers that check quote parity)."""

    def __init__(self, fh: BinaryIO, *, start: int = 0, max_row_bytes: int = MAX_ROW_BYTES) -> None:
        self.fh = fh
        self.pos = start
        self.line = 0
        self.quotes = 0
        self.max_row_bytes = max_row_bytes
        self._row_bytes = 0

    def row_done(self) -> None:
        """The reader finished a row: the next line starts a new one."""
        self._row_bytes = 0

    def next_line(self) -> bytes:
        """The next line (``b""`` at the end); :class:`RowTooLong` when it takes the current row past the
        bound (the rest of that line is skipped first)."""
        room = self.max_row_bytes - self._row_bytes
        raw = self.fh.readline(room + 1)
        self.pos += len(raw)
        self.quotes += raw.count(b'"')
        if not raw:
            return raw
        self.line += 1
        self._row_bytes += len(raw)
        if self._row_bytes <= self.max_row_bytes:
            return raw
        while not raw.endswith(b"\n"):
            raw = self.fh.readline(_SKIP_CHUNK)
            if not raw:
                break
            self.pos += len(raw)
            self.quotes += raw.count(b'"')
        self._row_bytes = 0
        raise RowTooLong(self.line, self.max_row_bytes)

    def lines(self) -> Iterator[str]:
        """Decoded lines (undecodable bytes as U+FFFD) until the end of the file; a lone ``\\r`` ends a line
        too, as for ``csv`` reading a file opened with ``newline=""``."""
        while True:
            raw = self.next_line()
            if not raw:
                return
            for piece in split_cr(raw):
                yield piece.decode("utf-8", "replace")


def split_cr(line: bytes) -> list[bytes]:
    """``line`` (up to and including its ``\\n``) cut after every lone ``\\r`` (old Mac line endings, or a
    stray carriage return), each piece keeping its line ending: the pieces Python's ``csv`` sees as lines."""
    if b"\r" not in line or (line.endswith(b"\r\n") and line.count(b"\r") == 1):
        return [line]
    return line.splitlines(keepends=True)
