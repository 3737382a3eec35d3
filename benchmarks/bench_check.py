"""Figure 12: ``wattwatch check`` over an emissions.csv of 200,000 rows (time, peak RSS; issue 24).

The file: 200,000 rows as a tracker writes them, every one consistent (so the check has to recompute every
figure of every row and finds nothing: the slow path of a real audit, not an early exit): the row of a real
short run (4 constant-power fake GPUs, phases, tokens) scaled by a factor of its own per row -- energies,
emissions, powers, bands, phase and per-GPU cells -- with its own run id and times, about 1.2 kB each.
``wattwatch check FILE`` in a fresh process (``child.py cli``), cold; median of the rounds. CodeCarbon has no
check: no peer lets users audit its figures.
"""

from __future__ import annotations

import csv
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, compile_bytecode, median, run_child

__all__ = ["GOAL_MIB", "GOAL_S", "measure", "write_consistent_history"]

GOAL_S = 5.0
"""``check`` over 200,000 rows: at most this many seconds."""
GOAL_MIB = 100.0 * 1e6 / 2**20
"""... with a peak RSS under 100 MB."""

_SCALED = (
    "emissions", "emissions_rate", "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy", "ram_energy",
    "energy_consumed", "water_consumed", "energy_low_kwh", "energy_high_kwh",
)  # fmt: skip
_SCALED_MAPS = ("phase_energy_kwh", "phase_emissions_kg", "gpu_energy_by_device_kwh")


def _template(directory: Path) -> dict[str, str]:
    """The row of a real short run: 4 constant-power fake GPUs, a train and an eval phase, tokens."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))
    from fakesensors import ConstantPowerSensor

    from wattwatch import Tracker
    from wattwatch.sinks.csv import read_rows

    t = Tracker(project_name="bench-check", sensors=[ConstantPowerSensor(300.0, n=4)], output_dir=directory,
                country_iso_code="FRA", handle_signals=False, save_timeseries=False, log_level="error")  # fmt: skip
    t.start()
    t.set_phase("train")
    time.sleep(0.2)
    with t.phase("eval"):
        time.sleep(0.05)
    t.step(10, samples=40, tokens=4000)
    t.stop()
    _, rows = read_rows(directory / "emissions.csv")
    return rows[-1]


def write_consistent_history(path: Path, rows: int, template: dict[str, str]) -> int:
    """``rows`` rows: ``template`` scaled by a factor of their own (see the module docstring). Returns the size."""
    from wattwatch.result import COLUMNS

    header = list(COLUMNS)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for i in range(rows):
            f = 1.0 + (i % 997) / 100.0
            row = dict(template)
            for name in _SCALED:
                if row.get(name):
                    row[name] = repr(float(row[name]) * f)
            for name in _SCALED_MAPS:
                if row.get(name):
                    row[name] = json.dumps({k: v * f for k, v in json.loads(row[name]).items()},
                                           sort_keys=True, separators=(",", ":"))  # fmt: skip
            day = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}"
            row["run_id"] = str(uuid.UUID(int=i + 1))
            row["timestamp"] = f"{day}T{i % 24:02d}:{i % 60:02d}:{i % 59:02d}"
            row["start_time"] = f"{day}T{i % 24:02d}:{i % 60:02d}:00+00:00"
            writer.writerow([row.get(c, "") for c in header])
    return path.stat().st_size


def measure(rows: int = 200_000, rounds: int = 3) -> list[Figure]:
    compile_bytecode()
    times: list[float] = []
    peaks: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "template").mkdir()
        history = base / "history" / "emissions.csv"
        history.parent.mkdir()
        size = write_consistent_history(history, rows, _template(base / "template"))
        for _ in range(rounds):
            r = run_child("cli", "ww", None, "--cli", "check", str(history))
            if r.result.get("code") != 0:
                raise RuntimeError(f"check found disagreements or failed: {r.stderr[-500:]}")
            times.append(r.wall_s)
            peaks.append(max(r.result["vmhwm_mib"], r.result.get("children_maxrss_mib", 0.0)))
    t, m = median(times), median(peaks)
    extra: dict[str, Any] = {"times": times, "peaks": peaks, "bytes": size}
    return [
        Figure(
            "12a",
            f"`wattwatch check` over {rows:,} rows ({size / 1e6:.0f} MB): time",
            t,
            None,
            "s",
            "<= 5 s",
            t <= GOAL_S,
            ww_text=f"{t:.2f} s",
            cc_text="— (no check: no peer audits its figures)",
            note=f"median of {rounds} fresh processes, whole-process wall time (interpreter start included): every "
            "row's components, phases, GPUs, mean powers, emissions rate, intensity, water, band, overlap and "
            "embodied CO2 recomputed (all agree). Runs (s): " + ", ".join(f"{v:.2f}" for v in times) + ".",
            extra=extra,
        ),
        Figure(
            "12b",
            f"`wattwatch check` over {rows:,} rows: peak RSS",
            m,
            None,
            "MiB",
            "< 100 MB",
            m < GOAL_MIB,
            ww_text=f"{m:.1f} MiB",
            cc_text="—",
            note="the larger of the process's VmHWM and RUSAGE_CHILDREN ru_maxrss (a worker process, when one is "
            "forked). Runs (MiB): " + ", ".join(f"{v:.1f}" for v in peaks) + ".",
        ),
    ]
