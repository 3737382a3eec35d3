"""Waiting for a cleaner grid on a running tracker: :class:`PauseControl`, the pause half of the carbon policy.

It asks :class:`~wattwatch.policy.pause.PausePlanner` (caching the answer until it can change: the end of the
grid's current interval, or a minute), and runs the wait: phase ``paused`` (the readings at its edges make its
idle energy exact), sleeping in slices of at most :data:`PAUSE_SLEEP_MAX_S`, asking again after each. Paused time
is kept apart so the projection's clock counts working time only. Units: unix seconds for the grid and the
deadline, monotonic seconds for durations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from wattwatch.carbon.series import StepSeries
from wattwatch.policy.pause import PauseDecision, PausePlanner
from wattwatch.util.times import utc_iso_minutes

__all__ = ["NO_RULE", "PAUSE_SLEEP_MAX_S", "PauseControl"]

log = logging.getLogger("wattwatch")

PAUSE_SLEEP_MAX_S = 600.0
NO_RULE = PauseDecision(False, "no pause rule")


class PauseControl:
    """The pause rule of one run. ``series()`` is the grid signal now (marginal first), ``remaining_s()`` the
    run's remaining working time (high end; ``None`` unknown), ``steps()`` / ``set_phase`` / ``get_phase`` the
    run's; ``give_up()`` true ends a wait early (the run went past its budget while idle)."""

    def __init__(
        self,
        planner: PausePlanner,
        *,
        series: Callable[[], StepSeries | None],
        remaining_s: Callable[[], float | None],
        steps: Callable[[], int],
        set_phase: Callable[[str], None],
        get_phase: Callable[[], str],
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        sleep: Callable[[float], None],
        give_up: Callable[[], bool] = lambda: False,
    ) -> None:
        self.planner = planner
        self._give_up = give_up
        self._series, self._remaining_s, self._steps = series, remaining_s, steps
        self._set_phase, self._get_phase = set_phase, get_phase
        self._clock, self._wall, self._sleep = clock, wall_clock, sleep
        self._decision: PauseDecision | None = None
        self._until = float("-inf")
        self._phase_before = "train"
        self.paused_since: float | None = None
        """Monotonic time the current pause began (``None`` when not paused)."""
        self.paused_total_s = 0.0
        self.pauses = 0

    def paused_s(self, now: float) -> float:
        """Seconds paused so far, the current pause included (monotonic ``now``)."""
        return self.paused_total_s + (now - self.paused_since if self.paused_since is not None else 0.0)

    def decide(self) -> PauseDecision:
        """Run or wait, now (cached until the decision can change)."""
        now = self._wall()
        if self._decision is not None and now < self._until:
            return self._decision
        series = self._series()
        decision = self.planner.decide(now, series, self._remaining_s())
        end = series.segment_end(now) if series is not None else None
        self._decision = decision
        self._until = decision.until if decision.pause and decision.until else min(end or now, now + 60.0)
        return decision

    def begin(self, decision: PauseDecision) -> None:
        """Enter phase ``paused`` (``wattwatch run`` after SIGSTOP; :meth:`wait_while_dirty` itself)."""
        if self.paused_since is not None:
            return
        self._phase_before = self._get_phase()
        self._set_phase("paused")
        self.paused_since = self._clock()
        self.pauses += 1
        log.warning(
            "wattwatch: pausing at step %s: %s; next look at %s (deadline %s)",
            f"{self._steps():,}",
            decision.reason,
            utc_iso_minutes(decision.until or self._wall()),
            utc_iso_minutes(self.planner.deadline),
        )

    def end(self) -> float:
        """Leave phase ``paused``; returns the seconds paused."""
        since = self.paused_since
        if since is None:
            return 0.0
        waited = max(0.0, self._clock() - since)
        self.paused_total_s += waited
        self.paused_since = None
        self._decision = None
        self._set_phase(self._phase_before)
        log.warning("wattwatch: resuming after %.1f min paused", waited / 60.0)
        return waited

    def wait_while_dirty(self, before_wait: Callable[[], object] | None = None) -> float:
        """Wait while the rule says so; ``before_wait()`` first (a checkpoint). Returns the seconds waited."""
        decision = self.decide()
        if not decision.pause:
            return 0.0
        if before_wait is not None:
            before_wait()
        self.begin(decision)
        try:
            while decision.pause and not self._give_up():  # a budget the idle draw used up ends the wait
                self._sleep(max(1.0, min((decision.until or 0.0) - self._wall(), PAUSE_SLEEP_MAX_S)))
                self._decision = None
                decision = self.decide()
        finally:
            waited = self.end()
        return waited
