"""The one policy object every integration consults: :class:`CarbonPolicy`.

A tracker with a budget, a pause rule, a live intensity provider or a known length (``total_steps``) makes one
at construction and attaches it to each started run. Then:

- ``after_step()`` -- called by ``Tracker.step()`` / ``set_counts()``, so by every callback -- compares the
  ledger's live total with the budget in O(1) (:class:`~wattwatch.policy.budget.BudgetGuard`) and, at the first
  step past it, warns, or raises :class:`~wattwatch.errors.BudgetExceeded` (``on_budget="raise"``);
- ``on_tick()`` -- on the sampler thread after each reading -- checks the budget on what was just read (for
  runs that seldom count steps, and ``wattwatch run``), feeds the projection with its interval
  (:class:`~wattwatch.policy.outlook.Outlook`) at most every :data:`OBSERVE_EVERY_S`, gives the early warning,
  and weighs the marginal signal by the energy drawn;
- ``decide_pause()`` / ``pause_if_dirty()`` -- at step boundaries -- apply the pause rule
  (:class:`~wattwatch.policy.pause.PausePlanner`) and wait in phase ``paused``, its idle energy counted
  (:class:`~wattwatch.policy.waiting.PauseControl`);
- ``final_status()`` / ``fill_row()`` -- at rows and at the end -- give the status ``budget-stopped`` and the
  row's budget and marginal-intensity columns.

Callbacks differ only in how they stop or checkpoint; what is decided, and when, is decided here. Units: kg
CO2eq, kWh, seconds (monotonic for durations, unix for the deadline and the grid's hours), gCO2eq/kWh.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from wattwatch.carbon.series import StepSeries, series_of
from wattwatch.errors import BudgetExceeded
from wattwatch.policy.budget import Budget, BudgetGuard
from wattwatch.policy.outlook import Outlook
from wattwatch.policy.pause import PauseDecision, PausePlanner
from wattwatch.policy.report import CarbonOutlook, budget_message, carbon_outlook, warning_message
from wattwatch.policy.waiting import NO_RULE, PauseControl

if TYPE_CHECKING:
    from wattwatch.carbon.intensity import CarbonIntensity
    from wattwatch.result import EmissionsData
    from wattwatch.util.once import WarnOnce

__all__ = ["OBSERVE_EVERY_S", "CarbonPolicy", "MarginalSignal", "RunLink", "Startable"]

log = logging.getLogger("wattwatch")

OBSERVE_EVERY_S = 0.25
"""Least seconds between two observations of the run (and there must be a reading in between)."""
NOT_WORKING = ("paused",)
"""Phases whose energy is not work to project (a pause's idle draw is sunk, not repeated)."""

Totals = tuple[float, float, float, float, float]


class Startable(Protocol):
    """A live provider's refresher: started with the run, stopped with it."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


class MarginalSignal(Startable, Protocol):
    """A marginal-emissions signal (WattTime's MOER): its series now and where it comes from."""

    def step_series(self) -> StepSeries | None: ...
    def source_text(self) -> str: ...


@dataclass
class RunLink:
    """What the policy needs of a started run (the tracker's session, seen through callables)."""

    live_total: Callable[[], Totals]
    """:class:`wattwatch.measure.live.LiveTotal` of the run's ledger."""
    phase_totals: Callable[[], dict[str, float]]
    """Energy per phase so far (J before PUE)."""
    sample_now: Callable[[], bool]
    """A synchronous reading (bounded wait); ``False`` when none could be taken."""
    steps: Callable[[], int]
    set_phase: Callable[[str], None]
    get_phase: Callable[[], str]
    warn: WarnOnce
    total_steps: int | None
    interval_s: float


class CarbonPolicy:
    """Budgets, projection with interval and the pause rule for one tracker (see the module doc)."""

    def __init__(
        self,
        *,
        budget: Budget,
        intensity: CarbonIntensity,
        pause_above: float | None = None,
        deadline: object = None,
        marginal: MarginalSignal | None = None,
        providers: Sequence[Startable] = (),
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        sleep: Callable[[float], None],
        pue: float = 1.0,
    ) -> None:
        self.budget = budget
        self.intensity = intensity
        self.pause_above = pause_above
        self.deadline_option = deadline
        self.marginal = marginal
        self._providers = list(providers)
        self._clock, self._wall, self._sleep = clock, wall_clock, sleep
        self._pue = pue
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._reset()

    def _reset(self) -> None:
        self.link: RunLink | None = None
        self.guard: BudgetGuard | None = None
        self.outlook: Outlook | None = None
        self.pausing: PauseControl | None = None
        self._raised = self._announced = self._warned = False
        self._next_observe = float("-inf")
        self._observed: object = None
        self._t0 = 0.0
        self._marginal_g = self._marginal_j = self._uncovered_j = 0.0
        self._last_energy: tuple[float, float] | None = None  # (J with PUE, unix s) at the last observation

    # -- life cycle ----------------------------------------------------------------------------------------------
    def attach(self, link: RunLink) -> None:
        """Start acting on a started run (``Tracker.start()``)."""
        self._reset()
        self.link = link
        self._t0 = self._clock()
        if self.budget.any:
            self.guard = BudgetGuard(
                self.budget, link.live_total, clock=self._clock, pue=self._pue, confirm=link.sample_now
            )
        if link.total_steps:
            self.outlook = Outlook(link.total_steps)
        if self.pause_above is not None:
            self._attach_pause(link)
        for provider in self._providers:
            provider.start()

    def _attach_pause(self, link: RunLink) -> None:
        from wattwatch.policy.options import resolve_deadline

        deadline = resolve_deadline(self.deadline_option, self._wall())
        if deadline <= self._wall():
            from wattwatch.util.times import utc_iso_minutes

            link.warn(
                "pause-deadline",
                f"wattwatch: the deadline ({utc_iso_minutes(deadline)}) is already past; training will not pause",
            )
            return
        if self.marginal is None and not hasattr(self.intensity, "step_series") and series_of(self.intensity) is None:
            link.warn(
                "pause-static",
                "wattwatch: pause_above_g_per_kwh is set but the grid's intensity is one fixed figure "
                f"({self.intensity.source.description}), so waiting cannot lower it; give an hourly file "
                "(intensity_csv=) or a live provider (intensity_provider=) -- training will not pause",
            )
            return
        if not link.total_steps:
            link.warn(
                "pause-length",
                "wattwatch: pause_above_g_per_kwh needs the run's length (total_steps=, a Trainer's max_steps) "
                "to keep the deadline; training will not pause",
            )
            return
        self.pausing = PauseControl(
            PausePlanner(float(self.pause_above or 0.0), deadline),
            series=self._pause_series,
            remaining_s=self._remaining_s,
            steps=link.steps,
            set_phase=link.set_phase,
            get_phase=link.get_phase,
            clock=self._clock,
            wall_clock=self._wall,
            sleep=self._sleep,
            give_up=lambda: self.should_stop,
        )

    def add_budget_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` once, on whichever thread first finds the run past its budget."""
        self._listeners.append(listener)

    def final_status(self, status: str) -> str:
        """The run's status at ``stop()``: ``budget-stopped`` for a run a budget stopped (``stop`` / ``raise``),
        else ``status``. Takes the last observation and stops the providers' refreshers."""
        if self.link is not None:
            self._observe_marginal()
        for provider in self._providers:
            provider.stop()
        stopped = self.guard is not None and self.guard.hit is not None and self.budget.on_budget != "warn"
        return "budget-stopped" if stopped and status in ("completed", "failed", "interrupted") else status

    # -- budget --------------------------------------------------------------------------------------------------
    def after_step(self) -> None:
        """The check between two steps (see the module doc). Raises ``BudgetExceeded`` once, at the first step
        past the budget, with ``on_budget="raise"``."""
        if self.outlook is not None and self._clock() >= self._next_observe:
            self._observe(self._clock())  # at most every OBSERVE_EVERY_S: runs whose sampler seldom ticks
        guard = self.guard
        if guard is None or self._raised:
            return
        if guard.hit is None and not guard.over():
            return
        self._act(from_step=True)

    @property
    def over_budget(self) -> bool:
        """Whether the run is past its budget now (measured; sticky)."""
        guard = self.guard
        if guard is None:
            return False
        if guard.hit is None and guard.over():
            self._act(from_step=False)
        return guard.hit is not None

    @property
    def should_stop(self) -> bool:
        """Past the budget with ``on_budget`` ``stop`` or ``raise``: integrations end training now."""
        return self.budget.on_budget != "warn" and self.over_budget

    def _act(self, *, from_step: bool) -> None:
        guard, link = self.guard, self.link
        assert guard is not None and guard.hit is not None
        hit = guard.hit
        if from_step and hit.steps is None and link is not None:  # the step at which the run acts on it
            hit.steps = link.steps() or None
        if not self._announced:
            self._announced = True
            log.warning(budget_message(hit, self.budget.on_budget))
            for listener in self._listeners:
                try:
                    listener()
                except Exception as exc:  # noqa: BLE001 - never into user code
                    log.warning("wattwatch: budget listener failed: %r", exc)
        if from_step and self.budget.on_budget == "raise" and not self._raised:
            self._raised = True
            raise self.exception()

    def exception(self) -> BudgetExceeded:
        """The :class:`~wattwatch.errors.BudgetExceeded` describing the budget the run went past."""
        hit = self.guard.hit if self.guard is not None else None
        if hit is None:
            return BudgetExceeded("carbon", 0.0, 0.0, "kg")
        return BudgetExceeded(hit.kind, hit.used, hit.budget, hit.unit.split()[0], hit.steps)

    # -- observations (sampler thread) ----------------------------------------------------------------------------
    def on_tick(self, t: float) -> None:
        """After a reading: the budget on what was just read, then (at most every :data:`OBSERVE_EVERY_S`) the
        projection, the early warning and the marginal signal's weights."""
        guard = self.guard
        if guard is not None and guard.hit is None and guard.over(confirm=False):
            self._act(from_step=False)
        if t >= self._next_observe:
            self._observe_marginal()
            self._observe(t)

    def _observe(self, t: float) -> None:
        if self.link is None:
            return
        total = self.link.live_total()
        if total is self._observed:  # no reading since the last observation: nothing new to see
            return
        self._observed = total
        self._next_observe = t + OBSERVE_EVERY_S
        if self.outlook is not None and not self.paused:
            self._observe_outlook(t)

    def _observe_outlook(self, t: float) -> None:
        link = self.link
        assert link is not None and self.outlook is not None
        phases = link.phase_totals()
        train = phases.get("train", 0.0) * self._pue
        other = {p: e * self._pue for p, e in phases.items() if p != "train" and p not in NOT_WORKING}
        paused = self.pausing.paused_s(t) if self.pausing is not None else 0.0
        with self._lock:
            self.outlook.observe(t - self._t0 - paused, link.steps(), train, other)
        if not self._warned and self.budget.any and (self.guard is None or self.guard.hit is None):
            view = self.carbon_outlook()
            message = warning_message(view, self.budget) if view is not None and view.energy.has_interval else None
            if message:
                self._warned = True
                log.warning(message)

    def _observe_marginal(self) -> None:
        if self.marginal is None or self.link is None:
            return
        energy_j, _g, powers, power_times, _ = self.link.live_total()
        energy_j = (energy_j + max(0.0, powers * self._clock() - power_times)) * self._pue
        now = self._wall()
        last, self._last_energy = self._last_energy, (energy_j, now)
        if last is None or energy_j <= last[0]:
            return
        delta = energy_j - last[0]
        series = self.marginal.step_series()
        value = series.value_at((now + last[1]) / 2.0) if series is not None else None
        if value is None:
            self._uncovered_j += delta
        else:
            self._marginal_j += delta
            self._marginal_g += delta * value

    # -- projection and pause --------------------------------------------------------------------------------------
    def carbon_outlook(self) -> CarbonOutlook | None:
        """The projection of the whole run with its interval, in kWh and kg CO2eq (``None`` without a length
        or before two observations)."""
        if self.outlook is None or self.link is None:
            return None
        with self._lock:
            energy = self.outlook.project()
        if energy is None:
            return None
        return carbon_outlook(energy, self.link.live_total()[1], series_of(self.intensity), self._wall())

    def _remaining_s(self) -> float | None:
        if self.outlook is None:
            return None
        with self._lock:
            view = self.outlook.project()
        if view is None:
            return None
        return view.remaining_high_s if view.has_interval else 1.5 * view.remaining_s

    def _pause_series(self) -> StepSeries | None:
        """The signal the pause rule reads: the marginal one where it knows now, else the average."""
        series = self.marginal.step_series() if self.marginal is not None else None
        if series is None or series.value_at(self._wall()) is None:
            series = series_of(self.intensity)
        return series

    def decide_pause(self) -> PauseDecision:
        """Run or wait, now (see :class:`~wattwatch.policy.waiting.PauseControl`)."""
        return self.pausing.decide() if self.pausing is not None else NO_RULE

    def begin_pause(self, decision: PauseDecision) -> None:
        if self.pausing is not None:
            self.pausing.begin(decision)

    def end_pause(self) -> float:
        return self.pausing.end() if self.pausing is not None else 0.0

    @property
    def paused(self) -> bool:
        return self.pausing is not None and self.pausing.paused_since is not None

    def pause_if_dirty(self, before_wait: Callable[[], object] | None = None) -> float:
        """Wait (phase ``paused``) while the pause rule says so; ``before_wait()`` first. Seconds waited."""
        return self.pausing.wait_while_dirty(before_wait) if self.pausing is not None else 0.0

    # -- row ---------------------------------------------------------------------------------------------------
    def fill_row(self, data: EmissionsData) -> None:
        """Add the budget and marginal-intensity columns to a row being built (and the projection's centre)."""
        data.budget_kg = self.budget.carbon_kg
        data.budget_kwh = self.budget.energy_kwh
        fresh = data.projected_energy_kwh is not None and not data.resumed_segments  # a segment's row keeps its own
        view = self.carbon_outlook() if fresh else None
        if view is not None:  # one projection everywhere: the row's centre is the interval's
            data.projected_energy_kwh = view.energy.energy_kwh
            data.projected_emissions_kg = view.emissions_kg
        if self.marginal is None:
            return
        covered, total = self._marginal_j, self._marginal_j + self._uncovered_j
        data.marginal_intensity_g_per_kwh = self._marginal_g / covered if covered > 0 else None
        share = f"; {100.0 * covered / total:.0f} % of the energy covered" if total > 0 else ""
        data.marginal_intensity_source = self.marginal.source_text() + share
