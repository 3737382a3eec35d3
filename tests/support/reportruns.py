"""Synthetic project folders for the HTML report's tests and benchmark: many runs, a few with time series.

Rows are written with wattwatch's own column set (one ``emissions.csv``), time series with
:class:`wattwatch.sinks.timeseries.TimeseriesWriter`, so the report reads exactly what a tracker writes.
Deterministic for a given ``seed``. Power traces are piecewise constant per phase, so the energy in each
phase is known exactly (W x s).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from wattwatch.result import COLUMNS, EmissionsData
from wattwatch.sinks.timeseries import TimeseriesWriter

__all__ = ["PHASE_WATTS", "SeriesPlan", "make_project", "write_series"]

PHASE_WATTS: dict[str, tuple[float, float, float]] = {
    "train": (650.0, 120.0, 30.0),  # per GPU, CPU, RAM
    "eval": (300.0, 90.0, 30.0),
    "checkpoint": (90.0, 150.0, 30.0),
}


@dataclass(frozen=True)
class SeriesPlan:
    """A time series: ``(phase, seconds)`` stretches sampled every ``tick_s``; intensity per stretch (g/kWh)."""

    stretches: tuple[tuple[str, float], ...] = (("train", 60.0), ("eval", 20.0), ("checkpoint", 10.0), ("train", 60.0))
    tick_s: float = 1.0
    gpus: int = 2
    intensity_g_per_kwh: tuple[float, ...] = (50.0,)


def write_series(path: Path, plan: SeriesPlan, start: datetime) -> tuple[float, dict[str, float]]:
    """Write the series; returns the total kWh and kWh per phase (exact: constant watts x seconds)."""
    channels = [f"gpu:{i}" for i in range(plan.gpus)] + ["cpu", "ram"]
    writer = TimeseriesWriter(path, channels)
    t = 0.0
    kwh = kg = 0.0
    per_phase: dict[str, float] = {}
    for k, (phase, seconds) in enumerate(plan.stretches):
        gpu_w, cpu_w, ram_w = PHASE_WATTS[phase]
        g = plan.intensity_g_per_kwh[k % len(plan.intensity_g_per_kwh)]
        watts = {c: gpu_w for c in channels if c.startswith("gpu")} | {"cpu": cpu_w, "ram": ram_w}
        total_w = sum(watts.values())
        for _ in range(int(round(seconds / plan.tick_s))):
            t += plan.tick_s
            step_kwh = total_w * plan.tick_s / 3.6e6
            kwh += step_kwh
            kg += step_kwh * g / 1000.0
            per_phase[phase] = per_phase.get(phase, 0.0) + step_kwh
            writer.write((start + timedelta(seconds=t)).timestamp(), t, phase, dict(watts), kwh, kg)  # type: ignore[arg-type]
    writer.close()
    return kwh, per_phase


def make_project(
    folder: Path,
    runs: int,
    *,
    series_runs: int = 3,
    plan: SeriesPlan | None = None,
    seed: int = 0,
) -> list[EmissionsData]:
    """``runs`` rows in ``folder/emissions.csv``; the last ``series_runs`` runs also get a time series."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    plan = plan or SeriesPlan()
    t0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
    rows: list[EmissionsData] = []
    for i in range(runs):
        start = t0 + timedelta(hours=6 * i + rng.random())
        run_id = f"{i:08x}-{rng.getrandbits(32):08x}"
        steps = rng.randint(200, 5000)
        if i >= runs - series_runs:
            kwh, per_phase = write_series(folder / f"{run_id}.timeseries.csv", plan, start)
            duration = sum(s for _, s in plan.stretches)
        else:
            duration = steps * rng.uniform(0.5, 2.0)
            kwh = duration * rng.uniform(300, 1500) / 3.6e6
            per_phase = {"train": kwh * 0.85, "eval": kwh * 0.1, "checkpoint": kwh * 0.05}
        intensity = rng.choice([32.0, 56.0, 380.0, 475.0])
        kg = kwh * intensity / 1000.0
        loss = 3.5 / (1 + kwh * rng.uniform(20, 60)) + rng.uniform(0.0, 0.4)
        data = EmissionsData(
            timestamp=(start + timedelta(seconds=duration)).isoformat(),
            project_name="llm-finetune" if i % 3 else "llm-pretrain",
            run_id=run_id,
            duration=duration,
            emissions=kg,
            energy_consumed=kwh,
            gpu_energy=kwh * 0.8,
            cpu_energy=kwh * 0.15,
            ram_energy=kwh * 0.05,
            gpu_count=plan.gpus,
            gpu_model=f"{plan.gpus} x NVIDIA H100 80GB HBM3",
            cpu_model="Intel(R) Xeon(R) Platinum 8480+",
            cpu_count=224,
            ram_total_size=1024.0,
            status=rng.choice(["completed"] * 8 + ["failed", "interrupted"]),
            start_time=start.isoformat(),
            intensity_source="country: France" if intensity < 100 else "world average",
            intensity_g_per_kwh=intensity,
            phase_energy_kwh=per_phase,
            phase_emissions_kg={k: v * intensity / 1000.0 for k, v in per_phase.items()},
            gpu_energy_by_device_kwh={f"gpu:{g}": kwh * 0.8 / plan.gpus for g in range(plan.gpus)},
            steps=steps,
            samples=steps * 32,
            tokens=steps * 32 * 512 if i % 4 else None,
            eval_metrics={"eval_loss": round(loss, 4), "eval_accuracy": round(1 - loss / 4, 4)} if i % 5 else {},
        )
        rows.append(data)
    with open(folder / "emissions.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        w.writeheader()
        for d in rows:
            w.writerow(d.to_row())
    return rows
