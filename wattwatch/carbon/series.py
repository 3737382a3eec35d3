"""A grid signal as a step function of wall time, known over a span (the pause policy's view of a forecast).

:class:`StepSeries` holds ``(start unix s, gCO2eq/kWh)`` points, each value holding until the next start (the
last for ``step_s``); outside that span the signal is unknown (``None``), never clamped -- a plan must not take
a guess for a forecast. It is made from an hourly file (:func:`series_of`) or from a live provider's latest
value and forecast. Units: unix seconds, gCO2eq/kWh.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from wattwatch.carbon.intensity import CarbonIntensity, HourlyIntensity

__all__ = ["StepSeries", "series_of"]


@dataclass(frozen=True)
class StepSeries:
    """``points``: ``(start, g/kWh)`` strictly increasing in time; ``label`` says what the values are (for
    messages: ``average`` or ``marginal``)."""

    points: tuple[tuple[float, float], ...]
    step_s: float = 3600.0
    label: str = "average"
    _starts: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", tuple(t for t, _ in self.points))

    @property
    def start_s(self) -> float:
        return self._starts[0] if self._starts else float("inf")

    @property
    def end_s(self) -> float:
        return self._starts[-1] + self.step_s if self._starts else float("-inf")

    def value_at(self, t: float) -> float | None:
        """g/kWh at unix time ``t``; ``None`` outside the known span."""
        if not self.start_s <= t < self.end_s:
            return None
        return self.points[bisect.bisect_right(self._starts, t) - 1][1]

    def segment_end(self, t: float) -> float | None:
        """Where the interval holding ``t`` ends (``None`` outside the span)."""
        if not self.start_s <= t < self.end_s:
            return None
        i = bisect.bisect_right(self._starts, t)
        return self._starts[i] if i < len(self._starts) else self.end_s

    def segments(self, start: float, end: float) -> list[tuple[float, float, float]]:
        """The known intervals within ``[start, end)``, clipped: ``(from, to, g/kWh)``."""
        out: list[tuple[float, float, float]] = []
        if end <= start or not self.points:
            return out
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        for j in range(i, len(self.points)):
            a = self._starts[j]
            b = self._starts[j + 1] if j + 1 < len(self._starts) else self.end_s
            lo, hi = max(a, start), min(b, end)
            if a >= end:
                break
            if hi > lo:
                out.append((lo, hi, self.points[j][1]))
        return out

    def mean_between(self, start: float, end: float) -> float | None:
        """Time-weighted mean over ``[start, end)`` of the known part (``None`` when none of it is known)."""
        if end <= start:
            return self.value_at(start)
        segs = self.segments(start, end)
        span = sum(b - a for a, b, _ in segs)
        return sum((b - a) * g for a, b, g in segs) / span if span > 0 else None


def series_of(intensity: CarbonIntensity) -> StepSeries | None:
    """The step series of an intensity that varies in time (an hourly file, or anything offering
    ``step_series()``, as the live providers do); ``None`` for a figure that never changes."""
    if isinstance(intensity, HourlyIntensity):
        return StepSeries(tuple((float(t), float(g)) for t, g in intensity.hours), intensity.step_s)
    getter = getattr(intensity, "step_series", None)
    if callable(getter):
        got = getter()
        return got if isinstance(got, StepSeries) else None
    return None
