"""The calculator: energy and CO2 from GPU count, board power and hours (ML-CO2-Impact style), and a larger run
scaled from a measured one by energy per step or token (``wattwatch estimate``). Units: kWh, kg CO2eq, W, s."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from wattwatch.planning.common import (
    DEFAULT_G_PER_KWH,
    DEFAULT_PUE,
    check_pue,
    non_negative,
    positive,
)
from wattwatch.util.numbers import as_float, finite_float

__all__ = ["EnergyEstimate", "MeasuredRun", "ScaledRun", "estimate_energy", "project_from_run", "read_measured_run"]


@dataclass(frozen=True)
class EnergyEstimate:
    """``gpu_count`` GPUs at ``watts_per_gpu`` W for ``hours`` h: ``energy_kwh`` = count x W x h / 1000 x PUE,
    ``emissions_kg`` = energy_kwh x g_per_kwh / 1000."""

    gpu_count: int
    hours: float
    watts_per_gpu: float
    pue: float
    g_per_kwh: float
    energy_kwh: float
    emissions_kg: float


def estimate_energy(
    gpu_count: int,
    hours: float,
    watts_per_gpu: float,
    *,
    g_per_kwh: float = DEFAULT_G_PER_KWH,
    pue: float = DEFAULT_PUE,
) -> EnergyEstimate:
    """The ML-CO2-Impact-style calculator: GPUs x board power x hours x PUE, times the place's intensity."""
    if int(gpu_count) != gpu_count or gpu_count < 1:
        raise ValueError(f"GPU count must be a whole number >= 1, got {gpu_count!r}")
    h = non_negative("hours", hours, "; pass the run's wall-clock duration, e.g. --hours 24")
    watts = positive("watts per GPU", watts_per_gpu, "; pass --watts or a known --gpu")
    p = check_pue(pue)
    g = non_negative("grid intensity (g/kWh)", g_per_kwh)
    energy = int(gpu_count) * watts * h / 1000.0 * p
    return EnergyEstimate(int(gpu_count), h, watts, p, g, energy, energy * g / 1000.0)


@dataclass(frozen=True)
class MeasuredRun:
    """The figures of one run read from an ``emissions.csv`` row (kWh, kg CO2eq, seconds; counts may be None)."""

    run_id: str
    project_name: str
    duration_s: float
    energy_kwh: float
    emissions_kg: float
    steps: int | None
    tokens: int | None
    samples: int | None
    gpu_count: int | None
    gpu_model: str
    country_iso_code: str


@dataclass(frozen=True)
class ScaledRun:
    """A larger run projected from a measured one by energy per ``unit`` (``"step"`` or ``"token"``).

    ``g_per_kwh`` is the intensity applied: the measured run's own (its emissions / energy) unless another place
    was given.
    """

    measured: MeasuredRun
    unit: str
    measured_units: int
    target_units: float
    scale: float
    energy_per_unit_kwh: float
    energy_kwh: float
    duration_s: float
    g_per_kwh: float
    emissions_kg: float


def _optional_int(text: str | None) -> int | None:
    number = finite_float(text)
    return None if number is None else int(number)


def _float(row: dict[str, str], column: str, path: Path) -> float:
    number = as_float(row.get(column) or "")
    if number is None:
        raise ValueError(f"{path}: column {column!r} of the chosen run is missing or not a number")
    return number


def read_measured_run(path: str | Path, run_id: str | None = None) -> MeasuredRun:
    """The run ``run_id`` from an ``emissions.csv`` (CodeCarbon's columns plus wattwatch's), or, without
    ``run_id``, its last row with ``status`` completed (rows without a status column count as completed).
    The file is read by :func:`wattwatch.sinks.csv.read_rows`, the reader every command uses."""
    from wattwatch.sinks.csv import read_rows

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(p))
    rows = [{k.lstrip("\ufeff"): v for k, v in r.items()} for r in read_rows(p)[1]]  # a spreadsheet's BOM
    if run_id is not None:
        chosen = [r for r in rows if (r.get("run_id") or "") == run_id]
        if not chosen:
            raise ValueError(f"{p}: no run with run_id {run_id!r}; pick one of the run_id column's values")
    else:
        chosen = [r for r in rows if (r.get("status") or "completed").strip().lower() == "completed"]
        if not chosen:
            raise ValueError(f"{p}: no completed run; finish a run first or choose one with --run-id")
    row = chosen[-1]
    return MeasuredRun(
        run_id=row.get("run_id") or "",
        project_name=row.get("project_name") or "",
        duration_s=_float(row, "duration", p),
        energy_kwh=_float(row, "energy_consumed", p),
        emissions_kg=_float(row, "emissions", p),
        steps=_optional_int(row.get("steps")),
        tokens=_optional_int(row.get("tokens")),
        samples=_optional_int(row.get("samples")),
        gpu_count=_optional_int(row.get("gpu_count")),
        gpu_model=row.get("gpu_model") or "",
        country_iso_code=row.get("country_iso_code") or "",
    )


def project_from_run(
    measured: MeasuredRun,
    *,
    steps: float | None = None,
    tokens: float | None = None,
    g_per_kwh: float | None = None,
) -> ScaledRun:
    """Project a run of ``steps`` optimizer steps (or ``tokens`` tokens) from ``measured``'s energy per step
    (per token). Give exactly one of ``steps`` / ``tokens``; the measured run must have recorded that count."""
    if (steps is None) == (tokens is None):
        raise ValueError("give exactly one of --scale-steps or --scale-tokens")
    unit, target, have = (
        ("step", steps, measured.steps) if steps is not None else ("token", tokens, measured.tokens)
    )
    assert target is not None
    goal = positive(f"target {unit}s", target)
    if not have:
        raise ValueError(
            f"run {measured.run_id or '(unnamed)'} recorded no {unit}s, so it cannot be scaled by {unit}; "
            f"record them in the tracked run or use --scale-{'tokens' if unit == 'step' else 'steps'}"
        )
    if measured.energy_kwh <= 0:
        raise ValueError(f"run {measured.run_id or '(unnamed)'} measured no energy; nothing to scale")
    if g_per_kwh is None:
        g = measured.emissions_kg / measured.energy_kwh * 1000.0
    else:
        g = non_negative("grid intensity (g/kWh)", g_per_kwh)
    scale = goal / have
    energy = measured.energy_kwh * scale
    return ScaledRun(
        measured,
        unit,
        have,
        goal,
        scale,
        measured.energy_kwh / have,
        energy,
        measured.duration_s * scale,
        g,
        energy * g / 1000.0,
    )
