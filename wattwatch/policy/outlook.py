"""The projection of a whole run with an interval: where the energy (and time) of a run of known length ends.

:class:`Outlook` is fed, about once a second, the run's cumulative figures -- active seconds (pauses left out),
steps done, training-phase energy and the energy of every other working phase (evaluation, checkpoints) -- and
projects the end of the run::

    final = so_far + remaining_steps x (train J/step in the steady state) + remaining_steps x (other J/step)

- **Warm-up** (compilation, first batches, caches): the first fifth of the steps seen so far are left out of
  the rate (their energy is in ``so_far``, counted once), and the rate over the latest third is kept beside the
  rate over the whole steady part.
- **Steady state**: the steady part is cut into up to 8 windows of about equal steps; their rates give the
  spread (the standard error of their mean, times 2.5) and, when the windows' rates drift significantly (a
  least-squares slope beyond 2 standard errors), the trend's mean over the remaining steps.
- **Evaluation and checkpoints**: seen as bursts of the other working phases; their cadence (the mean spacing
  in steps) and mean energy carried to the end, give or take a burst (one due at the very end may not happen).
  Before the first burst nothing is assumed: a run that evaluates for the first time late is projected low.
- **What the steps seen cannot show** (a throttle, a drift to come): :data:`FUTURE` of the remaining energy and
  time, each side.

The interval is the hull of those rates widened by the spread (and by at least 1 % of the rate), plus the
bursts' and the future's allowances: ``low`` and
``high`` for energy and for the remaining time. It is given once the run is 5 % done or has worked 60 s, and
the steady part holds at least three windows. Benchmark: it held the final figure in the share of scenarios
reported in ``benchmarks/RESULTS.md`` ("Acting on carbon"). Memory is O(1): at most :data:`MAX_POINTS`
observations, halved when full.

Units: seconds, joules (PUE applied) in, kWh out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from wattwatch.measure.ledger import J_PER_KWH

__all__ = ["MAX_POINTS", "Outlook", "OutlookPoint", "RunOutlook"]

MAX_POINTS = 256
"""Observations kept (every other one is dropped when full: the spacing doubles, the span stays whole)."""
WARMUP_SHARE = 0.2
"""Share of the steps seen so far left out of the steady rate (start-up work)."""
WINDOWS = 8
Z = 2.5
"""Standard errors of the windows' mean rate on each side."""
TREND_Z = 2.0
"""A drift counts when the windows' slope is this many standard errors from zero."""
FLOOR = 0.01
"""Least half-width of the rate's interval, as a share of the rate."""
FUTURE = 0.02
"""Allowance, each side, for what the steps seen cannot show (a throttle, a neighbour, a drift to come): a share
of the remaining steps' energy and time."""


@dataclass
class OutlookPoint:
    """One observation: active seconds since the start, steps done, cumulative J of the training phase and of the
    other working phases (PUE applied)."""

    t: float
    steps: int
    train_j: float
    other_j: float


@dataclass(frozen=True)
class RunOutlook:
    """Where the run ends: energy (kWh, PUE applied) and time left (s) at ``total_steps``, central and, once
    :attr:`has_interval`, low and high."""

    steps: int
    total_steps: int
    energy_kwh: float
    energy_low_kwh: float
    energy_high_kwh: float
    remaining_s: float
    remaining_low_s: float
    remaining_high_s: float
    has_interval: bool
    energy_now_kwh: float

    @property
    def fraction_done(self) -> float:
        return min(1.0, self.steps / self.total_steps) if self.total_steps else 0.0


_Value = Callable[[OutlookPoint], float]


class _Bursts:
    """One other working phase (evaluation, checkpoints) as bursts: how many since the first step, where they
    start (steps), their energy (J), to carry their cadence to the end of the run."""

    def __init__(self, base_j: float) -> None:
        self.count = 0
        self.first_step = self.last_step = 0
        self.max_j = 0.0
        self._base_j = self._last_j = base_j
        self._current_j = 0.0
        self._inside = False

    def track(self, energy_j: float, steps: int) -> None:
        """The phase's cumulative energy at ``steps``."""
        delta_j, self._last_j = energy_j - self._last_j, energy_j
        if delta_j <= 0:
            self._inside = False
            return
        if not self._inside:
            self.count += 1
            self.first_step = self.first_step or steps
            self.last_step = steps
            self._current_j = 0.0
        self._inside = True
        self._current_j += delta_j
        self.max_j = max(self.max_j, self._current_j)

    def ahead(self, start_step: int, total_steps: int) -> tuple[float, float, float]:
        """Energy (J) of the bursts still to come -- low, mid, high -- at the cadence seen: one every
        ``period`` steps (the mean spacing, or the first one's step), each the mean burst's energy; give or take
        a burst (one just before the end may not happen, the spacing is an estimate)."""
        spent_j = self._last_j - self._base_j
        if self.count == 0 or spent_j <= 0:
            return 0.0, 0.0, 0.0
        if self.count >= 2:
            period = (self.last_step - self.first_step) / (self.count - 1)
        else:
            period = float(self.first_step - start_step + 1)
        if period <= 0:
            return 0.0, 0.0, 0.0
        n = max(0.0, (total_steps - self.last_step) / period)
        mean = spent_j / self.count
        whole = math.floor(n)
        return mean * max(0.0, whole - 1.0), mean * max(0.0, n - 0.5), max(mean, self.max_j) * (whole + 1.0)


@dataclass(frozen=True)
class _Rates:
    mid: float
    low: float
    high: float


class Outlook:
    """Projects a run of ``total_steps`` steps (see the module doc). ``min_fraction`` / ``min_active_s``: when the
    interval is first given."""

    def __init__(self, total_steps: int, *, min_fraction: float = 0.05, min_active_s: float = 60.0) -> None:
        if isinstance(total_steps, bool) or int(total_steps) <= 0:
            raise ValueError(f"total_steps must be a positive integer; got {total_steps!r}")
        self.total_steps = int(total_steps)
        self.min_fraction = min_fraction
        self.min_active_s = min_active_s
        self._points: list[OutlookPoint] = []
        self._stride = 1
        self._skipped = 0
        self._latest: OutlookPoint | None = None
        self._bursts: dict[str, _Bursts] = {}
        self._other_at_first: dict[str, float] = {}
        self._first_steps = 0

    def observe(self, t: float, steps: int, train_j: float, other_j: float | Mapping[str, float]) -> None:
        """Feed the cumulative figures now: ``t`` active seconds, energies in J with PUE applied -- ``other_j``
        per phase (``{"eval": ..., "checkpoint": ...}``: each phase's cadence is its own) or summed."""
        others = {"other": float(other_j)} if isinstance(other_j, int | float) else dict(other_j)
        point = OutlookPoint(float(t), int(steps), float(train_j), float(sum(others.values())))
        self._latest = point
        if point.steps <= 0:
            return
        if self._first_steps == 0:
            self._first_steps = point.steps
            self._other_at_first = dict(others)
        for phase, energy in others.items():
            bursts = self._bursts.get(phase)
            if bursts is None:
                bursts = self._bursts[phase] = _Bursts(self._other_at_first.get(phase, 0.0))
            bursts.track(energy, point.steps)
        if self._points and point.steps < self._points[-1].steps:  # counters set back (a new epoch count?)
            self._points.clear()
        self._skipped += 1
        if self._points and self._skipped < self._stride:
            return
        self._skipped = 0
        self._points.append(point)
        if len(self._points) >= MAX_POINTS:
            self._points = self._points[::2]
            self._stride *= 2

    def project(self) -> RunOutlook | None:
        """The projection now (``None`` before two observations with steps)."""
        now = self._latest
        pts = self._points if now is None or not self._points or self._points[-1] is now else [*self._points, now]
        if now is None or len(pts) < 2 or now.steps <= pts[0].steps:
            return None
        remaining = max(0, self.total_steps - now.steps)
        base = self._steady_base(pts, now.steps)
        steady = [p for p in pts if p.steps >= base.steps]
        ahead = (now.steps + max(now.steps, self.total_steps)) / 2.0  # the remaining steps' middle
        train = self._rates(steady, lambda p: p.train_j, ahead)
        secs = self._rates(steady, lambda p: p.t, ahead)
        ahead_of = [b.ahead(self._first_steps, self.total_steps) for b in self._bursts.values()]
        other = [sum(x[i] for x in ahead_of) for i in range(3)] if ahead_of else [0.0, 0.0, 0.0]
        so_far = now.train_j + now.other_j
        interval = self._interval_ready(now, steady)
        allowance = FUTURE * remaining * train.mid
        e_mid = so_far + remaining * train.mid + other[1]
        e_low = max(so_far, so_far + remaining * train.low + other[0] - allowance) if interval else e_mid
        e_high = so_far + remaining * train.high + other[2] + allowance if interval else e_mid
        return RunOutlook(
            steps=now.steps,
            total_steps=self.total_steps,
            energy_kwh=e_mid / J_PER_KWH,
            energy_low_kwh=e_low / J_PER_KWH,
            energy_high_kwh=e_high / J_PER_KWH,
            remaining_s=remaining * secs.mid,
            remaining_low_s=remaining * secs.low * (1 - FUTURE) if interval else remaining * secs.mid,
            remaining_high_s=remaining * secs.high * (1 + FUTURE) if interval else remaining * secs.mid,
            has_interval=interval,
            energy_now_kwh=so_far / J_PER_KWH,
        )

    def _interval_ready(self, now: OutlookPoint, steady: list[OutlookPoint]) -> bool:
        far_enough = now.steps >= self.min_fraction * self.total_steps or now.t >= self.min_active_s
        return far_enough and len(steady) >= 4 and steady[-1].steps - steady[0].steps >= 3

    @staticmethod
    def _steady_base(pts: list[OutlookPoint], steps: int) -> OutlookPoint:
        """The first observation past the warm-up share of the steps (at least the second one)."""
        cut = pts[0].steps + WARMUP_SHARE * (steps - pts[0].steps)
        for p in pts[1:-1]:
            if p.steps >= cut:
                return p
        return pts[0] if len(pts) < 3 else pts[-2]

    @staticmethod
    def _rates(steady: list[OutlookPoint], value: _Value, ahead: float) -> _Rates:
        """Per-step rate of ``value`` over the steady points: mean, and the interval described in the module doc."""
        a, b = steady[0], steady[-1]
        mid = (value(b) - value(a)) / max(1, b.steps - a.steps)
        windows = _windows(steady, value)
        if len(windows) < 3:
            return _Rates(mid, mid, mid)
        rates = [r for _, r, _ in windows]
        n = len(rates)
        mean = sum(rates) / n
        sd = math.sqrt(sum((r - mean) ** 2 for r in rates) / (n - 1))
        spread = Z * sd / math.sqrt(n) + FLOOR * abs(mid)
        recent_from = windows[-max(1, n // 3)][0]
        recent = (value(b) - value(recent_from)) / max(1, b.steps - recent_from.steps)
        candidates = [mid, recent]
        trend = _trend(windows, ahead)
        if trend is not None:  # bounded: a drift seen over a few windows is not carried to any length
            candidates.append(min(max(trend, 0.5 * mid), 2.0 * mid))
        return _Rates(mid, max(0.0, min(candidates) - spread), max(candidates) + spread)


def _windows(steady: list[OutlookPoint], value: _Value) -> list[tuple[OutlookPoint, float, float]]:
    """Up to :data:`WINDOWS` consecutive windows of about equal steps: ``(start point, rate, mid step)``."""
    a, b = steady[0], steady[-1]
    span = b.steps - a.steps
    if span <= 0:
        return []
    k = min(WINDOWS, len(steady) - 1, span)
    edges = [a]
    for i in range(1, k):
        target = a.steps + span * i / k
        nxt = next((p for p in steady if p.steps >= target and p.steps > edges[-1].steps), None)
        if nxt is None or nxt is b:
            break
        edges.append(nxt)
    edges.append(b)
    out = []
    for p, q in zip(edges, edges[1:], strict=False):
        if q.steps > p.steps:
            out.append((p, (value(q) - value(p)) / (q.steps - p.steps), (p.steps + q.steps) / 2.0))
    return out


def _trend(windows: list[tuple[OutlookPoint, float, float]], ahead: float) -> float | None:
    """The rate a significant linear drift of the windows' rates gives at step ``ahead`` (the middle of the
    remaining steps: the drift's mean over them), ``None`` without one."""
    n = len(windows)
    if n < 4:
        return None
    xs = [x for _, _, x in windows]
    ys = [y for _, y, _ in windows]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    resid = sum((y - (my + slope * (x - mx))) ** 2 for x, y in zip(xs, ys, strict=True))
    se = math.sqrt(resid / (n - 2) / sxx) if n > 2 else float("inf")
    if se > 0 and abs(slope) <= TREND_Z * se:
        return None
    if se == 0 and slope == 0:
        return None
    return my + slope * (ahead - mx)
