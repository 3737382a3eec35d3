"""Figure 7: memory flatness of a long run, simulated with a fake clock (no real waiting).

A real :class:`wattwatch.Tracker` with 8 in-process constant-power GPU channels (``tests/support/fakesensors.py``) and a
fake monotonic + wall clock; the loop advances the clock by 0.1 s and calls the sampler's ``sample_now()`` and
the tracker's tick hook (time series every 1 s, journal rewrite every ``flush_every_s``, 30 s by default),
exactly what the sampler thread does at 10 Hz. Reported: RSS growth (MiB) after the first simulated hour and the time-series file's bytes per day.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Figure

__all__ = ["measure", "simulate"]


class _Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def simulate(hours: float, hz: float = 10.0, out_dir: str | None = None) -> dict[str, Any]:
    """Run ``hours`` of simulated tracking at ``hz``; RSS (MiB) after the first hour and at the end, file sizes."""
    import logging

    import psutil

    sys.path.insert(0, str(ROOT / "tests" / "support"))
    from fakesensors import ConstantPowerSensor

    from wattwatch import Tracker

    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # millions of ticks: no log formatting inside the measurement
    try:
        mono, wall = _Clock(1000.0), _Clock(1.7e9)
        sensor = ConstantPowerSensor(300.0, n=8, clock=mono)
        with tempfile.TemporaryDirectory() as tmp:
            out = out_dir or tmp
            tracker = Tracker(
                output_dir=out, country_iso_code="FRA", sensors=[sensor], clock=mono, wall_clock=wall,
                measure_power_secs=1e6, handle_signals=False,
            )  # fmt: skip
            tracker.start()
            sampler, tick = tracker._sampler, tracker._on_tick
            proc = psutil.Process()
            dt, n = 1.0 / hz, int(hours * 3600 * hz)
            per_hour = int(3600 * hz)
            rss_first_hour = proc.memory_info().rss
            for i in range(1, n + 1):
                mono.t += dt
                wall.t += dt
                sampler.sample_now()
                tick(mono.t)
                if i == min(per_hour, n):
                    rss_first_hour = proc.memory_info().rss
            rss_end = proc.memory_info().rss
            data = tracker.stop()
            ts = [p for p in Path(out).iterdir() if p.name.endswith("timeseries.csv")]
            ts_bytes = sum(p.stat().st_size for p in ts)
            truth_j = 300.0 * 8 * n * dt
        assert data is not None
        return {
            "hours": hours,
            "samples": n,
            "rss_first_hour_mib": rss_first_hour / 2**20,
            "rss_end_mib": rss_end / 2**20,
            "timeseries_bytes": ts_bytes,
            "timeseries_files": [p.name for p in ts],
            "energy_error": data.gpu_energy * 3.6e6 / truth_j - 1.0,
        }
    finally:
        logging.disable(previous)  # process-wide: whoever imported this (the test suite) gets its logs back


def measure(hours: float = 24.0) -> list[Figure]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_flatness", "--child", str(hours)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"flatness child failed:\n{proc.stderr[-3000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    growth = r["rss_end_mib"] - r["rss_first_hour_mib"]
    per_day_mb = r["timeseries_bytes"] / r["hours"] * 24 / 1e6
    return [
        Figure(
            "7",
            f"RSS growth, simulated {r['hours']:g} h at 10 Hz, 8 GPUs",
            growth,
            None,
            "MiB",
            "flat (O(1) in run length)",
            growth < 1.0,
            cc_text="not measured (CodeCarbon has no injectable clock; a 24 h run would take 24 h)",
            note=f"{r['samples']} samples; RSS {r['rss_first_hour_mib']:.1f} MiB after the first simulated hour, "
            f"{r['rss_end_mib']:.1f} MiB at the end; time series {per_day_mb:.2f} MB per day "
            f"({', '.join(r['timeseries_files'])}, one row per second); GPU energy error {r['energy_error']:+.2e}.",
            extra=r,
        )
    ]


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--child":
        print(json.dumps(simulate(float(sys.argv[2]))))
        sys.stdout.flush()
        os._exit(0)
