"""When to wait for a cleaner grid: :class:`PausePlanner`, the decision every integration asks for at a step
boundary.

The rule, given the intensity now, a threshold ``X`` (gCO2eq/kWh), a deadline and the run's remaining working
time (the high end of its projection):

1. below or at ``X``: run;
2. when waiting any longer would miss the deadline (``now + remaining >= deadline``): run;
3. otherwise plan: among the known intervals between now and the deadline (an interval the signal does not
   cover counts at the mean of those it does), take the cleanest ones, earliest first among equals, until they
   hold the remaining work. Run when the current interval is one of them (one needed only in part: during its
   last part), else wait -- until the current interval ends, :attr:`recheck_s` at most, and never past the
   last moment that keeps the deadline.

Without a forecast (a live value only, or a file that ends with this interval) there is no plan: the policy
waits while the intensity is above ``X`` and the deadline allows, asking again every :attr:`recheck_s`. ``X = 0`` lets the plan decide alone. Units: unix seconds,
gCO2eq/kWh.
"""

from __future__ import annotations

from dataclasses import dataclass

from wattwatch.carbon.series import StepSeries

__all__ = ["PauseDecision", "PausePlanner"]


@dataclass(frozen=True)
class PauseDecision:
    """Run or wait: ``until`` (unix s) is when to ask again while waiting; ``g_per_kwh`` the intensity now."""

    pause: bool
    reason: str
    g_per_kwh: float | None = None
    until: float | None = None


class PausePlanner:
    """The rule of the module doc for threshold ``threshold_g_per_kwh`` and deadline ``deadline_s`` (unix s)."""

    def __init__(
        self, threshold_g_per_kwh: float, deadline_s: float, *, recheck_s: float = 300.0, min_pause_s: float = 120.0
    ) -> None:
        self.threshold = float(threshold_g_per_kwh)
        self.deadline = float(deadline_s)
        self.recheck_s = float(recheck_s)
        self.min_pause_s = float(min_pause_s)
        """A wait shorter than this (or than a tenth of the work left) is not begun: each costs a checkpoint, or
        a SIGSTOP/SIGCONT."""

    def decide(self, now: float, series: StepSeries | None, remaining_s: float | None) -> PauseDecision:
        """Run or wait at unix time ``now`` with ``remaining_s`` seconds of work left (``None``: not known yet,
        so never wait)."""
        if remaining_s is None:
            return PauseDecision(False, "the run's remaining time is not known yet")
        g = series.value_at(now) if series is not None else None
        if series is None or g is None:
            return PauseDecision(False, "no intensity known for now")
        if g <= self.threshold:
            return PauseDecision(False, f"grid at {g:.0f} g/kWh, at or below {self.threshold:g}", g)
        latest_start = self.deadline - remaining_s
        if now >= latest_start:
            return PauseDecision(False, "waiting longer would miss the deadline", g)
        run, start = self._plan(now, series, remaining_s)
        if run:
            return PauseDecision(False, f"grid at {g:.0f} g/kWh, among the cleanest hours left before the deadline", g)
        end = start or series.segment_end(now) or now + self.recheck_s
        until = min(end, now + self.recheck_s, latest_start)
        if until - now < min(self.min_pause_s, 0.1 * remaining_s):
            return PauseDecision(False, f"grid at {g:.0f} g/kWh, but a pause this short is not worth it", g)
        return PauseDecision(True, f"grid at {g:.0f} g/kWh, above {self.threshold:g}; cleaner hours ahead", g, until)

    def _plan(self, now: float, series: StepSeries, remaining_s: float) -> tuple[bool, float | None]:
        """Whether the interval holding ``now`` is among the cleanest that hold ``remaining_s`` before the
        deadline. One needed only in part is run at its end (the wait before it can still fall elsewhere in
        the plan): ``(False, when that part starts)`` until then."""
        known = series.segments(now, self.deadline)
        if len(known) < 2:  # nothing known beyond this interval: the threshold alone decides (wait)
            return False, None
        segs = _with_unknown_filled(known, now, self.deadline, mean_of=known[1:])
        need = remaining_s
        for a, b, _g in sorted(segs, key=lambda s: (s[2], s[0])):
            if a <= now < b:
                if b - now > need:  # only its last `need` seconds are needed
                    return False, b - need
                return True, None
            need -= b - a
            if need <= 0:
                return False, None
        return True, None  # everything is needed


def _with_unknown_filled(
    segs: list[tuple[float, float, float]],
    start: float,
    end: float,
    *,
    mean_of: list[tuple[float, float, float]],
) -> list[tuple[float, float, float]]:
    """``segs`` with the gaps of ``[start, end)`` they leave filled at the time-weighted mean of ``mean_of`` (the
    forecast ahead: an unknown hour counts as an average one of those)."""
    known = sum(b - a for a, b, _ in mean_of)
    if known <= 0:
        return segs
    mean = sum((b - a) * g for a, b, g in mean_of) / known
    out: list[tuple[float, float, float]] = []
    t = start
    for a, b, g in segs:
        if a > t:
            out.append((t, a, mean))
        out.append((a, b, g))
        t = b
    if t < end:
        out.append((t, end, mean))
    return out
