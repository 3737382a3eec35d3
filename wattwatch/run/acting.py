"""What a tracker does about the carbon it measures: :class:`RunActing`, the base of
:class:`~wattwatch.run.tracker.Tracker` that owns its :class:`~wattwatch.policy.policy.CarbonPolicy` (budgets,
projection with interval, grid-aware pause, live intensity; see docs/acting.md) and offers it to the code that
trains: :attr:`over_budget`, :attr:`should_stop`, :meth:`outlook`, :meth:`pause_due`, :meth:`pause_if_dirty`.

Import-light like the facade: the policy's modules load only for a tracker given a budget, a pause rule, a
provider or ``total_steps``.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # see wattwatch/run/tracker.py
if TYPE_CHECKING:
    from collections.abc import Callable

    from wattwatch.carbon.intensity import CarbonIntensity
    from wattwatch.policy.policy import CarbonPolicy
    from wattwatch.policy.report import CarbonOutlook
    from wattwatch.run.config import TrackerConfig
    from wattwatch.run.counters import Counters
    from wattwatch.run.recorder import RowRecorder
    from wattwatch.run.session import RunSession
    from wattwatch.util.once import WarnOnce

__all__ = ["RunActing"]


class RunActing:
    """The tracker's policy and the questions integrations ask it (answers are ``False`` / ``None`` / ``0``
    for a tracker without one)."""

    config: TrackerConfig
    intensity: CarbonIntensity
    total_steps: int | None
    _policy: CarbonPolicy | None
    _counters: Counters
    _recorder: RowRecorder
    _warn_once: WarnOnce
    _pid: int

    def _init_policy(self) -> None:
        """At construction: the policy for the acting options (``ConfigurationError`` for bad ones, before any
        work); the live provider's intensity replaces the tables' in :attr:`intensity`."""
        from wattwatch.policy import acts, make_policy

        self._policy = None
        if acts(self.config):
            self._policy, self.intensity = make_policy(self.config, self.intensity)
            self._recorder.annotate = self._policy.fill_row

    def _attach_policy(
        self, session: RunSession, set_phase: Callable[[str], None], get_phase: Callable[[], str]
    ) -> None:
        """At ``start()``: attach the policy to the started run (one for the projection alone when only
        ``total_steps`` is known), after the counters' projection; ``set_phase`` / ``get_phase`` are the
        tracker's."""
        self._counters.start_projection(self.total_steps)
        if self._policy is None and self.total_steps:
            from wattwatch.policy import make_policy

            self._policy = make_policy(self.config, self.intensity)[0]
            self._recorder.annotate = self._policy.fill_row
        policy = self._policy
        if policy is None:
            return
        from wattwatch.measure.live import LiveTotal, phase_totals_j
        from wattwatch.policy.policy import RunLink

        sampler, ledger = session.sampler, session.ledger
        counts = self._counters.counts
        live = LiveTotal(ledger)
        sampler.after_read = live.refresh  # the live total, refreshed after every reading
        policy.attach(
            RunLink(
                live_total=live,
                phase_totals=lambda: phase_totals_j(ledger),
                sample_now=lambda: os.getpid() == self._pid and sampler.sample_now(lock_timeout_s=0.05),
                steps=lambda: counts["steps"],
                set_phase=set_phase,
                get_phase=get_phase,
                warn=self._warn_once,
                total_steps=self.total_steps,
                interval_s=sampler.interval_s,
            )
        )

    def _policy_tick(self, t: float) -> None:
        """On the sampler thread after each reading (never raises: a budget is enforced at the step)."""
        if self._policy is not None:
            try:
                self._policy.on_tick(t)
            except Exception as exc:  # noqa: BLE001 - never into user code
                self._warn_once("policy", f"wattwatch: carbon policy failed: {exc!r}")

    def _final_status(self, status: str) -> str:
        return self._policy.final_status(status) if self._policy is not None else status

    # -- what integrations ask ---------------------------------------------------------------------------------
    @property
    def policy(self) -> CarbonPolicy | None:
        """The run's policy (``None`` for a tracker that only measures)."""
        return self._policy

    @property
    def over_budget(self) -> bool:
        """Whether the run is past its carbon or energy budget (measured; stays true once it is)."""
        return self._policy is not None and self._policy.over_budget

    @property
    def should_stop(self) -> bool:
        """Past a budget with ``on_budget`` ``"stop"`` or ``"raise"``: end training now (a loop of your own
        checks this after each step; the callbacks do)."""
        return self._policy is not None and self._policy.should_stop

    def outlook(self) -> CarbonOutlook | None:
        """The projection of the whole run (energy, emissions, time left), with an interval once the run is 5 %
        done or has worked 60 s; ``None`` without ``total_steps`` or before two observations."""
        return self._policy.carbon_outlook() if self._policy is not None else None

    def pause_due(self) -> bool:
        """Whether the pause rule says to wait now (callbacks checkpoint first, then :meth:`pause_if_dirty`)."""
        return self._policy is not None and self._policy.decide_pause().pause

    def pause_if_dirty(self, before_wait: Callable[[], object] | None = None) -> float:
        """At a step boundary: wait (phase ``paused``, its idle energy counted) while the grid is above
        ``pause_above_g_per_kwh`` and the deadline allows; ``before_wait()`` runs first (save a checkpoint there).
        Returns the seconds waited."""
        return self._policy.pause_if_dirty(before_wait) if self._policy is not None else 0.0
