"""``wattwatch report PATH...``: the runs in emissions.csv files (or folders of them), and their total.

One line per run -- status, duration, kWh by component (GPU, CPU, RAM, total with PUE), kg CO2eq, the carbon
intensity's source and the measurement method -- then the totals across runs: a project's cumulative footprint
(every rerun and abandoned run counts; the total is what the planet sees). ``--json`` prints the same as JSON.

A run whose row still says ``running`` was either still going or killed without a chance to write its end
(``kill -9``, out of memory, lost node); it is shown as such, with the time of its last flush (the row's
``timestamp``) and the totals up to then, which the totals include.

Folders are searched recursively for ``*.csv`` files with wattwatch/CodeCarbon columns (time series files are
skipped). A run found in several files is counted once (the row with the latest ``timestamp`` wins).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from wattwatch.errors import UsageError
from wattwatch.result import EmissionsData

__all__ = ["HELP", "ReportRun", "add_arguments", "collect_runs", "find_files", "run", "totals"]

HELP = "Table of tracked runs (status, duration, kWh by component, kg CO2) and their totals."

_REQUIRED = {"run_id", "energy_consumed", "emissions"}


@dataclass(frozen=True)
class ReportRun:
    """One run as read from a file."""

    data: EmissionsData
    path: Path

    @property
    def method(self) -> str:
        d = self.data
        parts = [
            f"{c}={m}" for c, m in (("gpu", d.gpu_method), ("cpu", d.cpu_method), ("ram", d.ram_method)) if m
        ]
        return " ".join(parts)


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
    """Runs from every file (deduplicated by ``run_id``) and notes about files that were skipped."""
    from wattwatch.sinks.csv import read_rows

    notes: list[str] = []
    by_id: dict[str, ReportRun] = {}
    order: list[str] = []
    for f in find_files(paths):
        try:
            header, rows = read_rows(f)
        except (OSError, UnicodeDecodeError) as exc:
            notes.append(f"skipped {f}: {exc}")
            continue
        if not _REQUIRED <= set(header) or "run_node" in header:
            continue  # not an emissions file (or a distributed run's per-node breakdown)
        for i, row in enumerate(rows, start=2):
            try:
                data = EmissionsData.from_row(row)
            except ValueError as exc:
                notes.append(f"skipped {f} line {i}: {exc}")
                continue
            key = data.run_id or f"{f}:{i}"
            old = by_id.get(key)
            if old is None:
                order.append(key)
                by_id[key] = ReportRun(data, f)
            elif data.timestamp >= old.data.timestamp:
                by_id[key] = ReportRun(data, f)
    for raw in paths:  # distributed runs whose parts never made it into a row (copied from nodes, say)
        for data, where in _runs_from_parts(Path(raw)):
            if data.run_id and data.run_id not in by_id:
                order.append(data.run_id)
                by_id[data.run_id] = ReportRun(data, where)
    runs = sorted(
        (by_id[k] for k in order), key=lambda r: (r.data.start_time or r.data.timestamp, r.data.run_id)
    )
    return runs, notes


def _runs_from_parts(folder: Path) -> list[tuple[EmissionsData, Path]]:
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
    """Sums across runs: seconds, kWh by component and in total, kg CO2eq, water (L), runs per status."""
    status: dict[str, int] = {}
    for r in runs:
        status[r.data.status] = status.get(r.data.status, 0) + 1
    energy = sum(r.data.energy_consumed for r in runs)
    kg = sum(r.data.emissions for r in runs)
    return {
        "runs": len(runs),
        "by_status": status,
        "duration_s": sum(r.data.duration for r in runs),
        "gpu_energy_kwh": sum(r.data.gpu_energy for r in runs),
        "cpu_energy_kwh": sum(r.data.cpu_energy for r in runs),
        "ram_energy_kwh": sum(r.data.ram_energy for r in runs),
        "energy_kwh": energy,
        "emissions_kg": kg,
        "water_l": sum(r.data.water_consumed for r in runs),
        "intensity_g_per_kwh": kg * 1000.0 / energy if energy > 0 else None,
    }


def _age(stamp: str, now: datetime) -> str:
    try:
        then = datetime.fromisoformat(stamp)
    except ValueError:
        return ""
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    s = max(0.0, (now - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.0f} {unit} ago"
    return f"{s:.0f} s ago"


def _duration(s: float) -> str:
    h, rem = divmod(int(round(s)), 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}"


def _kwh(v: float) -> str:
    return f"{v:.4g}"


def _run_json(r: ReportRun) -> dict[str, Any]:
    d = r.data
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
        "intensity_g_per_kwh": d.intensity_g_per_kwh,
        "intensity_source": d.intensity_source,
        "gpu_method": d.gpu_method,
        "cpu_method": d.cpu_method,
        "ram_method": d.ram_method,
        "steps": d.steps,
        "hostname": d.hostname,
        "file": str(r.path),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="emissions.csv files or folders holding them"
    )
    parser.add_argument("--json", action="store_true", help="print runs and totals as JSON")
    parser.add_argument("--project", help="only runs of this project")


def run(args: argparse.Namespace) -> int:
    """Print the table and the totals (or JSON)."""
    runs, notes = collect_runs(list(args.paths))
    if args.project:
        runs = [r for r in runs if r.data.project_name == args.project]
    if not runs and not args.json:
        raise UsageError(f"no wattwatch runs found in {', '.join(args.paths)}")
    tot = totals(runs)
    if args.json:
        print(json.dumps({"runs": [_run_json(r) for r in runs], "totals": tot, "notes": notes}, indent=2))
        return 0
    now = datetime.now(timezone.utc)
    header = ("run", "project", "status", "duration", "GPU kWh", "CPU kWh", "RAM kWh", "kWh", "kg CO2eq")
    rows: list[tuple[str, ...]] = []
    for r in runs:
        d = r.data
        rows.append(
            (
                d.run_id[:8],
                d.project_name,
                d.status,
                _duration(d.duration),
                _kwh(d.gpu_energy),
                _kwh(d.cpu_energy),
                _kwh(d.ram_energy),
                _kwh(d.energy_consumed),
                f"{d.emissions:.4g}",
            )
        )
    rows.append(
        (
            "TOTAL",
            f"{tot['runs']} run(s)",
            ", ".join(f"{n} {s}" for s, n in sorted(tot["by_status"].items())),
            _duration(tot["duration_s"]),
            _kwh(tot["gpu_energy_kwh"]),
            _kwh(tot["cpu_energy_kwh"]),
            _kwh(tot["ram_energy_kwh"]),
            _kwh(tot["energy_kwh"]),
            f"{tot['emissions_kg']:.4g}",
        )
    )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    numeric = set(range(3, len(header)))

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for row in rows[:-1]:
        print(fmt(row))
    print("  ".join("-" * w for w in widths))
    print(fmt(rows[-1]))
    print()
    for r in runs:
        d = r.data
        extra = ""
        if d.status == "running":
            extra = f"; still running or killed: last flush {d.timestamp} ({_age(d.timestamp, now)}), totals up to then"
        print(
            f"{d.run_id[:8]}: {d.intensity_g_per_kwh:.0f} g/kWh from {d.intensity_source or 'unknown source'}; "
            f"{r.method or 'no method recorded'}{extra}"
        )
    if tot["intensity_g_per_kwh"] is not None:
        print(
            f"total: {tot['energy_kwh']:.6g} kWh, {tot['emissions_kg']:.6g} kg CO2eq over {tot['runs']} run(s) "
            "-- every run counts, finished or not: the total is what the atmosphere sees"
        )
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
