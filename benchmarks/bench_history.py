"""Figure H: a run's cost against the history of the ``emissions.csv`` it writes into (issue 13).

For each history size (10, 20,000 and 200,000 earlier rows of ~1 KB, every one of the 38 CodeCarbon columns and
wattwatch's own filled, as a long-lived project folder holds them), a fresh process starts a real
:class:`wattwatch.Tracker` (one in-process constant-power GPU channel from ``tests/support/fakesensors.py``,
time series on, no background flush during the timing) in that folder and measures:

- ``flush_cpu_ms``: CPU time of the calling thread per explicit ``Tracker.flush()`` (median of ``--flushes``);
- ``start_ms`` / ``stop_ms``: wall time of ``start()`` and ``stop()``;
- ``peak_rss_mib``: the child's peak resident memory (``ru_maxrss``), the same process that imported wattwatch.

The history file is ``fsync``ed before the measuring process starts, as a long-lived folder's would be.

Usage: ``python benchmarks/bench_history.py [--sizes 10 20000 200000] [--flushes 30]`` prints one JSON line per
size; ``--write`` measures figures H1-H3 and puts them into ``benchmarks/RESULTS.md`` (the rest of the file is
kept); ``run_all.py`` measures them with every other figure. Goal at 200,000 rows: a flush <= 5 ms CPU, ``stop()`` <= 100
ms more than with 10 rows, peak memory flat.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RESULTS, ROOT, Figure, render_table

__all__ = ["SIZES", "history_row", "make_history", "measure", "record_results", "run_size"]

SIZES = (10, 20_000, 200_000)


def history_row(i: int) -> dict[str, str]:
    """A realistic earlier row (~1 KB): every column filled as a finished 8-GPU run's would be."""
    from wattwatch.result import EmissionsData

    gpus = {f"gpu:{g}": 0.0123456789 * (g + 1) for g in range(8)}
    data = EmissionsData(
        timestamp="2026-06-01T12:00:00+00:00",
        project_name="llm-finetune",
        run_id=f"{i:08d}-7a1b-4c2d-9e3f-0123456789ab",
        experiment_id="exp-42",
        duration=3600.123456789,
        emissions=0.0123456789012,
        emissions_rate=3.429e-06,
        cpu_power=95.123456789,
        gpu_power=1800.98765432,
        ram_power=18.7654321,
        cpu_energy=0.0951234567,
        gpu_energy=1.80098765432,
        ram_energy=0.0187654321,
        energy_consumed=1.91487654321,
        water_consumed=0.0,
        country_name="France",
        country_iso_code="FRA",
        region="",
        os="Linux-6.8.0-x86_64-with-glibc2.39",
        python_version="3.11.7",
        cpu_count=64.0,
        cpu_model="AMD EPYC 7763 64-Core Processor",
        gpu_count=8.0,
        gpu_model="8 x NVIDIA A100-SXM4-80GB",
        ram_total_size=1007.7,
        status="completed",
        wattwatch_version="0.1.0",
        start_time="2026-06-01T11:00:00+00:00",
        gpu_method="counter",
        cpu_method="rapl",
        ram_method="model:dimm-3W/8GB",
        intensity_source="country: France (FRA), CodeCarbon's global energy mix",
        intensity_g_per_kwh=56.0,
        phase_energy_kwh={"train": 1.7, "eval": 0.15, "checkpoint": 0.0648765},
        phase_emissions_kg={"train": 0.0952, "eval": 0.0084, "checkpoint": 0.00363},
        gpu_energy_by_device_kwh=gpus,
        readings=36000,
        steps=12000,
        samples=384000,
        tokens=196608000,
        hostname="gpu-node-017",
        ownership="GPU[LOCAL_RANK] of the visible GPUs; CPU and RAM by local rank 0",
    )
    return data.to_row()


def make_history(path: Path, n: int) -> int:
    """Write ``path`` with the header and ``n`` rows; returns its size in bytes."""
    import csv
    import io

    from wattwatch.result import COLUMNS

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    template = history_row(0)
    line_io = io.StringIO()
    csv.writer(line_io, lineterminator="\n").writerow([template[c] for c in COLUMNS])
    line = line_io.getvalue()
    prefix = template["run_id"]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(buf.getvalue())
        for i in range(n):
            fh.write(line.replace(prefix, f"{i:08d}{prefix[8:]}", 1))
        fh.flush()
        # A project folder's history has long been on disk: without this, stop()'s fsync of the appended row
        # would also write back the 200 MB the benchmark has just generated, and time that instead.
        os.fsync(fh.fileno())
    return path.stat().st_size


def _child(folder: str, flushes: int) -> dict[str, Any]:
    """In the measuring process: start, flush ``flushes`` times, stop."""
    import logging

    sys.path.insert(0, str(ROOT / "tests" / "support"))
    from fakesensors import ConstantPowerSensor

    from wattwatch import Tracker

    logging.disable(logging.CRITICAL)
    tracker = Tracker(
        output_dir=folder, country_iso_code="FRA", sensors=[ConstantPowerSensor(300.0)],
        measure_power_secs=0.5, flush_every_s=3600.0, handle_signals=False,
    )  # fmt: skip
    t = time.perf_counter()
    tracker.start()
    start_s = time.perf_counter() - t
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(flushes):
        c, w = time.thread_time(), time.perf_counter()
        tracker.flush()
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - w)
    t = time.perf_counter()
    data = tracker.stop()
    stop_s = time.perf_counter() - t
    assert data is not None and data.status == "completed", data
    return {
        "flush_cpu_ms": statistics.median(cpu) * 1000,
        "flush_wall_ms": statistics.median(wall) * 1000,
        "start_ms": start_s * 1000,
        "stop_ms": stop_s * 1000,
    }


def run_size(n: int, flushes: int = 30) -> dict[str, Any]:
    """One fresh process tracking into a folder with ``n`` earlier rows; its figures and peak RSS (MiB)."""
    with tempfile.TemporaryDirectory(prefix="wattwatch-bench-history-") as tmp:
        csv_path = Path(tmp) / "emissions.csv"
        size = make_history(csv_path, n)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", tmp, "--flushes", str(flushes)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        out, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"bench_history child failed for {n} rows:\n{err[-2000:]}")
        # communicate() reaped it; its peak RSS is in the children's rusage of this process (max so far)
        result = json.loads(out.strip().splitlines()[-1])
        result.update(rows=n, csv_mb=size / 1e6, peak_rss_mib=result.pop("peak_rss_mib"))
        added = csv_path.stat().st_size - size
        result["bytes_added"] = added
        return result


def measure(sizes: tuple[int, ...] = SIZES, flushes: int = 30) -> list[Figure]:
    """Figures H1-H3 (wattwatch only: CodeCarbon appends a row per flush by default, so its cost does not grow
    either; the issue is wattwatch's own earlier rewrite-the-file design)."""
    results = [run_size(n, flushes) for n in sizes]
    small, big = results[0], results[-1]
    per_size = "; ".join(
        f"{r['rows']:,} rows ({r['csv_mb']:.0f} MB): flush {r['flush_cpu_ms']:.2f} ms CPU, start "
        f"{r['start_ms']:.0f} ms, stop {r['stop_ms']:.0f} ms, peak {r['peak_rss_mib']:.1f} MiB"
        for r in results
    )
    note = (
        f"`python benchmarks/bench_history.py --sizes {' '.join(map(str, sizes))} --flushes {flushes}`: one fresh "
        "process per size, real Tracker (1 constant-power fake GPU, time series on) in a folder whose "
        f"emissions.csv holds that many ~1 KB rows (all columns filled). {per_size}."
    )
    na = "— (not compared)"
    return [
        Figure(
            "H1", f"flush CPU with {big['rows']:,} earlier rows", big["flush_cpu_ms"], None, "ms", "<= 5 ms",
            big["flush_cpu_ms"] <= 5.0, note=note, cc_text=na,
            ww_text=f"{big['flush_cpu_ms']:.2f} ms (10 rows: {small['flush_cpu_ms']:.2f} ms)",
        ),
        Figure(
            "H2", f"stop() time, {big['rows']:,} rows minus 10 rows", big["stop_ms"] - small["stop_ms"], None,
            "ms", "<= 100 ms", big["stop_ms"] - small["stop_ms"] <= 100.0, cc_text=na,
            ww_text=f"{big['stop_ms'] - small['stop_ms']:+.1f} ms ({small['stop_ms']:.1f} -> {big['stop_ms']:.1f} ms)",
        ),
        Figure(
            "H3", f"peak RSS, {big['rows']:,} rows minus 10 rows", big["peak_rss_mib"] - small["peak_rss_mib"],
            None, "MiB", "flat (<= 2 MiB)", big["peak_rss_mib"] - small["peak_rss_mib"] <= 2.0, cc_text=na,
            ww_text=f"{big['peak_rss_mib'] - small['peak_rss_mib']:+.2f} MiB "
            f"({small['peak_rss_mib']:.1f} -> {big['peak_rss_mib']:.1f} MiB)",
        ),
    ]  # fmt: skip


def record_results(figures: list[Figure], command: str, path: Path = RESULTS) -> str:
    """Put figures H1-H3 into ``path`` (benchmarks/RESULTS.md) without rerunning the other benchmarks: their
    table rows replace earlier H rows (or follow the table), their notes replace earlier H notes (or end the
    notes), each note saying which command measured it and when. Returns the new text."""
    from datetime import datetime, timezone

    text = path.read_text() if path.exists() else "| # | figure |\n|---|---|\n\n## Notes\n\n"
    lines = [ln for ln in text.splitlines() if not ln.startswith(("| H", "- **H"))]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = render_table(figures).splitlines()[2:]
    notes = [f"- **{f.key}. {f.name}**: {f.note} Measured by `{command}` on {stamp}." for f in figures if f.note]
    notes += [
        f"- **{f.key}. {f.name}**: see H1 (same run, `{command}`, {stamp})." for f in figures if not f.note
    ]
    table_end = max(i for i, ln in enumerate(lines) if ln.startswith("|")) + 1
    lines[table_end:table_end] = rows
    notes_at = lines.index("## Notes") if "## Notes" in lines else len(lines)
    end = notes_at + 1
    while end < len(lines) and not lines[end].startswith("## "):
        end += 1
    while end > notes_at + 1 and not lines[end - 1].strip():
        end -= 1
    lines[end:end] = notes
    out = "\n".join(lines) + "\n"
    path.write_text(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--flushes", type=int, default=30)
    parser.add_argument("--write", action="store_true", help="put figures H1-H3 into benchmarks/RESULTS.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import resource

        result = _child(args.child, args.flushes)
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(json.dumps(result))
        return 0
    if args.write:
        figures = measure(tuple(args.sizes), args.flushes)
        command = f"python benchmarks/bench_history.py --sizes {' '.join(map(str, args.sizes))} --write"
        record_results(figures, command)
        print(render_table(figures))
        return 0
    for n in args.sizes:
        print(json.dumps(run_size(n, args.flushes)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
