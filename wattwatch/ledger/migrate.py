"""The ledger's schema: created on first use, checked at every open, migrated forward, never backward.

:func:`ensure_schema` runs in one transaction that holds the database's write lock (SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: a transaction-level advisory lock), so 32 processes opening a new database at once create it once:

- no ``wattwatch_schema`` table: the tables, their indexes and the ``ledger_rows`` view are created at
  :data:`~wattwatch.ledger.schema.SCHEMA_VERSION`;
- an older version: each migration from it up to this version runs in order (:data:`MIGRATIONS`: version ``v``
  -> the function taking the database from ``v`` to ``v + 1``), then the version is recorded;
- a newer version (a newer wattwatch wrote it): :class:`~wattwatch.ledger.urls.LedgerError` saying to upgrade
  wattwatch; nothing is written to a schema this version does not know.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import sqlalchemy as sa

from wattwatch.ledger.engine import writer
from wattwatch.ledger.schema import METADATA, SCHEMA_VERSION, VIEW_SQL, schema_table
from wattwatch.ledger.urls import LedgerError

__all__ = ["MIGRATIONS", "Migration", "ensure_schema", "schema_version"]

Migration = Callable[[sa.Connection], None]

MIGRATIONS: dict[int, Migration] = {}
"""Forward migrations: ``MIGRATIONS[v]`` takes a database at version ``v`` to ``v + 1`` (none yet: version 1 is
the first)."""

_LOCK_KEY = 0x77617474  # "watt": the advisory lock PostgreSQL sessions take while checking the schema


def schema_version(conn: sa.Connection) -> int | None:
    """The version recorded in the database (``None``: no ledger there yet)."""
    if not sa.inspect(conn).has_table(schema_table.name):
        return None
    value = conn.execute(sa.select(sa.func.max(schema_table.c.version))).scalar()
    return int(value) if value is not None else None


def _record(conn: sa.Connection, version: int) -> None:
    from wattwatch import __version__

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    conn.execute(sa.delete(schema_table))
    conn.execute(sa.insert(schema_table).values(id=1, version=version, wattwatch_version=__version__, updated_at=stamp))


def _newer(where: str, found: int, version: int) -> LedgerError:
    return LedgerError(
        f"the ledger {where or 'database'} has schema version {found}, newer than this wattwatch knows "
        f"({version}): upgrade wattwatch here (git pull in its clone, then pip install -U -e '.[ledger]') to write to it"
    )


def ensure_schema(
    engine: sa.Engine,
    *,
    version: int = SCHEMA_VERSION,
    migrations: Mapping[int, Migration] = MIGRATIONS,
    where: str = "",
) -> int:
    """Make the database at ``engine`` a ledger at ``version`` (see the module's docstring); returns the version
    it had before (0 for a new one). ``where`` names the database in the newer-schema error. A ledger already at
    ``version`` is only read (a read-only SQLite file can be reported)."""
    with engine.connect() as conn:
        found = schema_version(conn)
    if found == version:
        return found
    if found is not None and found > version:
        raise _newer(where, found, version)
    with writer(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        found = schema_version(conn)
        if found is None:
            METADATA.create_all(conn)
            conn.exec_driver_sql(VIEW_SQL)
            _record(conn, version)
            return 0
        if found > version:
            raise _newer(where, found, version)
        if found < version:
            for step in range(found, version):
                if step not in migrations:
                    raise LedgerError(f"no migration from ledger schema version {step} to {step + 1}")
                migrations[step](conn)
            _record(conn, version)
        return found
