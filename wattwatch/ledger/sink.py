"""A tracker's final row into the ledger, at a bounded cost to ``stop()``.

Importing SQLAlchemy and psycopg, connecting and checking the schema take hundreds of milliseconds; a
:class:`LedgerSink` does it on a daemon thread started by ``start()``, while the run trains. ``stop()`` hands
it the run's final row (:meth:`LedgerSink.push`) once the row is in ``emissions.csv`` -- the CSV stays the
durable record -- and waits for the push at most ``wait_s`` (100 ms). A push still going then finishes on the
thread (at interpreter exit it is given up to :data:`EXIT_WAIT_S` more). Whatever fails (the database down at
start or at the end, a schema newer than this wattwatch, a missing extra) costs one warning naming the database
and what to do; the row is in the CSV and ``wattwatch ledger push`` adds it later (pushes are idempotent).
A database that was down at ``start()`` is tried again when the row comes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from wattwatch.ledger.urls import LedgerURL

if TYPE_CHECKING:
    import sqlalchemy as sa

    from wattwatch.result import EmissionsData

__all__ = ["EXIT_WAIT_S", "STOP_WAIT_S", "LedgerSink", "open_sink"]

STOP_WAIT_S = 0.1
"""The most ``stop()`` waits for the push (seconds)."""

EXIT_WAIT_S = 5.0
"""At interpreter exit, how long a push still going is waited for (after ``stop()`` has returned)."""

_PENDING: set[LedgerSink] = set()
_EXIT_HOOK = False


def _wait_at_exit() -> None:
    for sink in list(_PENDING):
        sink.done.wait(EXIT_WAIT_S)


class LedgerSink:
    """Pushes one run's final row to the ledger at ``url`` (see the module's docstring). ``warn(key, text)``
    reports a fault once; ``folder`` is the run's output folder, named in the warning."""

    def __init__(self, url: LedgerURL, warn: Callable[[str, str], None], folder: str) -> None:
        self.url = url
        self._warn = warn
        self._folder = folder
        self._engine: sa.Engine | None = None
        self._row: tuple[EmissionsData, str] | None = None
        self._row_ready = threading.Event()
        self.ready = threading.Event()
        """Set once the engine is open and the schema checked (or that failed)."""
        self.done = threading.Event()
        """Set when the row is pushed, or the push failed, or the sink was closed without a row."""
        self.pushed = False
        self.error = ""
        self._thread = threading.Thread(target=self._main, name="wattwatch-ledger", daemon=True)

    def start(self) -> LedgerSink:
        global _EXIT_HOOK
        if not _EXIT_HOOK:  # registered before the tracker's own exit hook, so it runs after it (LIFO): a run
            import atexit  # stopped at interpreter exit still gets its push waited for

            atexit.register(_wait_at_exit)
            _EXIT_HOOK = True
        self._thread.start()
        return self

    def push(self, data: EmissionsData, *, source: str, wait_s: float = STOP_WAIT_S) -> bool:
        """Hand the final row over and wait at most ``wait_s``; whether it is in the ledger by then."""
        self._row = (data, source)
        _PENDING.add(self)
        self._row_ready.set()
        if self.done.wait(wait_s):
            return self.pushed
        return False

    def close(self) -> None:
        """No row will come (the run was not the one writing it): let the thread end."""
        self._row_ready.set()

    # -- the thread ------------------------------------------------------------------------------------------
    def _open(self) -> None:
        from wattwatch.ledger.engine import open_engine
        from wattwatch.ledger.migrate import ensure_schema

        engine = open_engine(self.url)
        try:
            ensure_schema(engine, where=self.url.where)
            # everything the push at stop() needs, imported and compiled now, while the run trains: stop()'s
            # thread then shares the interpreter with a push that only builds one row and sends it
            import wattwatch.report.history  # noqa: F401 - embodied_kg, for a row that lacks it
            import wattwatch.util.times  # noqa: F401
            from wattwatch.ledger import sources  # noqa: F401
            from wattwatch.ledger.push import warm

            warm(engine)
        except BaseException:
            engine.dispose()
            raise
        self._engine = engine

    def _main(self) -> None:
        first_error: BaseException | None = None
        try:
            self._open()
        except Exception as exc:  # noqa: BLE001 - tried again when the row comes
            first_error = exc
        finally:
            self.ready.set()
        self._row_ready.wait()
        try:
            if self._row is None:
                return
            data, source = self._row
            from wattwatch.ledger.urls import LedgerError

            if self._engine is None and not isinstance(first_error, LedgerError):
                self._open()  # the database was down at start(): once more now
            elif self._engine is None and first_error is not None:
                raise first_error
            self._push(data, source)
            self.pushed = True
        except Exception as exc:  # noqa: BLE001 - never into user code: one warning
            self._fail(exc)
        finally:
            if self._engine is not None:
                self._engine.dispose()
            self.done.set()
            _PENDING.discard(self)

    def _push(self, data: EmissionsData, source: str) -> None:
        import time

        from wattwatch.ledger.push import push_prepared
        from wattwatch.ledger.sources import prepare
        from wattwatch.util.times import utc_iso

        assert self._engine is not None
        item = prepare(data, full_row=True, source=source, pushed_at=utc_iso(time.time()))
        push_prepared(self._engine, [item])

    def _fail(self, exc: BaseException) -> None:
        from wattwatch.ledger.engine import describe_fault

        self.error = describe_fault(self.url, exc)
        run_id = self._row[0].run_id if self._row is not None else "?"
        self._warn(
            "ledger",
            f"wattwatch: run {run_id} is not in the ledger: {self.error}. Its row is in the CSV; "
            f"`wattwatch ledger push {self._folder}` adds it when the database is back",
        )


def open_sink(text: str, warn: Callable[[str, str], None], folder: str) -> LedgerSink | None:
    """A started sink for the database URL ``text``, or ``None`` after one warning when it cannot be used (a URL
    of an unsupported kind in ``$WATTWATCH_DB``, the ``ledger`` extra missing): the run goes on either way."""
    from wattwatch.ledger.urls import LedgerError, parse_url

    try:
        url = parse_url(text)
        import importlib.util

        if importlib.util.find_spec("sqlalchemy") is None:
            raise LedgerError("the ledger needs wattwatch's [ledger] extra: pip install -e '.[ledger]' in wattwatch's clone")
    except LedgerError as exc:
        warn("ledger", f"wattwatch: no ledger for this run ({exc}); its row is in the CSV only")
        return None
    return LedgerSink(url, warn, folder).start()
