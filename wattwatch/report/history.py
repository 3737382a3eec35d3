"""The runs of a history of ``emissions.csv`` files, read whole: :class:`ReportRun` (one row and its file),
:func:`collect_runs` (every file, journal and distributed part under some paths, one row per run segment),
:func:`totals` and the per-run figures the report prints (energy per token, embodied CO2, JSON).

``wattwatch report`` itself streams large histories through :mod:`wattwatch.report.rollup`, which keeps a few
numbers per row and reads a row whole (as a :class:`ReportRun`) only when it lists it. Units: kWh, kg CO2eq,
seconds, joules per token, grams CO2eq per kWh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from wattwatch.result import EmissionsData

__all__ = [
    "NOT_A_RUN",
    "RUN_FIGURES",
    "ReportRun",
    "collect_runs",
    "embodied_kg",
    "energy_text",
    "find_files",
    "journal_folders",
    "joules_per_token",
    "kwh_text",
    "mass_text",
    "merge_segments",
    "per_unit_energy_kwh",
    "row_intensity",
    "run_json",
    "runs_from_parts",
    "totals",
]


_REQUIRED = {"run_id", "energy_consumed", "emissions"}

RUN_FIGURES = ("run_id", "duration", "energy_consumed", "emissions")
"""Cells every writer of a run's row fills (wattwatch, CodeCarbon): a row with none of them -- a stray line of
text, a line cut to its first cells -- is not a run, and is skipped with a note (:data:`NOT_A_RUN`)."""

NOT_A_RUN = "not a run (no run_id, duration, energy_consumed or emissions)"


@dataclass(frozen=True)
class ReportRun:
    """One run as read from a file."""

    data: EmissionsData
    path: Path
    rows: int = 1
    """How many segment rows ``data`` combines (two retries from one checkpoint: two rows, one number)."""
    segments_train_kwh: tuple[float, ...] = ()
    """Each combined segment's training energy (kWh, in segment order;
    :func:`wattwatch.report.segments.segments_training_kwh`) when ``data`` combines several rows: the per-unit
    figures divide their sum, not the training energy of the summed phases (``()``: one row, ``data``'s own)."""

    @property
    def train_kwh_by_segment(self) -> tuple[float, ...]:
        """The training energy of each of the run's segments (kWh): what its per-unit figures divide
        (:func:`wattwatch.measure.figures.run_joules_per`)."""
        return self.segments_train_kwh or (per_unit_energy_kwh(self.data),)

    def joules_per(self, count: int | None) -> float | None:
        """The run's J per unit of ``count`` (:func:`wattwatch.measure.figures.run_joules_per`)."""
        from wattwatch.measure.figures import run_joules_per

        return run_joules_per(self.train_kwh_by_segment, count)

    @property
    def segments(self) -> int:
        """The run's process segments: the rows combined, or more where earlier segments' rows are elsewhere."""
        return max(self.rows, self.data.resumed_segments + 1)

    @property
    def method(self) -> str:
        d = self.data
        parts = [
            f"{c}={m}" for c, m in (("gpu", d.gpu_method), ("cpu", d.cpu_method), ("ram", d.ram_method)) if m
        ]
        return " ".join(parts)

    @property
    def band(self) -> str:
        """``"band 9.8 to 15.2 Wh (gpu=nvml-counter cpu=tdp-model); slices cpu=vm-vcpu/machine"`` or ``""``
        for a row without a band (CodeCarbon's, an older wattwatch's)."""
        d = self.data
        slices = " ".join(
            f"{c}={s}" for c, s in (("gpu", d.gpu_slice), ("cpu", d.cpu_slice), ("ram", d.ram_slice)) if s
        )
        text = ""
        if d.energy_low_kwh is not None and d.energy_high_kwh is not None:
            text = (
                f"band {energy_text(d.energy_low_kwh, d.energy_high_kwh)} ({d.energy_band or 'no rule'})"
            )
        if slices:
            text = f"{text}; slices {slices}" if text else f"slices {slices}"
        return text


def per_unit_energy_kwh(data: EmissionsData) -> float:
    """The energy per-step/sample/token figures divide: training's (the ``train`` phase, else the unphased
    time, else the run's; evaluation, checkpoints and inference excluded, as the callbacks' logs), kWh, PUE
    applied: :func:`wattwatch.measure.figures.training_energy_kwh`."""
    from wattwatch.measure.figures import training_energy_kwh

    return training_energy_kwh(data.phase_energy_kwh, data.energy_consumed)


def embodied_kg(data: EmissionsData) -> tuple[float, bool]:
    """The run's embodied kg CO2eq and whether it was computed here: the row's ``embodied_emissions``, or -- for a
    row written before wattwatch recorded it -- its share computed from the row's hardware (Boavizta data, 4-year
    life, use ratio 1; see :mod:`wattwatch.carbon.embodied`)."""
    if data.embodied_emissions is not None:
        return float(data.embodied_emissions), False
    from wattwatch.carbon.embodied import embodied_for_run

    return embodied_for_run(data).kg, True


def joules_per_token(data: EmissionsData) -> float | None:
    """Energy per token, J (see :func:`per_unit_energy_kwh`); ``None`` when the run recorded no tokens."""
    if not data.tokens or data.tokens <= 0:
        return None
    return per_unit_energy_kwh(data) * 3.6e6 / data.tokens


def find_files(paths: list[str]) -> list[Path]:
    """The CSV files named by ``paths`` (files as given; folders searched recursively, time series skipped)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out += sorted(
                f
                for f in p.rglob("*.csv")
                if f.is_file() and not f.name.endswith((".timeseries.csv", ".nodes.csv"))
            )
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {raw}")
    return out


def collect_runs(paths: list[str]) -> tuple[list[ReportRun], list[str]]:
    """Runs from every file and from the journals of runs not yet in a file, and notes about what was skipped.

    Each process segment of a resumed run has its own row, holding its own energy, so the segments add up; a
    segment is ``(run_id, resumed_segments, start_time)`` (two retries from one checkpoint are two segments).
    When the same segment appears more than once (a copy of the file, CodeCarbon's columns in ``emissions.csv``
    and the full row in ``emissions.wattwatch.csv``, a journal and its row), the fuller row wins, then the latest
    ``timestamp`` (:class:`wattwatch.report.segments.SegmentWinners`). Folders are opened as a tracker's ``start()``
    opens them: the journals of processes that are gone are first turned into their rows
    (:func:`wattwatch.sinks.journal.finalize_stale`; best effort, a read-only folder is only read). Files are
    streamed: memory holds one row at a time plus the runs found."""
    from wattwatch.report.segments import SegmentWinners
    from wattwatch.sinks.emissions_reader import TableReader
    from wattwatch.sinks.journal import finalize_stale, read_journals

    notes: list[str] = []
    found: SegmentWinners[ReportRun] = SegmentWinners()
    ids: set[str] = set()

    def add(data: EmissionsData, where: Path, full: bool, fallback: str) -> None:
        rid = data.run_id or fallback
        ids.add(rid)
        found.add(ReportRun(data, where), rid, data.resumed_segments, data.start_time, (full, data.timestamp))

    folders = journal_folders(paths)
    for folder in folders:
        finalize_stale(folder)
    for f in find_files(paths):
        try:
            with TableReader(f) as reader:
                header = set(reader.header)
                if not _REQUIRED <= header or "run_node" in header:
                    continue  # not an emissions file (or a distributed run's per-node breakdown)
                full = "status" in header
                for i, row in enumerate(reader, start=2):
                    if not any(row.get(name) for name in RUN_FIGURES):
                        notes.append(f"skipped {f} line {i}: {NOT_A_RUN}")
                        continue
                    try:
                        data = EmissionsData.from_row(row)
                    except ValueError as exc:
                        notes.append(f"skipped {f} line {i}: {exc}")
                        continue
                    add(data, f, full, f"{f}:{i}")
                notes.extend(reader.notes)
        except OSError as exc:
            notes.append(f"skipped {f}: {exc}")
    for folder in folders:  # runs still going, or whose row could not be written yet
        entries, skipped = read_journals(folder)
        notes.extend(skipped)
        for entry in entries:
            try:
                add(EmissionsData.from_row(entry.row), entry.path, True, str(entry.path))
            except ValueError as exc:
                notes.append(f"skipped journal {entry.path}: {exc}")
    for raw in paths:  # distributed runs whose parts never made it into a row (copied from nodes, say)
        for data, where in runs_from_parts(Path(raw)):
            if data.run_id and data.run_id not in ids:
                add(data, where, True, str(where))
    return merge_segments(found.winners()), notes


def merge_segments(rows: list[ReportRun]) -> list[ReportRun]:
    """One run per run id (issue 24: one run, one line): a resumed run's segment rows combined
    (:func:`wattwatch.report.segments.combine_segments`; the file is the last segment's), rows without a run id
    each their own run; in ``wattwatch report``'s order (by the run's start, then run id)."""
    from wattwatch.report.segments import combine_segments, segment_order, segments_training_kwh

    by_run: dict[str, list[ReportRun]] = {}
    alone: list[ReportRun] = []
    for r in rows:
        if r.data.run_id:
            by_run.setdefault(r.data.run_id, []).append(r)
        else:
            alone.append(r)
    runs = alone
    for segments in by_run.values():
        segments.sort(key=lambda r: segment_order(r.data))
        start = min((r.data.start_time or r.data.timestamp) for r in segments)
        data = combine_segments([r.data for r in segments])
        if len(segments) > 1 and not data.start_time:
            data = replace(data, start_time=start)
        trained = segments_training_kwh([r.data for r in segments]) if len(segments) > 1 else ()
        runs.append(ReportRun(data, segments[-1].path, len(segments), trained))
    return sorted(runs, key=lambda r: (_first_start(r, by_run), r.data.run_id))


def _first_start(r: ReportRun, by_run: dict[str, list[ReportRun]]) -> str:
    segments = by_run.get(r.data.run_id) if r.data.run_id else None
    if not segments:
        return r.data.start_time or r.data.timestamp
    return min(s.data.start_time or s.data.timestamp for s in segments)


def journal_folders(paths: list[str]) -> list[Path]:
    """The folders to look for journals in: each folder given (and those below it holding a journal folder),
    and the folder of each file given."""
    from wattwatch.sinks.journal import JOURNAL_DIR

    out: dict[Path, None] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out[p] = None
            for journals in p.rglob(JOURNAL_DIR.name):
                if journals.is_dir() and journals.parent.name == JOURNAL_DIR.parent.name:
                    out[journals.parent.parent] = None
        elif p.is_file():
            out[p.parent] = None
    return list(out)


def runs_from_parts(folder: Path) -> list[tuple[EmissionsData, Path]]:
    """Runs combined from wattwatch part files under ``folder`` (``.wattwatch/parts/<run>/rank-*.json``)."""
    if not folder.is_dir():
        return []
    try:
        from wattwatch.distributed.merge import merge_directories
    except ImportError:  # pragma: no cover - a build without distributed support
        return []
    out: list[tuple[EmissionsData, Path]] = []
    for run_dir in sorted({p.parent for p in folder.rglob("rank-*.json")}):
        try:
            for data in merge_directories([run_dir], run_dir / "unused.csv", write=False):
                out.append((data, run_dir))
        except (FileNotFoundError, ValueError):
            continue
    return out


def totals(runs: list[ReportRun]) -> dict[str, Any]:
    """Sums across runs: seconds, kWh by component and in total, kg CO2eq operational (``emissions_kg``) and
    embodied (``embodied_emissions_kg``, see :func:`embodied_kg`), water (L), runs per status. Sums are
    :func:`math.fsum` (exactly rounded: the same whatever the runs' order, as
    :class:`wattwatch.report.rollup.Rollup` gives them)."""
    status: dict[str, int] = {}
    for r in runs:
        status[r.data.status] = status.get(r.data.status, 0) + 1
    ids = {r.data.run_id for r in runs if r.data.run_id}
    overlapping = [r.data for r in runs if r.data.overlaps_run_id in ids and r.data.overlap_energy_kwh]

    def total(name: str) -> float:  # the energy two runs measured at once, counted once (issue 24)
        twice = (getattr(d, name) * min(1.0, d.overlap_energy_kwh / d.energy_consumed) for d in overlapping
                 if d.energy_consumed > 0 and d.overlap_energy_kwh)  # fmt: skip
        return math.fsum(getattr(r.data, name) for r in runs) - math.fsum(twice)

    energy = total("energy_consumed")
    kg = total("emissions")
    return {
        "runs": len(runs),
        "by_status": status,
        "duration_s": math.fsum(r.data.duration for r in runs),
        "gpu_energy_kwh": total("gpu_energy"),
        "cpu_energy_kwh": total("cpu_energy"),
        "ram_energy_kwh": total("ram_energy"),
        "energy_kwh": energy,
        "emissions_kg": kg,
        "embodied_emissions_kg": math.fsum(embodied_kg(r.data)[0] for r in runs),
        "water_l": total("water_consumed"),
        "overlap_kwh": math.fsum(min(d.overlap_energy_kwh or 0.0, d.energy_consumed) for d in overlapping),
        "energy_low_kwh": _band_total(runs, "energy_low_kwh"),
        "energy_high_kwh": _band_total(runs, "energy_high_kwh"),
        "intensity_g_per_kwh": kg * 1000.0 / energy if energy > 0 else None,
    }


def _band_total(runs: list[ReportRun], name: str) -> float | None:
    """The runs' band ends summed; ``None`` when a run has no band (its error is unknown, so is the total's)."""
    values = [getattr(r.data, name) for r in runs]
    return None if any(v is None for v in values) else math.fsum(values)


def kwh_text(v: float) -> str:
    return f"{v:.4g}"


_ENERGY_UNITS = ((1000.0, "MWh", 1e-3), (1.0, "kWh", 1.0), (1e-3, "Wh", 1e3))
_MASS_UNITS = ((1000.0, "t", 1e-3), (1.0, "kg", 1.0), (1e-3, "g", 1e3))


def _plain(v: float, digits: int = 3) -> str:
    """``v`` to ``digits`` significant digits, never in exponent notation (``0.0012``, ``32``, ``10.1``)."""
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    decimals = min(12, max(0, digits - 1 - math.floor(math.log10(abs(v)))))
    text = f"{v:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _scaled(values: tuple[float, ...], units: tuple[tuple[float, str, float], ...], last: tuple[str, float]) -> str:
    """The values in the one unit that puts the largest at 1 or more (``last``: the unit below the table)."""
    top = max(abs(v) for v in values)
    name, factor = last
    for floor, unit, scale in units:
        if top >= floor:
            name, factor = unit, scale
            break
    return " to ".join(_plain(v * factor) for v in values) + f" {name}"


def energy_text(kwh: float, high_kwh: float | None = None) -> str:
    """Energy (kWh) in a unit a person reads at a glance: ``2.4 kWh``, ``350 Wh``, ``10.1 J``; with
    ``high_kwh``, a range in one unit: ``10.1 to 32 J`` (never ``2.8e-06-8.9e-06``)."""
    values = (kwh,) if high_kwh is None else (kwh, high_kwh)
    return _scaled(values, _ENERGY_UNITS, ("J", 3.6e6))


def mass_text(kg: float) -> str:
    """CO2 mass (kg CO2eq) in a readable unit: ``1.2 t``, ``3.4 kg``, ``560 g``, ``12 mg``."""
    return _scaled((kg,), _MASS_UNITS, ("mg", 1e6))


def run_json(r: ReportRun) -> dict[str, Any]:
    """One run for ``--json``: its segments together (``segments``: how many), per-unit figures over training's
    energy, inference's apart (:mod:`wattwatch.measure.figures`)."""
    from wattwatch.measure.figures import inference_energy_kwh, joules_per

    d = r.data
    g_per_kwh, source = row_intensity(d)
    return {
        "run_id": d.run_id,
        "project_name": d.project_name,
        "experiment_id": d.experiment_id,
        "status": d.status,
        "start_time": d.start_time,
        "last_write": d.timestamp,
        "duration_s": d.duration,
        "gpu_energy_kwh": d.gpu_energy,
        "cpu_energy_kwh": d.cpu_energy,
        "ram_energy_kwh": d.ram_energy,
        "energy_kwh": d.energy_consumed,
        "emissions_kg": d.emissions,
        "intensity_g_per_kwh": g_per_kwh,
        "intensity_source": source,
        "gpu_method": d.gpu_method,
        "cpu_method": d.cpu_method,
        "ram_method": d.ram_method,
        "gpu_slice": d.gpu_slice,
        "cpu_slice": d.cpu_slice,
        "ram_slice": d.ram_slice,
        "energy_low_kwh": d.energy_low_kwh,
        "energy_high_kwh": d.energy_high_kwh,
        "energy_band": d.energy_band,
        "segments": r.segments,
        "steps": d.steps,
        "samples": d.samples,
        "tokens": d.tokens,
        "joules_per_step": r.joules_per(d.steps),
        "joules_per_sample": r.joules_per(d.samples),
        "joules_per_token": r.joules_per(d.tokens),
        "requests": d.requests,
        "generated_tokens": d.generated_tokens,
        "joules_per_request": joules_per(inference_energy_kwh(d.phase_energy_kwh, d.request_phases), d.requests),
        "joules_per_generated_token": joules_per(
            inference_energy_kwh(d.phase_energy_kwh, d.request_phases), d.generated_tokens
        ),
        "overlaps_run_id": d.overlaps_run_id,
        "overlap_energy_kwh": d.overlap_energy_kwh,
        "embodied_emissions_kg": embodied_kg(d)[0],
        "embodied_source": d.embodied_source
        if d.embodied_emissions is not None
        else "computed at report time",
        "eval_metrics": d.eval_metrics,
        "hostname": d.hostname,
        "file": str(r.path),
    }


def row_intensity(data: EmissionsData) -> tuple[float, str]:
    """The run's carbon intensity (g CO2eq/kWh) and where it came from: the row's own ``intensity_g_per_kwh``
    and ``intensity_source`` where it has them; for a row without them (CodeCarbon's, an older wattwatch's) the
    row's emissions over its energy, which is the intensity that tool applied, with the place the row names.
    ``(0.0, "")`` for a row without energy."""
    if data.intensity_source or data.intensity_g_per_kwh > 0:
        return data.intensity_g_per_kwh, data.intensity_source
    if not data.energy_consumed > 0 or not math.isfinite(data.emissions):
        return 0.0, ""
    if data.on_cloud == "Y" and data.cloud_provider:
        place = f"{data.cloud_provider} {data.cloud_region}".strip()
    else:
        place = ", ".join(p for p in (data.country_name or data.country_iso_code, data.region) if p)
    where = f" ({place})" if place else ""
    return data.emissions * 1000.0 / data.energy_consumed, f"the row's emissions / energy{where}"
