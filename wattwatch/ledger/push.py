"""Rows into the ledger, idempotently: a segment is ``(run_id, segment, start_time)`` -- ``report PATH``'s
segment (issue 28: two retries resumed from one checkpoint are two) --, and pushing it again adds nothing.

:func:`push_rows` takes rows in batches; per batch, in one transaction: the segments the ledger holds of the
batch's runs are read with their rank, and each row is inserted (new key), replaces the stored one (it ranks
higher: the fuller row -- from a file with a ``status`` column --, then the later ``timestamp``, as
``wattwatch report`` decides), or is left out (the stored one ranks as high: pushing twice changes nothing). A
row without a ``start_time`` (CodeCarbon's columns beside the full row) is a copy of its run's segment of the
same number that has one: it is left out where the ledger or the batch has such a segment, and replaced by the
first one pushed (:class:`wattwatch.report.segments.SegmentWinners`' rule). A ``weak`` row (a distributed run
rebuilt from its part files) is pushed only when neither the ledger nor the batch's other rows hold its run. A
replaced segment's phases and devices are replaced with it. When another writer inserted one of the batch's
keys between the read and the insert (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` makes writers take turns), the
batch is rolled back and done again.

``segments.latest`` (each run's latest segment: the highest ``segment``, then the latest ``start_time``; what
``report --db`` counts a run by) and ``other_group`` (an earlier segment in another group than its run's
latest) are kept true at every push: a row is inserted as its run's latest unless a later segment of the run is
in the batch or the table, and a stored segment it supersedes is updated. On PostgreSQL the ``runs`` rows of
the runs a batch writes to are locked first (``SELECT ... FOR UPDATE``, in run id order: no deadlock) and their
segments read again under the lock, so two pushes to one run take turns -- they never both mark theirs latest,
nor both keep a segment and its copy without a start; a run new to the ledger is serialized by its ``runs``
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


Key = tuple[str, int, str]
"""A segment's key: run id, ``resumed_segments``, ``start_time`` (:data:`~wattwatch.ledger.schema.KEY_COLUMNS`)."""


def _dedupe(batch: Sequence[PushItem]) -> dict[Key, PushItem]:
    """One row per key within the batch: the highest rank (a strong row over a weak one)."""
    best: dict[Key, PushItem] = {}
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


def _delete_keys(conn: sa.Connection, keys: list[Key]) -> None:
    params = [{"r": r, "s": g, "t": t} for r, g, t in keys]
    for table in (phases, devices, details, segments):
        c = table.c
        conn.execute(
            sa.delete(table).where(c.run_id == sa.bindparam("r"), c.segment == sa.bindparam("s"), c.start_time == sa.bindparam("t")),
            params,
        )


Rank = tuple[bool, str, bool]


def _stored(conn: sa.Connection, run_ids: list[str]) -> dict[Key, Rank]:
    """The segments the table holds of ``run_ids``, with their rank."""
    s = segments.c
    out: dict[Key, Rank] = {}
    for part in range(0, len(run_ids), 1000):
        query = sa.select(s.run_id, s.segment, s.start_time, s.full_row, s.timestamp, s.status)
        for run_id, segment, start, full, stamp, status in conn.execute(query.where(s.run_id.in_(run_ids[part : part + 1000]))):
            out[(run_id, int(segment), start)] = rank_of(full, stamp, status)
    return out


@dataclass
class _Plan:
    """What a batch does: rows to insert (``new``), rows that replace stored segments (``replace``: the stored
    keys ``gone`` are deleted first), and how many rows change nothing."""

    new: list[PreparedRow]
    replace: list[PreparedRow]
    gone: list[Key]
    unchanged: int


def _plan(best: dict[Key, PushItem], stored: dict[Key, Rank]) -> _Plan:
    """Each row of ``best`` against the ``stored`` segments of its run (``report PATH``'s rule,
    :class:`wattwatch.report.segments.SegmentWinners`): a new key is inserted, a stored one replaced when the row
    ranks higher; a row without a start where its run has a segment of that number with one (stored, or in the
    batch) is a copy of it (left out); a row with a start replaces its run's stored row of that number without
    one (which was a copy of it). A weak row is pushed only when nothing of its run is stored or in the batch's
    other rows (``report PATH`` counts a run rebuilt from part files only when no row has it)."""
    plan = _Plan([], [], [], 0)
    has_run = {k[0] for k in stored} | {k[0] for k, item in best.items() if not item.weak}
    dated = {k[:2] for k in stored if k[2]} | {k[:2] for k, item in best.items() if k[2] and not item.weak}
    for key, item in best.items():
        old = stored.get(key)
        if (item.weak and key[0] in has_run) or (not key[2] and key[:2] in dated):
            plan.unchanged += 1
        elif old is None:
            undated = (key[0], key[1], "")
            if key[2] and undated in stored and undated not in plan.gone:
                plan.replace.append(item.row)
                plan.gone.append(undated)
            else:
                plan.new.append(item.row)
        elif not item.weak and item.row.rank > old:
            plan.replace.append(item.row)
            plan.gone.append(key)
        else:
            plan.unchanged += 1
    return plan


def _push_batch(conn: sa.Connection, batch: Sequence[PushItem]) -> PushCounts:
    best = _dedupe(batch)
    counts = PushCounts(unchanged=len(batch) - len(best))
    run_ids = sorted({k[0] for k in best})
    stored = _stored(conn, run_ids)
    plan = _plan(best, stored)
    rows = plan.new + plan.replace
    if rows:
        touched = sorted({r.run_id for r in rows})
        lock = sa.select(runs.c.run_id).where(runs.c.run_id.in_(touched)).order_by(runs.c.run_id).with_for_update()
        known = {r for (r,) in conn.execute(lock)}  # PostgreSQL: these runs' rows locked until the commit
        if known and conn.dialect.name == "postgresql":  # read again under the lock: another push may have written
            # to them since, under other keys (another retry, a row with a start beside one without) that raise no
            # key error (SQLite: the transaction has held the write lock since it began)
            fresh_stored = _stored(conn, sorted(known))
            stored = {k: v for k, v in stored.items() if k[0] not in known} | fresh_stored
            plan = _plan(best, stored)
            rows = plan.new + plan.replace
        if plan.gone:
            _delete_keys(conn, plan.gone)
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
    counts.unchanged += plan.unchanged
    counts.inserted += len(plan.new)
    counts.replaced += len(plan.replace)
    return counts


_KEY_AT = [SEGMENT_ORDER.index(k) for k in GROUP_KEYS]
_FLAG_COLUMNS = ("other_group", "latest")
assert SEGMENT_ORDER[-2:] == _FLAG_COLUMNS


def _flags(conn: sa.Connection, rows: Sequence[PreparedRow], known: list[str]) -> dict[Key, tuple[bool, bool]]:
    """``segments.other_group`` and ``latest`` for ``rows`` (about to be inserted; their keys not in the table):
    latest for each run's latest segment among ``rows`` and what the table holds of it (the highest ``segment``,
    then the latest ``start_time``: :func:`wattwatch.report.segments.segment_order`; ``(segment, start_time)``
    is unique within a run); other group for an earlier segment whose group keys
    (:data:`~wattwatch.ledger.schema.GROUP_KEYS`) differ from its run's latest segment's. The table's segments of
    ``known`` runs (read after their ``runs`` rows were locked: a concurrent push of another segment of one of
    them waits for this one) whose flags change are updated here. Returns the flags of the rows that are not
    ``(False, True)`` (a run's only or latest segment)."""
    if not known and len({r.run_id for r in rows}) == len(rows):
        return {}  # every run new, each in one segment: every row is its run's latest (a push's usual case)
    s = segments.c
    keys: dict[Key, tuple[tuple[Any, ...], tuple[bool, bool] | None]] = {}
    for part in range(0, len(known), 1000):
        query = sa.select(s.run_id, s.segment, s.start_time, s.other_group, s.latest, *(s[k] for k in GROUP_KEYS))
        for r, g, t, other, latest, *cells in conn.execute(query.where(s.run_id.in_(known[part : part + 1000]))):
            keys[(r, int(g), t)] = (tuple(cells), (bool(other), bool(latest)))
    for row in rows:
        keys[row.key] = (tuple(row.segment_values[i] for i in _KEY_AT), None)
    top: dict[str, tuple[int, str]] = {}
    for run_id, segment, start in keys:
        order = (segment, start)
        if run_id not in top or order > top[run_id]:
            top[run_id] = order
    changed: list[dict[str, Any]] = []
    out: dict[Key, tuple[bool, bool]] = {}
    for key, (group, old) in keys.items():
        run_id = key[0]
        latest = key[1:] == top[run_id]
        flags = (not latest and group != keys[(run_id, *top[run_id])][0], latest)
        if old is None:
            if flags != (False, True):
                out[key] = flags
        elif old != flags:
            changed.append({"r": run_id, "g": key[1], "t": key[2], "o": flags[0], "l": flags[1]})
    if changed:
        update = sa.update(segments).where(
            s.run_id == sa.bindparam("r"), s.segment == sa.bindparam("g"), s.start_time == sa.bindparam("t")
        )
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
