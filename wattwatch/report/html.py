"""One self-contained HTML file from a :class:`~wattwatch.report.runs.Report`.

Everything is inline -- Chart.js (vendored in ``assets/``, MIT, its licence alongside), the page's own script
and style, and the data as a JSON block -- and a Content-Security-Policy ``default-src 'none'`` forbids the page
any request: the two scripts are allowed by their SHA-256 hashes, styles inline, images only as ``data:``.
User text (run ids, project names, phases) is escaped in the JSON block and set with ``textContent``.

The data is kept small whatever the number of runs: one array per run with numbers rounded to 5 significant
digits, repeated strings (project, status, hardware, sources) stored once, time series only for the runs
:func:`~wattwatch.report.runs.load_report` kept, downsampled. When the report lists only the most recent runs
(``wattwatch report --html`` keeps ``--html-runs``, 2,000 by default), the totals, the CO2 by component
and phase, the cumulative footprint (``cumulative``, downsampled) and the Pareto fronts cover every run. The
cumulative footprint's points are ``[start s, operational kg, + embodied kg, kWh]``: its last point is the totals
(overlap counted once, :meth:`~wattwatch.report.runs.Report.cumulative`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import os
import re
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from wattwatch.report.runs import Report, lower_is_better, pareto_front

__all__ = ["COLUMNS", "CSP", "check_output_path", "payload", "render", "write_html"]

COLUMNS: tuple[str, ...] = (
    "id", "project", "status", "start", "dur", "gpu", "cpu", "ram", "kwh", "op", "emb", "op_lo", "op_hi",
    "j_step", "j_sample", "j_token", "intensity", "isource", "hardware", "esource",
)  # fmt: skip
"""Fields of each run's array in the page's data (strings are indexes into ``strings``)."""

CSP = (
    "default-src 'none'; script-src {scripts}; style-src 'unsafe-inline'; img-src data:; "
    "connect-src 'none'; base-uri 'none'; form-action 'none'"
)
"""The page's Content-Security-Policy (``{scripts}``: the hashes of its two inline scripts)."""

_STRING_FIELDS = {"id", "project", "status", "isource", "hardware", "esource"}
_STACK_RUNS = 60


def _asset(name: str) -> str:
    return resources.files("wattwatch.report").joinpath(f"assets/{name}").read_text("utf-8")


def _num(x: float | None, digits: int = 5) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


class _Strings:
    """Each distinct string stored once; runs refer to it by its index."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        i = self._index.get(text)
        if i is None:
            i = self._index[text] = len(self.strings)
            self.strings.append(text)
        return i


def payload(report: Report) -> dict[str, Any]:
    """The JSON the page draws from (see :data:`COLUMNS`)."""
    strings = _Strings()
    rows, row_of = _run_rows(report, strings)
    totals = {k: _num(v, 6) for k, v in report.totals().items()}
    return {
        "cols": list(COLUMNS),
        "strings": strings.strings,
        "runs": rows,
        "totals": totals,
        "phases": {k: [_num(e), _num(c)] for k, (e, c) in report.by_phase().items()},
        "components": {k: [_num(o), _num(e)] for k, (o, e) in report.by_component().items()},
        "metrics": _metrics(report),
        "series": _series(report, row_of),
        "notes": list(report.notes) + [n for n in (report.overlap_sentence(),) if n],
        "stack_runs": _STACK_RUNS,
        "runs_total": report.runs_total,
        "cumulative": [[round(t, 1), _num(op), _num(tot), _num(kwh)] for t, op, tot, kwh in report.cumulative()],
    }


def _run_rows(report: Report, strings: _Strings) -> tuple[list[list[Any]], dict[str, int]]:
    """One array per run in :data:`COLUMNS` order, and the row of each run id's first run."""
    rows: list[list[Any]] = []
    row_of: dict[str, int] = {}
    for r in report.runs:
        scale = r.operational_kg / r.energy_kwh if r.energy_kwh > 0 else None
        op_lo = r.energy_low_kwh * scale if scale is not None and r.energy_low_kwh is not None else None
        op_hi = r.energy_high_kwh * scale if scale is not None and r.energy_high_kwh is not None else None
        values: dict[str, Any] = {
            "id": r.run_id,
            "project": r.project,
            "status": r.status,
            "start": None if r.start_unix_s is None else round(r.start_unix_s, 1),
            "dur": _num(r.duration_s, 6),
            "gpu": _num(r.gpu_kwh),
            "cpu": _num(r.cpu_kwh),
            "ram": _num(r.ram_kwh),
            "kwh": _num(r.energy_kwh),
            "op": _num(r.operational_kg),
            "emb": _num(r.embodied_kg),
            "op_lo": _num(op_lo),
            "op_hi": _num(op_hi),
            "j_step": _num(r.j_per_step),
            "j_sample": _num(r.j_per_sample),
            "j_token": _num(r.j_per_token),
            "intensity": _num(r.intensity_g_per_kwh, 4),
            "isource": r.intensity_source,
            "hardware": r.hardware,
            "esource": r.embodied_source,
        }
        row_of.setdefault(r.run_id, len(rows))
        rows.append([strings(values[c]) if c in _STRING_FIELDS else values[c] for c in COLUMNS])
    return rows, row_of


def _metrics(report: Report) -> dict[str, Any]:
    """Per evaluation metric: its direction, every run's (kg CO2eq, value, run row) and the Pareto front."""
    metrics: dict[str, Any] = {}
    for name in report.metrics():
        lower = lower_is_better(name)
        pts = [
            (r.total_kg, r.eval_metrics[name], i) for i, r in enumerate(report.runs) if name in r.eval_metrics
        ]
        if report.overall is not None:  # the points of the runs listed, the front over every run
            front = report.overall.fronts.get(name, [])
        else:
            front = pareto_front([(x, y) for x, y, _ in pts], minimize_y=lower)
        metrics[name] = {
            "lower": lower,
            "points": [[_num(x), _num(y), i] for x, y, i in pts],
            "front": [[_num(x), _num(y)] for x, y in front],
        }
    return metrics


def _series(report: Report, row_of: dict[str, int]) -> list[dict[str, Any]]:
    """The kept time series (W per channel, phases, g/kWh) with their run's per-phase and per-GPU totals."""
    by_id = {r.run_id: r for r in report.runs}
    series = []
    for ser in report.series:
        run = by_id.get(ser.run_id)
        if run is None:
            continue
        series.append(
            {
                "id": ser.run_id,
                "row": row_of[ser.run_id],
                "rows": ser.rows,
                "t": [_num(t, 6) for t in ser.elapsed_s],
                "ch": {c: [_num(w, 4) for w in ws] for c, ws in ser.power_w.items()},
                "phases": [[p, _num(a, 6), _num(b, 6)] for p, a, b in ser.phases],
                "intensity": [_num(g, 4) for g in ser.intensity_g_per_kwh],
                "phase_kwh": {k: _num(v) for k, v in run.phase_energy_kwh.items()},
                "phase_kg": {k: _num(v) for k, v in run.phase_emissions_kg.items()},
                "dev_kwh": {k: _num(v) for k, v in run.gpu_energy_by_device_kwh.items()},
            }
        )
    return series


def _json_for_script(data: object) -> str:
    """JSON that cannot end its ``<script>`` element or open a comment (``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _sha256(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode() + "'"


def render(report: Report, *, title: str = "wattwatch report", levers: str = "") -> str:
    """The page as a string; ``levers``: the markup of a levers section (:func:`wattwatch.levers.html.levers_section`,
    ``wattwatch report --levers FILE``), placed after the runs."""
    chartjs = _asset("chart.umd.min.js")
    app = _asset("report.js")
    when = datetime.fromtimestamp(report.generated_unix_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    projects = sorted({r.project for r in report.runs if r.project})
    listed = (
        f"{report.runs_total} run(s), the {len(report.runs)} most recent listed (totals, components, phases, "
        "cumulative footprint and Pareto fronts over all of them)"
        if report.runs_total > len(report.runs)
        else f"{len(report.runs)} run(s)"
    )
    subtitle = (
        listed
        + (f" of {', '.join(projects[:5])}{' ...' if len(projects) > 5 else ''}" if projects else "")
        + f"; generated {when} by wattwatch; charts by Chart.js (MIT), embodied carbon from Boavizta's data"
    )
    rule = (
        f"amortised over a {report.lifetime_years:g}-year life at a use ratio of {report.use_ratio:g} "
        "(run share = duration / (lifetime x use ratio)) unless the run's row says otherwise"
    )
    values = {
        "CSP": html.escape(
            CSP.format(scripts=f"{_sha256(chartjs)} {_sha256(app)}"), quote=False
        ),  # no " in it
        "TITLE": html.escape(title),
        "SUBTITLE": html.escape(subtitle),
        "CSS": _asset("report.css"),
        "STACK_RUNS": str(_STACK_RUNS),
        "EMBODIED_RULE": html.escape(rule),
        "DATA": _json_for_script(payload(report)),
        "CHARTJS": chartjs,
        "APP": app,
        "LEVERS": levers,
    }
    # One pass over the template's own placeholders: inserted text is never scanned again.
    return re.sub(r"__([A-Z_]+)__", lambda m: values[m.group(1)], _asset("report.html"))


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as the page's file, checked before any work: ``ValueError`` saying what to do when it names a
    folder, or its folder does not exist or cannot be written (no folder is ever created)."""
    out = Path(path)
    if out.is_dir():
        raise ValueError(f"{out} is a folder: give the page's file name, e.g. {out / 'report.html'}")
    folder = out.parent
    if not folder.is_dir():
        raise ValueError(f"cannot write {out}: folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {out}: no permission to write in folder {folder}")
    return out


def write_html(
    report: Report, path: str | os.PathLike[str], *, title: str = "wattwatch report", levers: str = ""
) -> Path:
    """Write the page to ``path`` atomically (a temporary file beside it, renamed over it); the folder must
    exist (:func:`check_output_path`). Returns the path."""
    from wattwatch.sinks.files import atomic_write_text

    out = check_output_path(path)
    # the temporary file is created O_EXCL | O_NOFOLLOW beside the page: a link planted there is never written
    atomic_write_text(out, render(report, title=title, levers=levers), durable=False)
    return out
