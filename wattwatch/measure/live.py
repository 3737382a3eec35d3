"""The ledger's live total, for a check between two training steps that must cost next to nothing.

:class:`LiveTotal` is refreshed after every sensor read (the sampler calls :meth:`LiveTotal.refresh` as its
``after_read`` hook) into one tuple that readers take without a lock::

    (energy J before PUE, grams CO2eq, sum of the channels' latest powers W,
     sum of power x time of that channel's latest reading, g/kWh of the latest interval)

earlier segments of a resumed run included. The energy drawn up to monotonic time ``now`` since each channel's
latest reading is about ``powers * now - power_times`` joules, so the total can be carried to ``now`` in O(1)
without waiting for the next tick (see :mod:`wattwatch.policy.budget`). :func:`phase_totals_j` is the cheap part
of a snapshot a once-a-second observer needs. Both read the ledger's state under its lock; the ledger itself
does not know about them. Units: joules (before PUE), grams, watts, monotonic seconds.
"""

from __future__ import annotations

from typing import Any

from wattwatch.measure.ledger import Ledger

__all__ = ["LiveTotal", "phase_totals_j"]

Totals = tuple[float, float, float, float, float]


class LiveTotal:
    """The live total of ``ledger`` (see the module doc); call it to read, :meth:`refresh` after each read."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self.value: Totals = (0.0, 0.0, 0.0, 0.0, 0.0)
        self.refresh()

    def __call__(self) -> Totals:
        return self.value

    def refresh(self) -> None:
        ledger = self._ledger
        with ledger._lock:
            carried: dict[str, Any] = ledger._carried
            energy = sum(float(c.get("energy_j", 0.0)) for c in carried.get("channels", {}).values())
            powers = power_times = 0.0
            for ch in ledger._channels.values():
                energy += ch.energy_j
                if ch.power_w is not None and ch.last_t is not None and ch.gap_start is None:
                    powers += ch.power_w
                    power_times += ch.power_w * ch.last_t
            grams = ledger._emissions_g + float(carried.get("emissions_g", 0.0))
            self.value = (energy, grams, powers, power_times, ledger._intensity_at[1])


def phase_totals_j(ledger: Ledger) -> dict[str, float]:
    """Energy per phase so far (J before PUE), all channels, earlier segments of a resumed run included."""
    with ledger._lock:
        out: dict[str, float] = {}
        for c in ledger._carried.get("channels", {}).values():
            for p, e in dict(c.get("phase_energy_j", {})).items():
                out[p] = out.get(p, 0.0) + float(e)
        for ch in ledger._channels.values():
            for p, e in ch.phase_energy_j.items():
                out[p] = out.get(p, 0.0) + e
        return out
