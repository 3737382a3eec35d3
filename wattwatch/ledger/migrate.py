"""The ledger's schema: created on first use, checked at every open, migrated forward, never backward.

:func:`ensure_schema` runs in one transaction that holds the database's write lock (SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: a transaction-level advisory lock), so 32 processes opening a new database at once create it once:

- no ``wattwatch_schema`` table: the tables, their indexes and the ``ledger_rows`` view are created at
  :data:`~wattwatch.ledger.schema.SCHEMA_VERSION`;
- an older version: each migration from it up to this version runs in order (:data:`MIGRATIONS`: version ``v``
  -> the function taking the database from ``v`` to ``v + 1``), then the version is recorded;
- a newer version (a newer wattwatch wrote it): :class:`~wattwatch.ledger.urls.LedgerError` saying to upgrade
  wattwatch; nothing is written to a schema this version does not know.

After migrations the view ``ledger_rows`` is created again (PostgreSQL expands its ``*`` when it is created).

Migrations (in place, in the one transaction: a failure leaves the ledger as it was):

- **1 -> 2** (issue 24's figures, :func:`to_v2`): the columns ``segments.requests``, ``generated_tokens``,
  ``inference_energy_kwh``, ``overlaps_run_id``, ``overlap_energy_kwh``, ``other_group``, ``latest`` and
  ``segment_details.request_phases`` are added and filled from what version 1 kept of them in ``extra`` (JSON);
  ``train_energy_kwh`` is computed again by issue 24's rule (``train``, else ``(unphased)``, else the row's);
  ``latest`` is set on each run's highest segment, ``other_group`` on the earlier segments whose project, user,
  month, host or job differ from their run's latest segment's; the indexes of
  :data:`~wattwatch.ledger.schema.SEGMENT_INDEXES` are made. Cost: the rows whose ``extra`` holds a request
  count, request phases or an overlap are read in Python (few: inference runs, overlapping runs); the rest is
  done by SQL statements.
- **2 -> 3** (issue 28, :func:`to_v3`): a segment's key becomes ``(run_id, segment, start_time)`` in
  ``segments``, ``segment_details``, ``phases`` and ``devices`` (``report PATH``'s segment: two retries resumed
  from one checkpoint are two). A key cannot be altered in SQLite, so each of the four tables is rebuilt, on
  both databases alike (:func:`_rebuild`): renamed ``<name>_v2``, created again with its key and indexes, its rows
  copied by one ``INSERT ... SELECT`` -- ``segment_details``, ``phases`` and ``devices`` take ``start_time`` from
  their segment's row --, then dropped. Version 2 held one segment per ``(run_id, segment)``, so every row keeps
  its place and ``latest`` its value; :func:`mark_latest` computes both flags again by version 3's rule all the
  same (the highest ``segment``, then the latest ``start_time``). Indexes a team added to these tables by hand
  go with the old tables: make them again. Cost: every row of the four tables is copied once (all by SQL).
  On SQLite, ``group_sums`` and its triggers are made and filled (:mod:`.group_sums`; one ``GROUP BY`` per
  ``--by`` dimension), as for a new ledger.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from wattwatch.ledger import group_sums
from wattwatch.ledger.engine import writer
from wattwatch.ledger.schema import (
    _COMPACT,
    GROUP_KEYS,
    METADATA,
    SCHEMA_VERSION,
    SEGMENT_INDEXES,
    VIEW_SQL,
    _text,
    details,
    devices,
    phases,
    schema_table,
    segments,
)
from wattwatch.ledger.urls import LedgerError
from wattwatch.measure.figures import inference_energy_kwh

__all__ = ["MIGRATIONS", "Migration", "ensure_schema", "mark_latest", "schema_version", "to_v2", "to_v3"]

Migration = Callable[[sa.Connection], None]

_V2_SEGMENTS = (
    "requests", "generated_tokens", "inference_energy_kwh", "overlaps_run_id", "overlap_energy_kwh", "other_group",
    "latest",
)  # fmt: skip
_V2_DEFAULTS: dict[str, str] = {
    "requests": "null", "generated_tokens": "null", "request_phases": '""', "overlaps_run_id": '""',
    "overlap_energy_kwh": "null",
}  # fmt: skip
"""The columns version 2 took out of ``extra``, and their empty values as version 1 wrote them there (compact
JSON)."""


def _add_column(conn: sa.Connection, table: sa.Table, name: str) -> None:
    column = table.c[name]
    kind = column.type.compile(dialect=conn.dialect)
    default = ""
    if column.server_default is not None:
        arg = column.server_default.arg  # type: ignore[attr-defined]
        value = arg if isinstance(arg, str) else str(arg.compile(dialect=conn.dialect))
        default = f" DEFAULT {value}" if value.isidentifier() or value.lstrip("-").isdigit() else f" DEFAULT '{value}'"
    null = "" if column.nullable else " NOT NULL"
    conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}{default}{null}")


def _number(value: object, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return kind(value)


def _moved_values(conn: sa.Connection) -> None:
    """The rows whose ``extra`` holds a moved column with a value: the value into its column (J/request's
    energy computed from the segment's phases), the key out of ``extra``."""
    d, s, p = details.c, segments.c, phases.c
    holds = sa.or_(
        *(sa.and_(d.extra.like(f'%"{k}":%'), d.extra.notlike(f'%"{k}":{v}%')) for k, v in _V2_DEFAULTS.items())
    )
    after: tuple[str, int] = ("", -1)
    while True:
        query = (
            sa.select(d.run_id, d.segment, d.extra)
            .where(holds, sa.tuple_(d.run_id, d.segment) > sa.tuple_(sa.literal(after[0]), sa.literal(after[1])))
            .order_by(d.run_id, d.segment)
            .limit(1000)
        )
        chunk = conn.execute(query).all()
        if not chunk:
            return
        after = (chunk[-1][0], int(chunk[-1][1]))
        phase_kwh: dict[tuple[str, int], dict[str, float]] = {}
        ids = sorted({r for r, _, _ in chunk})
        for r, g, name, kwh in conn.execute(sa.select(p.run_id, p.segment, p.phase, p.energy_kwh).where(p.run_id.in_(ids))):
            phase_kwh.setdefault((r, int(g)), {})[name] = float(kwh)
        seg_rows, det_rows = [], []
        for run_id, segment, text in chunk:
            try:
                extra = json.loads(text)
            except ValueError:
                continue
            if not isinstance(extra, dict):
                continue
            phases_of = _text(str(extra.get("request_phases") or ""))
            seg_rows.append({
                "r": run_id, "g": segment, "v_requests": _number(extra.get("requests"), int),
                "v_generated_tokens": _number(extra.get("generated_tokens"), int),
                "v_inference_energy_kwh": inference_energy_kwh(phase_kwh.get((run_id, int(segment)), {}), phases_of),
                "v_overlaps_run_id": _text(str(extra.get("overlaps_run_id") or "")),
                "v_overlap_energy_kwh": _number(extra.get("overlap_energy_kwh"), float),
            })  # fmt: skip
            rest = {k: v for k, v in extra.items() if k not in _V2_DEFAULTS}
            det_rows.append({"r": run_id, "g": segment, "v_phases": phases_of,
                             "v_extra": json.dumps(rest, sort_keys=True, separators=_COMPACT) if rest else "{}"})  # fmt: skip
        key = sa.and_(s.run_id == sa.bindparam("r"), s.segment == sa.bindparam("g"))
        if seg_rows:
            values: dict[str, Any] = {n: sa.bindparam(f"v_{n}") for n in _V2_SEGMENTS[:5]}
            conn.execute(sa.update(segments).where(key).values(values), seg_rows)
            dkey = sa.and_(d.run_id == sa.bindparam("r"), d.segment == sa.bindparam("g"))
            conn.execute(
                sa.update(details).where(dkey).values(request_phases=sa.bindparam("v_phases"), extra=sa.bindparam("v_extra")),
                det_rows,
            )


def _strip_defaults(conn: sa.Connection) -> None:
    """Take the moved columns' empty values out of every other row's ``extra`` (compact JSON, as version 1 wrote
    it: ``,"k":v`` inside or at the end, ``"k":v,`` first, ``{"k":v}`` alone -- a quote inside a JSON string is
    escaped, so these never match inside a value)."""
    d = details.c
    expr: sa.ColumnElement[Any] = d.extra
    for k, v in _V2_DEFAULTS.items():
        pair = f'"{k}":{v}'
        expr = sa.func.replace(sa.func.replace(sa.func.replace(expr, f",{pair}", ""), f"{pair},", ""), f"{{{pair}}}", "{}")
    some = sa.or_(*(d.extra.like(f'%"{k}":%') for k in _V2_DEFAULTS))
    conn.execute(sa.update(details).where(some).values(extra=expr))


def _bytewise(conn: sa.Connection, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """``column`` compared by code point, as Python compares text (PostgreSQL's default collation may follow a
    locale; SQLite's compares bytes already)."""
    return sa.collate(column, "C") if conn.dialect.name == "postgresql" else column


def mark_latest(conn: sa.Connection) -> None:
    """Set ``segments.latest`` on each run's latest segment -- the highest ``segment``, then the latest
    ``start_time`` (:func:`wattwatch.report.segments.segment_order`; ``(segment, start_time)`` is unique within a
    run) -- and clear it on the others, then ``other_group`` on the earlier segments whose group keys differ from
    their run's latest segment's (and off everywhere else). Only the rows whose flags change are written."""
    s, later = segments.c, segments.alias("later")
    after = sa.or_(
        later.c.segment > s.segment,
        sa.and_(later.c.segment == s.segment, _bytewise(conn, later.c.start_time) > s.start_time),
    )
    is_latest = ~sa.exists().where(later.c.run_id == s.run_id, after)
    conn.execute(sa.update(segments).where(s.latest != is_latest).values(latest=is_latest))
    run_latest = segments.alias("run_latest")
    differs = sa.or_(*(run_latest.c[k] != s[k] for k in GROUP_KEYS))
    other = sa.exists().where(run_latest.c.run_id == s.run_id, run_latest.c.latest == sa.true(), differs)
    is_other = sa.and_(s.latest == sa.false(), other)
    wrong = sa.or_(s.other_group == sa.true(), s.latest == sa.false())
    conn.execute(sa.update(segments).where(wrong, s.other_group != is_other).values(other_group=is_other))


def to_v2(conn: sa.Connection) -> None:
    """Version 1 -> 2 (see the module's docstring)."""
    conn.exec_driver_sql("DROP VIEW IF EXISTS ledger_rows")
    for name in _V2_SEGMENTS:
        _add_column(conn, segments, name)
    _add_column(conn, details, "request_phases")
    conn.exec_driver_sql("DROP INDEX IF EXISTS segments_status")
    for index in SEGMENT_INDEXES:
        index.create(conn, checkfirst=True)
    _moved_values(conn)
    _strip_defaults(conn)
    conn.exec_driver_sql(
        "UPDATE segments SET train_energy_kwh = coalesce("
        "(SELECT p.energy_kwh FROM phases p WHERE p.run_id = segments.run_id AND p.segment = segments.segment"
        " AND p.phase = 'train'), "
        "(SELECT p.energy_kwh FROM phases p WHERE p.run_id = segments.run_id AND p.segment = segments.segment"
        " AND p.phase = '(unphased)'), energy_consumed) "
        "WHERE (run_id, segment) IN (SELECT run_id, segment FROM phases WHERE phase = '(unphased)'"
        " OR (phase = 'train' AND energy_kwh <= 0))"
    )
    mark_latest(conn)


def _rebuild(conn: sa.Connection, table: sa.Table) -> None:
    """``table`` made again at version 3 with its rows: the version-2 table renamed ``<name>_v2`` (its indexes
    dropped first, their names being the new table's; PostgreSQL's key constraint renamed for the same reason),
    the new one created with its key and indexes, the rows copied -- ``start_time`` from the segment's row in
    ``segments_v2`` (``""`` where there is none) --, the old table dropped."""
    old = f"{table.name}_v2"
    for index in table.indexes:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {index.name}")
    conn.exec_driver_sql(f"ALTER TABLE {table.name} RENAME TO {old}")
    if conn.dialect.name == "postgresql":
        key = sa.inspect(conn).get_pk_constraint(old).get("name")
        if key:
            conn.exec_driver_sql(f'ALTER TABLE {old} RENAME CONSTRAINT "{key}" TO "{old}_pkey"')
    table.create(conn)
    had = {c["name"] for c in sa.inspect(conn).get_columns(old)}
    names = [c.name for c in table.columns if c.name in had or c.name == "start_time"]
    source = sa.table(old, *(sa.column(n) for n in had))
    if "start_time" in had:  # segments: the key's start is the row's own
        query = sa.select(*(source.c[n] for n in names))
    else:
        seg = sa.table("segments_v2", sa.column("run_id"), sa.column("segment"), sa.column("start_time"))
        on = sa.and_(seg.c.run_id == source.c.run_id, seg.c.segment == source.c.segment)
        start = sa.func.coalesce(seg.c.start_time, "").label("start_time")
        query = sa.select(*(start if n == "start_time" else source.c[n] for n in names)).select_from(
            source.outerjoin(seg, on)
        )
    conn.execute(sa.insert(table).from_select(names, query))


def to_v3(conn: sa.Connection) -> None:
    """Version 2 -> 3 (see the module's docstring)."""
    conn.exec_driver_sql("DROP VIEW IF EXISTS ledger_rows")
    for table in (segments, details, phases, devices):
        _rebuild(conn, table)
    for table in (devices, phases, details, segments):
        conn.exec_driver_sql(f"DROP TABLE {table.name}_v2")
    mark_latest(conn)
    group_sums.install(conn)


MIGRATIONS: dict[int, Migration] = {1: to_v2, 2: to_v3}
"""Forward migrations: ``MIGRATIONS[v]`` takes a database at version ``v`` to ``v + 1``."""

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
    on_migrate: Callable[[int, int], None] | None = None,
) -> int:
    """Make the database at ``engine`` a ledger at ``version`` (see the module's docstring); returns the version
    it had before (0 for a new one). ``where`` names the database in the newer-schema error; ``on_migrate(found,
    version)`` is called before an older ledger is migrated (the CLI says so: a large one takes minutes). A ledger
    already at ``version`` is only read (a read-only SQLite file can be reported)."""
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
            group_sums.install(conn)
            conn.exec_driver_sql(VIEW_SQL)
            _record(conn, version)
            return 0
        if found > version:
            raise _newer(where, found, version)
        if found < version:
            if on_migrate is not None:
                on_migrate(found, version)
            for step in range(found, version):
                if step not in migrations:
                    raise LedgerError(f"no migration from ledger schema version {step} to {step + 1}")
                migrations[step](conn)
            conn.exec_driver_sql("DROP VIEW IF EXISTS ledger_rows")
            conn.exec_driver_sql(VIEW_SQL)
            _record(conn, version)
        return found
