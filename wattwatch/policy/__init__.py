"""Acting on carbon while training: budgets, the projection with its interval and early warning, the
grid-aware pause, all in one :class:`~wattwatch.policy.policy.CarbonPolicy` that every integration consults.

- :mod:`.budget` -- the O(1) check between steps against the ledger's live total;
- :mod:`.outlook` -- the projection of a run of known length, with an interval;
- :mod:`.pause` -- when to wait for a cleaner grid, before a deadline;
- :mod:`.policy` -- the object the Tracker owns and the callbacks / ``wattwatch run`` ask;
- :mod:`.report` -- its words and numbers (warnings, live view, Prometheus);
- :mod:`.command` -- ``wattwatch run``'s side: signals to the command (SIGINT/SIGTERM/SIGKILL, SIGSTOP/SIGCONT);
- :mod:`.options` -- the options' validation.

See docs/acting.md. Loaded only by a tracker given one of these options (or ``total_steps``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from wattwatch.errors import ConfigurationError

if TYPE_CHECKING:
    from wattwatch.carbon.intensity import CarbonIntensity
    from wattwatch.policy.policy import CarbonPolicy
    from wattwatch.run.config import TrackerConfig

__all__ = ["acts", "make_policy"]


def acts(config: TrackerConfig) -> bool:
    """Whether ``config`` asks for anything beyond measuring (a budget, a pause rule, a live provider)."""
    return (
        config.carbon_budget_kg is not None
        or config.energy_budget_kwh is not None
        or config.pause_above_g_per_kwh is not None
        or config.deadline is not None
        or config.intensity_provider is not None
        or config.intensity_zone is not None
    )


def make_policy(config: TrackerConfig, intensity: CarbonIntensity) -> tuple[CarbonPolicy, CarbonIntensity]:
    """The policy for ``config`` and the intensity the run's ledger should use (a live provider's, over
    ``intensity``). ``ConfigurationError`` (before any work) for a pause rule without a deadline or the other
    way round, and for a provider without its zone or credentials. Nothing is fetched here."""
    from wattwatch.policy.budget import Budget
    from wattwatch.policy.policy import CarbonPolicy

    if (config.pause_above_g_per_kwh is None) != (config.deadline is None):
        raise ConfigurationError(
            "the pause rule needs both pause_above_g_per_kwh= (gCO2eq/kWh; 0 lets a forecast decide) and "
            "deadline= (when the run must end: ISO-8601 time or +8h); command line: --pause-above and --deadline"
        )
    marginal = None
    refreshers: list[object] = []
    if config.intensity_provider is not None:
        from wattwatch.carbon.providers import open_providers

        opened = open_providers(
            config.intensity_provider,
            config.intensity_zone,
            intensity,
            environ=config.environ if config.environ is not None else os.environ,
            wall_clock=config.wall_clock,
            forecast=config.pause_above_g_per_kwh is not None,
        )
        intensity, marginal, refreshers = opened.intensity, opened.marginal, opened.refreshers
    elif config.intensity_zone is not None:
        raise ConfigurationError("intensity_zone= is for a live provider; give intensity_provider= too")
    policy = CarbonPolicy(
        budget=Budget(config.carbon_budget_kg, config.energy_budget_kwh, config.on_budget),
        intensity=intensity,
        pause_above=config.pause_above_g_per_kwh,
        deadline=config.deadline,
        marginal=marginal,  # type: ignore[arg-type]
        providers=refreshers,  # type: ignore[arg-type]
        clock=config.clock,
        wall_clock=config.wall_clock,
        sleep=config.sleep,
        pue=config.pue,
    )
    return policy, intensity
