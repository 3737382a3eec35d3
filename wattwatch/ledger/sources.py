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

from wattwatch.ledger.fastrow import prepare_cells
from wattwatch.ledger.push import PushItem
from wattwatch.ledger.schema import prepare_row
from wattwatch.result import EmissionsData

__all__ = ["Progress", "iter_items", "prepare"]

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


def iter_items(
    paths: list[str],
    progress: Progress,
    *,
    pushed_at: str,
    share: int = 0,
    shares: int = 1,
    finalize: bool = True,
    files: bool = True,
    extras: bool = True,
) -> Iterator[PushItem]:
    """Every row under ``paths`` as a :class:`PushItem` (see the module's docstring). ``share`` of ``shares``:
    only the file rows whose number (counted over all files) is ``share`` modulo ``shares`` (two processes
    pushing one history); ``finalize``: first turn dead processes' journals into rows; ``files``: the emissions
    files' rows; ``extras``: the journals' and part files' rows. Raises ``FileNotFoundError`` for a path that
    does not exist, before any row."""
    from wattwatch.report.history import find_files, journal_folders
    from wattwatch.sinks.emissions_reader import TableReader
    from wattwatch.sinks.journal import finalize_stale

    found = find_files(paths)
    folders = journal_folders(paths)
    if finalize:
        for folder in folders:
            finalize_stale(folder)
    sizes = {}
    for f in found if files else ():
        try:
            sizes[f] = os.stat(f).st_size
        except OSError:
            sizes[f] = 0
    progress.total_bytes = sum(sizes.values())
    number = -1
    for f in found if files else ():
        base = progress.done_bytes
        try:
            with TableReader(f) as reader:
                header = set(reader.header)
                if not _REQUIRED <= header or "run_node" in header:
                    progress.done_bytes = base + sizes[f]
                    continue
                full = "status" in header
                for i, row in enumerate(reader, start=2):
                    number += 1
                    progress.rows += 1
                    if progress.rows % 256 == 0:
                        progress.done_bytes = base + min(reader.position, sizes[f])
                    if number % shares != share:
                        continue
                    fast = prepare_cells(row, full_row=full, source=str(f), pushed_at=pushed_at)
                    if fast is not None:
                        yield PushItem(fast)
                        continue
                    try:
                        data = EmissionsData.from_row(row)
                    except ValueError as exc:
                        progress.notes.append(f"skipped {f} line {i}: {exc}")
                        continue
                    if not data.run_id:
                        progress.notes.append(f"skipped {f} line {i}: no run_id")
                        continue
                    yield prepare(data, full_row=full, source=str(f), pushed_at=pushed_at)
                progress.notes.extend(reader.notes)
        except OSError as exc:
            progress.notes.append(f"skipped {f}: {exc}")
        progress.done_bytes = base + sizes[f]
    if extras:
        yield from _extra_items(paths, folders, progress, pushed_at)


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
