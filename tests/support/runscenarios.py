"""Synthetic training runs for the projection's interval (tests/policy/test_outlook.py and
benchmarks/bench_acting.py): each scenario draws a run -- steps, per-step time and power, warm-up, periodic
evaluations and checkpoints, drift, a throttle -- and :func:`simulate` plays it into an
:class:`~wattwatch.policy.outlook.Outlook` once a simulated second (as the sampler's ticks do), asking for the
projection at set fractions of the run and checking it against the run's true final energy.

Families (each drawn with its own random parameters; ``seed`` makes a draw reproducible):

- ``steady``: constant power, per-step time noise 2-10 %;
- ``warm-up``: the first 0.5-3 % of steps 2-5x slower at another power (compilation, caches);
- ``eval``: an evaluation every 5-20 % of the run, 1-8 % of the run's energy in all;
- ``hf-like``: warm-up, evaluations and checkpoints together;
- ``drift``: power drifting linearly by -3..+3 % over the run (a curriculum, a slowly warming room);
- ``throttle``: power and speed change by 5-15 % at a random point after 30 % (thermal throttle, a neighbour);
- ``noisy``: per-step time noise 30 % (variable sequence lengths).

Units: seconds, watts, joules.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from wattwatch.policy.outlook import Outlook

__all__ = ["FAMILIES", "FRACTIONS", "Check", "Scenario", "draw", "simulate"]

FAMILIES = ("steady", "warm-up", "eval", "hf-like", "drift", "throttle", "noisy")
FRACTIONS = (0.05, 0.1, 0.25, 0.5, 0.75)


@dataclass
class Scenario:
    """One run: ``steps`` of ``step_s`` s (noise ``noise``) at ``power_w``; the rest as in the module doc."""

    family: str
    steps: int
    step_s: float
    power_w: float
    noise: float = 0.02
    warmup_steps: int = 0
    warmup_slow: float = 1.0
    warmup_power: float = 1.0
    eval_every: int = 0
    eval_s: float = 0.0
    eval_power_w: float = 0.0
    ckpt_every: int = 0
    ckpt_s: float = 0.0
    drift: float = 0.0
    throttle_at: float = 2.0
    throttle: float = 0.0
    seed: int = 0


@dataclass
class Check:
    """The projection at ``fraction`` of the run: its interval (J) and whether it held the final energy."""

    fraction: float
    low_j: float
    mid_j: float
    high_j: float
    final_j: float
    covered: bool
    time_covered: bool


@dataclass
class Result:
    scenario: Scenario
    final_j: float
    duration_s: float
    checks: list[Check] = field(default_factory=list)


def draw(family: str, seed: int) -> Scenario:
    """A scenario of ``family`` with parameters drawn from ``seed``."""
    r = random.Random(f"{family}-{seed}")
    steps = r.choice([400, 1000, 3000])
    s = Scenario(family, steps, r.uniform(0.05, 0.5), r.uniform(150, 700), noise=r.uniform(0.02, 0.1), seed=seed)
    if family in ("warm-up", "hf-like"):
        s.warmup_steps = max(1, int(steps * r.uniform(0.005, 0.03)))
        s.warmup_slow, s.warmup_power = r.uniform(2, 5), r.uniform(0.4, 1.0)
    if family in ("eval", "hf-like"):
        s.eval_every = max(1, int(steps * r.uniform(0.05, 0.2)))
        n_evals = steps // s.eval_every
        share = r.uniform(0.01, 0.08)
        s.eval_s = share * steps * s.step_s / max(1, n_evals)
        s.eval_power_w = s.power_w * r.uniform(0.5, 0.9)
    if family == "hf-like":
        s.ckpt_every = max(1, int(steps * r.uniform(0.1, 0.34)))
        n_ckpts = steps // s.ckpt_every
        s.ckpt_s = r.uniform(0.005, 0.03) * steps * s.step_s / max(1, n_ckpts)  # 0.5-3 % of the run in all
    if family == "drift":
        s.drift = r.uniform(-0.03, 0.03)
    if family == "throttle":
        s.throttle_at, s.throttle = r.uniform(0.3, 0.9), r.choice([-1, 1]) * r.uniform(0.05, 0.15)
    if family == "noisy":
        s.noise = 0.3
    return s


def simulate(s: Scenario, fractions: tuple[float, ...] = FRACTIONS, tick_s: float = 1.0) -> Result:
    """Play ``s`` into an :class:`Outlook` (one observation per ``tick_s`` simulated seconds) and check the
    projection at each fraction of the run against its final energy."""
    r = random.Random(f"run-{s.family}-{s.seed}")
    outlook = Outlook(s.steps)
    t = train = evals = ckpts = 0.0
    next_tick = 0.0
    snapshots: dict[float, tuple[float, float, float, float, float, float]] = {}
    marks = sorted(int(f * s.steps) for f in fractions)
    for step in range(1, s.steps + 1):
        x = step / s.steps
        scale = 1.0 + s.drift * x + (s.throttle if x >= s.throttle_at else 0.0)
        dt = s.step_s * max(0.05, 1.0 + r.gauss(0.0, s.noise))
        watts = s.power_w * scale
        if step <= s.warmup_steps:
            dt, watts = dt * s.warmup_slow, s.power_w * s.warmup_power
        elif s.throttle and x >= s.throttle_at:
            dt *= 1.0 - s.throttle / 2.0  # a throttled GPU also slows down
        t += dt
        train += watts * dt
        if s.eval_every and step % s.eval_every == 0 and step < s.steps:
            outlook.observe(t, step, train, {"eval": evals, "checkpoint": ckpts})  # the tick before it starts
            for _ in range(max(1, int(s.eval_s))):
                t += s.eval_s / max(1, int(s.eval_s))
                evals += s.eval_power_w * s.eval_s / max(1, int(s.eval_s))
                outlook.observe(t, step, train, {"eval": evals, "checkpoint": ckpts})
        if s.ckpt_every and step % s.ckpt_every == 0:
            t += s.ckpt_s
            ckpts += 0.3 * s.power_w * s.ckpt_s
        if t >= next_tick:
            outlook.observe(t, step, train, {"eval": evals, "checkpoint": ckpts})
            next_tick = t + tick_s
        if step in marks:
            view = outlook.project()
            if view is not None and view.has_interval:
                snapshots[step / s.steps] = (
                    view.energy_low_kwh * 3.6e6, view.energy_kwh * 3.6e6, view.energy_high_kwh * 3.6e6,
                    t, view.remaining_low_s, view.remaining_high_s,
                )  # fmt: skip
    final = train + evals + ckpts
    result = Result(s, final, t)
    for fraction, (lo, mid, hi, t_then, rem_lo, rem_hi) in sorted(snapshots.items()):
        left = t - t_then
        result.checks.append(
            Check(fraction, lo, mid, hi, final, lo <= final <= hi, rem_lo <= left <= rem_hi)
        )
    return result
