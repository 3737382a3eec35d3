"""``wattwatch ledger push PATH... [--db URL]`` and ``wattwatch ledger info [--db URL]``: the team's ledger.

``push`` adds every run under the paths (emissions files, folders searched recursively, journals of runs still
going, distributed runs' part files: what ``report`` reads) to the database: ``--db URL``, else
``$WATTWATCH_DB``, else SQLite in the user's data folder. Idempotent, keyed by run and segment (its
``resumed_segments`` and ``start_time``, as ``report`` tells segments apart): pushing the
same folder twice adds nothing, and a run pushed while it was going is replaced by its final row. A progress
bar on stderr (a terminal) or a line per 10 % (a log). ``info`` prints where the ledger is, its schema version
and how many runs and segments it holds. See ``docs/ledger.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import sqlalchemy as sa

    from wattwatch.ledger.push import PushCounts
    from wattwatch.ledger.sources import Progress
    from wattwatch.ledger.urls import LedgerURL

__all__ = ["HELP", "ProgressBar", "add_arguments", "open_ledger", "run"]

HELP = "The team's ledger (SQLite or PostgreSQL): push runs into it (ledger push PATH... --db URL), ledger info."

_DB_HELP = "database URL: sqlite:///PATH or postgresql://USER@HOST:PORT/DB (default: $WATTWATCH_DB, else SQLite in the user's data folder)"  # noqa: E501


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)
    push = sub.add_parser("push", help="add the runs under PATH... to the ledger (idempotent)")
    push.add_argument("paths", nargs="+", metavar="PATH", help="emissions.csv files or folders holding them")
    push.add_argument("--db", metavar="URL", help=_DB_HELP)
    push.add_argument("--quiet", "-q", action="store_true", help="no progress bar, only the summary line")
    info = sub.add_parser("info", help="where the ledger is, its schema version, runs and segments")
    info.add_argument("--db", metavar="URL", help=_DB_HELP)
    for action in (push, info):  # a misspelt option is looked up among the action's own (did you mean --db?)
        action.set_defaults(_parser=action)


class ProgressBar:
    """A one-line progress bar on ``stream``: redrawn in place on a terminal (at most 10 times a second), a line
    per 10 % otherwise (a CI log, a file)."""

    def __init__(
        self, stream: TextIO, label: str, *, enabled: bool = True, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream
        self.label = label
        self.enabled = enabled
        self.tty = enabled and bool(getattr(stream, "isatty", lambda: False)())
        self._clock = clock
        self._t0 = clock()
        self._last = -1.0
        self._decile = -1

    def update(self, fraction: float, text: str, *, force: bool = False) -> None:
        """Show ``fraction`` (0-1) done and ``text``; ``force``: even if a line was shown just now."""
        if not self.enabled:
            return
        fraction = min(1.0, max(0.0, fraction))
        now = self._clock()
        if self.tty:
            if now - self._last < 0.1 and not force:
                return
            self._last = now
            width = 30
            filled = int(round(fraction * width))
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {fraction * 100:5.1f}% {text} {now - self._t0:6.1f} s")
            self.stream.flush()
            return
        decile = int(fraction * 10)
        if decile > self._decile or force:
            self._decile = decile
            self.stream.write(f"{self.label}: {fraction * 100:3.0f}% {text} ({now - self._t0:.1f} s)\n")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def open_ledger(db: str | None) -> tuple[LedgerURL, sa.Engine]:
    """The URL and an engine on a ledger whose schema is checked (created or migrated); faults as LedgerError."""
    from wattwatch.ledger.engine import describe_fault, open_engine
    from wattwatch.ledger.migrate import ensure_schema
    from wattwatch.ledger.urls import LedgerError, resolve_url

    url = resolve_url(db)
    engine = open_engine(url)

    def say(found: int, version: int) -> None:
        sys.stderr.write(
            f"wattwatch: migrating the ledger {url.where} from schema version {found} to {version} (its tables are "
            "rewritten once: a ledger of a million runs takes about a minute)\n"
        )
        sys.stderr.flush()

    try:
        ensure_schema(engine, where=url.where, on_migrate=say)
    except LedgerError:
        engine.dispose()
        raise
    except Exception as exc:  # noqa: BLE001 - the driver's errors become one line
        engine.dispose()
        raise LedgerError(describe_fault(url, exc)) from None
    return url, engine


def _push(args: argparse.Namespace) -> int:
    from wattwatch.ledger.bulk import push_paths
    from wattwatch.ledger.engine import describe_fault
    from wattwatch.ledger.sources import Progress
    from wattwatch.ledger.urls import LedgerError
    from wattwatch.util.times import utc_iso

    url, engine = open_ledger(args.db)
    progress = Progress()
    bar = ProgressBar(sys.stderr, "pushing", enabled=not args.quiet)
    t0 = time.monotonic()

    def show(counts: PushCounts) -> None:
        fraction = progress.done_bytes / progress.total_bytes if progress.total_bytes else 0.0
        bar.update(fraction, f"{progress.rows:,} rows read")

    try:
        counts = push_paths(
            engine, url, list(args.paths), pushed_at=utc_iso(time.time()), progress=progress, on_batch=show
        )
    except (LedgerError, FileNotFoundError):
        raise
    except Exception as exc:  # noqa: BLE001 - a database fault mid-push: one line; what was pushed stays
        raise LedgerError(describe_fault(url, exc) + "; run the push again: it adds only what is missing") from None
    finally:
        engine.dispose()
    if progress.total_bytes:
        bar.update(1.0, f"{progress.rows:,} rows read", force=True)
    bar.close()
    _summary(url.where, counts, progress, time.monotonic() - t0)
    return 0


def _summary(where: str, counts: PushCounts, progress: Progress, seconds: float) -> None:
    print(
        f"ledger {where}: {counts.inserted:,} segments added, {counts.replaced:,} updated, "
        f"{counts.unchanged:,} already there ({counts.seen:,} rows read in {seconds:.1f} s)"
    )
    for note in progress.notes[:20]:
        print(f"note: {note}", file=sys.stderr)
    if len(progress.notes) > 20:
        print(f"note: {len(progress.notes) - 20} more rows skipped", file=sys.stderr)


def _info(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from wattwatch.ledger.migrate import schema_version
    from wattwatch.ledger.schema import runs, segments

    url, engine = open_ledger(args.db)
    try:
        with engine.connect() as conn:
            version = schema_version(conn)
            n_runs = conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar()
            n_segments = conn.execute(sa.select(sa.func.count()).select_from(segments)).scalar()
    finally:
        engine.dispose()
    print(f"ledger: {url.where} ({url.kind}), schema version {version}, {n_runs:,} runs, {n_segments:,} segments")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.ledger_command == "push":
        return _push(args)
    return _info(args)
