"""Connections to the ledger's database: one SQLAlchemy engine per URL, set up for many writers at once.

SQLite: the file's folder is created; every connection runs ``PRAGMA journal_mode=WAL`` (readers never block
the writer), may sort with :data:`SORT_THREADS` threads, waits up to :data:`BUSY_TIMEOUT_S` for a lock
(``sqlite3``'s ``timeout``, which is SQLite's busy timeout), and each writing transaction (:func:`writer`)
starts with ``BEGIN IMMEDIATE``: a writer takes the write lock when it begins, so two writers never both read
and then fail to upgrade (the one ``database is locked`` a busy timeout cannot wait out); readers begin plainly.
PostgreSQL: psycopg 3, a connect timeout, ``pool_pre_ping`` (a tracker's connection may sit idle for days of
training).

:func:`describe_fault` turns a driver's error into the one line the CLI prints and the tracker warns with,
naming the host and port (or the SQLite path) and never the password.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from wattwatch.ledger.urls import LedgerError, LedgerURL

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["BUSY_TIMEOUT_S", "CONNECT_TIMEOUT_S", "SORT_THREADS", "WRITE_OPTION", "describe_fault", "open_engine", "unreachable", "writer"]

BUSY_TIMEOUT_S = 60.0
"""How long a SQLite writer waits for another's write lock (32 concurrent pushes take well under a second)."""

SORT_THREADS = 2
"""SQLite: helper threads a large sort may use (``PRAGMA threads``): ``report --db --by`` sorts a million
segments by their group, a third faster with one more thread, for about 4 MiB more (benchmarks/RESULTS.md, L3);
PostgreSQL's own parallel workers do the same there."""

CONNECT_TIMEOUT_S = 5
"""How long a PostgreSQL connection attempt may take before the database counts as unreachable."""


def _import_sqlalchemy() -> None:
    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        raise LedgerError(
            "the ledger needs wattwatch's [ledger] extra (SQLAlchemy, psycopg, platformdirs): pip install -e '.[ledger]' in wattwatch's clone"
        ) from None


def open_engine(url: LedgerURL, *, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> Engine:
    """An engine for ``url`` (nothing is connected yet). Raises :class:`LedgerError` when the extra is missing
    or a SQLite folder cannot be created."""
    _import_sqlalchemy()
    import sqlalchemy as sa
    from sqlalchemy import event

    if url.kind == "sqlite":
        if url.database:
            folder = os.path.dirname(os.path.abspath(url.database))
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise LedgerError(f"cannot create the ledger's folder {folder} ({exc.strerror or exc})") from None
            engine = sa.create_engine(url.sqlalchemy, connect_args={"timeout": BUSY_TIMEOUT_S})
        else:  # in memory: one connection shared, or each would see its own empty database
            from sqlalchemy.pool import StaticPool

            engine = sa.create_engine(
                url.sqlalchemy, connect_args={"check_same_thread": False}, poolclass=StaticPool
            )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: object, record: object) -> None:
            dbapi_connection.isolation_level = None  # type: ignore[attr-defined]  # transactions are ours
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            cursor.execute(f"PRAGMA threads = {SORT_THREADS}")
            if url.database:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: sa.Connection) -> None:
            write = connection.get_execution_options().get(WRITE_OPTION)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise LedgerError("PostgreSQL needs psycopg 3: pip install -e '.[ledger]' in wattwatch's clone") from None
    engine = sa.create_engine(
        url.sqlalchemy,
        connect_args={"connect_timeout": max(1, round(connect_timeout_s)), "application_name": "wattwatch"},
        pool_pre_ping=True,
        pool_size=1,
        max_overflow=4,
    )
    return engine


WRITE_OPTION = "wattwatch_write"
"""Execution option marking a transaction that writes: on SQLite it begins with ``BEGIN IMMEDIATE``."""


def writer(engine: Engine) -> Engine:
    """``engine`` for transactions that write (same pool): on SQLite they take the write lock as they begin, so
    a reader (``report --db`` on a read-only file) never needs it."""
    return engine.execution_options(**{WRITE_OPTION: True})


def _reason(exc: BaseException) -> str:
    """The driver's own reason, on one line: psycopg's ``connection to server at "h", port p failed: Connection
    refused`` becomes ``Connection refused`` (the host and port are said by the caller, from the URL)."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    lines = [line for line in lines if not line.lower().startswith(("(background on this error", "hint:", "["))]
    if not lines:
        return type(orig).__name__
    for line in lines:
        if "failed:" in line:
            return line.rsplit("failed:", 1)[1].strip()[:200] or line[:200]
    return lines[0][:200]


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached or opened (as opposed to a bug or a bad query)."""
    try:
        from sqlalchemy.exc import InterfaceError, OperationalError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, OperationalError | InterfaceError | OSError)


def describe_fault(url: LedgerURL, exc: BaseException) -> str:
    """One line for ``exc``: ``cannot reach the ledger database at HOST:PORT (reason)`` and what to do."""
    if isinstance(exc, LedgerError):
        return str(exc)
    reason = _reason(exc)
    if url.kind == "sqlite":
        return f"cannot use the ledger database {url.where} ({reason})"
    if unreachable(exc):
        return (
            f"cannot reach the ledger database at {url.where} ({reason}); check that PostgreSQL runs there and "
            "accepts this user"
        )
    return f"the ledger database at {url.where} failed ({reason})"
