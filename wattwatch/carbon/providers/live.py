"""Live intensity on a running tracker: a refresher thread per provider (:class:`ProviderFeed`), the average
intensity the ledger multiplies by (:class:`LiveIntensity`, Electricity Maps) and the marginal signal the pause
rule and the row's ``marginal_intensity_g_per_kwh`` use (:class:`MarginalFeed`, WattTime).

Lookups never wait on the network: ``at(t)`` reads what the feed holds. Fallbacks, in order: the provider's
answer (``live``: asked within :data:`LIVE_S`), the last cached answer (``cached``: the provider is failing;
used up to :data:`CACHED_MAX_S` old), then the tables (the intensity the tracker would use without a provider).
The row's ``intensity_source`` names every one that was used. Units: unix seconds, gCO2eq/kWh.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace

from wattwatch.carbon.intensity import CarbonIntensity, IntensitySource, mean_over_interval
from wattwatch.carbon.providers.base import ProviderData, ProviderError
from wattwatch.carbon.providers.cache import CacheRead, SharedCache
from wattwatch.carbon.series import StepSeries

__all__ = ["CACHED_MAX_S", "LIVE_S", "LiveIntensity", "MarginalFeed", "ProviderFeed"]

log = logging.getLogger("wattwatch")

LIVE_S = 900.0
"""An answer this recent (s) counts as live."""
CACHED_MAX_S = 24 * 3600.0
"""An older answer is still preferred to the tables up to this age (s)."""


class ProviderFeed:
    """Keeps ``cache.get(fetch)`` fresh on a daemon thread: at start, then whenever the shared answer is
    ``cache.max_age_s`` old. ``label`` names the provider in messages."""

    def __init__(
        self,
        cache: SharedCache,
        fetch: Callable[[], ProviderData],
        *,
        label: str,
        need_forecast: bool,
        wall_clock: Callable[[], float],
    ) -> None:
        self.cache = cache
        self._fetch = fetch
        self.label = label
        self.need_forecast = need_forecast
        self._wall = wall_clock
        self.read: CacheRead | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned: set[str] = set()

    @property
    def data(self) -> ProviderData | None:
        read = self.read
        return read.data if read is not None else None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"wattwatch-{self.label.lower()}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def refresh(self) -> CacheRead | None:
        """One look at the shared cache (asking the provider if due); the result is kept in :attr:`read`."""
        try:
            read = self.cache.get(self._fetch, need_forecast=self.need_forecast)
        except ProviderError as exc:
            self._warn("cache", f"wattwatch: {self.label}: {exc}; using the tables")
            return None
        self.read = read
        if read.error is not None:
            then = "the last cached answer" if read.data is not None else "the tables"
            self._warn(read.error[:20], f"wattwatch: {self.label}: {read.error}; using {then}")
        return read

    def _loop(self) -> None:
        while not self._stop.is_set():
            read = self.refresh()
            wait = self.cache.max_age_s
            if read is not None:
                wait = max(1.0, read.attempted_at + self.cache.max_age_s - self._wall() + 1.0)
            self._stop.wait(wait)

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)


def _age(data: ProviderData, now: float) -> float:
    return now - data.fetched_at


class LiveIntensity:
    """The average intensity from a provider's ``feed`` with ``fallback`` (the tables) behind it; a
    :class:`~wattwatch.carbon.intensity.CarbonIntensity` (see the module doc). ``name`` is the source's kind
    (``electricitymaps``), ``what`` its description's head."""

    def __init__(
        self, feed: ProviderFeed, fallback: CarbonIntensity, *, name: str, what: str, wall_clock: Callable[[], float]
    ) -> None:
        self.feed = feed
        self.fallback = fallback
        self.name = name
        self.what = what
        self._wall = wall_clock
        self.used: dict[str, int] = {"live": 0, "cached": 0, "tables": 0}

    def start(self) -> None:
        self.feed.start()

    def stop(self) -> None:
        self.feed.stop()

    def _lookup(self, t: float) -> tuple[float, str]:
        data = self.feed.data
        if data is not None and data.points:
            age = _age(data, self._wall())
            if age <= CACHED_MAX_S:
                series = data.series("average")
                assert series is not None
                value = series.value_at(t)
                if value is None:  # before the first point or after the last: the nearest one
                    value = data.points[0][1] if t < data.points[0][0] else data.points[-1][1]
                return value, "live" if age <= LIVE_S else "cached"
        return self.fallback.at(t), "tables"

    def at(self, wall_time_s: float) -> float:
        value, kind = self._lookup(wall_time_s)
        self.used[kind] += 1
        return value

    def step_series(self) -> StepSeries | None:
        data = self.feed.data
        if data is None or _age(data, self._wall()) > CACHED_MAX_S:
            return None
        return data.series("average")

    def mean_g_per_kwh(self) -> float:
        data = self.feed.data
        if data is not None and data.points:
            return sum(g for _, g in data.points) / len(data.points)
        return self.fallback.mean_g_per_kwh()

    def mean_over(self, start_s: float, end_s: float) -> float:
        series = self.step_series()
        value = series.mean_between(start_s, end_s) if series is not None else None
        return value if value is not None else mean_over_interval(self.fallback, start_s, end_s)

    @property
    def source(self) -> IntensitySource:
        """Where the figures came from, every fallback used named (for the row's ``intensity_source``)."""
        data = self.feed.data
        note = f" ({data.note})" if data is not None and data.note else ""
        parts = [f"{self.what}{note}"]
        if self.used["cached"]:
            parts.append("fell back to the last cached answer (the provider was unreachable)")
        if self.used["tables"]:
            parts.append(f"fell back to the tables: {self.fallback.source.description}")
        if not self.used["live"] and not self.used["cached"]:
            parts[0] += " -- no answer used"
        return replace(self.fallback.source, kind=self.name, description="; ".join(parts))


class MarginalFeed:
    """The marginal signal (WattTime MOER) from ``feed``: the pause rule's signal and the row's marginal column."""

    def __init__(self, feed: ProviderFeed, *, what: str, wall_clock: Callable[[], float]) -> None:
        self.feed = feed
        self.what = what
        self._wall = wall_clock

    def start(self) -> None:
        self.feed.start()

    def stop(self) -> None:
        self.feed.stop()

    def step_series(self) -> StepSeries | None:
        data = self.feed.data
        if data is None or _age(data, self._wall()) > CACHED_MAX_S:
            return None
        return data.series("marginal")

    def source_text(self) -> str:
        data = self.feed.data
        note = f" ({data.note})" if data is not None and data.note else " (no answer)"
        return f"{self.what}{note}"
