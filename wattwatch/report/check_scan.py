"""``wattwatch check``'s pass over one emissions file: every row checked (:func:`wattwatch.report.check.check_cells`),
and per row only what finding a run's other segments needs -- its byte offset, line and a hash of its run id --
so 200,000 rows take a few MB (issue 24: ``check`` over 200,000 rows in 5 s and 100 MB).

A large file (:data:`wattwatch.report.scan.PARALLEL_MIN_BYTES` or more) is split in two at a line break, as
``wattwatch report`` splits it (:mod:`wattwatch.report.scan`): a forked worker checks the second half and hands
back its findings as data (JSON and the arrays' bytes through a pipe); the split is kept only when CSV quote
parity and the first half's reader say it fell between rows, else the file is read in this process alone.
"""

from __future__ import annotations

import json
import os
import threading
from array import array
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import BinaryIO

from wattwatch.report.check import CHECKED, Embodied, check_cells
from wattwatch.report.scan import PARALLEL_MIN_BYTES, _split_point
from wattwatch.sinks.emissions_reader import ColumnScan, TableLayout

__all__ = ["FileFindings", "scan_file"]

_RUN_ID, _VERSION = CHECKED.index("run_id"), CHECKED.index("wattwatch_version")
_FORK: Callable[[], int] | None = getattr(os, "fork", None)


@dataclass
class FileFindings:
    """What one byte range of a file gave: its rows' problems and, per row, where it is and whose it is."""

    problems: list[tuple[int, str, str]] = field(default_factory=list)
    """``(line, run id, what)``."""
    offsets: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]
    lines: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]
    id_hashes: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]
    ours: bytearray = field(default_factory=bytearray)
    """1 where wattwatch wrote the row (``wattwatch_version`` set)."""
    notes: list[tuple[int, str]] = field(default_factory=list)
    quotes: int = 0
    lines_read: int = 0
    """Rows read (the next range's rows are numbered from here)."""
    stopped_at: int = 0


def _check_range(
    layout: TableLayout,
    start: int | None,
    end: int | None,
    first_line: int,
    run_ids: Collection[str] | None,
    ours_only: bool,
) -> FileFindings:
    out = FileFindings()
    embodied = Embodied()
    scan = ColumnScan(layout, CHECKED, start=start, end=end)
    problems, offsets, lines, hashes, ours = out.problems, out.offsets, out.lines, out.id_hashes, out.ours
    for n, (at, cells) in enumerate(scan):
        line = first_line + n  # the row's number in the file, its header line 1 (as wattwatch report numbers them)
        rid, mine = cells[_RUN_ID], bool(cells[_VERSION])
        if (run_ids is not None and rid not in run_ids) or (ours_only and not mine):
            continue
        if mine:
            for what in check_cells(cells, embodied):
                problems.append((line, rid, what))
        offsets.append(at)
        lines.append(line)
        hashes.append(hash(rid))
        ours.append(mine)
    out.notes = [(first_line + n - 1, why) for n, why in scan.notes]
    out.quotes, out.lines_read, out.stopped_at = scan.quotes, scan.rows, scan.stopped_at
    return out


_ARRAYS = ("offsets", "lines", "id_hashes")


def _write(found: FileFindings, fh: BinaryIO) -> None:
    head = {
        "problems": found.problems, "notes": found.notes, "sizes": [len(getattr(found, n)) for n in _ARRAYS],
        "counts": [found.quotes, found.lines_read, found.stopped_at],
    }  # fmt: skip
    header = json.dumps(head).encode("utf-8")
    fh.write(len(header).to_bytes(8, "little") + header)
    for name in _ARRAYS:
        getattr(found, name).tofile(fh)
    fh.write(bytes(found.ours))


def _read(fh: BinaryIO) -> FileFindings:
    size = int.from_bytes(fh.read(8), "little")
    head = json.loads(fh.read(size).decode("utf-8"))
    found = FileFindings()
    found.problems = [(int(n), str(r), str(w)) for n, r, w in head["problems"]]
    found.notes = [(int(n), str(w)) for n, w in head["notes"]]
    for name, n in zip(_ARRAYS, head["sizes"], strict=True):
        getattr(found, name).fromfile(fh, int(n))
    rows = int(head["sizes"][0])
    found.ours = bytearray(fh.read(rows))
    if len(found.ours) != rows or fh.read(1):
        raise ValueError("torn")
    found.quotes, found.lines_read, found.stopped_at = (int(v) for v in head["counts"])
    return found


def scan_file(
    layout: TableLayout,
    *,
    run_ids: Collection[str] | None = None,
    ours_only: bool = False,
    min_bytes: int = PARALLEL_MIN_BYTES,
    fork: Callable[[], int] | None = _FORK,
) -> list[tuple[FileFindings, int]]:
    """The file's findings, one per byte range read, each with the line number its rows count from (see the
    module docstring for when a worker process reads the second half)."""
    first_line = 2  # the header is line 1 (a byte-order mark or a multi-line header cell aside)
    split = _split_point(layout) if layout.size >= min_bytes else None
    if split is None or fork is None or threading.active_count() > 1:
        return [(_check_range(layout, None, None, first_line, run_ids, ours_only), first_line)]
    read_fd, write_fd = os.pipe()
    try:
        pid = fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return [(_check_range(layout, None, None, first_line, run_ids, ours_only), first_line)]
    if pid == 0:  # pragma: no cover - the worker (coverage does not follow a fork)
        code = 1
        try:
            os.close(read_fd)
            with os.fdopen(write_fd, "wb") as out:
                _write(_check_range(layout, split, None, 0, run_ids, ours_only), out)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    pipe = os.fdopen(read_fd, "rb")
    try:
        first = _check_range(layout, layout.data_start, split, first_line, run_ids, ours_only)
        try:
            second: FileFindings | None = _read(pipe)
        except (ValueError, KeyError, TypeError, EOFError):
            second = None
    finally:
        pipe.close()
        _, status = os.waitpid(pid, 0)
    if (layout.header_quotes + first.quotes) % 2 or first.stopped_at != split:
        return [(_check_range(layout, None, None, first_line, run_ids, ours_only), first_line)]
    if second is None or status != 0:
        second = _check_range(layout, split, None, 0, run_ids, ours_only)
    offset = first_line + first.lines_read  # the second half's rows were numbered from 0
    second.problems = [(n + offset, r, w) for n, r, w in second.problems]
    second.notes = [(n + offset, w) for n, w in second.notes]
    second.lines = array("q", (n + offset for n in second.lines))
    return [(first, first_line), (second, offset)]
