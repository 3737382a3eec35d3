"""``wattwatch ledger push``'s work: the rows under some paths into the ledger, by two processes where it can.

Most of a push is Python work per row (CSV parsing, the row's figures, the tables' values), so a large push is
shared by this process and one forked worker: a large file is split in two at a row boundary (a line break
with an even number of ``"`` before it), smaller files are dealt out in turn, and each process pushes its rows
in its own transactions (PostgreSQL runs them side by side; SQLite's writers take turns at the write lock,
each having prepared its batch outside it). Journals and distributed runs' part files are pushed by this
process after the worker has finished, the part files only for runs the ledger does not hold (as
``report`` counts them only when no row has the run). No fork where there is none, for a small push, or when
this process runs other threads (a lock held at the fork would never be released in the child); the result is
the same either way.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from wattwatch.ledger.push import PushCounts, push_rows
from wattwatch.ledger.sources import Part, Progress, iter_items, plan_parts
from wattwatch.ledger.urls import LedgerError, LedgerURL

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["PARALLEL_MIN_BYTES", "push_paths"]

PARALLEL_MIN_BYTES = 4 << 20
"""Files (together) this large or larger are pushed by two processes (about 4,000 rows)."""

_FORK: Callable[[], int] | None = getattr(os, "fork", None)


def _worker(url: LedgerURL, paths: list[str], parts: list[Part], pushed_at: str, write_fd: int) -> int:  # pragma: no cover
    from wattwatch.ledger.engine import describe_fault, open_engine

    result: dict[str, object]
    engine = None
    try:
        engine = open_engine(url)
        progress = Progress()
        items = iter_items(paths, progress, pushed_at=pushed_at, parts=parts, finalize=False, extras=False)
        counts = push_rows(engine, items)
        result = {"counts": [counts.inserted, counts.replaced, counts.unchanged], "notes": progress.notes[:1000]}
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        result = {"error": describe_fault(url, exc)}
    finally:
        if engine is not None:
            engine.dispose()
    with os.fdopen(write_fd, "w", encoding="utf-8") as out:
        out.write(json.dumps(result))
    return 0 if "error" not in result else 1


def _start_worker(url: LedgerURL, paths: list[str], parts: list[Part], pushed_at: str) -> tuple[int, int] | None:
    """Fork the worker; ``(pid, read_fd)``, or ``None`` when no worker can be had."""
    fork = _FORK
    if fork is None or threading.active_count() > 1:
        return None
    read_fd, write_fd = os.pipe()
    try:
        pid = fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:  # pragma: no cover - the worker (coverage does not follow a fork)
        code = 1
        try:
            os.close(read_fd)
            code = _worker(url, paths, parts, pushed_at, write_fd)
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def _join_worker(pid: int, read_fd: int) -> tuple[PushCounts, list[str]]:
    with os.fdopen(read_fd, "r", encoding="utf-8") as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    try:
        result = json.loads(text)
    except ValueError:
        raise LedgerError("the push's worker process died; run the push again: it adds only what is missing") from None
    if "error" in result:
        raise LedgerError(str(result["error"]) + "; run the push again: it adds only what is missing")
    inserted, replaced, unchanged = result["counts"]
    return PushCounts(inserted, replaced, unchanged), list(result.get("notes", []))


def _total_bytes(files: list[Path]) -> int:
    total = 0
    for f in files:
        try:
            total += f.stat().st_size
        except OSError:
            pass
    return total


def push_paths(
    engine: sa.Engine,
    url: LedgerURL,
    paths: list[str],
    *,
    pushed_at: str,
    progress: Progress,
    on_batch: Callable[[PushCounts], None] | None = None,
    parallel: bool = True,
) -> PushCounts:
    """Push every row under ``paths`` into the ledger at ``url`` (``engine``: this process's; its schema checked,
    no connection open, since a fork may follow). ``progress`` fills as this process reads; ``on_batch`` is
    called after each of its batches. Raises ``FileNotFoundError`` for a missing path (before any row),
    :class:`LedgerError` for a worker's fault."""
    from wattwatch.report.history import journal_folders
    from wattwatch.sinks.journal import finalize_stale

    for folder in journal_folders(paths):
        finalize_stale(folder)  # once, before the files are read (as report opens folders)
    from wattwatch.report.history import find_files

    files = find_files(paths)
    worker = None
    plan = plan_parts(files, 1, min_split_bytes=PARALLEL_MIN_BYTES)
    if parallel and _total_bytes(files) >= PARALLEL_MIN_BYTES and _FORK is not None and threading.active_count() == 1:
        plan = plan_parts(files, 2, min_split_bytes=PARALLEL_MIN_BYTES)
        engine.dispose()
        worker = _start_worker(url, paths, plan[1], pushed_at)
        if worker is None:
            plan = plan_parts(files, 1, min_split_bytes=PARALLEL_MIN_BYTES)
    total = PushCounts()

    def batch_done(counts: PushCounts) -> None:
        if on_batch is not None:
            on_batch(counts)

    try:
        items = iter_items(paths, progress, pushed_at=pushed_at, parts=plan[0], finalize=False, extras=False)
        total.add(push_rows(engine, items, progress=batch_done))
    except BaseException:
        if worker is not None:  # this process's fault is the one to report; the worker is still waited for
            try:
                _join_worker(*worker)
            except LedgerError:
                pass
        raise
    if worker is not None:
        counts, notes = _join_worker(*worker)
        total.add(counts)
        progress.notes.extend(notes)
    extras = iter_items(paths, progress, pushed_at=pushed_at, finalize=False, files=False)
    total.add(push_rows(engine, extras))
    return total
