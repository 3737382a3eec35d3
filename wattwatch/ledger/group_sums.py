"""SQLite's running sums of ``segments`` per ``--by`` group, kept by triggers (issue 28: ``report --db --by``
over a million runs in at most 3 s).

SQLite groups by sorting: ``--by`` over 1,100,000 segments sorted every segment's 13 summed values by its group
(1.6-1.9 s of CPU of the 2.3-3.6 s command), where PostgreSQL hashes them in parallel. So a SQLite ledger keeps,
in ``group_sums``, each group's sums of its segments as they are (every segment under its *own* key, exactly what
``SELECT key, sum(...) FROM segments GROUP BY key`` gives), one row per ``(dimension, key)`` -- about as many rows
as groups (20 projects, 125,000 Slurm jobs) -- and ``report --db --by`` reads them instead of grouping the
segments (:mod:`.query` adds the same few corrections as before: moved earlier segments, overlaps).

Kept by the database itself: triggers after every ``INSERT``, ``UPDATE`` and ``DELETE`` on ``segments`` take the
old row's values off its groups and add the new row's to its groups, in the statement's own transaction -- so the
sums follow every write whoever makes it (a push, a tracker's ``stop()``, the ``latest`` flags a push moves, a
migration, a hand-made ``DELETE``), and a write that fails leaves them as they were. Each segment written costs
5 more upserts into a small table (:data:`PUSH_COST_NOTE`).

:func:`install` creates the table, fills it from ``segments`` (one ``GROUP BY`` per dimension) and creates the
triggers, on SQLite only (a new ledger, and the migration to schema 3); PostgreSQL has none and groups the
segments (:func:`present` says which). Sums are in the ``segments`` columns' units (kWh, kg, s, L); counts are
integers.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from wattwatch.ledger.schema import GROUP_KEYS, segments

__all__ = ["BY", "COLUMNS", "COUNTS", "PUSH_COST_NOTE", "SUMS", "as_integer", "segment_sums", "TABLE", "TRIGGERS", "group_sums", "install", "present"]

BY = {"project": "project_name", "user": "user_name", "month": "month", "host": "hostname", "job": "job_key"}
"""``--by`` choices and the ``segments`` column each groups by (the run's latest segment's)."""
assert tuple(BY.values()) == GROUP_KEYS

TABLE = "group_sums"

SUMS = (
    ("duration_s", "duration"),
    ("gpu_energy_kwh", "gpu_energy"),
    ("cpu_energy_kwh", "cpu_energy"),
    ("ram_energy_kwh", "ram_energy"),
    ("energy_kwh", "energy_consumed"),
    ("emissions_kg", "emissions"),
    ("embodied_emissions_kg", "embodied_emissions"),
    ("water_l", "water_consumed"),
)
"""The plain sums: ``(key in the report's dict and column here, segments column)`` (also the totals' and each
run's, :mod:`.query`, :mod:`.runlist`)."""


def _contribution(row: str) -> dict[str, str]:
    """What one segment adds to its groups, as SQL over the trigger's ``row`` (``NEW`` or ``OLD``)."""
    out = {"segments": "1", "runs": f"CASE WHEN {row}.latest THEN 1 ELSE 0 END"}
    out.update({name: f"{row}.{col}" for name, col in SUMS})
    out["energy_low_kwh"] = f"COALESCE({row}.energy_low_kwh, 0.0)"
    out["with_low"] = f"CASE WHEN {row}.energy_low_kwh IS NULL THEN 0 ELSE 1 END"
    out["energy_high_kwh"] = f"COALESCE({row}.energy_high_kwh, 0.0)"
    out["with_high"] = f"CASE WHEN {row}.energy_high_kwh IS NULL THEN 0 ELSE 1 END"
    out["embodied_computed"] = f"CASE WHEN {row}.embodied_computed THEN 1 ELSE 0 END"
    return out


COLUMNS: tuple[str, ...] = tuple(_contribution("r"))
"""The summed columns of ``group_sums`` (the report's names; counts: ``segments``, ``runs``, ``with_low``,
``with_high``, ``embodied_computed``)."""
COUNTS = frozenset({"segments", "runs", "with_low", "with_high", "embodied_computed"})
"""The summed columns that count: integers (:func:`as_integer`)."""

group_sums = sa.Table(
    TABLE,
    sa.MetaData(),  # not the ledger's METADATA: PostgreSQL has no such table
    sa.Column("dimension", sa.String, primary_key=True),
    sa.Column("key", sa.String, primary_key=True),
    *(sa.Column(c, sa.Integer if c in COUNTS else sa.Double, nullable=False) for c in COLUMNS),
    sqlite_with_rowid=False,
)
"""One row per ``(dimension, key)``: ``dimension`` a key of :data:`BY`, ``key`` the group's value."""


def segment_sums(s: Any, *, sign: int = 1) -> list[sa.ColumnElement[Any]]:
    """The sums of the segments ``s`` (``segments``' columns, a table's or an alias's), labelled with
    :data:`COLUMNS`' names and ``overlap_kwh`` (0 here): one branch of :mod:`.query`'s statements, and what
    :func:`install` fills ``group_sums`` with; ``sign`` -1: their sums taken off."""

    def signed(value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return value if sign == 1 else -value

    return [
        signed(as_integer(sa.func.count())).label("segments"),
        signed(as_integer(sa.func.coalesce(sa.func.sum(sa.case((s.latest, 1), else_=0)), 0))).label("runs"),
        *(signed(sa.func.coalesce(sa.func.sum(s[col]), 0.0)).label(key) for key, col in SUMS),
        signed(sa.func.sum(s.energy_low_kwh)).label("energy_low_kwh"),
        signed(as_integer(sa.func.count(s.energy_low_kwh))).label("with_low"),
        signed(sa.func.sum(s.energy_high_kwh)).label("energy_high_kwh"),
        signed(as_integer(sa.func.count(s.energy_high_kwh))).label("with_high"),
        signed(as_integer(sa.func.coalesce(sa.func.sum(sa.case((s.embodied_computed, 1), else_=0)), 0))).label(
            "embodied_computed"
        ),
        sa.literal(0.0, sa.Double).label("overlap_kwh"),
    ]


def as_integer(value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A count as a 32-bit integer: PostgreSQL sums ``integer`` into ``bigint``, but ``bigint`` (what ``count``
    gives) into ``numeric``, whose arithmetic is several times slower -- the sums of sums over 125,000 groups of
    ``--by job`` spent a fifth of their time there. A group of more than 2**31 segments is out of reach."""
    return sa.cast(value, sa.Integer)


def _upserts(row: str, sign: str) -> str:
    """The statements adding (``sign`` ``+``) or taking off (``-``) the trigger's ``row`` in each dimension."""
    values = _contribution(row)
    names = ", ".join(COLUMNS)
    added = ", ".join(f"{sign}({values[c]})" for c in COLUMNS)
    update = ", ".join(f"{c} = {c} + excluded.{c}" for c in COLUMNS)
    return "".join(
        f"INSERT INTO {TABLE} (dimension, key, {names}) VALUES ('{dim}', {row}.{col}, {added}) "
        f"ON CONFLICT (dimension, key) DO UPDATE SET {update};\n"
        for dim, col in BY.items()
    )


_READ = (*GROUP_KEYS, "latest", "embodied_computed", *(c for _, c in SUMS), "energy_low_kwh", "energy_high_kwh")
"""The ``segments`` columns the sums read: an ``UPDATE`` that sets none of them leaves the sums alone."""

TRIGGERS: dict[str, str] = {
    f"{TABLE}_insert": f"AFTER INSERT ON segments BEGIN\n{_upserts('NEW', '+')}END",
    f"{TABLE}_delete": f"AFTER DELETE ON segments BEGIN\n{_upserts('OLD', '-')}END",
    f"{TABLE}_update": f"AFTER UPDATE OF {', '.join(_READ)} ON segments BEGIN\n{_upserts('OLD', '-')}{_upserts('NEW', '+')}END",
}
"""The triggers that keep ``group_sums`` (name -> the ``CREATE TRIGGER`` statement's body)."""

PUSH_COST_NOTE = "5 upserts per segment written (one per dimension), 10 for an update"


def install(conn: sa.Connection) -> None:
    """Create ``group_sums`` (again), fill it from ``segments`` and create its triggers; nothing on PostgreSQL.
    Runs in the caller's transaction (the schema's creation or migration)."""
    if conn.dialect.name != "sqlite":
        return
    for name in TRIGGERS:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    group_sums.drop(conn, checkfirst=True)
    group_sums.create(conn)
    s = segments.c
    band = {"energy_low_kwh", "energy_high_kwh"}  # NULL where no segment of the group has one: 0 here
    sums = [sa.func.coalesce(c, 0.0).label(c.name) if c.name in band else c for c in segment_sums(s)[:-1]]
    for dim, col in BY.items():
        query = sa.select(sa.literal(dim).label("dimension"), s[col].label("key"), *sums).group_by(s[col])
        conn.execute(sa.insert(group_sums).from_select(["dimension", "key", *COLUMNS], query))
    for name, body in TRIGGERS.items():
        conn.exec_driver_sql(f"CREATE TRIGGER {name} {body}")


def present(conn: sa.Connection) -> bool:
    """Whether this database keeps ``group_sums`` (a SQLite ledger at schema 3 with all its triggers; a
    read-only older file that was not migrated has none: its report groups the segments)."""
    if conn.dialect.name != "sqlite":
        return False
    names = [TABLE, *TRIGGERS]
    found = conn.exec_driver_sql(
        f"SELECT count(*) FROM sqlite_master WHERE name IN ({', '.join('?' * len(names))})", tuple(names)
    ).scalar()
    return found == len(names)
