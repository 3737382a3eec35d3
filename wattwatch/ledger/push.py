"""Rows into the ledger, idempotently: a segment is ``(run_id, segment)``, and pushing it again adds nothing.

:func:`push_rows` takes rows in batches; per batch, in one transaction: the batch's keys already in
``segments`` are read with their rank, and each row is inserted (new key), replaces the stored one (it ranks
higher: the fuller row -- from a file with a ``status`` column --, then the later ``timestamp``, as
``wattwatch report`` decides), or is left out (the stored one ranks as high: pushing twice changes nothing). A
``weak`` row (a distributed run rebuilt from its part files) is pushed only when the ledger holds no segment of
its run. A replaced segment's
phases and devices are replaced with it. When another writer inserted one of the batch's keys between the read
and the insert (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` makes writers take turns), the batch is rolled back
and done again.

``segments.latest`` (each run's highest segment: what ``report --db`` counts a run by) and ``other_group`` (an
earlier segment in another group than its run's latest) are kept true at every push: a row is inserted as its
run's latest unless a higher segment of the run is in the batch or the table, and a stored segment it
supersedes is updated. On PostgreSQL the ``runs`` rows of the runs a batch writes to
are locked first (``SELECT ... FOR UPDATE``, in run id order: no deadlock), so two pushes of two segments of
one run take turns and never both mark theirs latest; a run new to the ledger is serialized by its ``runs``
row's key instead (the second insert fails and its batch is done again).

Inserts are executemany of Core ``insert()`` statements (SQLAlchemy batches them into multi-row ``VALUES``);
memory holds one batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from wattwatch.ledger.engine import writer
from wattwatch.ledger.schema import (
    GROUP_KEYS,
    SEGMENT_ORDER,
    PreparedRow,
    details,
    devices,
    phases,
    rank_of,
    runs,
    segments,
)

__all__ = ["BATCH_ROWS", "PushCounts", "PushItem", "insert_many", "push_prepared", "push_rows", "warm"]

BATCH_ROWS = 2000
"""Rows per transaction: large enough that per-statement costs vanish, small enough to keep memory flat."""

_RETRIES = 5


@dataclass
class PushItem:
    """A prepared row; ``weak``: pushed only when the ledger holds no segment of its run."""

    row: PreparedRow
    weak: bool = False


@dataclass
class PushCounts:
    """What a push did, in segments."""

    inserted: int = 0
    replaced: int = 0
    unchanged: int = 0
    """Rows already in the ledger as they are (or a row ranking as high)."""

    @property
    def seen(self) -> int:
        return self.inserted + self.replaced + self.unchanged

    def add(self, other: PushCounts) -> None:
        self.inserted += other.inserted
        self.replaced += other.replaced
        self.unchanged += other.unchanged


def _batches(items: Iterable[PushItem], size: int) -> Iterator[list[PushItem]]:
    batch: list[PushItem] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _dedupe(batch: Sequence[PushItem]) -> dict[tuple[str, int], PushItem]:
    """One row per key within the batch: the highest rank (a strong row over a weak one)."""
    best: dict[tuple[str, int], PushItem] = {}
    for item in batch:
        old = best.get(item.row.key)
        if old is None or (not item.weak and (old.weak or item.row.rank >= old.row.rank)):
            best[item.row.key] = item
    return best


def insert_many(conn: sa.Connection, table: sa.Table, rows: Sequence[Sequence[Any]]) -> None:
    """``INSERT`` ``rows`` (tuples in ``table``'s column order) into ``table``: Core's ``insert()`` compiled once
    for the connection's dialect and handed to the driver's ``executemany`` -- Core's own executemany builds
    and type-processes a parameter dict per row, most of a push's time."""
    if not rows:
        return
    columns = [c.name for c in table.columns]
    if conn.dialect.name == "postgresql":
        _copy_rows(conn, table, columns, rows)
        return
    plan = _insert_plan(conn.dialect, table)
    if plan is None:
        conn.execute(sa.insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    sql, order = plan
    if order is None:
        conn.exec_driver_sql(sql, list(rows))  # type: ignore[arg-type]
    else:
        conn.exec_driver_sql(sql, [tuple(row[i] for i in order) for row in rows])  # type: ignore[arg-type]


_PLANS: dict[tuple[int, str], tuple[str, list[int] | None] | None] = {}


def _insert_plan(dialect: sa.Dialect, table: sa.Table) -> tuple[str, list[int] | None] | None:
    """``table``'s ``INSERT`` compiled once per dialect: its SQL and the order of the columns in its parameters
    (``None``: the table's), or ``None`` when the dialect binds by name (Core's executemany is used then)."""
    key = (id(dialect), table.name)
    if key not in _PLANS:
        columns = [c.name for c in table.columns]
        compiled = sa.insert(table).compile(dialect=dialect, column_keys=columns)
        if not compiled.positional:
            _PLANS[key] = None
        else:
            order = [columns.index(compiled.binds[name].key) for name in compiled.positiontup or ()]
            _PLANS[key] = (str(compiled), None if order == list(range(len(columns))) else order)
    return _PLANS[key]


def warm(engine: sa.Engine) -> None:
    """Compile the inserts for ``engine``'s dialect now (the tracker's thread does it while the run trains, so
    that ``stop()``'s push does no compiling)."""
    for table in (runs, segments, details, phases, devices):
        _insert_plan(engine.dialect, table)


def _copy_rows(conn: sa.Connection, table: sa.Table, columns: list[str], rows: Sequence[Sequence[Any]]) -> None:
    """PostgreSQL: the rows through ``COPY ... FROM STDIN`` on the transaction's own connection (psycopg 3's
    ``Cursor.copy``): an executemany sends one statement per row (20,000 rows: 9 s), and one multi-row
    ``INSERT`` is re-parsed by psycopg for every batch (24 s); COPY takes about 1 s. A key already there (another
    writer's, inserted meanwhile) is SQLAlchemy's ``IntegrityError``, as for an ``INSERT``: the driver's own
    error would escape :func:`push_prepared`'s retry."""
    preparer = conn.dialect.identifier_preparer
    names = ", ".join(preparer.quote(c) for c in columns)
    driver = conn.connection.driver_connection
    try:
        with driver.cursor() as cursor:  # type: ignore[union-attr]
            with cursor.copy(f"COPY {preparer.format_table(table)} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == "23505":  # a key another writer inserted first: the batch is redone
            raise sa.exc.IntegrityError(f"COPY {table.name}", None, exc) from exc
        raise


def _delete_keys(conn: sa.Connection, keys: list[tuple[str, int]]) -> None:
    params = [{"r": r, "s": s} for r, s in keys]
    for table in (phases, devices, details, segments):
        conn.execute(
            sa.delete(table).where(table.c.run_id == sa.bindparam("r"), table.c.segment == sa.bindparam("s")),
            params,
        )


def _push_batch(conn: sa.Connection, batch: Sequence[PushItem]) -> PushCounts:
    best = _dedupe(batch)
    counts = PushCounts(unchanged=len(batch) - len(best))
    run_ids = sorted({k[0] for k in best})
    stored: dict[tuple[str, int], tuple[bool, str, bool]] = {}
    s = segments.c
    query = sa.select(s.run_id, s.segment, s.full_row, s.timestamp, s.status).where(s.run_id.in_(run_ids))
    for run_id, segment, full, stamp, status in conn.execute(query):
        stored[(run_id, int(segment))] = rank_of(full, stamp, status)
    new: list[PreparedRow] = []
    replace: list[PreparedRow] = []
    stored_runs = {k[0] for k in stored}
    for key, item in best.items():
        old = stored.get(key)
        if item.weak and key[0] in stored_runs:
            counts.unchanged += 1
        elif old is None:
            new.append(item.row)
        elif not item.weak and item.row.rank > old:
            replace.append(item.row)
        else:
            counts.unchanged += 1
    rows = new + replace
    if rows:
        touched = sorted({r.run_id for r in rows})
        lock = sa.select(runs.c.run_id).where(runs.c.run_id.in_(touched)).order_by(runs.c.run_id).with_for_update()
        known = {r for (r,) in conn.execute(lock)}  # PostgreSQL: these runs' rows locked until the commit
        if replace:
            _delete_keys(conn, [r.key for r in replace])
        fresh: dict[str, tuple[Any, ...]] = {}
        for row in rows:
            if row.run_id not in known:
                old_run = fresh.get(row.run_id)
                if old_run is None or row.first_start_time < old_run[-1]:
                    fresh[row.run_id] = row.run_values
        insert_many(conn, runs, list(fresh.values()))
        flags = _flags(conn, rows, sorted(known))
        insert_many(conn, segments, [r.segment_values[:-2] + flags[r.key] if r.key in flags else r.segment_values for r in rows])
        insert_many(conn, details, [r.detail_values for r in rows])
        insert_many(conn, phases, [p for r in rows for p in r.phase_values])
        insert_many(conn, devices, [d for r in rows for d in r.device_values])
    counts.inserted += len(new)
    counts.replaced += len(replace)
    return counts


_KEY_AT = [SEGMENT_ORDER.index(k) for k in GROUP_KEYS]
_FLAG_COLUMNS = ("other_group", "latest")
assert SEGMENT_ORDER[-2:] == _FLAG_COLUMNS


def _flags(conn: sa.Connection, rows: Sequence[PreparedRow], known: list[str]) -> dict[tuple[str, int], tuple[bool, bool]]:
    """``segments.other_group`` and ``latest`` for ``rows`` (about to be inserted; their keys not in the table):
    latest for each run's highest segment among ``rows`` and what the table holds of it; other group for an
    earlier segment whose group keys (:data:`~wattwatch.ledger.schema.GROUP_KEYS`) differ from its run's latest
    segment's. The table's segments of ``known`` runs (read after their ``runs`` rows were locked: a concurrent
    push of another segment of one of them waits for this one) whose flags change are updated here. Returns the
    flags of the rows that are not ``(False, True)`` (a run's only or latest segment)."""
    if not any(r.segment > 0 for r in rows) and not known:
        return {}  # every run new, each in one segment: every row is its run's latest (a push's usual case)
    s = segments.c
    keys: dict[tuple[str, int], tuple[tuple[Any, ...], tuple[bool, bool] | None]] = {}
    for part in range(0, len(known), 1000):
        query = sa.select(s.run_id, s.segment, s.other_group, s.latest, *(s[k] for k in GROUP_KEYS))
        for r, g, other, latest, *cells in conn.execute(query.where(s.run_id.in_(known[part : part + 1000]))):
            keys[(r, int(g))] = (tuple(cells), (bool(other), bool(latest)))
    for row in rows:
        keys[row.key] = (tuple(row.segment_values[i] for i in _KEY_AT), None)
    top: dict[str, int] = {}
    for run_id, segment in keys:
        top[run_id] = max(top.get(run_id, segment), segment)
    changed: list[dict[str, Any]] = []
    out: dict[tuple[str, int], tuple[bool, bool]] = {}
    for (run_id, segment), (group, old) in keys.items():
        latest = segment == top[run_id]
        flags = (not latest and group != keys[(run_id, top[run_id])][0], latest)
        if old is None:
            if flags != (False, True):
                out[(run_id, segment)] = flags
        elif old != flags:
            changed.append({"r": run_id, "g": segment, "o": flags[0], "l": flags[1]})
    if changed:
        update = sa.update(segments).where(s.run_id == sa.bindparam("r"), s.segment == sa.bindparam("g"))
        conn.execute(update.values(other_group=sa.bindparam("o"), latest=sa.bindparam("l")), changed)
    return out


def push_prepared(engine: sa.Engine, batch: Sequence[PushItem]) -> PushCounts:
    """Push one batch in one transaction, again from the start when a concurrent writer inserted one of its
    keys first (at most a few times)."""
    for attempt in range(_RETRIES):
        try:
            with writer(engine).begin() as conn:
                return _push_batch(conn, batch)
        except sa.exc.IntegrityError:
            if attempt == _RETRIES - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def push_rows(
    engine: sa.Engine,
    items: Iterable[PushItem],
    *,
    batch_rows: int = BATCH_ROWS,
    progress: Callable[[PushCounts], None] | None = None,
) -> PushCounts:
    """Push every item, ``batch_rows`` per transaction; ``progress`` is called after each batch with the totals
    so far."""
    total = PushCounts()
    for batch in _batches(items, batch_rows):
        total.add(push_prepared(engine, batch))
        if progress is not None:
            progress(total)
    return total
