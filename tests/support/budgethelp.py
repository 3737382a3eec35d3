"""The overshoot bound a budget stop must keep (issue 26): at most 2 % of the budget plus one sampling interval's
carbon (or energy), for the budget tests of every integration and benchmarks/bench_acting.py. Units: kg CO2eq,
kWh, seconds."""

from __future__ import annotations

from wattwatch.result import EmissionsData

__all__ = ["carbon_overshoot", "energy_overshoot", "interval_carbon_kg", "training_overshoot"]


def interval_carbon_kg(data: EmissionsData, interval_s: float) -> float:
    """The carbon of one sampling interval at the run's mean draw (kg CO2eq)."""
    return data.emissions / data.duration * interval_s if data.duration > 0 else 0.0


def carbon_overshoot(data: EmissionsData, budget_kg: float, interval_s: float) -> tuple[float, float]:
    """``(overshoot kg, bound kg)`` of a run stopped at ``budget_kg``."""
    return data.emissions - budget_kg, 0.02 * budget_kg + interval_carbon_kg(data, interval_s)


def energy_overshoot(data: EmissionsData, budget_kwh: float, interval_s: float) -> tuple[float, float]:
    """``(overshoot kWh, bound kWh)`` of a run stopped at ``budget_kwh``."""
    per_s = data.energy_consumed / data.duration if data.duration > 0 else 0.0
    return data.energy_consumed - budget_kwh, 0.02 * budget_kwh + per_s * interval_s


def training_overshoot(data: EmissionsData, budget_kg: float, interval_s: float) -> tuple[float, float, float]:
    """``(overshoot kg without the stop's checkpoint phase, bound kg, checkpoint phase kg)``."""
    checkpoint = float(data.phase_emissions_kg.get("checkpoint", 0.0))
    over, bound = carbon_overshoot(data, budget_kg, interval_s)
    return over - checkpoint, bound, checkpoint
