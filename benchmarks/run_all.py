"""Run every benchmark, print one table and rewrite ``benchmarks/RESULTS.md``.

``python benchmarks/run_all.py [--quick]`` (``scripts/bench`` runs it). ``--quick`` shrinks every size (for
trying the harness; its numbers are not the published ones). A figure that fails is written as "not measured"
with the reason, and the others still run.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import (
    bench_accuracy,
    bench_callback,
    bench_check,
    bench_cpu,
    bench_flatness,
    bench_history,
    bench_import,
    bench_kill,
    bench_multirank,
    bench_report_rows,
    bench_startup,
    bench_stop,
    bench_throughput,
)
from benchmarks.common import (
    ROOT,
    Figure,
    readme_from_results,
    render_table,
    update_results,
    write_readme_table,
    write_results,
)

__all__ = ["main"]


def _safe(key: str, name: str, fn: Callable[[], list[Figure]]) -> list[Figure]:
    t = time.perf_counter()
    print(f"== {key}: {name}", flush=True)
    try:
        figs = fn()
    except Exception as exc:  # noqa: BLE001 - one failing figure must not hide the others
        traceback.print_exc()
        figs = [
            Figure(
                key,
                name,
                None,
                None,
                "",
                "—",
                None,
                note=f"not measured: the benchmark failed ({exc!r:.200})",
            )
        ]
    print(f"   done in {time.perf_counter() - t:.0f} s", flush=True)
    return figs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes; numbers not for publishing")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave RESULTS.md alone")
    parser.add_argument(
        "--only",
        metavar="KEYS",
        help=f"run only these figure groups ({', '.join(ONLY)}, comma-separated) and update just their rows of "
        "RESULTS.md",
    )
    args = parser.parse_args(argv)
    q = args.quick
    t0 = time.perf_counter()
    if args.only:
        return _only(args.only.split(","), q, args.no_write, t0)
    figs: list[Figure] = []
    figs += _safe(
        "1/3",
        "startup latency (1, 4, 8 GPUs) and peak RSS",
        lambda: bench_startup.measure(2 if q else 9, (4,) if q else (1, 4, 8), after_rounds=1 if q else 9),
    )
    figs += _safe("2", "import time and memory", lambda: bench_import.measure(3 if q else 15, 1 if q else 5))
    figs += _safe("4", "tracker CPU per hour", lambda: bench_cpu.measure(40 if q else 330, 1))
    figs += _safe("K", "kill -9 loss", lambda: bench_kill.measure((5.0, 25.0) if q else bench_kill.KILL_AT_S))
    figs += _safe("5", "GPU energy error", lambda: bench_accuracy.measure(10 if q else 60))
    sweep: list[dict[str, float]] = []

    def _sweep() -> list[Figure]:
        sweep.extend(bench_accuracy.interval_sweep(seconds=4 if q else 20))
        text = "; ".join(
            f"{r['interval_s']:g} s: error {r['error_pct']:+.3f} %, CPU {r['cpu_pct']:.2f} % of a core"
            for r in sweep
        )
        return [
            Figure(
                "5c",
                "power path by interval (wattwatch, 4 GPUs)",
                None,
                None,
                "",
                "—",
                None,
                ww_text=text,
                cc_text="—",
                note="wattwatch's power path (instant power field, 30 % dither) at each interval, two intervals "
                "tracking at once; CPU = the tracker threads' CPU time / tracked seconds. The data behind "
                "sampler.POWER_INTERVAL_S.",
            )
        ]

    figs += _safe("5c", "power-path interval sweep", _sweep)
    figs += _safe("5d/5e", "AMD GPU energy error", lambda: bench_accuracy.measure_amd(10 if q else 60))
    figs += _safe(
        "6", "training throughput", lambda: bench_throughput.measure(2 if q else 6, 1.0 if q else 3.0)
    )
    figs += _safe("7", "memory flatness", lambda: bench_flatness.measure(0.5 if q else 24.0))
    figs += _safe(
        "8", "multi-rank", lambda: bench_multirank.measure((2,) if q else (2, 4), 4.0 if q else 10.0)
    )
    figs += _safe("9", "stop() p99 with every core busy", lambda: bench_stop.measure(5 if q else 50, rounds=2 if q else 4))
    figs += _safe("10", "HF Trainer callback", lambda: bench_callback.measure(1 if q else 5, 20))
    figs += _safe(
        "11",
        "report and merge at 200,000 rows",
        lambda: bench_report_rows.measure(2000 if q else 200_000, 1 if q else 3),
    )
    figs += _safe("12", "check at 200,000 rows", lambda: bench_check.measure(2000 if q else 200_000, 1 if q else 3))
    figs += _safe(
        "H",
        "cost against emissions.csv history",
        lambda: bench_history.measure((10, 2000) if q else bench_history.SIZES, 5 if q else 30),
    )
    agg = ROOT / "benchmarks" / "bench_aggregation.py"
    if agg.exists():
        figs += _safe("A", "aggregation", lambda: _aggregation())
    elapsed = time.perf_counter() - t0
    print()
    print(render_table(figs))
    if not args.no_write:
        write_results(
            figs,
            command="scripts/bench" + (" --quick" if q else ""),
            elapsed_s=elapsed,
            notes=[
                "CodeCarbon 3.3.2 reads GPU energy from nvmlDeviceGetTotalEnergyConsumption when it answers; "
                "otherwise it averages nvmlDeviceGetPowerUsage samples taken every 1 s by a second timer. It looks "
                "for NVIDIA GPUs only when `nvidia-smi --help` runs, so the benchmarks put a stub `nvidia-smi` on "
                "its PATH next to the fake library.",
                'Trackers run with `country_iso_code="FRA"` (CodeCarbon: OfflineEmissionsTracker, no network).',
            ],
        )
        print(f"\nwrote {ROOT / 'benchmarks' / 'RESULTS.md'} ({elapsed:.0f} s)")
        if write_readme_table(figs, command="scripts/bench" + (" --quick" if q else "")):
            print(f"wrote the table in {ROOT / 'README.md'}")
    return 0


ONLY: dict[str, tuple[str, Callable[[bool], list[Figure]]]] = {
    "5": ("GPU energy error", lambda q: bench_accuracy.measure(10 if q else 60)),
    "5amd": ("AMD GPU energy error", lambda q: bench_accuracy.measure_amd(10 if q else 60)),
    "1": (
        "startup latency and peak RSS",
        lambda q: bench_startup.measure(2 if q else 9, (4,) if q else (1, 4, 8), after_rounds=1 if q else 9),
    ),
    "2": ("import time and memory", lambda q: bench_import.measure(3 if q else 15, 1 if q else 5)),
    "4": ("tracker CPU per hour", lambda q: bench_cpu.measure(40 if q else 330, 1)),
    "K": ("kill -9 loss", lambda q: bench_kill.measure((5.0, 25.0) if q else bench_kill.KILL_AT_S)),
    "12": ("check at 200,000 rows", lambda q: bench_check.measure(2000 if q else 200_000, 1 if q else 3)),
    "9": ("stop() p99 with every core busy", lambda q: bench_stop.measure(5 if q else 50, rounds=2 if q else 4)),
    "10": ("HF Trainer callback", lambda q: bench_callback.measure(1 if q else 5, 20)),
    "11": (
        "report and merge at 200,000 rows",
        lambda q: bench_report_rows.measure(2000 if q else 200_000, 1 if q else 3),
    ),
}
"""Figure groups ``--only`` can run alone: key -> (name, measure(quick))."""


def _only(keys: list[str], quick: bool, no_write: bool, t0: float) -> int:
    unknown = [k for k in keys if k not in ONLY]
    if unknown:
        print(f"run_all: unknown figure group(s) {unknown}; choose from {list(ONLY)}", file=sys.stderr)
        return 2
    figs: list[Figure] = []
    for key in keys:
        name, fn = ONLY[key]
        figs += _safe(key, name, lambda fn=fn: fn(quick))  # type: ignore[misc]
    elapsed = time.perf_counter() - t0
    print()
    print(render_table(figs))
    if not no_write:
        command = "python benchmarks/run_all.py --only " + ",".join(keys) + (" --quick" if quick else "")
        update_results(figs, command=command, elapsed_s=elapsed)
        if readme_from_results():
            print(f"copied the table into {ROOT / 'README.md'}")
        print(
            f"\nupdated {', '.join(f.key for f in figs)} in {ROOT / 'benchmarks' / 'RESULTS.md'} ({elapsed:.0f} s)"
        )
    return 0


def _aggregation() -> list[Figure]:
    """Runs ``benchmarks/bench_aggregation.py`` (the distributed engineer's) and quotes what it prints."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_aggregation.py"), "--ranks", "2", "4", "8", "--repeat", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"bench_aggregation.py failed: {proc.stderr[-300:]}")
    lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
    return [
        Figure(
            "A",
            "stop() aggregation time over ranks (wattwatch only)",
            None,
            None,
            "",
            "—",
            None,
            ww_text="; ".join(" ".join(ln.split()) for ln in lines[-4:]).replace("|", "/"),
            cc_text="— (no aggregation)",
            note="output of `python benchmarks/bench_aggregation.py --ranks 2 4 8 --repeat 2` (median ms).",
        )
    ]


if __name__ == "__main__":
    raise SystemExit(main())
