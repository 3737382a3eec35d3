"""The HTML page's figures over every run in the ledger (``wattwatch report --db URL --html FILE``).

The same :class:`~wattwatch.report.overall.Overall` that ``report PATH --html`` computes from files, here from
SQL: totals (:func:`wattwatch.ledger.query.totals`); operational CO2 by component in proportion to kWh (summed
by the database); embodied CO2 by component in the proportions of each hardware's manufacturing footprint (the
database groups the segments by hardware, the footprint is computed once per hardware); energy and CO2 by
phase; the cumulative footprint by day; the Pareto fronts of the evaluation metrics (one point per run: its
latest segment's metrics against all its segments' CO2, as the files' page; only runs that recorded metrics are
read). ``project``: the runs whose latest segment names it (:func:`wattwatch.ledger.query.in_project`). Power
time series are not in the ledger: the page has none.
"""

from __future__ import annotations

import json
import math
from typing import Any

import sqlalchemy as sa

from wattwatch.ledger.query import in_project, overlap_share, overlapping, totals
from wattwatch.ledger.schema import KEY_COLUMNS, LATEST, details, phases, segments

__all__ = ["overall_from_ledger"]

_HARDWARE = ("gpu_model", "gpu_count", "cpu_model", "cpu_count", "ram_total_size", "node_count")


def _joined(*columns: Any) -> sa.Select[Any]:
    return sa.select(*columns).select_from(segments.join(details, _same_segment(details)))


def _same_segment(table: sa.Table) -> sa.ColumnElement[bool]:
    """``table``'s rows of the segment of ``segments``' row (:data:`~wattwatch.ledger.schema.KEY_COLUMNS`)."""
    return sa.and_(*(table.c[k] == segments.c[k] for k in KEY_COLUMNS))


def _where(query: sa.Select[Any], project: str | None) -> sa.Select[Any]:
    return query.where(in_project(project)) if project is not None else query


def _operational_by_component(conn: sa.Connection, project: str | None) -> dict[str, float]:
    s = segments.c
    kwh = s.gpu_energy + s.cpu_energy + s.ram_energy
    sums = [
        sa.func.coalesce(sa.func.sum(sa.case((kwh > 0, s.emissions * s[f"{c}_energy"] / kwh), else_=0.0)), 0.0)
        for c in ("gpu", "cpu", "ram")
    ]
    row = conn.execute(_where(sa.select(*sums), project)).one()
    return {"gpu": float(row[0]), "cpu": float(row[1]), "ram": float(row[2]), "server": 0.0}


def _embodied_by_component(conn: sa.Connection, project: str | None) -> dict[str, float]:
    from wattwatch.report.overall import _NAMES, _Shares

    hardware = [details.c[n] for n in _HARDWARE]
    query = _where(_joined(*hardware, sa.func.sum(segments.c.embodied_emissions)).group_by(*hardware), project)
    shares = _Shares()
    out = {"gpu": 0.0, "cpu": 0.0, "ram": 0.0, "server": 0.0}
    blank = [""] * (len(_NAMES) - len(_HARDWARE))
    for row in conn.execute(query):
        kg = float(row[-1] or 0.0)
        cells = blank + ["" if v is None else (repr(v) if isinstance(v, float) else str(v)) for v in row[:-1]]
        for component, share in shares(cells).items():
            out[component] += kg * share
    return out


def _cumulative(
    conn: sa.Connection, project: str | None, max_points: int
) -> list[tuple[float, float, float, float]]:
    """``(end of day, operational kg, + embodied kg, kWh)`` summed by day of the segments' start; a segment that
    overlapped another counted run adds its figures less the overlap (:func:`~wattwatch.ledger.query.overlap_share`,
    as the totals), so the last point is the totals."""
    from wattwatch.util.times import iso_unix

    s = segments.c
    day = sa.func.substr(s.start_time, 1, 10)
    dated = s.start_time != ""
    main = _where(
        sa.select(day.label("day"), s.emissions.label("kg"), s.embodied_emissions.label("emb"),
                  s.energy_consumed.label("kwh")).where(dated),
        project,
    )  # fmt: skip
    taken, share = overlap_share(s)
    none = sa.literal(0.0, sa.Double)
    over = sa.select(day.label("day"), (-s.emissions * share).label("kg"), none.label("emb"), (-taken).label("kwh"))
    u = sa.union_all(main, over.where(dated, *overlapping(project))).subquery()
    query = (
        sa.select(u.c.day, sa.func.sum(u.c.kg), sa.func.sum(u.c.emb), sa.func.sum(u.c.kwh))
        .group_by(u.c.day)
        .order_by(u.c.day)
    )
    points: list[tuple[float, float, float, float]] = []
    op = tot = kwh = 0.0
    for when, kg, embodied, energy in conn.execute(query):
        start = iso_unix(f"{when}T23:59:59+00:00")
        if start is None:
            continue
        op += float(kg or 0.0)
        tot += float(kg or 0.0) + float(embodied or 0.0)
        kwh += float(energy or 0.0)
        points.append((start, op, tot, kwh))
    if len(points) > max_points:
        step = math.ceil(len(points) / max_points)
        kept = points[step - 1 :: step]
        if kept[-1] is not points[-1]:
            kept.append(points[-1])
        points = kept
    return points


def _fronts(conn: sa.Connection, project: str | None) -> tuple[dict[str, list[tuple[float, float]]], dict[str, int]]:
    from wattwatch.report.overall import _Front

    run = segments.alias("run_segment")
    run_kg = (
        sa.select(sa.func.sum(run.c.emissions + run.c.embodied_emissions))
        .where(run.c.run_id == segments.c.run_id)
        .scalar_subquery()
    )
    query = _where(
        _joined(run_kg, sa.literal(0.0), details.c.eval_metrics).where(details.c.eval_metrics != "{}", LATEST),
        project,
    )
    fronts: dict[str, _Front] = {}
    for kg, embodied, cell in conn.execute(query.execution_options(yield_per=2000)):
        try:
            metrics = json.loads(cell or "{}")
        except ValueError:
            continue
        if not isinstance(metrics, dict):
            continue
        total = float(kg or 0.0) + float(embodied or 0.0)
        for name, value in metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                front = fronts.get(name)
                if front is None:
                    front = fronts[name] = _Front(name)
                front.add(total, float(value))
    return {m: f.front() for m, f in fronts.items()}, {m: f.runs for m, f in fronts.items()}


def overall_from_ledger(conn: sa.Connection, *, project: str | None = None, max_points: int = 400) -> Any:
    """The :class:`~wattwatch.report.overall.Overall` of every run in the ledger (of ``project``)."""
    from wattwatch.report.overall import Overall

    tot = totals(conn, project=project)
    p = phases.c
    phase_q = sa.select(p.phase, sa.func.sum(p.energy_kwh), sa.func.sum(p.emissions_kg)).group_by(p.phase)
    if project is not None:
        phase_q = phase_q.join(segments, _same_segment(phases)).where(in_project(project))
    by_phase = {str(name): (float(e or 0.0), float(k or 0.0)) for name, e, k in conn.execute(phase_q)}
    operational = _operational_by_component(conn, project)
    embodied = _embodied_by_component(conn, project)
    fronts, metric_runs = _fronts(conn, project)
    return Overall(
        runs=int(tot["runs"]),
        totals={
            "runs": float(tot["runs"]),
            "duration_s": tot["duration_s"],
            "gpu_kwh": tot["gpu_energy_kwh"],
            "cpu_kwh": tot["cpu_energy_kwh"],
            "ram_kwh": tot["ram_energy_kwh"],
            "energy_kwh": tot["energy_kwh"],
            "operational_kg": tot["emissions_kg"],
            "embodied_kg": tot["embodied_emissions_kg"],
            "total_kg": tot["emissions_kg"] + tot["embodied_emissions_kg"],
            "overlap_kwh": tot.get("overlap_kwh", 0.0),  # counted once, as report PATH's page says
        },
        by_component={c: (operational[c], embodied[c]) for c in ("gpu", "cpu", "ram", "server")},
        by_phase=by_phase,
        cumulative=_cumulative(conn, project, max_points),
        fronts=fronts,
        metric_runs=metric_runs,
        embodied_computed=int(tot["embodied_computed"]),
    )
