"""What the policy says, in one place: the projection in kg CO2eq (:func:`carbon_outlook`), the early warning
and the budget message, the live view's suffix and the Prometheus gauges. Units: kWh, kg CO2eq, gCO2eq/kWh,
unix seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wattwatch.carbon.series import StepSeries
    from wattwatch.policy.budget import Budget, BudgetHit
    from wattwatch.policy.outlook import RunOutlook

__all__ = [
    "CarbonOutlook",
    "budget_message",
    "carbon_outlook",
    "live_suffix",
    "metric_families",
    "warning_message",
]


@dataclass(frozen=True)
class CarbonOutlook:
    """The projection of the whole run: its energy (:class:`~wattwatch.policy.outlook.RunOutlook`) and emissions
    (kg CO2eq) at the end, central, low and high."""

    energy: RunOutlook
    emissions_kg: float
    emissions_low_kg: float
    emissions_high_kg: float


def carbon_outlook(energy: RunOutlook, grams_now: float, series: StepSeries | None, now: float) -> CarbonOutlook:
    """``energy`` in kg CO2eq: the grams so far plus the energy still to come times the grid's mean intensity over
    the time still to come (from ``series`` where it covers it; else the run's own mean so far)."""
    so_far_kwh = energy.energy_now_kwh
    own = grams_now / so_far_kwh if so_far_kwh > 0 else 0.0

    def mean(seconds: float) -> float:
        if series is None:
            return own
        value = series.mean_between(now, now + max(seconds, 1.0))
        return own if value is None else value

    mid, a, b = mean(energy.remaining_s), mean(energy.remaining_low_s), mean(energy.remaining_high_s)
    low_g, high_g = min(a, b, mid), max(a, b, mid)
    kg = grams_now / 1000.0
    return CarbonOutlook(
        energy=energy,
        emissions_kg=kg + (energy.energy_kwh - so_far_kwh) * mid / 1000.0,
        emissions_low_kg=kg + (energy.energy_low_kwh - so_far_kwh) * low_g / 1000.0,
        emissions_high_kg=kg + (energy.energy_high_kwh - so_far_kwh) * high_g / 1000.0,
    )


def _mass(kg: float, scale_kg: float) -> tuple[float, str]:
    return (kg, "kg") if scale_kg >= 1.0 else (kg * 1000.0, "g")


def _energy(kwh: float, scale_kwh: float) -> tuple[float, str]:
    return (kwh, "kWh") if scale_kwh >= 1.0 else (kwh * 1000.0, "Wh")


def warning_message(view: CarbonOutlook, budget: Budget) -> str | None:
    """The early warning when even the projection's low end exceeds a budget (``None`` otherwise):
    ``wattwatch: projected 41 kg (36-47) for 10,000 steps exceeds the 30 kg budget``."""
    e, steps = view.energy, f"{view.energy.total_steps:,}"
    if budget.carbon_kg is not None and view.emissions_low_kg > budget.carbon_kg:
        scale = budget.carbon_kg
        (mid, unit), (lo, _), (hi, _), (b, _) = (
            _mass(x, scale) for x in (view.emissions_kg, view.emissions_low_kg, view.emissions_high_kg, scale)
        )
        return (
            f"wattwatch: projected {mid:.3g} {unit} ({lo:.3g}–{hi:.3g}) for {steps} steps exceeds the "
            f"{b:.3g} {unit} budget"
        )
    if budget.energy_kwh is not None and e.energy_low_kwh > budget.energy_kwh:
        scale = budget.energy_kwh
        (mid, unit), (lo, _), (hi, _), (b, _) = (
            _energy(x, scale) for x in (e.energy_kwh, e.energy_low_kwh, e.energy_high_kwh, scale)
        )
        return (
            f"wattwatch: projected {mid:.3g} {unit} ({lo:.3g}–{hi:.3g}) for {steps} steps exceeds the "
            f"{b:.3g} {unit} budget"
        )
    return None


def budget_message(hit: BudgetHit, on_budget: str) -> str:
    """The one warning of a run past its budget, saying what happens next."""
    at = f" at step {hit.steps:,}" if hit.steps else ""
    head = f"wattwatch: the run used {hit.used:.4g} {hit.unit}{at}, past its {hit.budget:.4g} {hit.unit} {hit.kind} budget"
    if on_budget == "warn":
        return head + "; training goes on (on_budget='warn')"
    if on_budget == "raise":
        return head + "; raising BudgetExceeded at this step (on_budget='raise')"
    return head + (
        "; stopping (on_budget='stop': the callbacks checkpoint and stop, `wattwatch run` interrupts the "
        "command; a loop of your own should check tracker.should_stop)"
    )


def live_suffix(view: CarbonOutlook | None, budget: Budget, paused: bool) -> str:
    """The live view's words about the policy: the projection's interval, the budget used, a pause."""
    parts = []
    if view is not None and view.energy.has_interval:
        lo, hi = view.emissions_low_kg, view.emissions_high_kg
        scale = max(hi, budget.carbon_kg or 0.0)
        (a, unit), (b, _) = _mass(lo, scale), _mass(hi, scale)
        parts.append(f"range {a:.3g}–{b:.3g} {unit}")
    if budget.carbon_kg is not None:
        parts.append(f"budget {budget.carbon_kg:.3g} kg")
    if budget.energy_kwh is not None:
        parts.append(f"budget {budget.energy_kwh:.3g} kWh")
    if paused:
        parts.append("PAUSED (grid)")
    return " | ".join(parts)


def metric_families(
    view: CarbonOutlook | None, budget: Budget, *, over: bool, paused: bool, labels: list[str], base: list[str]
) -> Iterator[Any]:
    """Prometheus gauges: ``wattwatch_projected_emissions_{low,high}_kg``, ``wattwatch_projected_energy_{low,high}
    _kwh`` (once the interval exists), ``wattwatch_budget_kg`` / ``_kwh``, ``wattwatch_over_budget`` and
    ``wattwatch_paused`` (0/1)."""
    from prometheus_client.core import GaugeMetricFamily

    def gauge(name: str, text: str, value: float) -> Any:
        family = GaugeMetricFamily(name, text, labels=labels)
        family.add_metric([*base, "all"], float(value))
        return family

    if view is not None and view.energy.has_interval:
        yield gauge("wattwatch_projected_emissions_low_kg", "Low end of the projected emissions (kg)", view.emissions_low_kg)
        yield gauge("wattwatch_projected_emissions_high_kg", "High end of the projected emissions (kg)", view.emissions_high_kg)
        yield gauge("wattwatch_projected_energy_low_kwh", "Low end of the projected energy (kWh)", view.energy.energy_low_kwh)
        yield gauge("wattwatch_projected_energy_high_kwh", "High end of the projected energy (kWh)", view.energy.energy_high_kwh)
    if budget.carbon_kg is not None:
        yield gauge("wattwatch_budget_kg", "The run's carbon budget (kg CO2eq)", budget.carbon_kg)
    if budget.energy_kwh is not None:
        yield gauge("wattwatch_budget_kwh", "The run's energy budget (kWh)", budget.energy_kwh)
    if budget.any:
        yield gauge("wattwatch_over_budget", "1 once the run is past its budget", 1.0 if over else 0.0)
    yield gauge("wattwatch_paused", "1 while training waits for a cleaner grid", 1.0 if paused else 0.0)

