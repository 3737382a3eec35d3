"""What a live intensity provider returns, once parsed and checked: :class:`ProviderData`, and the one error
every provider fault becomes, :class:`ProviderError`.

Everything from the network or from the on-disk cache is outside data: values must be finite numbers within
``[0, MAX_INTENSITY_G_PER_KWH]``, times ISO-8601 or unix seconds, at most :data:`MAX_POINTS` points; anything else
is a :class:`ProviderError` naming what was wrong. Units: unix seconds, gCO2eq/kWh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wattwatch.carbon.intensity import MAX_INTENSITY_G_PER_KWH
from wattwatch.carbon.series import StepSeries

__all__ = ["MAX_POINTS", "ProviderData", "ProviderError", "check_value", "parse_time"]

MAX_POINTS = 2000
"""Most points kept from one answer (a week of 5-minute values)."""


class ProviderError(Exception):
    """A provider could not be asked or answered something unusable (the message says which)."""


def check_value(value: object, what: str) -> float:
    """A g/kWh figure from outside: a finite number in ``[0, MAX_INTENSITY_G_PER_KWH]``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProviderError(f"{what} is not a number ({str(value)[:40]!r})")
    if not 0 <= value <= MAX_INTENSITY_G_PER_KWH:
        raise ProviderError(f"{what} {value!r} g/kWh is out of range (0 to {MAX_INTENSITY_G_PER_KWH:g})")
    return float(value)


def parse_time(value: object, what: str) -> float:
    """Unix seconds from ISO-8601 text (``2024-05-01T13:00:00.000Z``) or a number."""
    from wattwatch.util.times import parse_utc

    if isinstance(value, str) and 0 < len(value) <= 64:
        try:
            return parse_utc(value)[0]
        except ValueError:
            pass
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    raise ProviderError(f"{what} is not a time ({str(value)[:40]!r})")


@dataclass(frozen=True)
class ProviderData:
    """A provider's answer: ``points`` ``(start unix s, g/kWh)`` strictly increasing, each holding ``step_s``
    (until the next); ``fetched_at`` (unix s) when it was asked; ``forecast`` whether a forecast was asked for;
    ``note`` a few words for the row's source (``lifecycle``, ``MOER forecast``, ``percentile 73``)."""

    points: tuple[tuple[float, float], ...]
    step_s: float
    fetched_at: float
    forecast: bool = False
    note: str = ""

    def series(self, label: str) -> StepSeries | None:
        return StepSeries(self.points, self.step_s, label) if self.points else None

    def to_json(self) -> dict[str, object]:
        return {
            "points": [[t, g] for t, g in self.points],
            "step_s": self.step_s,
            "fetched_at": self.fetched_at,
            "forecast": self.forecast,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, obj: object) -> ProviderData:
        """Read what :meth:`to_json` wrote (a cache file: outside data, checked as such)."""
        if not isinstance(obj, dict):
            raise ProviderError("cache entry is not a JSON object")
        raw = obj.get("points")
        if not isinstance(raw, list) or len(raw) > MAX_POINTS:
            raise ProviderError("cache entry has no valid points")
        pts = []
        for item in raw:
            if not isinstance(item, list) or len(item) != 2:
                raise ProviderError("cache entry has a malformed point")
            pts.append((parse_time(item[0], "cached time"), check_value(item[1], "cached intensity")))
        step = obj.get("step_s")
        fetched = obj.get("fetched_at")
        note = obj.get("note", "")
        if not isinstance(step, int | float) or isinstance(step, bool) or not 0 < step <= 86400:
            raise ProviderError("cache entry has no valid step_s")
        return cls(
            ordered(pts),
            float(step),
            parse_time(fetched, "cached fetched_at"),
            bool(obj.get("forecast", False)),
            note[:200] if isinstance(note, str) else "",
        )


def ordered(points: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Points sorted by time, one per time (the first kept), at most :data:`MAX_POINTS`."""
    out: list[tuple[float, float]] = []
    for t, g in sorted(points, key=lambda p: p[0]):
        if not out or t > out[-1][0]:
            out.append((t, g))
    return tuple(out[:MAX_POINTS])
