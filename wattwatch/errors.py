"""Exceptions wattwatch raises to its users."""

from __future__ import annotations

__all__ = ["BudgetExceeded", "ConfigurationError", "UsageError"]


class ConfigurationError(ValueError):
    """A tracker was configured wrongly; raised by the constructor or ``start()``, before the user's work."""


class UsageError(ValueError):
    """A CLI command was called wrongly; printed as one line, exit code 2."""


class BudgetExceeded(RuntimeError):
    """A run went past its carbon or energy budget (``carbon_budget_kg=`` / ``energy_budget_kwh=``).

    Raised by ``Tracker.step()`` (and ``set_counts()``) with ``on_budget="raise"``, and by the plain-PyTorch step
    hook (:func:`wattwatch.callbacks.track_optimizer`) whenever a budget stops the run. ``kind`` is ``"carbon"``
    or ``"energy"``; ``used`` and ``budget`` are in ``unit`` (``kg`` CO2eq or ``kWh``), ``used`` measured when
    the step ended."""

    def __init__(self, kind: str, used: float, budget: float, unit: str, steps: int | None = None) -> None:
        self.kind = kind
        self.used = used
        self.budget = budget
        self.unit = unit
        self.steps = steps
        at = f" at step {steps:,}" if steps else ""
        super().__init__(
            f"the run used {used:.4g} {unit}{at}, past its {budget:.4g} {unit} {kind} budget; "
            "it was stopped (resume from the last checkpoint with a larger budget to go on)"
        )
