"""A run's carbon and energy budget, checked between training steps in O(1).

:class:`BudgetGuard` compares the ledger's *live* total with the budget: the total at each channel's latest
reading plus what the channel has drawn since at its latest power (:class:`wattwatch.measure.live.LiveTotal`), so a check made 0.9 s
after a 1 s tick does not miss 0.9 s of energy. Only when that estimate reaches the budget does the guard take a
synchronous reading (a few hundred microseconds, once or a few times per run) and decide on measured energy:
the run is declared past its budget on joules the sensors reported, never on an extrapolation.

Cost of a check below the budget: one clock call, one tuple read and a few multiplications (benchmark: under a
microsecond on top of ``Tracker.step()``). Units: joules (before PUE) inside, kg CO2eq and kWh outside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wattwatch.measure.ledger import J_PER_KWH

__all__ = ["Budget", "BudgetGuard", "BudgetHit", "LiveTotal"]

LiveTotal = Callable[[], "tuple[float, float, float, float, float]"]
"""A :class:`wattwatch.measure.live.LiveTotal`: (J before PUE, grams, sum of powers W, sum of power x reading
time, g/kWh now)."""


@dataclass(frozen=True)
class Budget:
    """The limits (``None``: no limit of that kind) and what to do past them (``stop``, ``raise``, ``warn``)."""

    carbon_kg: float | None = None
    energy_kwh: float | None = None
    on_budget: str = "stop"

    @property
    def any(self) -> bool:
        return self.carbon_kg is not None or self.energy_kwh is not None


@dataclass
class BudgetHit:
    """The first budget the run went past: ``kind`` (``carbon`` or ``energy``), the measured ``used`` figure and
    the ``budget``, both in ``unit`` (``kg`` CO2eq or ``kWh``); ``steps``: the step at which the run acted on it
    (``None`` until a step did)."""

    kind: str
    used: float
    budget: float
    unit: str
    steps: int | None


class BudgetGuard:
    """Checks ``budget`` against ``live_total`` (see the module doc). ``confirm()`` takes a synchronous reading
    (``Sampler.sample_now``) and returns whether it could; ``clock`` is the monotonic clock of the readings;
    ``pue`` the run's. Thread-safe enough: a hit is recorded once (the first caller's figures stand)."""

    def __init__(
        self,
        budget: Budget,
        live_total: LiveTotal,
        *,
        clock: Callable[[], float],
        pue: float,
        confirm: Callable[[], bool] | None = None,
    ) -> None:
        self.budget = budget
        self._live_total = live_total
        self._clock = clock
        self._confirm = confirm
        self._pue = float(pue)
        self._kwh_per_j = self._pue / J_PER_KWH
        self._limit_j = budget.energy_kwh / self._kwh_per_j if budget.energy_kwh is not None else float("inf")
        self._limit_g = budget.carbon_kg * 1000.0 if budget.carbon_kg is not None else float("inf")
        self.hit: BudgetHit | None = None

    def estimate(self) -> tuple[float, float]:
        """The live total now: ``(kWh with PUE, kg CO2eq)``, extrapolated from each channel's latest reading."""
        energy_j, grams, powers, power_times, g_per_kwh = self._live_total()
        extra = max(0.0, powers * self._clock() - power_times)
        return (energy_j + extra) * self._kwh_per_j, (grams + extra * self._kwh_per_j * g_per_kwh) / 1000.0

    def over(self, *, confirm: bool = True) -> bool:
        """Whether the run is past its budget (sticky once it is). ``confirm=False`` decides on the live estimate
        alone (the sampler thread, just after a reading)."""
        if self.hit is not None:
            return True
        energy_j, grams, powers, power_times, g_per_kwh = self._live_total()
        extra = powers * self._clock() - power_times
        if extra < 0.0:
            extra = 0.0
        if energy_j + extra < self._limit_j and grams + extra * self._kwh_per_j * g_per_kwh < self._limit_g:
            return False
        if confirm and self._confirm is not None and self._confirm():
            energy_j, grams = self._live_total()[:2]  # measured up to the reading just taken
            if energy_j < self._limit_j and grams < self._limit_g:
                return False
        else:
            energy_j, grams = energy_j + extra, grams + extra * self._kwh_per_j * g_per_kwh
        self._record(energy_j, grams)
        return True

    def _record(self, energy_j: float, grams: float) -> None:
        if self.hit is not None:
            return
        b = self.budget
        if b.carbon_kg is not None and grams >= self._limit_g:
            self.hit = BudgetHit("carbon", grams / 1000.0, b.carbon_kg, "kg CO2eq", None)
        else:
            self.hit = BudgetHit("energy", energy_j * self._kwh_per_j, float(b.energy_kwh or 0.0), "kWh", None)
