"""Projected energy and CO2 at the end of a run whose total work is known, from the rate measured so far.

carbontracker predicts once, from the first epoch; this keeps predicting. :class:`Projector` is fed the run's
totals and its step count at every reading (``update``) and projects::

    projected = so_far + (total_steps - steps) * per_step

where ``per_step`` is the energy (and CO2) per step measured since the first reading that saw steps counted,
so start-up work before the first step (loading data, compiling) is counted once, not multiplied by the number
of steps. Until two readings with different step counts exist it falls back to ``so_far * total / steps``.

Units: kWh, kg CO2eq, seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Projection", "Projector", "project"]


@dataclass(frozen=True)
class Projection:
    """Where the run is heading: totals at ``total_steps`` and the time left at the current pace."""

    steps: int
    total_steps: int
    energy_kwh: float
    """Projected total energy at the end of the run (kWh, PUE applied)."""
    emissions_kg: float
    """Projected total emissions at the end of the run (kg CO2eq)."""
    remaining_s: float | None
    """Seconds left at the pace measured so far (``None`` until it can be measured)."""

    @property
    def fraction_done(self) -> float:
        return min(1.0, self.steps / self.total_steps) if self.total_steps else 0.0


def project(energy_kwh: float, emissions_kg: float, steps: int, total_steps: int) -> Projection | None:
    """One-shot projection by proportion (``so_far * total / steps``); ``None`` before the first step."""
    if steps <= 0 or total_steps <= 0:
        return None
    scale = max(total_steps, steps) / steps
    return Projection(steps, total_steps, energy_kwh * scale, emissions_kg * scale, None)


class Projector:
    """Keeps predicting the end-of-run totals as readings come in (see the module docstring)."""

    def __init__(self, total_steps: int) -> None:
        if isinstance(total_steps, bool) or int(total_steps) <= 0:
            raise ValueError(f"total_steps must be a positive integer; got {total_steps!r}")
        self.total_steps = int(total_steps)
        self._base: tuple[float, int, float, float] | None = None  # (elapsed_s, steps, kWh, kg) at first step
        self.latest: Projection | None = None

    def update(
        self, elapsed_s: float, steps: int | None, energy_kwh: float, emissions_kg: float
    ) -> Projection | None:
        """Feed the totals so far; returns (and keeps in :attr:`latest`) the current projection."""
        if steps is None or steps <= 0:
            return self.latest
        if self._base is None:
            self._base = (elapsed_s, steps, energy_kwh, emissions_kg)
        t0, s0, e0, g0 = self._base
        remaining = max(0, self.total_steps - steps)
        proj: Projection | None
        if steps > s0:
            done = steps - s0
            per_kwh = (energy_kwh - e0) / done
            per_kg = (emissions_kg - g0) / done
            per_s = (elapsed_s - t0) / done
            proj = Projection(
                steps,
                self.total_steps,
                energy_kwh + remaining * per_kwh,
                emissions_kg + remaining * per_kg,
                remaining * per_s,
            )
        else:
            proj = project(energy_kwh, emissions_kg, steps, self.total_steps)
        self.latest = proj
        return proj
