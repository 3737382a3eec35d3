"""What an HTML report shows, computed from the runs' rows and time series (no HTML here).

:func:`load_report` reads the runs under some paths (``wattwatch report``'s reader: files, folders, deduplicated
by run id) and reduces them to what a browser can draw quickly however many runs there are: one compact
summary per run, sums by component and phase, the cumulative footprint in time order, the Pareto front of
quality against carbon per evaluation metric, and -- for the most recent ``series_runs`` runs only -- the power
time series downsampled to at most ``max_points`` buckets (means over each bucket; a gap stays a gap).

Units: energy kWh (PUE applied, as in the rows), CO2 kg CO2eq, power W, time s, J per step/sample/token.
Operational CO2 is the row's ``emissions``; embodied CO2 is the row's ``embodied_emissions``, or -- for a row
written before wattwatch recorded it -- computed here from the row's hardware with Boavizta's data (and the
report says so).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from wattwatch.carbon.embodied import (
    DEFAULT_LIFETIME_YEARS,
    DEFAULT_USE_RATIO,
    Hardware,
    embodied_for_run,
    manufacture_footprint,
)
from wattwatch.report.history import ReportRun, collect_runs, per_unit_energy_kwh, row_intensity
from wattwatch.report.overall import Overall
from wattwatch.result import EmissionsData
from wattwatch.sinks.timeseries import TIMESERIES_SUFFIX, read_timeseries
from wattwatch.util.names import safe_name
from wattwatch.util.times import iso_unix

__all__ = [
    "COMPONENTS",
    "ENERGY_BAND_FIELDS",
    "Report",
    "RunSeries",
    "RunSummary",
    "downsample",
    "load_report",
    "lower_is_better",
    "operational_by_component",
    "pareto_front",
    "read_series",
    "summarise",
]

ENERGY_BAND_FIELDS: tuple[tuple[str, str], ...] = (("energy_low_kwh", "energy_high_kwh"),)
"""Fields of a row that bound its energy (kWh, PUE applied; the error band of docs/accuracy.md); read when the
row has them (rows from before the band, or from CodeCarbon, do not)."""
_LOWER_IS_BETTER = ("loss", "perplexity", "ppl", "error", "wer", "cer", "mse", "mae", "rmse")


@dataclass(frozen=True)
class RunSummary:
    """One run, reduced to what the report draws (units in the field names)."""

    run_id: str
    project: str
    status: str
    start_unix_s: float | None
    duration_s: float
    gpu_kwh: float
    cpu_kwh: float
    ram_kwh: float
    energy_kwh: float
    operational_kg: float
    embodied_kg: float | None
    embodied_source: str
    embodied_computed_here: bool
    energy_low_kwh: float | None
    energy_high_kwh: float | None
    intensity_g_per_kwh: float
    intensity_source: str
    steps: int | None
    samples: int | None
    tokens: int | None
    phase_energy_kwh: dict[str, float] = field(default_factory=dict)
    phase_emissions_kg: dict[str, float] = field(default_factory=dict)
    gpu_energy_by_device_kwh: dict[str, float] = field(default_factory=dict)
    eval_metrics: dict[str, float] = field(default_factory=dict)
    hardware: str = ""
    embodied_by_part_kg: dict[str, float] = field(default_factory=dict)
    """Embodied kg CO2eq by :data:`COMPONENTS` name (``gpu``, ``cpu``, ``ram``, ``server``)."""

    @property
    def total_kg(self) -> float:
        """Operational + embodied kg CO2eq."""
        return self.operational_kg + (self.embodied_kg or 0.0)

    per_unit_kwh: float = 0.0
    """The energy per-unit figures divide (kWh): the training energy of every segment of the run, each decided
    from its own phases (:func:`wattwatch.measure.figures.run_joules_per`)."""
    overlaps_run_id: str = ""
    """The run this one measured the same machine with (issue 24), ``""`` when none."""
    overlap_kwh: float = 0.0
    """This run's energy while that run measured too (kWh): counted once in the totals when both are listed."""

    def joules_per(self, count: int | None) -> float | None:
        """Energy (J, PUE applied; see ``per_unit_kwh``) per unit of ``count``; ``None`` without a count."""
        if not count or count <= 0:
            return None
        return self.per_unit_kwh * 3.6e6 / count

    @property
    def j_per_step(self) -> float | None:
        return self.joules_per(self.steps)

    @property
    def j_per_sample(self) -> float | None:
        return self.joules_per(self.samples)

    @property
    def j_per_token(self) -> float | None:
        return self.joules_per(self.tokens)


@dataclass(frozen=True)
class RunSeries:
    """A run's power over time, downsampled: bucket mid-times (s since start), mean W per channel."""

    run_id: str
    elapsed_s: list[float]
    power_w: dict[str, list[float | None]]
    phases: list[tuple[str, float, float]]
    """Contiguous ``(phase, start_s, end_s)`` stretches, from the full-resolution series."""
    intensity_g_per_kwh: list[float | None]
    """Per bucket: the bucket's kg CO2eq / kWh x 1000 (``None`` where no energy was used)."""
    rows: int
    """Rows in the file (before downsampling)."""


@dataclass
class Report:
    """Everything the HTML page draws."""

    runs: list[RunSummary]
    series: list[RunSeries]
    notes: list[str]
    lifetime_years: float
    use_ratio: float
    generated_unix_s: float
    overall: Overall | None = None
    """Figures over every run when :attr:`runs` lists only the most recent ones (``wattwatch report --html``);
    then :meth:`totals`, :meth:`by_component`, :meth:`by_phase` and :meth:`metrics` give those."""

    @property
    def runs_total(self) -> int:
        """Runs counted (more than :attr:`runs` lists when :attr:`overall` is set)."""
        return self.overall.runs if self.overall is not None else len(self.runs)

    def totals(self) -> dict[str, float]:
        """Sums across runs: kWh by component, kg CO2eq operational, embodied and total; the energy two runs
        measured on one machine at once counted once (``overlap_kwh`` taken off, its components and CO2 in the
        overlapping run's proportions, as ``wattwatch report``'s text and ``--json`` totals)."""
        if self.overall is not None:
            return dict(self.overall.totals)
        twice = self._overlapping()

        def total(name: str) -> float:
            return math.fsum(getattr(r, name) for r in self.runs) - math.fsum(getattr(r, name) * f for r, f in twice)

        operational, embodied = total("operational_kg"), math.fsum(r.embodied_kg or 0.0 for r in self.runs)
        return {
            "runs": float(len(self.runs)),
            "duration_s": math.fsum(r.duration_s for r in self.runs),
            "gpu_kwh": total("gpu_kwh"),
            "cpu_kwh": total("cpu_kwh"),
            "ram_kwh": total("ram_kwh"),
            "energy_kwh": total("energy_kwh"),
            "operational_kg": operational,
            "embodied_kg": embodied,
            "total_kg": operational + embodied,
            "overlap_kwh": math.fsum(r.overlap_kwh for r, _ in twice),
        }

    def _overlapping(self) -> list[tuple[RunSummary, float]]:
        """The listed runs that overlapped another listed run, with the share of their figures counted twice."""
        ids = {r.run_id for r in self.runs if r.run_id}
        return [(r, r.overlap_kwh / r.energy_kwh) for r in self.runs
                if r.overlaps_run_id in ids and r.overlap_kwh > 0 and r.energy_kwh > 0]  # fmt: skip

    def cumulative(self) -> list[tuple[float, float, float, float]]:
        """The cumulative footprint: ``(start, operational kg, operational + embodied kg, kWh)`` summed in start
        order over the runs that have a start; a run that overlapped another listed run adds its figures less
        the overlap (its share, as :meth:`totals` takes it off), so the last point is the totals. Over every run
        (downsampled) when :attr:`overall` is set."""
        if self.overall is not None:
            return list(self.overall.cumulative)
        once = {id(r): 1.0 - f for r, f in self._overlapping()}
        out: list[tuple[float, float, float, float]] = []
        op = tot = kwh = 0.0
        for r in sorted((r for r in self.runs if r.start_unix_s is not None), key=lambda r: r.start_unix_s or 0.0):
            f = once.get(id(r), 1.0)
            op += r.operational_kg * f
            tot += r.operational_kg * f + (r.embodied_kg or 0.0)
            kwh += r.energy_kwh * f
            out.append((r.start_unix_s or 0.0, op, tot, kwh))
        return out

    def overlap_sentence(self) -> str:
        """What the page says when its totals count an overlap once (``""`` when none)."""
        kwh = self.totals().get("overlap_kwh", 0.0)
        if not kwh > 0:
            return ""
        return (f"overlap: {kwh:.6g} kWh measured by two runs on one machine at once is counted once in the totals "
                "(runs with overlaps_run_id; each run's own line keeps all it measured)")  # fmt: skip

    def by_component(self) -> dict[str, tuple[float, float]]:
        """``component -> (operational kg, embodied kg)`` summed across runs (see :func:`operational_by_component`)."""
        if self.overall is not None:
            return dict(self.overall.by_component)
        out = {c: (0.0, 0.0) for c in COMPONENTS}
        for r in self.runs:
            op = operational_by_component(r)
            for c in COMPONENTS:
                o, e = out[c]
                out[c] = (o + op.get(c, 0.0), e + r.embodied_by_part_kg.get(c, 0.0))
        return out

    def by_phase(self) -> dict[str, tuple[float, float]]:
        """``phase -> (kWh, kg CO2eq operational)`` summed across runs."""
        if self.overall is not None:
            return dict(self.overall.by_phase)
        out: dict[str, tuple[float, float]] = {}
        for r in self.runs:
            for phase, kwh in r.phase_energy_kwh.items():
                e, k = out.get(phase, (0.0, 0.0))
                out[phase] = (e + kwh, k + r.phase_emissions_kg.get(phase, 0.0))
        return out

    def metrics(self) -> list[str]:
        """Evaluation metric names found in any run, most common first."""
        counts: dict[str, int] = dict(self.overall.metric_runs) if self.overall is not None else {}
        for r in self.runs if self.overall is None else ():
            for name in r.eval_metrics:
                counts[name] = counts.get(name, 0) + 1
        return sorted(counts, key=lambda n: (-counts[n], n))


def _finite_or_none(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def summarise(
    data: EmissionsData,
    *,
    lifetime_years: float = DEFAULT_LIFETIME_YEARS,
    use_ratio: float = DEFAULT_USE_RATIO,
    train_kwh: float | None = None,
) -> RunSummary:
    """A row as the report shows it; embodied CO2 computed from the row's hardware when the row has none.
    ``train_kwh``: the training energy of a run whose segments ``data`` combines (the sum of
    :attr:`ReportRun.train_kwh_by_segment`); ``None``: ``data``'s own."""
    embodied = data.embodied_emissions
    source = data.embodied_source
    computed = False
    if embodied is None:
        share = embodied_for_run(data, lifetime_years=lifetime_years, use_ratio=use_ratio)
        embodied, source, computed = share.kg, share.source + "; computed at report time", True
    low = high = None
    for lo_name, hi_name in ENERGY_BAND_FIELDS:
        lo, hi = _finite_or_none(getattr(data, lo_name, None)), _finite_or_none(getattr(data, hi_name, None))
        if lo is not None and hi is not None:
            low, high = lo, hi
            break
    metrics = {k: float(v) for k, v in (data.eval_metrics or {}).items() if _finite_or_none(v) is not None}
    hardware = ", ".join(p for p in (data.gpu_model, data.cpu_model) if p)
    intensity = row_intensity(data)
    return RunSummary(
        run_id=data.run_id,
        project=data.project_name,
        status=data.status,
        start_unix_s=iso_unix(data.start_time) or iso_unix(data.timestamp),
        duration_s=data.duration,
        gpu_kwh=data.gpu_energy,
        cpu_kwh=data.cpu_energy,
        ram_kwh=data.ram_energy,
        energy_kwh=data.energy_consumed,
        operational_kg=data.emissions,
        embodied_kg=embodied,
        embodied_source=source,
        embodied_computed_here=computed,
        energy_low_kwh=low,
        energy_high_kwh=high,
        intensity_g_per_kwh=intensity[0],
        intensity_source=intensity[1],
        steps=data.steps,
        samples=data.samples,
        tokens=data.tokens,
        phase_energy_kwh=dict(data.phase_energy_kwh),
        phase_emissions_kg=dict(data.phase_emissions_kg),
        gpu_energy_by_device_kwh=dict(data.gpu_energy_by_device_kwh),
        eval_metrics=metrics,
        hardware=hardware,
        per_unit_kwh=per_unit_energy_kwh(data) if train_kwh is None else train_kwh,
        embodied_by_part_kg=_embodied_parts(data, embodied) if embodied else {},
        overlaps_run_id=data.overlaps_run_id,
        overlap_kwh=min(data.overlap_energy_kwh or 0.0, data.energy_consumed) if data.overlaps_run_id else 0.0,
    )


COMPONENTS = ("gpu", "cpu", "ram", "server")
"""Components the report splits CO2 by; ``server``: SSD, motherboard, power supplies, case, assembly."""


def operational_by_component(run: RunSummary) -> dict[str, float]:
    """Operational kg CO2eq split by component in proportion to each component's kWh (the run's own mix of
    intensities applies to all of them: exact for a constant intensity, the run's mean otherwise)."""
    parts = {"gpu": run.gpu_kwh, "cpu": run.cpu_kwh, "ram": run.ram_kwh}
    total = sum(parts.values())
    if total <= 0:
        return {}
    return {c: run.operational_kg * kwh / total for c, kwh in parts.items()}


def _embodied_parts(data: EmissionsData, kg: float) -> dict[str, float]:
    """``kg`` split over :data:`COMPONENTS` in the proportions of the row's hardware's manufacturing footprint."""
    fp = manufacture_footprint(Hardware.from_emissions(data)).by_part()
    total = sum(fp.values())
    if total <= 0:
        return {}
    out = {c: 0.0 for c in COMPONENTS}
    for part, v in fp.items():
        key = part if part in ("gpu", "cpu", "ram") else "server"
        out[key] += kg * v / total
    return out


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better (losses, perplexities, error rates)."""
    name = metric.lower()
    return any(word in name for word in _LOWER_IS_BETTER)


def pareto_front(points: Iterable[tuple[float, float]], *, minimize_y: bool) -> list[tuple[float, float]]:
    """The points no other point beats on both carbon (``x``, lower is better) and quality (``y``).

    Returned in increasing ``x``: the trade-off curve a team picks from (each step buys better quality for
    more carbon).
    """
    best: float | None = None
    front: list[tuple[float, float]] = []
    for x, y in sorted(points, key=lambda p: (p[0], p[1] if minimize_y else -p[1])):
        if best is None or (y < best if minimize_y else y > best):
            front.append((x, y))
            best = y
    return front


def downsample(
    t: Sequence[float], values: Sequence[float | None], buckets: int
) -> tuple[list[float], list[float | None]]:
    """Means of ``values`` over ``buckets`` equal stretches of the sample index (``None`` only in all-gap ones)."""
    n = len(t)
    if n <= buckets:
        return list(t), list(values)
    out_t: list[float] = []
    out_v: list[float | None] = []
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        if hi <= lo:
            continue
        vals = [v for v in values[lo:hi] if v is not None]
        out_t.append((t[lo] + t[hi - 1]) / 2)
        out_v.append(sum(vals) / len(vals) if vals else None)
    return out_t, out_v


def read_series(path: str | os.PathLike[str], run_id: str, *, max_points: int = 400) -> RunSeries:
    """A ``<run_id>.timeseries.csv`` (read by :func:`wattwatch.sinks.timeseries.read_timeseries`; rows torn by a
    ``kill -9`` are skipped), downsampled to ``max_points``. Raises ``ValueError`` for a file with no samples."""
    series = read_timeseries(path)
    elapsed, energy, emissions = series.elapsed_s, series.energy_kwh, series.emissions_kg
    spans: list[tuple[str, float, float]] = []
    for i, (t, p) in enumerate(zip(elapsed, series.phase, strict=True)):
        start = (
            elapsed[i - 1] if i else min(0.0, t)
        )  # a row's power is the mean over the interval ending at it
        if spans and spans[-1][0] == p:
            spans[-1] = (p, spans[-1][1], t)
        else:
            spans.append((p, start, t))
    # Intensity per interval: d(kg) / d(kWh), then per bucket weighted by energy.
    d_kg: list[float | None] = [None]
    d_kwh: list[float] = [0.0]
    for i in range(1, len(elapsed)):
        de = energy[i] - energy[i - 1]
        d_kwh.append(max(de, 0.0))
        d_kg.append(emissions[i] - emissions[i - 1] if de > 0 else None)
    out_power: dict[str, list[float | None]] = {}
    out_t, _ = downsample(elapsed, [None] * len(elapsed), max_points)
    for c, watts in series.power_w.items():
        out_t, out_power[c] = downsample(elapsed, watts, max_points)
    return RunSeries(
        run_id=run_id,
        elapsed_s=out_t,
        power_w=out_power,
        phases=spans,
        intensity_g_per_kwh=_bucket_intensity(d_kg, d_kwh, len(out_t), len(elapsed)),
        rows=len(elapsed),
    )


def _bucket_intensity(
    d_kg: list[float | None], d_kwh: list[float], buckets: int, n: int
) -> list[float | None]:
    out: list[float | None] = []
    if buckets == 0:
        return out
    same = buckets == n
    for b in range(buckets):
        lo, hi = (b, b + 1) if same else (b * n // buckets, (b + 1) * n // buckets)
        kg = sum(k for k in d_kg[lo:hi] if k is not None)
        kwh = sum(e for e, k in zip(d_kwh[lo:hi], d_kg[lo:hi], strict=True) if k is not None)
        out.append(kg / kwh * 1000.0 if kwh > 0 else None)
    return out


def _series_files(paths: Sequence[str]) -> dict[str, Path]:
    """``run_id -> <run_id>.timeseries.csv`` for every series file under ``paths`` (files' own folders too)."""
    found: dict[str, Path] = {}
    for raw in paths:
        p = Path(raw)
        folder = p if p.is_dir() else p.parent
        for f in folder.rglob(f"*{TIMESERIES_SUFFIX}"):
            found.setdefault(f.name[: -len(TIMESERIES_SUFFIX)], f)
    return found


def load_report(
    paths: Sequence[str],
    *,
    project: str | None = None,
    series_runs: int = 20,
    max_points: int = 400,
    lifetime_years: float = DEFAULT_LIFETIME_YEARS,
    use_ratio: float = DEFAULT_USE_RATIO,
    rows: Sequence[EmissionsData | ReportRun] | None = None,
    notes: Sequence[str] = (),
    overall: Overall | None = None,
) -> Report:
    """The report of the runs under ``paths`` (see the module docstring).

    ``rows`` (with their ``notes``): the runs, already read from ``paths`` by the caller (``wattwatch report``
    reads them once for its table and its page; a :class:`ReportRun` keeps its segments' training energies);
    otherwise they are read here. ``overall``: the figures over
    every run when ``rows`` are only the most recent (see :mod:`wattwatch.report.overall`).
    """
    notes = list(notes)
    if rows is None:
        found, notes = collect_runs(list(paths))
        rows = found
    read = [r if isinstance(r, ReportRun) else ReportRun(r, Path()) for r in rows]
    runs = [
        summarise(r.data, lifetime_years=lifetime_years, use_ratio=use_ratio, train_kwh=math.fsum(r.train_kwh_by_segment))
        for r in read
        if project is None or r.data.project_name == project
    ]
    files = _series_files(paths)
    series: list[RunSeries] = []
    for r in sorted(runs, key=lambda r: r.start_unix_s or 0.0, reverse=True):
        if len(series) >= series_runs:
            break
        path = files.get(r.run_id) or files.get(safe_name(r.run_id))  # the file is named by the id's slug
        if path is None:
            continue
        try:
            series.append(read_series(path, r.run_id, max_points=max_points))
        except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
            notes.append(f"skipped time series {path}: {exc}")
    computed = (
        sum(1 for r in runs if r.embodied_computed_here) if overall is None else overall.embodied_computed
    )
    if computed:
        notes.append(
            f"{computed} run(s) had no embodied_emissions column: computed here from their hardware "
            f"(Boavizta data, lifetime {lifetime_years:g} y, use ratio {use_ratio:g})"
        )
    return Report(
        runs=runs,
        series=series,
        notes=notes,
        lifetime_years=lifetime_years,
        use_ratio=use_ratio,
        generated_unix_s=datetime.now(timezone.utc).timestamp(),
        overall=overall,
    )
