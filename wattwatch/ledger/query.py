"""``wattwatch report --db``'s figures, aggregated by the database: totals, groups, the most recent runs.

Everything is one or two SQL statements over ``segments`` (the narrow table), so a million runs are summed
by the database without a row reaching Python: :func:`totals` is the dict ``wattwatch report PATH`` prints
(same keys, same meaning -- ``runs`` counts segments there as here; embodied CO2 computed at push time for rows
that predate the column, as report computes it), :func:`groups` the same sums per project, user, month, host
or job, :func:`recent_runs` the most recent runs, one line per run with its segments added up (J/token: the
run's energy over its counts).

Units: kWh (PUE applied), kg CO2eq, s, L, J per token.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from wattwatch.ledger.schema import detail_row, details, devices, phases, runs, segments

__all__ = ["BY", "GroupRow", "GroupSums", "all_runs", "top_groups", "groups", "recent_rows", "recent_runs", "totals"]

BY = {
    "project": segments.c.project_name,
    "user": segments.c.user_name,
    "month": segments.c.month,
    "host": segments.c.hostname,
    "job": segments.c.job_key,
}
"""``--by`` choices and the column each groups by."""

_SUMS = (
    ("duration_s", "duration"),
    ("gpu_energy_kwh", "gpu_energy"),
    ("cpu_energy_kwh", "cpu_energy"),
    ("ram_energy_kwh", "ram_energy"),
    ("energy_kwh", "energy_consumed"),
    ("emissions_kg", "emissions"),
    ("embodied_emissions_kg", "embodied_emissions"),
    ("water_l", "water_consumed"),
)


def _aggregates() -> list[sa.ColumnElement[Any]]:
    s = segments.c
    return [
        sa.func.count().label("segments"),
        *(sa.func.coalesce(sa.func.sum(s[col]), 0.0).label(key) for key, col in _SUMS),
        sa.func.sum(s.energy_low_kwh).label("energy_low_kwh"),
        sa.func.count(s.energy_low_kwh).label("with_low"),
        sa.func.sum(s.energy_high_kwh).label("energy_high_kwh"),
        sa.func.count(s.energy_high_kwh).label("with_high"),
        sa.func.sum(sa.case((s.embodied_computed, 1), else_=0)).label("embodied_computed"),
    ]


def _where(query: sa.Select[Any], project: str | None) -> sa.Select[Any]:
    return query.where(segments.c.project_name == project) if project is not None else query


def _figures(row: sa.Row[Any] | _Totals) -> dict[str, Any]:
    """A row of :func:`_aggregates` as the report's totals dict (without ``by_status``)."""
    m = row._mapping
    out: dict[str, Any] = {"runs": int(m["segments"])}
    for key, _ in _SUMS:
        out[key] = float(m[key] or 0.0)
    n = out["runs"]
    out["energy_low_kwh"] = float(m["energy_low_kwh"]) if n and m["with_low"] == n else None
    out["energy_high_kwh"] = float(m["energy_high_kwh"]) if n and m["with_high"] == n else None
    energy, kg = out["energy_kwh"], out["emissions_kg"]
    out["intensity_g_per_kwh"] = kg * 1000.0 / energy if energy > 0 else None
    out["embodied_computed"] = int(m["embodied_computed"] or 0)
    return out


def totals(conn: sa.Connection, *, project: str | None = None) -> dict[str, Any]:
    """``wattwatch report``'s totals over every segment in the ledger (of ``project``): ``runs`` (segments, as
    report counts them), ``by_status``, seconds, kWh by component and in total, kg CO2eq operational and
    embodied, water, the error band (``None`` when a segment has none) and the mean intensity."""
    out = _figures(conn.execute(_where(sa.select(*_aggregates()), project)).one())
    status = _where(sa.select(segments.c.status, sa.func.count()).group_by(segments.c.status), project)
    out["by_status"] = {str(k): int(v) for k, v in conn.execute(status)}
    ids = sa.select(sa.func.count()).select_from(runs)
    if project is not None:
        ids = ids.where(runs.c.project_name == project)
    out["run_ids"] = int(conn.execute(ids).scalar() or 0)
    return out


@dataclass
class GroupRow:
    """One group of ``--by``: its key (``""``: none recorded) and its figures (keys of :func:`totals`)."""

    key: str
    figures: dict[str, Any]


def groups(conn: sa.Connection, by: str, *, project: str | None = None) -> Iterator[GroupRow]:
    """The totals per ``by`` (a key of :data:`BY`), largest operational CO2 first, streamed (a server-side
    cursor on PostgreSQL: a ledger with 125,000 Slurm jobs is never held whole); one scan of ``segments``."""
    column = BY[by]
    aggregates = _aggregates()
    emissions = next(a for a in aggregates if a.name == "emissions_kg")  # type: ignore[attr-defined]
    query = _where(
        sa.select(column.label("key"), *aggregates).group_by(column).order_by(sa.desc(emissions), column), project
    )
    for row in conn.execution_options(yield_per=2000).execute(query):
        yield GroupRow(str(row._mapping["key"] or ""), _figures(row))


def top_groups(
    conn: sa.Connection, by: str, limit: int, *, project: str | None = None
) -> tuple[list[GroupRow], int, dict[str, Any]]:
    """The ``limit`` groups with the most operational CO2, how many groups there are, and the totals over all of
    them -- one statement: the database sums the groups' sums and counts them with window functions over the
    grouped rows, so no group beyond the ``limit`` reaches Python (and PostgreSQL may scan in parallel, which it
    never does for a cursor)."""
    column = BY[by]
    aggregates = _aggregates()
    names = [a.name for a in aggregates]  # type: ignore[attr-defined]
    inner = _where(sa.select(column.label("key"), *aggregates).group_by(column), project).subquery()
    windows = [sa.func.sum(inner.c[n]).over().label(f"all_{n}") for n in names]
    query = (
        sa.select(inner, sa.func.count().over().label("groups_total"), *windows)
        .order_by(sa.desc(inner.c.emissions_kg), inner.c.key)
        .limit(max(limit, 1))
    )
    rows = conn.execute(query).all()
    top = [GroupRow(str(r._mapping["key"] or ""), _figures(r)) for r in rows[:limit]]
    if not rows:
        return [], 0, _figures(conn.execute(_where(sa.select(*aggregates), project)).one())
    m = rows[0]._mapping
    return top, int(m["groups_total"]), _figures(_Totals({n: m[f"all_{n}"] for n in names}))


class _Totals:
    """A mapping in the shape of a row of :func:`_aggregates`, for :func:`_figures`."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._mapping = values


class GroupSums:
    """The totals of groups given one at a time (exactly rounded sums of the groups' sums: :func:`math.fsum`)."""

    def __init__(self) -> None:
        self.count = 0
        self.runs = 0
        self._sums: dict[str, array[float]] = {key: array("d") for key, _ in _SUMS}  # 8 bytes a group
        self._bands: dict[str, array[float] | None] = {"energy_low_kwh": array("d"), "energy_high_kwh": array("d")}

    def add(self, group: GroupRow) -> GroupRow:
        f = group.figures
        self.count += 1
        self.runs += f["runs"]
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
        out: dict[str, Any] = {"runs": self.runs}
        for key, values in self._sums.items():
            out[key] = math.fsum(values)
        for key, band in self._bands.items():
            out[key] = None if band is None or not self.count else math.fsum(band)
        energy, kg = out["energy_kwh"], out["emissions_kg"]
        out["intensity_g_per_kwh"] = kg * 1000.0 / energy if energy > 0 else None
        return out


def _latest_keys(
    conn: sa.Connection, limit: int | None, project: str | None, *, per_run: bool
) -> list[tuple[str, int]]:
    """``(run_id, segment)`` of the ``limit`` latest-started segments (``per_run``: of the latest-started runs,
    one key per run), newest first, read along the ``start_time`` index in growing chunks (never the whole
    table into memory: a PostgreSQL client receives every row of a result)."""
    s = segments.c
    base = _where(sa.select(s.run_id, s.segment), project).order_by(
        sa.desc(s.start_time), sa.desc(s.run_id), sa.desc(s.segment)
    )
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    offset, chunk = 0, max(64, 2 * (limit or 0))
    while limit is None or len(out) < limit:
        got = conn.execute(base.limit(chunk).offset(offset) if limit is not None else base).all()
        for run_id, segment in got:
            if per_run and run_id in seen:
                continue
            seen.add(run_id)
            out.append((run_id, int(segment)))
            if limit is not None and len(out) >= limit:
                break
        if limit is None or len(got) < chunk:
            break
        offset += chunk
        chunk *= 2
    return out


def _run_columns() -> list[sa.ColumnElement[Any]]:
    s = segments.c
    return [
        s.run_id,
        sa.func.count().label("segments"),
        sa.func.min(s.start_time).label("start_time"),
        sa.func.max(s.timestamp).label("last_write"),
        sa.func.max(s.project_name).label("project_name"),
        *(sa.func.sum(s[col]).label(key) for key, col in _SUMS),
        sa.func.sum(s.train_energy_kwh).label("train_energy_kwh"),
        sa.func.max(s.tokens).label("tokens"),
        sa.func.max(s.steps).label("steps"),
        sa.func.max(s.samples).label("samples"),
        sa.func.max(s.hostname).label("hostname"),
        sa.func.max(s.job_key).label("job"),
        sa.func.max(s.user_name).label("user_name"),
    ]


def _finish_runs(conn: sa.Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each run's status (its latest segment's) and J/token, for a chunk of at most 1,000 runs."""
    s = segments.c
    ids = [m["run_id"] for m in rows]
    status = {
        r: st for r, st in conn.execute(sa.select(s.run_id, s.status).where(s.run_id.in_(ids)).order_by(s.run_id, s.segment))
    }
    for m in rows:
        m["status"] = status.get(m["run_id"], "")
        tokens = m.get("tokens")
        train = m.pop("train_energy_kwh")
        m["joules_per_token"] = train * 3.6e6 / tokens if tokens and train is not None else None
    return rows


def recent_runs(conn: sa.Connection, limit: int, *, project: str | None = None) -> list[dict[str, Any]]:
    """The ``limit`` runs whose latest segment started last, oldest first, one dict per run: its segments added up
    (kWh, kg, s), its status (the latest segment's), start (the first segment's), J/token (the energy per-token
    figures divide, all segments, over the run's largest token count)."""
    s = segments.c
    chosen = [r for r, _ in _latest_keys(conn, limit, project, per_run=True)]
    out: list[dict[str, Any]] = []
    for part in range(0, len(chosen), 1000):
        ids = chosen[part : part + 1000]
        query = sa.select(*_run_columns()).where(s.run_id.in_(ids)).group_by(s.run_id)
        out += _finish_runs(conn, [dict(row._mapping) for row in conn.execute(query)])
    out.sort(key=lambda m: (m["start_time"] or "", m["run_id"]))
    return out


def all_runs(conn: sa.Connection, *, project: str | None = None) -> Iterator[dict[str, Any]]:
    """Every run, as :func:`recent_runs` gives them, in run id order, streamed (a server-side cursor on
    PostgreSQL): memory holds 1,000 runs whatever the ledger's size."""
    s = segments.c
    query = _where(sa.select(*_run_columns()).group_by(s.run_id).order_by(s.run_id), project)
    chunk: list[dict[str, Any]] = []
    for row in conn.execution_options(yield_per=1000).execute(query):
        chunk.append(dict(row._mapping))
        if len(chunk) >= 1000:
            yield from _finish_runs(conn, chunk)
            chunk = []
    if chunk:
        yield from _finish_runs(conn, chunk)


def recent_rows(conn: sa.Connection, limit: int, *, project: str | None = None) -> list[dict[str, Any]]:
    """The ``limit`` most recent segments as :class:`~wattwatch.result.EmissionsData` keyword values (phases and
    GPUs included), oldest first: what the HTML page lists in full. A segment whose embodied CO2 was computed at
    push time has none (the page computes it, and says so, as for a file)."""
    keys = _latest_keys(conn, limit, project, per_run=False)
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    extra = [c for c in details.columns if c.name not in ("run_id", "segment", "user_name")]
    for part in range(0, len(keys), 500):
        ids = sorted({r for r, _ in keys[part : part + 500]})
        wanted = set(keys[part : part + 500])
        query = (
            sa.select(segments, *extra)
            .join(details, sa.and_(details.c.run_id == segments.c.run_id, details.c.segment == segments.c.segment))
            .where(segments.c.run_id.in_(ids))
        )
        for row in conn.execute(query):
            m = dict(row._mapping)
            key = (m["run_id"], int(m["segment"]))
            if key in wanted:
                values = detail_row(m)
                if m.get("embodied_computed"):
                    values.pop("embodied_emissions", None)
                values.update(
                    phase_energy_kwh={}, phase_emissions_kg={}, gpu_energy_by_device_kwh={}, gpu_method_by_device={}
                )
                rows[key] = values
        p, d = phases.c, devices.c
        for r, g, phase, kwh, kg in conn.execute(
            sa.select(p.run_id, p.segment, p.phase, p.energy_kwh, p.emissions_kg).where(p.run_id.in_(ids))
        ):
            if (r, g) in rows:
                rows[(r, g)]["phase_energy_kwh"][phase] = kwh
                if kg is not None:
                    rows[(r, g)]["phase_emissions_kg"][phase] = kg
        for r, g, device, kwh, method in conn.execute(
            sa.select(d.run_id, d.segment, d.device, d.energy_kwh, d.method).where(d.run_id.in_(ids))
        ):
            if (r, g) in rows:
                rows[(r, g)]["gpu_energy_by_device_kwh"][device] = kwh
                rows[(r, g)]["gpu_method_by_device"][device] = method
    ordered = [rows[k] for k in keys if k in rows]
    ordered.reverse()
    return ordered
