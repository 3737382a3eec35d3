"""The shape of an existing CSV file, read in O(1): its header, separator, line ending and byte-order mark.

Only the first line (at most :data:`MAX_HEADER_BYTES`) and the last byte are read, whatever the file's size, so
appending a row costs the same for a file of ten rows or of two hundred thousand. Rows are never decoded: an old
row holding a Windows-1252 byte cannot stop a write.
"""

from __future__ import annotations

import csv
import functools
import io

from wattwatch.sinks.files import FileOps
from wattwatch.util.records import record

__all__ = ["BOM", "MAX_HEADER_BYTES", "CsvLayout", "read_layout", "parse_header"]

BOM = b"\xef\xbb\xbf"
"""UTF-8 byte-order mark (Excel writes it; it is not part of the first column's name)."""
MAX_HEADER_BYTES = 1 << 20
"""A first line longer than this (1 MiB) is not taken for a header."""
_SEPARATORS = (",", ";", "\t", "|")


@record
class CsvLayout:
    """What an append must match. ``header`` is empty for an empty (or missing) file; ``readable`` is false
    when the first line is not a CSV header we can use (then rows go to the companion file only)."""

    header: tuple[str, ...] = ()
    delimiter: str = ","
    line_terminator: str = "\n"
    bom: bool = False
    size: int = 0
    """Bytes in the file when the layout was read."""
    ends_with_newline: bool = True
    """False when the last row lacks its line ending (a writer killed mid-row, or a hand-edited file): the next
    row must start on a new line."""
    readable: bool = True
    data_start: int = 0
    """Byte offset of the first row (after the byte-order mark and the header line)."""

    @property
    def empty(self) -> bool:
        return self.size == 0


def _sniff_separator(line: str) -> str:
    """The separator of a header line: the candidate that occurs most often outside quotes (``,`` on ties)."""
    counts = dict.fromkeys(_SEPARATORS, 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_SEPARATORS, key=lambda s: (counts[s], s == ","))
    return best if counts[best] else ","


def parse_header(head: bytes, *, whole_file: bool = False) -> tuple[tuple[str, ...], str, str, bool] | None:
    """``(header, separator, line terminator, bom)`` from the first bytes of a file, or ``None`` when they hold
    no complete first line (or it is not text we can use as a header). ``whole_file``: ``head`` is the entire
    file, so a first line without its line ending still counts. Undecodable bytes become U+FFFD."""
    bom = head.startswith(BOM)
    if bom:
        head = head[len(BOM) :]
    end = head.find(b"\n")
    if end < 0:
        if not whole_file:
            return None
        end = len(head)
    raw = head[:end]
    parsed = _parse_line_cached(raw) if len(raw) <= _CACHED_LINE_BYTES else _parse_line(raw)
    return None if parsed is None else (*parsed, bom)


_CACHED_LINE_BYTES = 64 * 1024
"""Header lines up to this long are parsed once per process (:func:`_parse_line_cached`)."""


def _parse_line(raw: bytes) -> tuple[tuple[str, ...], str, str] | None:
    """``(header, separator, line terminator)`` of a first line (without its ``\\n``), or ``None``."""
    terminator = "\r\n" if raw.endswith(b"\r") else "\n"
    line = raw.rstrip(b"\r").decode("utf-8", "replace")
    if not line.strip():
        return None
    separator = _sniff_separator(line)
    try:
        header = next(csv.reader(io.StringIO(line), delimiter=separator))
    except (csv.Error, StopIteration):
        return None
    names = tuple(h.strip() for h in header)
    if len(names) < 2 or any(ch < " " and ch != "\t" for ch in line):
        return None  # one column or control bytes: not a table's header
    return names, separator, terminator


_parse_line_cached = functools.lru_cache(maxsize=8)(_parse_line)
""":func:`_parse_line`, remembered: every ``stop()`` reads its folder's CSV header again, and a wide header costs
0.5 ms to parse (issue 25: ``stop()`` within CodeCarbon's time)."""


def read_layout(ops: FileOps, fd: int) -> CsvLayout:
    """The layout of the open file ``fd`` (first line and last byte only). ``OSError`` from the reads."""
    size = ops.fstat(fd).st_size
    if size == 0:
        return CsvLayout()
    head = b""
    chunk = 64 * 1024
    while len(head) < min(size, MAX_HEADER_BYTES):
        more = ops.pread(fd, chunk, len(head))
        if not more:
            break
        head += more
        if b"\n" in more:
            break
        chunk *= 2
    last = ops.pread(fd, 1, size - 1)
    parsed = parse_header(head[:MAX_HEADER_BYTES], whole_file=len(head) >= size)
    if parsed is None:
        return CsvLayout(size=size, ends_with_newline=last == b"\n", readable=False)
    header, separator, terminator, bom = parsed
    end = head.find(b"\n")
    data_start = size if end < 0 else end + 1
    return CsvLayout(header, separator, terminator, bom, size, last == b"\n", data_start=data_start)
