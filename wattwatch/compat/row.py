"""CodeCarbon's conventions for the figures of the compatibility classes' rows.

- **Mean power** (``cpu_power``, ``gpu_power``, ``ram_power``, W, PUE applied): CodeCarbon reports the mean of
  the powers it measured. Here each channel's energy over the span it was read (first to last reading of that
  channel), summed per component: the mean power while measured. A constant power reads back exactly -- a
  forced 7 W RAM is ``7.0``, not 6.9995 as energy over the run's duration gives when that channel's first reading
  came 40 us after the run's first -- and the figure stays the one its energy gives (``power x span``).
  wattwatch's own rows keep energy / duration. Figures are rounded to 12 significant digits (floating-point
  dust: ``500.00000000000006`` is ``500.0``).
- **An unknown place** is ``None`` in memory (``country_name``, ``country_iso_code``, ``region``), as in
  CodeCarbon; the CSV cell is empty either way.

A resumed run (``state_dict``) keeps energy / duration: its channels' spans are this segment's only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wattwatch.run.recorder import RowRecorder

if TYPE_CHECKING:
    from wattwatch.measure.ledger import LedgerSnapshot
    from wattwatch.result import EmissionsData

__all__ = ["CodeCarbonRowRecorder", "measured_mean_power_w", "tidy"]

J_PER_KWH = 3.6e6


def tidy(value: float) -> float:
    """``value`` to 12 significant digits (a W figure's floating-point dust removed)."""
    return float(f"{value:.12g}")


def measured_mean_power_w(snap: LedgerSnapshot, component: str) -> float | None:
    """Sum over ``component``'s channels of energy / the span it was read (W, PUE applied); ``None`` when a
    channel has no span (fewer than two readings)."""
    total = 0.0
    for channel in snap.channels.values():
        if channel.component != component:
            continue
        if channel.first_t is None or channel.last_t is None or not channel.last_t > channel.first_t:
            return None
        total += channel.energy_j * snap.pue / (channel.last_t - channel.first_t)
    return total


class CodeCarbonRowRecorder(RowRecorder):
    """The compatibility trackers' recorder: wattwatch's rows with CodeCarbon's conventions (module doc)."""

    def adjust(self, data: EmissionsData, snap: LedgerSnapshot) -> EmissionsData:
        if snap.resumed_segments == 0:
            for component in ("cpu", "gpu", "ram"):
                power = measured_mean_power_w(snap, component)
                if power is not None:
                    setattr(data, f"{component}_power", tidy(power))
        for name in ("country_name", "country_iso_code", "region"):
            if not getattr(data, name):
                setattr(data, name, None)
        return data
