"""``wattwatch check PATH...``: every figure recomputed from the energy it comes from (issue 24, item 10).

For every run under the paths -- its rows in the emissions files (one per process segment), its journal while it
runs, its time series -- the checks below recompute what a figure must be from the figures it derives from, and
each disagreement is one :class:`Problem`. No peer lets users audit its numbers; the test suite runs the same
checks on every row a test's trackers write (``tests/conftest.py``), so a new feature cannot break an
invariant silently.

Per row (a row wattwatch wrote: ``wattwatch_version`` set; CodeCarbon's rows are only read):

- **components**: CPU + GPU + RAM energy = ``energy_consumed``; the GPUs' per-device energies = GPU energy;
- **phases**: the phases' energies = ``energy_consumed``, their CO2 = ``emissions``;
- **mean powers**: each component's power = its energy / the duration (the compatibility classes': over the span
  its channel was read, within :data:`SPAN_SLACK_S` of the duration); ``emissions_rate`` = emissions / duration;
- **intensity**: ``emissions`` = ``energy_consumed`` (PUE applied) x ``intensity_g_per_kwh``; water = energy x WUE;
- **band**: ``energy_low_kwh`` <= ``energy_consumed`` <= ``energy_high_kwh``;
- **embodied**: ``embodied_emissions`` = the row's hardware footprint x the slice and the share of life its
  ``embodied_source`` states (recomputed with :mod:`wattwatch.carbon.embodied`);
- **overlap**: ``overlap_energy_kwh`` <= ``energy_consumed``.

Per run (its segments together):

- **segments**: a later segment's counts (steps, samples, tokens) are not smaller than an earlier one's; the
  run's J/token as ``wattwatch report`` shows it (:func:`wattwatch.report.segments.combine_segments`) is the
  training energy of every segment over the last segment's tokens;
- **time series**: for a run that has ended (no ``running`` or ``interrupted`` segment), the series' last cumulative energy is the
  energy of its rows (within 0.5 %: :data:`SERIES_TOLERANCE`), and its time never goes back.

A row's ``status`` is data: statuses other versions or features add are not errors. Units: kWh, kg CO2eq, W, s.
Tolerances are relative, for floating-point rounding (:data:`REL`), except the series'.
"""

from __future__ import annotations

import itertools
import json
import math
import operator
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wattwatch.result import EmissionsData
from wattwatch.sinks.emissions_reader import TableLayout, table_layout

if TYPE_CHECKING:
    from wattwatch.report.check_scan import FileFindings

__all__ = [
    "CHECKED", "REL", "SERIES_TOLERANCE", "CheckReport", "Embodied", "Problem", "Segment", "check_cells",
    "check_paths", "check_row",
]  # fmt: skip

REL = 1e-6
"""Relative tolerance of a recomputed figure (the row's numbers are repr-exact floats; sums are reordered)."""
ABS_KWH = 1e-12
"""Absolute tolerance on energies (kWh) near zero."""
SERIES_TOLERANCE = 0.005
"""The series' last cumulative energy may differ from the rows' by this fraction."""

CHECKED: tuple[str, ...] = (
    "run_id", "resumed_segments", "status", "wattwatch_version", "timestamp", "duration", "cpu_energy",
    "gpu_energy", "ram_energy", "energy_consumed", "emissions", "emissions_rate", "cpu_power", "gpu_power",
    "ram_power", "water_consumed", "wue", "intensity_g_per_kwh", "phase_energy_kwh", "phase_emissions_kg",
    "gpu_energy_by_device_kwh", "energy_low_kwh", "energy_high_kwh", "overlap_energy_kwh", "embodied_emissions",
    "embodied_source", "gpu_model", "gpu_count", "cpu_model", "cpu_count", "ram_total_size", "node_count",
    "steps", "samples", "tokens", "pue", "start_time",
)  # fmt: skip
"""The columns the checks read (column-selective: a damaged cell elsewhere does not matter)."""


@dataclass
class Problem:
    """One disagreement: where (file, line or journal), which run, what."""

    path: Path
    line: int | None
    run_id: str
    what: str

    def __str__(self) -> str:
        where = f"{self.path}" + (f" line {self.line}" if self.line is not None else "")
        return f"{where}: run {_safe(self.run_id)[:40]}: {self.what}"


@dataclass
class CheckReport:
    """What :func:`check_paths` found."""

    problems: list[Problem] = field(default_factory=list)
    rows: int = 0
    runs: int = 0
    series: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _safe(text: str) -> str:
    """``text`` without control characters (it comes from a file anyone may have written)."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _close(a: float, b: float, rel: float = REL, abs_: float = ABS_KWH) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


_I = {name: i for i, name in enumerate(CHECKED)}
_NUMBERS = (
    "duration", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed", "emissions", "emissions_rate",
    "cpu_power", "gpu_power", "ram_power", "water_consumed", "wue",
)  # fmt: skip
"""Numeric cells every wattwatch row has (an empty one reads 0)."""
_AT = [_I[n] for n in _NUMBERS]
_pick = operator.itemgetter(*_AT)
_OPTIONAL = ("intensity_g_per_kwh", "energy_low_kwh", "energy_high_kwh", "overlap_energy_kwh", "embodied_emissions")
_OPT_AT = [_I[n] for n in _OPTIONAL]
_pick_optional = operator.itemgetter(*_OPT_AT)
_PHASES, _PHASE_KG, _DEVICES = _I["phase_energy_kwh"], _I["phase_emissions_kg"], _I["gpu_energy_by_device_kwh"]
_HARDWARE = [_I[n] for n in ("gpu_model", "gpu_count", "cpu_model", "cpu_count", "ram_total_size", "node_count")]
_SOURCE = _I["embodied_source"]
_isclose = math.isclose
_fsum = math.fsum


_MAP_NUMBER = re.compile(r'":(-?[0-9][0-9.eE+-]*)(?=[,}])')
"""A number after a key in a compact JSON object (``{"eval":1.2e-05,"train":0.0004}``, as rows hold them)."""


def _map_sum(cell: str, name: str) -> float | None:
    """The sum of a JSON object cell's numbers (``None`` for an empty cell); ``ValueError`` for anything else.
    A flat object of numbers without escapes (what wattwatch writes) is summed from its text, without building
    the object: half the cost of a check over a long history."""
    if not cell:
        return None
    if cell[0] == "{" and cell[-1] == "}" and "\\" not in cell:
        numbers = _MAP_NUMBER.findall(cell)
        if len(numbers) == cell.count('":'):  # every key's value is a number (no key can hold an unescaped ")
            try:
                total = _fsum(map(float, numbers))
            except ValueError:
                total = math.nan
            if total - total == 0.0:
                return total
    value = json.loads(cell)
    if not isinstance(value, dict):
        raise ValueError(f"column {name!r}: not a JSON object")
    try:
        total = _fsum(value.values())
    except TypeError:
        raise ValueError(f"column {name!r}: not numbers") from None
    if total - total != 0.0:
        raise ValueError(f"column {name!r}: not finite numbers")
    return total


class Embodied:
    """A row's embodied kg recomputed from its hardware, duration and ``embodied_source`` (lifetime, use ratio,
    the ``charged=`` slice), the footprint computed once per hardware and source."""

    def __init__(self) -> None:
        self._per_s: dict[tuple[str, ...], tuple[float, float] | None] = {}

    def __call__(self, hardware: Sequence[str], source: str, duration: float) -> float | None:
        key = (*hardware, source)
        if key in self._per_s:
            hit = self._per_s[key]
        else:
            hit = self._per_s[key] = _footprint_per_s(hardware, source)
        if hit is None:
            return None
        per_s, whole = hit
        return min(whole, per_s * max(0.0, duration))


def _footprint_per_s(hardware: Sequence[str], source: str) -> tuple[float, float] | None:
    """``(kg per second of run, whole footprint kg)`` for a row's hardware cells and embodied source."""
    from wattwatch.carbon.embodied import Hardware, amortise, manufacture_footprint
    from wattwatch.carbon.embodied_slice import parse_charged

    fields = dict(f.split("=", 1) for f in source.split("; ") if "=" in f)
    try:
        lifetime, ratio = float(fields["lifetime_y"]), float(fields["use_ratio"])
        names = ("gpu_model", "gpu_count", "cpu_model", "cpu_count", "ram_total_size", "node_count")
        data = EmissionsData.from_row({n: c for n, c in zip(names, hardware, strict=True) if c})
        hw = Hardware.from_emissions(data, parse_charged(source))
        footprint = manufacture_footprint(hw)
        one = amortise(footprint, 1.0, lifetime_years=lifetime, use_ratio=ratio)
    except (KeyError, ValueError):
        return None
    return one.kg, footprint.kg



SPAN_SLACK_S = 0.01
"""How much shorter than the run a channel's read span may be (s): the compatibility classes' rows give mean
powers as CodeCarbon does, each channel's energy over the span it was read (:mod:`wattwatch.compat.row`), which
starts and ends at the synchronous reads of ``start()`` and ``stop()``, microseconds to a few ms inside it."""


def _power_agrees(watts: float, kwh: float, duration: float) -> bool:
    """A component's mean power is its energy over the duration, or (CodeCarbon's convention) over a read span
    within :data:`SPAN_SLACK_S` of it."""
    joules = kwh * 3.6e6
    if _isclose(watts, joules / duration, rel_tol=REL, abs_tol=1e-9):
        return True
    return watts > 0 and duration - SPAN_SLACK_S <= joules / watts <= duration * (1 + REL)


def check_cells(c: Sequence[str], embodied: Embodied | None = None) -> list[str]:
    """What disagrees in one row wattwatch wrote, its cells in :data:`CHECKED` order; ``[]`` when nothing does."""
    try:
        try:
            duration, cpu, gpu, ram, energy, emissions, rate, cpu_w, gpu_w, ram_w, water, wue = map(float, _pick(c))
        except ValueError:  # an empty cell (reads 0) or a bad one (said below)
            duration, cpu, gpu, ram, energy, emissions, rate, cpu_w, gpu_w, ram_w, water, wue = (
                float(c[k]) if c[k] else 0.0 for k in _AT
            )
        intensity, low, high, overlap, kg = [float(x) if x else None for x in _pick_optional(c)]
        total = duration + energy + emissions + rate + cpu_w + gpu_w + ram_w + water + wue + cpu + gpu + ram
        if total - total != 0.0:
            raise ValueError("a number is not finite")
        phases = _map_sum(c[_PHASES], "phase_energy_kwh")
        phase_kg = _map_sum(c[_PHASE_KG], "phase_emissions_kg")
        devices = _map_sum(c[_DEVICES], "gpu_energy_by_device_kwh")
    except (ValueError, TypeError) as exc:
        return [f"cannot read the row ({exc})"]
    out: list[str] = []
    if not _isclose(cpu + gpu + ram, energy, rel_tol=REL, abs_tol=ABS_KWH):
        out.append(f"components sum to {cpu + gpu + ram:.9g} kWh, energy_consumed is {energy:.9g}")
    if phases is not None and not _isclose(phases, energy, rel_tol=REL, abs_tol=ABS_KWH):
        out.append(f"phases sum to {phases:.9g} kWh, energy_consumed is {energy:.9g}")
    if phase_kg is not None and not _isclose(phase_kg, emissions, rel_tol=REL, abs_tol=1e-15):
        out.append(f"phases' CO2 sums to {phase_kg:.9g} kg, emissions is {emissions:.9g}")
    if devices is not None and not _isclose(devices, gpu, rel_tol=REL, abs_tol=ABS_KWH):
        out.append(f"GPUs sum to {devices:.9g} kWh, gpu_energy is {gpu:.9g}")
    if duration > 0:
        for name, watts, kwh in (("cpu_power", cpu_w, cpu), ("gpu_power", gpu_w, gpu), ("ram_power", ram_w, ram)):
            if not _power_agrees(watts, kwh, duration):
                out.append(f"{name} is {watts:.9g} W, its energy over the duration gives {kwh * 3.6e6 / duration:.9g}")
        if not _isclose(rate, emissions / duration, rel_tol=REL, abs_tol=1e-18):
            out.append(f"emissions_rate is {rate:.9g} kg/s, emissions over the duration give {emissions / duration:.9g}")
    if energy > 0 and intensity is not None and not _isclose(emissions * 1000.0, energy * intensity, rel_tol=REL, abs_tol=1e-12):
        out.append(f"emissions {emissions:.9g} kg, energy (PUE applied) x intensity gives {energy * intensity / 1000.0:.9g}")
    if not _isclose(water, energy * wue, rel_tol=REL, abs_tol=1e-12):
        out.append(f"water_consumed {water:.9g} L, energy x WUE gives {energy * wue:.9g}")
    if low is not None and high is not None and not (low * (1 - REL) - ABS_KWH <= energy <= high * (1 + REL) + ABS_KWH):
        out.append(f"the band {low:.9g}-{high:.9g} kWh does not contain energy_consumed {energy:.9g}")
    if overlap is not None and overlap > energy * (1 + REL) + ABS_KWH:
        out.append(f"overlap_energy_kwh {overlap:.9g} is more than the row's energy {energy:.9g}")
    if kg is not None and "charged=" in c[_SOURCE]:
        expected = (embodied or Embodied())([c[k] for k in _HARDWARE], c[_SOURCE], duration)
        if expected is not None and not _isclose(kg, expected, rel_tol=REL, abs_tol=1e-15):
            out.append(f"embodied_emissions {kg:.9g} kg, its hardware and stated slice give {expected:.9g}")
    return out


def check_row(cells: Mapping[str, str], embodied: Embodied | None = None) -> list[str]:
    """:func:`check_cells` for a row given by column name (a journal's, a test's)."""
    return check_cells([str(cells.get(n, "")) for n in CHECKED], embodied)


# ---------------------------------------------------------------------------------------------- whole paths


@dataclass
class Segment:
    """What a run's checks need of one of its rows (:mod:`wattwatch.report.check_run`)."""

    path: Path
    line: int | None
    segment: int
    start: str
    timestamp: str
    status: str
    full: bool
    """A row wattwatch wrote whole (not CodeCarbon's columns only)."""
    energy: float
    train: float
    counts: tuple[int | None, int | None, int | None]
    data: EmissionsData | None = None


def check_paths(
    paths: Sequence[str], *, run_ids: Collection[str] | None = None, ours_only: bool = False
) -> CheckReport:
    """Check every run under ``paths`` (files, or folders searched as ``wattwatch report`` does; journals of runs
    still going included); ``run_ids``: only those runs; ``ours_only``: only rows wattwatch wrote (the test
    suite checks what its trackers wrote, not the rows tests make up)."""
    from wattwatch.report.history import find_files, journal_folders
    from wattwatch.sinks.journal import read_journals

    report = CheckReport()
    series = _series_files(paths)
    records: list[tuple[Path, TableLayout, FileFindings]] = []
    for f in find_files(list(paths)):
        try:
            layout = table_layout(f)
            if layout is None or not {"run_id", "energy_consumed", "emissions"} <= set(layout.header):
                continue
            if "run_node" in layout.header:
                continue  # a distributed run's per-node breakdown
            from wattwatch.report.check_scan import scan_file

            for found, _ in scan_file(layout, run_ids=run_ids, ours_only=ours_only):
                records.append((f, layout, found))
                report.problems += [Problem(f, n, rid, what) for n, rid, what in found.problems]
                report.notes += [f"{f} line {n}: skipped ({why})" for n, why in found.notes]
                report.rows += len(found.offsets)
        except OSError as exc:
            report.notes.append(f"skipped {f}: {exc}")
    journal_rows: list[tuple[Path, dict[str, str]]] = []
    for folder in journal_folders(list(paths)):
        entries, skipped = read_journals(folder)
        report.notes.extend(skipped)
        for entry in entries:
            row = entry.row
            if (run_ids is not None and row.get("run_id") not in run_ids) or (ours_only and not row.get("wattwatch_version")):
                continue
            journal_rows.append((entry.path, row))
            report.rows += 1
            if row.get("wattwatch_version"):
                report.problems += [Problem(entry.path, None, row.get("run_id", ""), w) for w in check_row(row)]
    runs = _runs_to_check(records, journal_rows, series)
    report.runs = _distinct_runs(records, journal_rows)
    from wattwatch.report.check_run import check_run

    for run_id, segments in runs.items():
        report.problems += check_run(run_id, segments, series.get(run_id))
        report.series += run_id in series
    return report


def _distinct_runs(records: list[tuple[Path, TableLayout, FileFindings]], journals: list[tuple[Path, dict[str, str]]]) -> int:
    """How many run ids the rows have (rows without one: each its own run)."""
    hashes = sorted(itertools.chain.from_iterable(r[2].id_hashes for r in records))
    hashes += [hash(row.get("run_id", "")) for _, row in journals]
    hashes.sort()
    return sum(1 for _ in itertools.groupby(hashes))


def _runs_to_check(
    records: list[tuple[Path, TableLayout, FileFindings]],
    journals: list[tuple[Path, dict[str, str]]],
    series: Mapping[str, Path],
) -> dict[str, list[Segment]]:
    """The runs whose checks need their rows: those with several rows (their id hashed more than once) or a time
    series; their rows read again (a few)."""
    from wattwatch.sinks.emissions_reader import read_row_at

    ordered = sorted(itertools.chain.from_iterable(r[2].id_hashes for r in records))
    twice = set(itertools.compress(ordered, map(operator.eq, ordered, itertools.islice(ordered, 1, None))))
    wanted = twice | {hash(r) for r in series} | {hash(row.get("run_id", "")) for _, row in journals}
    runs: dict[str, list[Segment]] = {}
    for path, layout, found in records:
        for k in itertools.compress(range(len(found.offsets)), map(wanted.__contains__, found.id_hashes)):
            row = read_row_at(layout, found.offsets[k])
            _segment(runs, path, found.lines[k], row)
    for path, row in journals:
        _segment(runs, path, None, row)
    keep = {h for h in twice}
    return {rid: segs for rid, segs in runs.items() if len(segs) > 1 or rid in series or hash(rid) in keep}


def _segment(runs: dict[str, list[Segment]], path: Path, line: int | None, row: Mapping[str, str]) -> None:
    from wattwatch.measure.figures import training_energy_kwh

    run_id = row.get("run_id", "")
    if not run_id:
        return
    data = _data(row)
    if data is None:
        return  # said by the row's own check
    seg = Segment(
        path, line, data.resumed_segments, data.start_time, data.timestamp, data.status,
        bool(row.get("wattwatch_version")) and "status" in row, data.energy_consumed,
        training_energy_kwh(data.phase_energy_kwh, data.energy_consumed), (data.steps, data.samples, data.tokens),
        data,
    )  # fmt: skip
    runs.setdefault(run_id, []).append(seg)


def _data(cells: Mapping[str, str]) -> EmissionsData | None:
    try:
        return EmissionsData.from_row(dict(cells))
    except ValueError:
        return None


def _series_files(paths: Sequence[str]) -> dict[str, Path]:
    from wattwatch.report.runs import _series_files as found

    return found(paths)
