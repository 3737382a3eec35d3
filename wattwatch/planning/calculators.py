"""Estimates made before a run: dense vs Mixture-of-Experts, region choice, a calculator, the greenest start time.

Every function here is pure arithmetic over its arguments and returns a frozen dataclass of numbers (never a
formatted string); the ``wattwatch compare | regions | estimate | schedule`` commands format them. Units are in
the names: ``_w`` watts, ``_kwh`` kilowatt-hours, ``_kg`` kg CO2eq, ``g_per_kwh`` gCO2eq/kWh, ``_s`` seconds,
``_usd`` US dollars. Bad arguments raise ``ValueError`` with a message that says what to pass instead.

Defaults are the textbook's: 6 FLOPs per parameter-token (2 for inference), 989 TFLOP/s peak (H100 SXM, dense
BF16), MFU 0.40, 700 W per GPU, PUE 1.1, 400 gCO2eq/kWh.
"""

from __future__ import annotations

import bisect
import errno
import math
import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wattwatch.carbon.regions import Region, default_catalog
from wattwatch.util.numbers import as_float, finite_float
from wattwatch.util.times import utc_iso_minutes

__all__ = [
    "DEFAULT_FLOPS_PER_PARAM_TOKEN",
    "DEFAULT_G_PER_KWH",
    "DEFAULT_GPU_WATTS",
    "DEFAULT_MFU",
    "DEFAULT_PEAK_FLOPS",
    "DEFAULT_PUE",
    "INFERENCE_FLOPS_PER_PARAM_TOKEN",
    "ArchitectureComparison",
    "ArchitectureEstimate",
    "EnergyEstimate",
    "MeasuredRun",
    "Projection",
    "RegionOption",
    "RegionPlan",
    "ScheduleResult",
    "best_start",
    "compare_architectures",
    "estimate_energy",
    "estimate_training",
    "project_from_run",
    "read_measured_run",
    "recommend_region",
    "window_emissions",
]

DEFAULT_FLOPS_PER_PARAM_TOKEN = 6.0
"""Training FLOPs per (active) parameter per token: forward 2 + backward 4."""
INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0
"""Inference FLOPs per (active) parameter per token: forward only."""
DEFAULT_PEAK_FLOPS = 989e12
"""Peak FLOP/s of one GPU (H100 SXM dense BF16)."""
DEFAULT_MFU = 0.40
"""Model FLOPs utilisation: achieved / peak FLOP/s, in (0, 1]."""
DEFAULT_GPU_WATTS = 700.0
"""Average power of one GPU in watts (H100 SXM board power)."""
DEFAULT_PUE = 1.1
"""Power usage effectiveness of the data centre (facility energy / IT energy), >= 1."""
DEFAULT_G_PER_KWH = 400.0
"""Grid carbon intensity, gCO2eq/kWh."""


# --------------------------------------------------------------------------------------------- validation


def _positive(name: str, value: float, hint: str = "") -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}{hint}")
    return v


def _non_negative(name: str, value: float, hint: str = "") -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}{hint}")
    return v


def _mfu(value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or not 0 < v <= 1:
        raise ValueError(
            f"MFU must be in (0, 1], got {value!r}; pass a fraction such as 0.40, not a percentage"
        )
    return v


def _pue(value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 1:
        raise ValueError(f"PUE must be >= 1 (facility energy / IT energy), got {value!r}; 1.1 is typical")
    return v


# --------------------------------------------------------------------------------------- dense vs MoE


@dataclass(frozen=True)
class ArchitectureEstimate:
    """Training cost of one architecture.

    ``flops`` = flops_per_param_token x active_params x tokens; ``gpu_hours`` = flops / (peak x MFU) / 3600;
    ``energy_kwh`` = gpu_hours x GPU watts / 1000 x PUE; ``emissions_kg`` = energy_kwh x g_per_kwh / 1000.
    """

    name: str
    active_params: float
    total_params: float
    tokens: float
    flops: float
    gpu_hours: float
    energy_kwh: float
    emissions_kg: float


@dataclass(frozen=True)
class ArchitectureComparison:
    """Dense vs MoE under the same hardware, PUE and grid. Savings are fractions (0.814 = 81.4 %)."""

    dense: ArchitectureEstimate
    moe: ArchitectureEstimate
    energy_saving: float
    emissions_saving: float
    flops_per_param_token: float
    peak_flops: float
    mfu: float
    gpu_watts: float
    pue: float
    g_per_kwh: float


def estimate_training(
    name: str,
    active_params: float,
    tokens: float,
    *,
    total_params: float | None = None,
    flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN,
    peak_flops: float = DEFAULT_PEAK_FLOPS,
    mfu: float = DEFAULT_MFU,
    gpu_watts: float = DEFAULT_GPU_WATTS,
    pue: float = DEFAULT_PUE,
    g_per_kwh: float = DEFAULT_G_PER_KWH,
) -> ArchitectureEstimate:
    """GPU-hours, kWh and kg CO2eq to push ``tokens`` tokens through a model with ``active_params`` parameters
    active per token (see :class:`ArchitectureEstimate` for the formula)."""
    active = _positive(f"{name} active parameters", active_params, " (e.g. 70e9)")
    total = active if total_params is None else _positive(f"{name} total parameters", total_params)
    if total < active:
        raise ValueError(f"{name}: total parameters ({total:g}) must be >= active parameters ({active:g})")
    n_tokens = _positive("tokens", tokens, " (e.g. 2e12)")
    fpt = _positive("FLOPs per parameter-token", flops_per_param_token, " (6 for training, 2 for inference)")
    peak = _positive("peak FLOP/s", peak_flops, " (e.g. 989e12 for an H100 SXM)")
    watts = _positive("GPU watts", gpu_watts)
    flops = fpt * active * n_tokens
    gpu_hours = flops / (peak * _mfu(mfu)) / 3600.0
    energy_kwh = gpu_hours * watts / 1000.0 * _pue(pue)
    emissions_kg = energy_kwh * _non_negative("grid intensity (g/kWh)", g_per_kwh) / 1000.0
    return ArchitectureEstimate(name, active, total, n_tokens, flops, gpu_hours, energy_kwh, emissions_kg)


def compare_architectures(
    dense_params: float,
    moe_active_params: float,
    tokens: float,
    *,
    moe_total_params: float | None = None,
    flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN,
    peak_flops: float = DEFAULT_PEAK_FLOPS,
    mfu: float = DEFAULT_MFU,
    gpu_watts: float = DEFAULT_GPU_WATTS,
    pue: float = DEFAULT_PUE,
    g_per_kwh: float = DEFAULT_G_PER_KWH,
) -> ArchitectureComparison:
    """Energy and CO2 of training a dense model vs an MoE model on the same tokens and hardware.

    Compute scales with *active* parameters, so the saving is ``1 - moe_active / dense`` whatever the hardware
    figures; ``moe_total_params`` (memory, not compute) is recorded but does not enter the energy. The book's
    example ``compare_architectures(70e9, 13e9, 2e12, moe_total_params=47e9)`` gives a saving of 81.4 %.
    """
    common = dict(
        flops_per_param_token=flops_per_param_token,
        peak_flops=peak_flops,
        mfu=mfu,
        gpu_watts=gpu_watts,
        pue=pue,
        g_per_kwh=g_per_kwh,
    )
    dense = estimate_training("dense", dense_params, tokens, **common)
    moe = estimate_training("moe", moe_active_params, tokens, total_params=moe_total_params, **common)
    energy_saving = 1.0 - moe.energy_kwh / dense.energy_kwh
    emissions_saving = (
        1.0 - moe.emissions_kg / dense.emissions_kg if dense.emissions_kg > 0 else energy_saving
    )
    return ArchitectureComparison(
        dense,
        moe,
        energy_saving,
        emissions_saving,
        float(flops_per_param_token),
        float(peak_flops),
        float(mfu),
        float(gpu_watts),
        float(pue),
        float(g_per_kwh),
    )


# ------------------------------------------------------------------------------------------ region choice


@dataclass(frozen=True)
class RegionOption:
    """A region's cost for one job: ``energy_kwh`` (facility), ``emissions_kg`` from the region's ranked
    intensity, ``reference_emissions_kg`` from its second (CodeCarbon) figure when it has one, ``cost_usd`` when
    its price is known."""

    region: Region
    energy_kwh: float
    emissions_kg: float
    cost_usd: float | None
    reference_emissions_kg: float | None


@dataclass(frozen=True)
class RegionPlan:
    """Regions ranked by emissions (lowest first) for ``gpu_hours`` GPU-hours.

    Ties in emissions are broken by renewable share (highest first), then cost (lowest first), then provider
    and region name. ``over_budget`` lists regions whose cost exceeds ``max_cost_usd``; ``unpriced`` lists
    regions left out because a cost ceiling was given and their price is unknown. ``ranked`` is cut to ``top``.
    """

    gpu_hours: float
    max_cost_usd: float | None
    gpu_watts: float
    pue: float
    kwh_per_gpu_hour: float
    ranked: tuple[RegionOption, ...]
    eligible_count: int
    over_budget: tuple[RegionOption, ...]
    unpriced: tuple[RegionOption, ...]


def _rank_key(option: RegionOption) -> tuple[float, float, float, str, str]:
    share = option.region.renewable_share
    return (
        option.emissions_kg,
        -(share if share is not None else -1.0),
        option.cost_usd if option.cost_usd is not None else math.inf,
        option.region.provider,
        option.region.region,
    )


def recommend_region(
    gpu_hours: float,
    *,
    catalog: Iterable[Region] | None = None,
    max_cost_usd: float | None = None,
    top: int | None = None,
    gpu_watts: float = DEFAULT_GPU_WATTS,
    pue: float = DEFAULT_PUE,
) -> RegionPlan:
    """Rank the regions of ``catalog`` (default: :func:`wattwatch.carbon.regions.default_catalog`) by the CO2 of a job of
    ``gpu_hours`` GPU-hours, each GPU-hour costing ``gpu_watts`` x ``pue`` / 1000 kWh, within ``max_cost_usd``.

    The book's example ``recommend_region(10000, max_cost_usd=50000, top=5)`` ranks swedencentral 154.0 kg,
    eu-north-1 192.5 kg, europe-north1 231.0 kg, ca-central-1 231.0 kg, us-west-2 924.0 kg.
    """
    hours = _non_negative("GPU-hours", gpu_hours, "; pass the job's total GPU-hours, e.g. 10000")
    kwh_per_gpu_hour = _positive("GPU watts", gpu_watts) * _pue(pue) / 1000.0
    if max_cost_usd is not None:
        _non_negative("maximum cost ($)", max_cost_usd)
    if top is not None and top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    regions = tuple(catalog) if catalog is not None else default_catalog()
    energy = hours * kwh_per_gpu_hour
    eligible: list[RegionOption] = []
    over: list[RegionOption] = []
    unpriced: list[RegionOption] = []
    for region in regions:
        ref = region.reference_g_per_kwh
        option = RegionOption(
            region,
            energy,
            energy * region.g_per_kwh / 1000.0,
            hours * region.usd_per_gpu_hour if region.usd_per_gpu_hour is not None else None,
            energy * ref / 1000.0 if ref is not None else None,
        )
        if max_cost_usd is not None and option.cost_usd is None:
            unpriced.append(option)
        elif max_cost_usd is not None and option.cost_usd is not None and option.cost_usd > max_cost_usd:
            over.append(option)
        else:
            eligible.append(option)
    eligible.sort(key=_rank_key)
    ranked = tuple(eligible[:top] if top is not None else eligible)
    return RegionPlan(
        hours,
        None if max_cost_usd is None else float(max_cost_usd),
        float(gpu_watts),
        float(pue),
        kwh_per_gpu_hour,
        ranked,
        len(eligible),
        tuple(sorted(over, key=_rank_key)),
        tuple(sorted(unpriced, key=_rank_key)),
    )


# -------------------------------------------------------------------------------------------- calculator


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
    h = _non_negative("hours", hours, "; pass the run's wall-clock duration, e.g. --hours 24")
    watts = _positive("watts per GPU", watts_per_gpu, "; pass --watts or a known --gpu")
    p = _pue(pue)
    g = _non_negative("grid intensity (g/kWh)", g_per_kwh)
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
class Projection:
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
) -> Projection:
    """Project a run of ``steps`` optimizer steps (or ``tokens`` tokens) from ``measured``'s energy per step
    (per token). Give exactly one of ``steps`` / ``tokens``; the measured run must have recorded that count."""
    if (steps is None) == (tokens is None):
        raise ValueError("give exactly one of --scale-steps or --scale-tokens")
    unit, target, have = (
        ("step", steps, measured.steps) if steps is not None else ("token", tokens, measured.tokens)
    )
    assert target is not None
    goal = _positive(f"target {unit}s", target)
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
        g = _non_negative("grid intensity (g/kWh)", g_per_kwh)
    scale = goal / have
    energy = measured.energy_kwh * scale
    return Projection(
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


# ------------------------------------------------------------------------------------ greenest start time


@dataclass(frozen=True)
class ScheduleResult:
    """The start time (unix s) in ``[now_s, deadline_s - duration_s]`` that minimises the job's emissions.

    ``mean_g_per_kwh`` is the forecast's time-weighted mean over the job window; ``emissions_kg`` assumes a
    constant draw of ``power_w`` (facility watts). ``now_*`` are the same for starting at ``now_s``;
    ``saving_kg`` >= 0 and ``saving_fraction`` in [0, 1]. ``candidates`` is how many start times were compared:
    now, then every forecast interval start that lets the job finish by the deadline.
    """

    start_s: float
    end_s: float
    duration_s: float
    deadline_s: float
    now_s: float
    power_w: float
    energy_kwh: float
    mean_g_per_kwh: float
    emissions_kg: float
    now_mean_g_per_kwh: float
    now_emissions_kg: float
    saving_kg: float
    saving_fraction: float
    candidates: int


class _StepForecast:
    """A forecast as a step function, as :class:`wattwatch.carbon.intensity.HourlyIntensity` reads it: each value holds
    from its start to the next start (a gap keeps the previous value), the last for ``step_s`` seconds (default:
    the median spacing, 3600 s for a single point). Cumulative integrals make each window O(log n)."""

    def __init__(self, hours: Sequence[tuple[float, float]], step_s: float | None = None) -> None:
        pts = sorted((float(t), float(g)) for t, g in hours)
        if not pts:
            raise ValueError(
                "the intensity forecast is empty; give a CSV with at least one timestamp,g_per_kwh row"
            )
        for t, g in pts:
            if not math.isfinite(t) or not math.isfinite(g) or g < 0:
                raise ValueError(
                    f"bad forecast point ({t}, {g}): timestamps and g/kWh must be finite, g >= 0"
                )
        starts: list[float] = []
        values: list[float] = []
        for t, g in pts:
            if starts and t == starts[-1]:
                values[-1] = g  # a repeated timestamp: the later row wins
            else:
                starts.append(t)
                values.append(g)
        if step_s is None:
            gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
            step_s = statistics.median(gaps) if gaps else 3600.0
        step = _positive("forecast step (s)", step_s)
        ends = [*starts[1:], starts[-1] + step]
        self.starts, self.ends, self.values = starts, ends, values
        self.cum_integral = [0.0]
        self.cum_covered = [0.0]
        for a, b, g in zip(starts, ends, values, strict=True):
            self.cum_integral.append(self.cum_integral[-1] + (b - a) * g)
            self.cum_covered.append(self.cum_covered[-1] + (b - a))

    def _upto(self, t: float) -> tuple[float, float]:
        """(integral of g, covered seconds) from the first point to ``t``."""
        i = bisect.bisect_right(self.starts, t) - 1
        if i < 0:
            return 0.0, 0.0
        inside = min(max(t - self.starts[i], 0.0), self.ends[i] - self.starts[i])
        return self.cum_integral[i] + inside * self.values[i], self.cum_covered[i] + inside

    def mean(self, a: float, b: float) -> float | None:
        """Time-weighted mean g/kWh over ``[a, b]``, or ``None`` when the forecast does not cover all of it."""
        ia, ca = self._upto(a)
        ib, cb = self._upto(b)
        if (cb - ca) < (b - a) - 1e-6 * max(1.0, b - a):
            return None
        return (ib - ia) / (b - a)


def window_emissions(
    hours: Sequence[tuple[float, float]], start_s: float, duration_s: float, *, step_s: float | None = None
) -> float | None:
    """Mean gCO2eq/kWh of ``hours`` (``(unix start s, g/kWh)`` pairs) over ``[start_s, start_s + duration_s]``,
    integrating partial intervals exactly; ``None`` when the forecast does not cover the window."""
    d = _positive("duration (s)", duration_s)
    return _StepForecast(hours, step_s).mean(start_s, start_s + d)


def best_start(
    hours: Sequence[tuple[float, float]],
    duration_s: float,
    deadline_s: float,
    now_s: float,
    *,
    power_w: float = DEFAULT_GPU_WATTS * DEFAULT_PUE,
    step_s: float | None = None,
) -> ScheduleResult:
    """The greenest start for a job of ``duration_s`` seconds that must finish by ``deadline_s`` (unix s).

    ``hours`` is the forecast as ``(unix start s, g/kWh)`` pairs (e.g. ``read_hourly_csv(p).hours``, with
    ``step_s=...step_s``); each value holds until the next point, the last for ``step_s``. Candidates are
    ``now_s`` and every forecast interval start after it; a
    candidate counts only if the forecast covers its whole window. Starting now wins ties, then the earliest
    start, so the result is never worse than starting now and never ends past the deadline.
    """
    forecast = _StepForecast(hours, step_s)
    d = _positive("duration", duration_s, "; pass --duration-hours > 0")
    watts = _positive("power (W)", power_w)
    if now_s + d > deadline_s:
        raise ValueError(
            f"a {d / 3600:g} h job started now ({utc_iso_minutes(now_s)}) ends after the deadline ({utc_iso_minutes(deadline_s)}); "
            "move the deadline later or shorten the job"
        )
    now_mean = forecast.mean(now_s, now_s + d)
    if now_mean is None:
        raise ValueError(
            f"the forecast ({utc_iso_minutes(forecast.starts[0])} to {utc_iso_minutes(forecast.ends[-1])}) does not cover a job started "
            f"now ({utc_iso_minutes(now_s)}) for {d / 3600:g} h; give a forecast that does, or set --now inside it"
        )
    best_t, best_mean, count = now_s, now_mean, 1
    latest = deadline_s - d
    for t in forecast.starts[bisect.bisect_right(forecast.starts, now_s) :]:
        if t > latest:
            break
        mean = forecast.mean(t, t + d)
        if mean is None:
            continue
        count += 1
        if mean < best_mean - 1e-12 * max(1.0, abs(best_mean)):
            best_t, best_mean = t, mean
    energy = watts * d / 3600.0 / 1000.0
    kg, now_kg = energy * best_mean / 1000.0, energy * now_mean / 1000.0
    saving = max(now_kg - kg, 0.0)
    return ScheduleResult(
        best_t,
        best_t + d,
        d,
        float(deadline_s),
        float(now_s),
        watts,
        energy,
        best_mean,
        kg,
        now_mean,
        now_kg,
        saving,
        saving / now_kg if now_kg > 0 else 0.0,
        count,
    )
