"""In-process fake sensors with exactly known energy, for tracker-level tests (no hardware, no C)."""

from __future__ import annotations

import time
from collections.abc import Callable

from wattwatch.sensors.base import ENERGY, POWER, ChannelInfo, Reading

__all__ = ["ConstantPowerSensor", "HostModelSensor"]


class ConstantPowerSensor:
    """``n`` channels drawing ``watts`` each, forever. ``counter=True`` serves cumulative joules
    (``watts * (clock() - origin)``), else instantaneous power. ``exact_j(t0, t1)`` is the truth."""

    def __init__(
        self,
        watts: float = 100.0,
        *,
        component: str = "gpu",
        n: int = 1,
        counter: bool = True,
        clock: Callable[[], float] = time.monotonic,
        model: str = "Fake GPU 80GB",
    ) -> None:
        self.watts = watts
        self.component = component
        self.n = n
        self.counter = counter
        self.clock = clock
        self.origin = clock()
        self.model = model
        self.reads = 0
        self.first_read_t: float | None = None
        """Clock value the first ``read`` used (the exact truth's window starts here)."""
        self.last_read_t: float | None = None

    def channels(self) -> list[str]:
        return [f"{self.component}:{i}" for i in range(self.n)]

    def describe(self) -> list[ChannelInfo]:
        method = "counter" if self.counter else "power-integral"
        return [ChannelInfo(c, self.component, method, model=self.model) for c in self.channels()]  # type: ignore[arg-type]

    def read(self, t: float) -> dict[str, Reading]:
        self.reads += 1
        now = self.clock()
        if self.first_read_t is None:
            self.first_read_t = now
        self.last_read_t = now
        if self.counter:
            return {c: Reading(self.watts * (now - self.origin), ENERGY) for c in self.channels()}
        return {c: Reading(self.watts, POWER) for c in self.channels()}

    def close(self) -> None:
        pass

    def exact_j(self, t0: float, t1: float) -> float:
        return self.watts * self.n * (t1 - t0)

    def exact_read_window_j(self) -> float:
        """Exact joules (all channels) between this sensor's first and last read: what a counter path must
        report, whatever the scheduler did between the sampler's clock and the read."""
        assert self.first_read_t is not None and self.last_read_t is not None
        return self.exact_j(self.first_read_t, self.last_read_t)


class HostModelSensor:
    """A host model as the tracker sees one (component ``cpu``, method ``model:...``, each reading the mean power
    since the previous read): read on the slow cadence, like the CPU model from ``/proc/stat``. Draws
    ``watts`` (changeable while running); ``exact_j()`` is the truth between its first and last read."""

    def __init__(self, watts: float = 50.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.watts = watts
        self.clock = clock
        self._last: float | None = None
        self._energy = 0.0
        self.first_read_t: float | None = None
        self.last_read_t: float | None = None
        self._changes: list[tuple[float, float]] = []

    def set_watts(self, watts: float) -> None:
        """Change the power now (the energy drawn so far stays at the old power)."""
        now = self.clock()
        self._changes.append((now, self.watts))
        self.watts = watts

    def channels(self) -> list[str]:
        return ["cpu"]

    def describe(self) -> list[ChannelInfo]:
        return [ChannelInfo("cpu", "cpu", "model:tdp/machine", model="Fake CPU", details={"interval_mean": True})]

    def read(self, t: float) -> dict[str, Reading]:
        now = self.clock()
        if self.first_read_t is None:
            self.first_read_t = now
        mean = self.watts
        if self._last is not None and now > self._last:
            mean = self._energy_between(self._last, now) / (now - self._last)
        self._last = self.last_read_t = now
        return {"cpu": Reading(mean, POWER)}

    def _energy_between(self, a: float, b: float) -> float:
        """Joules drawn in ``[a, b]`` given the power changes so far (each change ends the old power)."""
        total, start = 0.0, a
        for when, watts in self._changes:
            if when > start:
                end = min(when, b)
                if end > start:
                    total += watts * (end - start)
                    start = end
        return total + self.watts * max(0.0, b - start)

    def exact_j(self) -> float:
        assert self.first_read_t is not None and self.last_read_t is not None
        return self._energy_between(self.first_read_t, self.last_read_t)

    def close(self) -> None:
        pass
