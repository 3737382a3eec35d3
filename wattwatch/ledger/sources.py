"""The rows under some paths, streamed as ``wattwatch report`` finds them, ready for the ledger.

:func:`iter_items` walks what :func:`wattwatch.report.history.collect_runs` walks -- every emissions file
(folders searched recursively, time series and per-node files skipped), then the journals of runs still going
or whose row could not be written, then distributed runs rebuilt from part files (``weak``: pushed only for a
run the ledger does not hold) -- and turns the journals of processes that are gone into rows first, as ``report`` and a tracker's
``start()`` do. It holds one row at a time; unreadable rows become notes. Cells go straight into the tables' values
(:mod:`.fastrow`) where they can, else through :class:`~wattwatch.result.EmissionsData` (same values). :class:`Progress` says how far it is
(bytes of the files read).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wattwatch.ledger.fastrow import prepare_cells
from wattwatch.ledger.push import PushItem
from wattwatch.ledger.schema import prepare_row
from wattwatch.result import EmissionsData

if TYPE_CHECKING:
    from wattwatch.sinks.emissions_reader import TableLayout

__all__ = ["Part", "Progress", "iter_items", "plan_parts", "prepare"]

_REQUIRED = {"run_id", "energy_consumed", "emissions"}


@dataclass
class Progress:
    """How far :func:`iter_items` is: bytes of the files read of ``total_bytes``, rows and notes so far."""

    total_bytes: int = 0
    done_bytes: int = 0
    rows: int = 0
    notes: list[str] = field(default_factory=list)


def prepare(data: EmissionsData, *, full_row: bool, source: str, pushed_at: str, weak: bool = False) -> PushItem:
    """``data`` as a :class:`PushItem`: a row written before wattwatch recorded embodied CO2 gets it computed
    here, as ``report`` computes it (``embodied_computed`` says so)."""
    from wattwatch.report.history import embodied_kg

    try:
        embodied = embodied_kg(data)
    except Exception:  # noqa: BLE001 - a row whose hardware the data does not know: no embodied figure
        embodied = (0.0, True)
    return PushItem(
        prepare_row(data, full_row=full_row, source=source, pushed_at=pushed_at, embodied=embodied), weak=weak
    )


@dataclass
class Part:
    """Rows of one emissions file to read: those starting in ``[start, end)`` (bytes; ``None``: from the first row
    / to the end)."""

    path: Path
    start: int | None = None
    end: int | None = None


def _split(layout: TableLayout) -> int | None:
    """The byte after the first line break past the middle of ``layout``'s rows, when an even number of ``"``
    comes before it (the break is between rows, not inside a quoted cell); else ``None``."""
    mid = layout.data_start + (layout.size - layout.data_start) // 2
    with open(layout.path, "rb") as fh:
        fh.seek(mid)
        pos, split = mid, None
        while chunk := fh.read(1 << 16):
            i = chunk.find(b"\n")
            if i >= 0:
                split = pos + i + 1
                break
            pos += len(chunk)
        if split is None or split >= layout.size:
            return None
        fh.seek(layout.data_start)
        quotes, left = layout.header_quotes, split - layout.data_start
        while left > 0:
            chunk = fh.read(min(1 << 20, left))
            if not chunk:
                return None
            quotes += chunk.count(b'"')
            left -= len(chunk)
    return split if quotes % 2 == 0 else None


def plan_parts(files: list[Path], shares: int, *, min_split_bytes: int) -> list[list[Part]]:
    """What each of ``shares`` processes reads: a file of ``min_split_bytes`` or more is split in two at a row
    boundary (:func:`_split`), smaller files are dealt out in turn; with one share, every file whole."""
    from wattwatch.sinks.emissions_reader import table_layout

    plan: list[list[Part]] = [[] for _ in range(shares)]
    turn = 0
    for f in files:
        layout = None
        if shares > 1:
            try:
                layout = table_layout(f)
            except OSError:
                layout = None
        split = _split(layout) if layout is not None and layout.size >= min_split_bytes else None
        if split is not None:
            plan[0].append(Part(f, None, split))
            plan[1].append(Part(f, split, None))
        else:
            plan[turn % shares].append(Part(f))
            turn += 1
    return plan


def iter_items(
    paths: list[str],
    progress: Progress,
    *,
    pushed_at: str,
    parts: list[Part] | None = None,
    finalize: bool = True,
    files: bool = True,
    extras: bool = True,
) -> Iterator[PushItem]:
    """Every row under ``paths`` as a :class:`PushItem` (see the module's docstring). ``parts``: only these files'
    byte ranges (:func:`plan_parts`; default: every file whole); ``finalize``: first turn dead processes'
    journals into rows; ``files``: the emissions files' rows; ``extras``: the journals' and part files' rows.
    Raises ``FileNotFoundError`` for a path that does not exist, before any row."""
    from wattwatch.report.history import find_files, journal_folders
    from wattwatch.sinks.journal import finalize_stale

    found = find_files(paths)
    folders = journal_folders(paths)
    if finalize:
        for folder in folders:
            finalize_stale(folder)
    todo = ([Part(f) for f in found] if parts is None else parts) if files else []
    sized = []
    for part in todo:
        try:
            size = os.stat(part.path).st_size
        except OSError:
            size = 0
        sized.append((part, size))
        progress.total_bytes += (part.end if part.end is not None else size) - (part.start or 0)
    for part, size in sized:
        yield from _part_items(part, size, progress, pushed_at)
    if extras:
        yield from _extra_items(paths, folders, progress, pushed_at)


def _part_items(part: Part, size: int, progress: Progress, pushed_at: str) -> Iterator[PushItem]:
    """The rows of one file's byte range (the file's own reader: :class:`ColumnScan` over every column, as
    :func:`~wattwatch.sinks.emissions_reader.read_row_at` reads a row)."""
    from wattwatch.sinks.emissions_reader import ColumnScan, table_layout

    f = part.path
    base = progress.done_bytes
    length = (part.end if part.end is not None else size) - (part.start or 0)
    try:
        layout = table_layout(f)
        if layout is None or not _REQUIRED <= set(layout.header) or "run_node" in layout.header:
            progress.done_bytes = base + length
            return
        header, full, source = layout.header, "status" in layout.header, str(f)
        start = part.start if part.start is not None else layout.data_start
        scan = ColumnScan(layout, header, start=start, end=part.end if part.end is not None else layout.size)
        for at, cells in scan:
            progress.rows += 1
            if progress.rows % 256 == 0:
                progress.done_bytes = base + min(at - start, length)
            row = dict(zip(header, cells, strict=True))
            fast = prepare_cells(row, full_row=full, source=source, pushed_at=pushed_at)
            if fast is not None:
                yield PushItem(fast)
                continue
            try:
                data = EmissionsData.from_row(row)
            except ValueError as exc:
                progress.notes.append(f"skipped {f} row at byte {at}: {exc}")
                continue
            if not data.run_id:
                progress.notes.append(f"skipped {f} row at byte {at}: no run_id")
                continue
            yield prepare(data, full_row=full, source=source, pushed_at=pushed_at)
        progress.notes.extend(f"{f} line {line} after byte {start}: skipped ({why})" for line, why in scan.notes)
    except OSError as exc:
        progress.notes.append(f"skipped {f}: {exc}")
    progress.done_bytes = base + length


def _extra_items(paths: list[str], folders: list[Path], progress: Progress, pushed_at: str) -> Iterator[PushItem]:
    """The journals' rows (runs still going, or whose row could not be written yet), then the runs rebuilt from
    distributed part files (``weak``)."""
    from wattwatch.report.history import runs_from_parts
    from wattwatch.sinks.journal import read_journals

    for folder in folders:
        entries, skipped = read_journals(folder)
        progress.notes.extend(skipped)
        for entry in entries:
            try:
                data = EmissionsData.from_row(entry.row)
            except ValueError as exc:
                progress.notes.append(f"skipped journal {entry.path}: {exc}")
                continue
            if data.run_id:
                progress.rows += 1
                yield prepare(data, full_row=True, source=str(entry.path), pushed_at=pushed_at)
    for raw in paths:
        for data, where in runs_from_parts(Path(raw)):
            if data.run_id:
                progress.rows += 1
                yield prepare(data, full_row=True, source=str(where), pushed_at=pushed_at, weak=True)
