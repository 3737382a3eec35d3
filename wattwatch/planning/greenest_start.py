"""The greenest start time: the start before a deadline that minimises a job's emissions under an hourly
intensity forecast (``wattwatch schedule``). Units: unix seconds, W, kWh, kg CO2eq, gCO2eq/kWh."""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from wattwatch.planning.common import (
    DEFAULT_GPU_WATTS,
    DEFAULT_PUE,
    positive,
)
from wattwatch.util.times import utc_iso_minutes

__all__ = ["ScheduleResult", "best_start", "window_emissions"]


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
        step = positive("forecast step (s)", step_s)
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
    d = positive("duration (s)", duration_s)
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
    d = positive("duration", duration_s, "; pass --duration-hours > 0")
    watts = positive("power (W)", power_w)
    if now_s + d > deadline_s:
        raise ValueError(
            f"a {d / 3600:g} h job started now ({utc_iso_minutes(now_s)}) ends after the deadline "
            f"({utc_iso_minutes(deadline_s)}); move the deadline later or shorten the job"
        )
    now_mean = forecast.mean(now_s, now_s + d)
    if now_mean is None:
        raise ValueError(
            f"the forecast ({utc_iso_minutes(forecast.starts[0])} to {utc_iso_minutes(forecast.ends[-1])}) does not "
            f"cover a job started now ({utc_iso_minutes(now_s)}) for {d / 3600:g} h; give a forecast that does, or "
            "set --now inside it"
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
