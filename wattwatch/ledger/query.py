"""``wattwatch report --db``'s totals and groups, aggregated by the database, under ``wattwatch report PATH``'s
rules (issue 24: one run, one line):

- **a run counts once**, however many segments it has: ``runs`` counts each run's latest segment
  (``segments.latest``, kept by every push), ``by_status`` counts runs by their latest segment's status;
- **its figures are all its segments'**: energies, CO2, water, durations, error bands add up over the segments;
- **its group is its latest segment's** (``--by project|user|month|host|job``, and ``--project``): every
  segment is summed under its own key, then the few earlier segments whose key is not their run's
  (``other_group``, kept by every push: a resumed run that crossed a month, say) are moved to their run's group;
- **energy two runs measured at once counts once**: a segment with ``overlaps_run_id`` and
  ``overlap_energy_kwh`` (another run measured the same machine meanwhile) has that energy -- at most its own
  -- taken off when the other run is counted too (in the same ``--project``), with its components, CO2 and
  water in the segment's own proportions; ``overlap_kwh`` says how much
  (:meth:`wattwatch.report.groups.RunGroups.take_off_overlaps` is the files' side of the same rule).

Each figure is one statement over one scan of ``segments``, so a million runs are summed by the database
without a row reaching Python: the totals are the sums of the segments ``UNION ALL`` the (negative) sums of the
overlaps (found through a partial index), summed again; the groups are the segments' sums per group (a plain
``GROUP BY``) joined to the corrections of the few groups that have some (moved segments, overlaps). :func:`totals` is the dict ``wattwatch report PATH --json`` prints (same keys and meaning; also
``segments``, ``run_ids`` and ``embodied_computed``: embodied CO2 computed at push time for rows that predate
the column, as report computes it), :func:`groups` and :func:`top_groups` the same per group.

Units: kWh (PUE applied), kg CO2eq, s, L.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from wattwatch.ledger import group_sums
from wattwatch.ledger.group_sums import BY, COUNTS, SUMS, as_integer, segment_sums
from wattwatch.ledger.schema import LATEST, OTHER_GROUP, OVERLAPPING, runs, segments

__all__ = [
    "BY", "REPORT_WORK_MEM", "SUMS", "GroupRow", "GroupSums", "by_status", "groups", "in_project", "overlap_share", "overlapping",
    "top_groups", "totals", "tune",
]  # fmt: skip

REPORT_WORK_MEM = "64MB"
"""PostgreSQL's ``work_mem`` for ``report --db``'s session: the groups of a million segments sorted or hashed in
memory (the server's; this process's memory is unchanged)."""


_OVERLAP_TAKES = {"gpu_energy_kwh", "cpu_energy_kwh", "ram_energy_kwh", "energy_kwh", "emissions_kg", "water_l"}
"""The figures an overlap is taken off (the files' rule); duration and embodied CO2 stay whole."""

_NAMES = (
    "segments", "runs", *(k for k, _ in SUMS), "energy_low_kwh", "with_low", "energy_high_kwh", "with_high",
    "embodied_computed", "overlap_kwh",
)  # fmt: skip
"""The columns of every branch, in order (all of them re-summable)."""


Columns = ReadOnlyColumnCollection[str, Any]
"""``segments``' columns, or an alias's."""


def in_project(project: str, s: Columns = segments.c) -> sa.ColumnElement[bool]:
    """Segments ``s`` of runs of ``project``: a run's project is its latest segment's (an earlier segment is
    checked through its run's latest one: rare, and only with ``--project``)."""
    latest = segments.alias("run_latest")
    return sa.or_(
        sa.and_(s.latest == sa.true(), s.project_name == project),
        sa.and_(
            s.latest == sa.false(),
            sa.exists().where(
                latest.c.run_id == s.run_id, latest.c.latest == sa.true(), latest.c.project_name == project
            ),
        ),
    )


def _resum(column: sa.ColumnElement[Any], name: str) -> sa.ColumnElement[Any]:
    """``sum(column)`` of a branch's column ``name`` (a count stays an integer:
    :func:`~wattwatch.ledger.group_sums.as_integer`)."""
    total = sa.func.sum(column)
    return as_integer(total) if name in COUNTS else total


def overlap_share(s: Columns = segments.c) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]:
    """A segment's energy counted twice (kWh: its ``overlap_energy_kwh``, at most its energy) and its share of the
    segment's figures (taken off them; for the segments :func:`overlapping` selects)."""
    taken = sa.case((s.overlap_energy_kwh < s.energy_consumed, s.overlap_energy_kwh), else_=s.energy_consumed)
    return taken, taken / s.energy_consumed


def _overlap_sums(s: Columns = segments.c) -> list[sa.ColumnElement[Any]]:
    """The branch of the overlaps: the energy counted twice, and its share of each figure, negative."""
    taken, share = overlap_share(s)
    zero, none = sa.literal(0.0, sa.Double), sa.null().cast(sa.Double)
    sums: list[sa.ColumnElement[Any]] = [sa.literal(0).label("segments"), sa.literal(0).label("runs")]
    for key, col in SUMS:
        sums.append((-sa.func.sum(s[col] * share) if key in _OVERLAP_TAKES else zero).label(key))
    return sums + [
        none.label("energy_low_kwh"), sa.literal(0).label("with_low"), none.label("energy_high_kwh"),
        sa.literal(0).label("with_high"), sa.literal(0).label("embodied_computed"),
        sa.func.sum(taken).label("overlap_kwh"),
    ]  # fmt: skip


def overlapping(project: str | None) -> list[sa.ColumnElement[bool]]:
    """Conditions on ``segments``: an overlap with another run that is counted too (in ``project``)."""
    s = segments.c
    other = segments.alias("other_run")
    target = [other.c.run_id == s.overlaps_run_id]
    if project is not None:
        target += [other.c.latest == sa.true(), other.c.project_name == project]
    out = [OVERLAPPING, s.overlaps_run_id != "", s.energy_consumed > 0, sa.exists().where(*target)]
    return out + ([in_project(project)] if project is not None else [])


def _totals_query(project: str | None) -> sa.Select[Any]:
    where = [in_project(project)] if project is not None else []
    main = sa.select(*segment_sums(segments.c)).where(*where)
    over = sa.select(*_overlap_sums()).where(*overlapping(project))
    u = sa.union_all(main, over).subquery()
    return sa.select(*(_resum(u.c[n], n).label(n) for n in _NAMES))


def _grouped(by: str, project: str | None, *, summed: bool = False) -> sa.Subquery:
    """Per key of ``by``: every segment's sums under its own key (one scan, as ``totals``: the plan of a plain
    ``GROUP BY``, parallel on PostgreSQL), then the corrections of the few groups that need one -- the figures of
    earlier segments in another group than their run's (``other_group``, found through its partial index) moved
    to their run's group, and the overlaps taken off their run's group -- added per group (a second ``GROUP BY``
    over the groups, not the segments; a join there let SQLite scan the corrections once per group).

    ``summed``: the first part -- every segment's sums under its own key -- is read from SQLite's
    ``group_sums`` (:mod:`.group_sums`: the same sums, kept by triggers) instead of grouping the segments; only
    without ``project`` (those sums are over every segment)."""
    s, latest = segments.c, segments.alias("run_latest")
    column = BY[by]
    where = [in_project(project)] if project is not None else []
    if summed and project is None:
        t = group_sums.group_sums.c
        kept = [t[n].label(n) for n in group_sums.COLUMNS] + [sa.literal(0.0, sa.Double).label("overlap_kwh")]
        mine = sa.select(t.key.label("key"), *kept).where(t.dimension == by).subquery()
    else:
        mine = sa.select(s[column].label("key"), *segment_sums(s)).where(*where).group_by(s[column]).subquery()
    # the run's key, looked up by primary key for each of the few rows (a join would let a planner hash every
    # latest segment: a second full scan)
    theirs = sa.select(latest.c[column]).where(latest.c.run_id == s.run_id, latest.c.latest == sa.true())
    theirs_key = sa.func.coalesce(theirs.scalar_subquery(), "")
    keyed = sa.select(theirs_key.label("run_key"), s[column].label("own_key"), *segments.c)
    moving = keyed.where(OTHER_GROUP, *where).subquery()
    pairs = (
        sa.select(moving.c.run_key, moving.c.own_key, *segment_sums(moving.c))
        .where(moving.c.run_key != moving.c.own_key)
        .group_by(moving.c.run_key, moving.c.own_key)
        .cte("moved")  # once, then added to the run's group and taken off its own
    )
    over = sa.select(theirs_key.label("key"), *segments.c).where(*overlapping(project)).subquery()
    parts = [
        sa.select(pairs.c.run_key.label("key"), *(pairs.c[n] for n in _NAMES)),
        sa.select(pairs.c.own_key.label("key"), *(-pairs.c[n] for n in _NAMES)),
        sa.select(over.c.key, *_overlap_sums(over.c)).group_by(over.c.key),
    ]
    u = sa.union_all(sa.select(mine), *parts).subquery()
    sums = [_resum(u.c[n], n).label(n) for n in _NAMES]
    left = sa.func.sum(u.c.segments) > 0  # a group all of whose segments moved: gone
    return sa.select(u.c.key, *sums).group_by(u.c.key).having(left).subquery()


def tune(conn: sa.Connection) -> None:
    """Set up PostgreSQL's session for the report's few large statements: :data:`REPORT_WORK_MEM` of sort and
    hash memory (its default, 4 MB, sorts a million segments by job on disk), and no JIT compilation (its
    default above a plan cost these statements reach: compiling the ~100 expressions of ``--by``'s sums took
    140 ms of a 1.1 s statement, more than it saved). Nothing on SQLite."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET work_mem = '{REPORT_WORK_MEM}'")
        conn.exec_driver_sql("SET jit = off")


class _Row:
    """A mapping in the shape of a row of the branches' sums, for :func:`_figures`."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._mapping = values


def _figures(row: sa.Row[Any] | _Row) -> dict[str, Any]:
    """A row of the branches' sums as the report's totals dict (without ``by_status``)."""
    m = row._mapping
    out: dict[str, Any] = {"runs": int(m["runs"] or 0), "segments": int(m["segments"] or 0)}
    for key, _ in SUMS:
        out[key] = float(m[key] or 0.0)
    n = out["segments"]
    out["energy_low_kwh"] = float(m["energy_low_kwh"]) if n and m["with_low"] == n else None
    out["energy_high_kwh"] = float(m["energy_high_kwh"]) if n and m["with_high"] == n else None
    out["overlap_kwh"] = float(m["overlap_kwh"] or 0.0)
    energy, kg = out["energy_kwh"], out["emissions_kg"]
    out["intensity_g_per_kwh"] = kg * 1000.0 / energy if energy > 0 else None
    out["embodied_computed"] = int(m["embodied_computed"] or 0)
    return out


def totals(conn: sa.Connection, *, project: str | None = None) -> dict[str, Any]:
    """``wattwatch report``'s totals over every run in the ledger (of ``project``; see the module's docstring):
    ``runs`` (each once), ``by_status`` (by the latest segment), seconds, kWh by component and in total, kg
    CO2eq operational and embodied, water, ``overlap_kwh`` (measured twice, counted once), the error band
    (``None`` when a segment has none) and the mean intensity; ``segments``, ``run_ids`` (rows of ``runs``) and
    ``embodied_computed`` besides."""
    out = _figures(conn.execute(_totals_query(project)).one())
    out["by_status"] = by_status(conn, project=project)
    ids = sa.select(sa.func.count()).select_from(runs)
    if project is not None:
        ids = ids.where(runs.c.project_name == project)
    out["run_ids"] = int(conn.execute(ids).scalar() or 0)
    return out


def by_status(conn: sa.Connection, *, project: str | None = None) -> dict[str, int]:
    """Runs per status (their latest segment's), read from the index on ``(status, latest)`` alone."""
    status = sa.select(segments.c.status, sa.func.count()).where(LATEST).group_by(segments.c.status)
    if project is not None:
        status = status.where(segments.c.project_name == project)
    return {str(k): int(v) for k, v in conn.execute(status)}


@dataclass
class GroupRow:
    """One group of ``--by``: its key (``""``: none recorded) and its figures (keys of :func:`totals`)."""

    key: str
    figures: dict[str, Any]


def groups(conn: sa.Connection, by: str, *, project: str | None = None) -> Iterator[GroupRow]:
    """The totals per ``by`` (a key of :data:`BY`), largest operational CO2 first, streamed (a server-side
    cursor on PostgreSQL: a ledger with 125,000 Slurm jobs is never held whole)."""
    g = _grouped(by, project, summed=project is None and group_sums.present(conn))
    query = sa.select(g).order_by(sa.desc(g.c.emissions_kg), g.c.key)
    for row in conn.execution_options(yield_per=2000).execute(query):
        yield GroupRow(str(row._mapping["key"] or ""), _figures(row))


def top_groups(
    conn: sa.Connection, by: str, limit: int, *, project: str | None = None
) -> tuple[list[GroupRow], int, dict[str, Any]]:
    """The ``limit`` groups with the most operational CO2, how many groups there are, and the totals over all of
    them -- one statement: the database sums the groups' sums and counts them with window functions over the
    grouped rows, so no group beyond the ``limit`` reaches Python (and PostgreSQL may scan in parallel, which it
    never does for a cursor)."""
    g = _grouped(by, project, summed=project is None and group_sums.present(conn))
    windows = [sa.func.sum(g.c[n]).over().label(f"all_{n}") for n in _NAMES]  # counts: bigint (as integers)
    query = (
        sa.select(g, sa.func.count().over().label("groups_total"), *windows)
        .order_by(sa.desc(g.c.emissions_kg), g.c.key)
        .limit(max(limit, 1))
    )
    rows = conn.execute(query).all()
    top = [GroupRow(str(r._mapping["key"] or ""), _figures(r)) for r in rows[:limit]]
    if not rows:
        return [], 0, _figures(conn.execute(_totals_query(project)).one())
    m = rows[0]._mapping
    return top, int(m["groups_total"]), _figures(_Row({n: m[f"all_{n}"] for n in _NAMES}))


class GroupSums:
    """The totals of groups given one at a time (exactly rounded sums of the groups' sums: :func:`math.fsum`)."""

    def __init__(self) -> None:
        self.count = 0
        self.runs = 0
        self.segments = 0
        keys = [key for key, _ in SUMS] + ["overlap_kwh"]
        self._sums: dict[str, array[float]] = {key: array("d") for key in keys}  # 8 bytes a group
        self._bands: dict[str, array[float] | None] = {"energy_low_kwh": array("d"), "energy_high_kwh": array("d")}

    def add(self, group: GroupRow) -> GroupRow:
        f = group.figures
        self.count += 1
        self.runs += f["runs"]
        self.segments += f["segments"]
        for key, values in self._sums.items():
            values.append(f[key])
        for key, band in self._bands.items():
            if band is not None:
                if f[key] is None:
                    self._bands[key] = None
                else:
                    band.append(f[key])
        return group

    def totals(self) -> dict[str, Any]:
        out: dict[str, Any] = {"runs": self.runs, "segments": self.segments}
        for key, values in self._sums.items():
            out[key] = math.fsum(values)
        for key, band in self._bands.items():
            out[key] = None if band is None or not self.count else math.fsum(band)
        energy, kg = out["energy_kwh"], out["emissions_kg"]
        out["intensity_g_per_kwh"] = kg * 1000.0 / energy if energy > 0 else None
        return out
