"""What the HTML page draws over EVERY run, however many: totals, CO2 by component and by phase, the cumulative
footprint (downsampled) and, per evaluation metric, the Pareto front of quality against carbon.

The page lists only the most recent :option:`--html-runs` runs in full (2,000 by default); :func:`overall_of` adds these figures over
all the runs a :class:`~wattwatch.report.rollup.Rollup` counts, with one more column-selective pass over the files
(only the rows that count: the phase cells, the evaluation metrics, the hardware and the start time of each).
Memory: a few numbers per run (start time, operational and embodied kg, each metric's value).

Units: energy kWh (PUE applied), CO2 kg CO2eq, time s since the Unix epoch.
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from wattwatch.carbon.embodied import Hardware, manufacture_footprint
from wattwatch.report.rollup import Rollup
from wattwatch.result import EmissionsData
from wattwatch.sinks.emissions_reader import ColumnScan
from wattwatch.util.times import iso_unix

__all__ = ["Overall", "overall_of"]

_NAMES = (
    "start_time", "timestamp", "phase_energy_kwh", "phase_emissions_kg", "eval_metrics",
    "gpu_model", "gpu_count", "cpu_model", "cpu_count", "ram_total_size", "node_count",
)  # fmt: skip
_COMPONENTS = ("gpu", "cpu", "ram", "server")


@dataclass
class Overall:
    """Figures over every run (see the module's docstring)."""

    runs: int
    totals: dict[str, float]
    """Keys of :meth:`wattwatch.report.runs.Report.totals`."""
    by_component: dict[str, tuple[float, float]]
    """``component -> (operational kg, embodied kg)``."""
    by_phase: dict[str, tuple[float, float]]
    """``phase -> (kWh, operational kg)``."""
    cumulative: list[tuple[float, float, float, float]]
    """``(start, cumulative operational kg, cumulative operational + embodied kg, cumulative kWh)`` in start
    order, at most ``max_points`` of them; the last one is the totals (``operational_kg``, ``total_kg``,
    ``energy_kwh``): a run that overlapped another counted run adds its figures less the overlap (its share,
    :meth:`~wattwatch.report.groups.RunGroups.overlap_shares`, as the totals take it off)."""
    fronts: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """Per metric, the Pareto front of (total kg CO2eq, value) over every run that has it."""
    metric_runs: dict[str, int] = field(default_factory=dict)
    """Per metric, how many runs recorded it."""
    embodied_computed: int = 0


def _numbers(cell: str) -> dict[str, float]:
    """A JSON object cell's finite numbers (``{}`` for an empty or unreadable cell)."""
    try:
        value = json.loads(cell) if cell else {}
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {
        k: float(v)
        for k, v in value.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


class _Shares:
    """Embodied CO2 split by component in the proportions of a row's hardware's manufacturing footprint,
    computed once per distinct hardware."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, ...], dict[str, float]] = {}

    def __call__(self, cells: Sequence[str]) -> dict[str, float]:
        key = tuple(cells[5:11])
        share = self._cache.get(key)
        if share is None:
            try:
                data = EmissionsData.from_row({n: c for n, c in zip(_NAMES[5:], key, strict=True) if c})
                fp = manufacture_footprint(Hardware.from_emissions(data)).by_part()
            except ValueError:
                fp = {}
            total = math.fsum(fp.values())
            share = {c: 0.0 for c in _COMPONENTS}
            for part, kg in fp.items():
                share[part if part in ("gpu", "cpu", "ram") else "server"] += kg / total if total > 0 else 0.0
            share = self._cache[key] = share if total > 0 else {}
        return share


def _rows_counted(rollup: Rollup) -> Iterator[tuple[int, Sequence[str]]]:
    """``(row number, cells of _NAMES)`` for each file row that counts (journal rows: from their data)."""
    for base, part, src in zip(rollup.bases, rollup.parts, rollup.sources, strict=True):
        if src < 0:
            if rollup.alive[base]:
                row = rollup.memory[-1 - src][0].to_row()
                yield base, [row.get(n, "") for n in _NAMES]
            continue
        if not any(rollup.alive[base : base + len(part)]):
            continue
        offsets, n = part.offsets, 0
        start, end = offsets[0], offsets[-1] + 1
        for at, cells in ColumnScan(rollup.layouts[src], _NAMES, start=start, end=end):
            while n < len(offsets) and offsets[n] < at:
                n += 1
            if n < len(offsets) and offsets[n] == at:
                if rollup.alive[base + n]:
                    yield base + n, cells
                n += 1


def overall_of(rollup: Rollup, *, max_points: int = 400) -> Overall:
    """The figures over every run ``rollup`` counts."""
    totals = rollup.totals()
    shares = _Shares()
    components = {c: [0.0, 0.0] for c in _COMPONENTS}
    phases: dict[str, list[float]] = {}
    starts, ops, totals_kg, energies = array("d"), array("d"), array("d"), array("d")
    fronts: dict[str, _Front] = {}
    members, heads = rollup.groups.member_of, rollup.groups.members
    twice = rollup.groups.overlap_shares(rollup)  # counted once: taken off when the overlapping run is added
    for i, cells in _rows_counted(rollup):
        part, n, _ = rollup.locate(i)
        gpu, cpu, ram = (part.value(c, n) for c in ("gpu_energy_kwh", "cpu_energy_kwh", "ram_energy_kwh"))
        op, emb = part.value("emissions_kg", n), part.value("embodied_emissions_kg", n)
        kwh = gpu + cpu + ram
        if kwh > 0:
            for c, e in (("gpu", gpu), ("cpu", cpu), ("ram", ram)):
                components[c][0] += op * e / kwh
        if emb:
            for c, f in shares(cells).items():
                components[c][1] += emb * f
        phase_kg = _numbers(cells[3])
        for phase, e in _numbers(cells[2]).items():
            acc = phases.setdefault(phase, [0.0, 0.0])
            acc[0] += e
            acc[1] += phase_kg.get(phase, 0.0)
        start = iso_unix(cells[0]) or iso_unix(cells[1])
        if start is not None:
            once = 1.0 - twice.get(i, 0.0)
            starts.append(start)
            ops.append(op * once)
            totals_kg.append(op * once + emb)
            energies.append(part.value("energy_kwh", n) * once)
        if i in members:
            continue  # a resumed run's earlier segment: the run is one point, at its last segment's metrics
        run_kg = op + emb if i not in heads else rollup.value("emissions_kg", i) + rollup.value("embodied_emissions_kg", i)
        for metric, value in _numbers(cells[4]).items():
            front = fronts.get(metric)
            if front is None:
                front = fronts[metric] = _Front(metric)
            front.add(run_kg, value)

    return Overall(
        runs=int(totals["runs"]),
        totals={
            "runs": float(totals["runs"]),
            "duration_s": totals["duration_s"],
            "gpu_kwh": totals["gpu_energy_kwh"],
            "cpu_kwh": totals["cpu_energy_kwh"],
            "ram_kwh": totals["ram_energy_kwh"],
            "energy_kwh": totals["energy_kwh"],
            "operational_kg": totals["emissions_kg"],
            "embodied_kg": totals["embodied_emissions_kg"],
            "total_kg": totals["emissions_kg"] + totals["embodied_emissions_kg"],
            "overlap_kwh": totals.get("overlap_kwh", 0.0),
        },
        by_component={c: (o, e) for c, (o, e) in components.items()},
        by_phase={p: (e, k) for p, (e, k) in phases.items()},
        cumulative=_cumulative(starts, ops, totals_kg, energies, max_points),
        fronts={m: f.front() for m, f in fronts.items()},
        metric_runs={m: f.runs for m, f in fronts.items()},
        embodied_computed=rollup.embodied_computed,
    )


class _Front:
    """The Pareto front of one metric over points given one at a time, in bounded memory: the candidates are
    cut back to their front whenever they grow large (exact: a point off the front of some points is off the
    front of any set holding them, see :func:`wattwatch.report.runs.pareto_front`)."""

    def __init__(self, metric: str, *, spare: int = 4096) -> None:
        from wattwatch.report.runs import lower_is_better

        self.lower = lower_is_better(metric)
        self.points: list[tuple[float, float]] = []
        self.runs = 0
        self._spare = spare

    def add(self, x: float, y: float) -> None:
        self.points.append((x, y))
        self.runs += 1
        if len(self.points) > self._spare:
            self.points = self.front()
            self._spare = max(self._spare, 2 * len(self.points))

    def front(self) -> list[tuple[float, float]]:
        from wattwatch.report.runs import pareto_front

        return pareto_front(self.points, minimize_y=self.lower)


def _cumulative(
    starts: array,  # type: ignore[type-arg]
    ops: array,  # type: ignore[type-arg]
    totals: array,  # type: ignore[type-arg]
    energies: array,  # type: ignore[type-arg]
    max_points: int,
) -> list[tuple[float, float, float, float]]:
    """The running sums (operational kg, total kg, kWh) in start order: one point per run for up to
    ``max_points`` runs, else one per non-empty stretch of ``max_points`` equal stretches of time (at the
    stretch's end; the last point is the latest start and the total)."""
    if len(starts) <= max_points:
        out: list[tuple[float, float, float, float]] = []
        op = tot = kwh = 0.0
        for i in sorted(range(len(starts)), key=starts.__getitem__):
            op += ops[i]
            tot += totals[i]
            kwh += energies[i]
            out.append((starts[i], op, tot, kwh))
        return out
    first, last = min(starts), max(starts)
    width = (last - first) / max_points or 1.0
    op_in, tot_in, kwh_in = (array("d", bytes(8 * max_points)) for _ in range(3))
    count = [0] * max_points
    for t, op, tot, kwh in zip(starts, ops, totals, energies, strict=True):
        b = min(int((t - first) / width), max_points - 1)
        op_in[b] += op
        tot_in[b] += tot
        kwh_in[b] += kwh
        count[b] += 1
    out = []
    op = tot = kwh = 0.0
    for b in range(max_points):
        if count[b]:
            op += op_in[b]
            tot += tot_in[b]
            kwh += kwh_in[b]
            out.append((last if b == max_points - 1 else first + (b + 1) * width, op, tot, kwh))
    return out
