"""The runs ``wattwatch report --db`` lists: one line per run, whatever its segments (issue 24).

A run's line is its segments added up (kWh, kg, s, L), with its latest segment's status, project, user, host,
job and counts (steps, samples, tokens, requests: the trainer's counters at the end), its first segment's start,
and its per-unit figures as ``wattwatch report PATH`` computes them: J/step, J/sample, J/token = the training
energy of all its segments / the latest segment's count; J/request, J/generated token = the energy of the
phases its segments counted requests in / the latest segment's count (:mod:`wattwatch.measure.figures`).

:func:`recent_runs` lists the most recent runs, :func:`all_runs` streams every run, :func:`recent_rows` gives
the most recent runs whole (their segments combined by :func:`wattwatch.report.segments.combine_segments`, as
the files' report combines them) for the HTML page. Units: kWh (PUE applied), kg CO2eq, s, L, J per unit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from wattwatch.ledger.query import SUMS, in_project
from wattwatch.ledger.schema import KEY_COLUMNS, LATEST, detail_row, details, devices, phases, segments

__all__ = ["all_runs", "recent_rows", "recent_runs"]

_LAST = (
    ("project_name", "project_name"), ("status", "status"), ("hostname", "hostname"), ("job", "job_key"),
    ("user_name", "user_name"), ("steps", "steps"), ("samples", "samples"), ("tokens", "tokens"),
    ("requests", "requests"), ("generated_tokens", "generated_tokens"),
)  # fmt: skip
"""Keys of a run's line taken from its latest segment, and their columns."""


def _latest_runs(conn: sa.Connection, limit: int | None, project: str | None) -> list[str]:
    """The run ids of the ``limit`` runs whose latest segment started last, newest first (read along the
    ``start_time`` index: never the whole table into memory)."""
    s = segments.c
    query = sa.select(s.run_id).where(LATEST).order_by(sa.desc(s.start_time), sa.desc(s.run_id))
    if project is not None:
        query = query.where(s.project_name == project)
    if limit is not None:
        query = query.limit(limit)
    return [r for (r,) in conn.execute(query)]


def _run_columns() -> list[sa.ColumnElement[Any]]:
    s = segments.c
    return [
        s.run_id,
        sa.func.count().label("segments"),
        sa.func.min(s.start_time).label("start_time"),
        sa.func.max(s.timestamp).label("last_write"),
        *(sa.func.max(sa.case((s.latest, s[col]))).label(key) for key, col in _LAST),
        *(sa.func.sum(s[col]).label(key) for key, col in SUMS),
        sa.func.sum(s.train_energy_kwh).label("train_energy_kwh"),
        sa.func.sum(s.inference_energy_kwh).label("inference_energy_kwh"),
        sa.func.max(s.overlaps_run_id).label("overlaps_run_id"),
        sa.func.sum(s.overlap_energy_kwh).label("overlap_energy_kwh"),
    ]


def _per(energy_kwh: float | None, count: int | None) -> float | None:
    return energy_kwh * 3.6e6 / count if count and count > 0 and energy_kwh is not None else None


def _finish(row: sa.Row[Any]) -> dict[str, Any]:
    """A run's line: the per-unit figures from its sums (see the module's docstring)."""
    m = dict(row._mapping)
    train, inference = m.pop("train_energy_kwh"), m.pop("inference_energy_kwh")
    m["joules_per_step"] = _per(train, m["steps"])
    m["joules_per_sample"] = _per(train, m["samples"])
    m["joules_per_token"] = _per(train, m["tokens"])
    m["joules_per_request"] = _per(inference, m["requests"])
    m["joules_per_generated_token"] = _per(inference, m["generated_tokens"])
    return m


def recent_runs(conn: sa.Connection, limit: int, *, project: str | None = None) -> list[dict[str, Any]]:
    """The ``limit`` runs whose latest segment started last, oldest first, one dict per run (see the module's
    docstring)."""
    s = segments.c
    chosen = _latest_runs(conn, limit, project)
    out: list[dict[str, Any]] = []
    for part in range(0, len(chosen), 1000):
        ids = chosen[part : part + 1000]
        query = sa.select(*_run_columns()).where(s.run_id.in_(ids)).group_by(s.run_id)
        out += [_finish(row) for row in conn.execute(query)]
    out.sort(key=lambda m: (m["start_time"] or "", m["run_id"]))
    return out


def all_runs(conn: sa.Connection, *, project: str | None = None) -> Iterator[dict[str, Any]]:
    """Every run, as :func:`recent_runs` gives them, in run id order, streamed (a server-side cursor on
    PostgreSQL): memory holds a chunk of runs whatever the ledger's size."""
    s = segments.c
    query = sa.select(*_run_columns()).group_by(s.run_id).order_by(s.run_id)
    if project is not None:
        query = query.where(in_project(project))
    for row in conn.execution_options(yield_per=1000).execute(query):
        yield _finish(row)


def _segment_rows(conn: sa.Connection, ids: list[str]) -> dict[tuple[str, int, str], dict[str, Any]]:
    """Every segment of the runs ``ids`` as :class:`~wattwatch.result.EmissionsData` keyword values (phases and
    GPUs included). A segment whose embodied CO2 was computed at push time has none (the page computes it, and
    says so, as for a file)."""
    rows: dict[tuple[str, int, str], dict[str, Any]] = {}
    extra = [c for c in details.columns if c.name not in (*KEY_COLUMNS, "user_name")]
    on = sa.and_(*(details.c[k] == segments.c[k] for k in KEY_COLUMNS))
    query = sa.select(segments, *extra).join(details, on).where(segments.c.run_id.in_(ids))
    for row in conn.execute(query):
        m = dict(row._mapping)
        values = detail_row(m)
        if m.get("embodied_computed"):
            values.pop("embodied_emissions", None)
        values.update(phase_energy_kwh={}, phase_emissions_kg={}, gpu_energy_by_device_kwh={}, gpu_method_by_device={})
        rows[(m["run_id"], int(m["segment"]), m["start_time"])] = values
    p, d = phases.c, devices.c
    for r, g, t, phase, kwh, kg in conn.execute(
        sa.select(p.run_id, p.segment, p.start_time, p.phase, p.energy_kwh, p.emissions_kg).where(p.run_id.in_(ids))
    ):
        if (seg := rows.get((r, int(g), t))) is not None:
            seg["phase_energy_kwh"][phase] = kwh
            if kg is not None:
                seg["phase_emissions_kg"][phase] = kg
    for r, g, t, device, kwh, method in conn.execute(
        sa.select(d.run_id, d.segment, d.start_time, d.device, d.energy_kwh, d.method).where(d.run_id.in_(ids))
    ):
        if (seg := rows.get((r, int(g), t))) is not None:
            seg["gpu_energy_by_device_kwh"][device] = kwh
            seg["gpu_method_by_device"][device] = method
    return rows


def recent_rows(conn: sa.Connection, limit: int, *, project: str | None = None) -> list[Any]:
    """The ``limit`` most recent runs whole, oldest first, each as one
    :class:`~wattwatch.report.history.ReportRun` (a resumed run's segments combined as ``wattwatch report PATH``
    combines them, each segment's training energy kept for its J/step, J/sample and J/token:
    :func:`wattwatch.measure.figures.run_joules_per`): what the HTML page lists in full."""
    from pathlib import Path

    from wattwatch.report.history import ReportRun
    from wattwatch.report.segments import combine_segments, segments_training_kwh
    from wattwatch.result import EmissionsData

    def whole(segments: list[EmissionsData]) -> ReportRun:
        if len(segments) == 1:
            return ReportRun(segments[0], Path())
        return ReportRun(combine_segments(segments), Path(), len(segments), segments_training_kwh(segments))

    chosen = _latest_runs(conn, limit, project)
    out: list[Any] = []
    for part in range(0, len(chosen), 500):
        ids = chosen[part : part + 500]
        by_run: dict[str, list[EmissionsData]] = {}
        for (run_id, _, _), values in sorted(_segment_rows(conn, ids).items()):
            by_run.setdefault(run_id, []).append(EmissionsData(**values))
        out += [whole(by_run[r]) for r in ids if r in by_run]
    out.reverse()
    return out
