"""Time-series rows from ledger views: every row fresh, whatever the host reads and when.

The tracker keeps, at each time-series tick, the ledger's :class:`~wattwatch.measure.ledger.LedgerLiveView` (each
channel's energy and the time of its latest reading) and the tick's time; at the next flush the rows are
computed together (:class:`SeriesRows`). A channel read at every tick (a GPU) gives each row its energy at its
own reading. A channel read less often -- the host models (CPU from ``/proc/stat``, RAM), read every 10 s, at
every flush and every synchronous read, because reading them each second was a third of the tracker's CPU --
would repeat its latest energy and power for up to ten rows, and on a host with no GPU the rows' time and
energy froze with it. Here such a channel's energy at a row's time is interpolated between the reading before
the row and the next one (the flush reads the host models first, so there is one): its cumulative energy is
the straight line between two of its readings, which for a model whose reading is the mean power since the
previous read (the CPU model) is exactly what the model knows. A row with no later reading yet (the rows just
before a crash) keeps the latest mean, as before.

Each row: the row's time (s since the run's first reading), its phase, per channel the mean power since the
previous row (W, as measured: PUE not applied), the cumulative energy (kWh, PUE applied) and CO2 (kg CO2eq) at
the row's time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from wattwatch.measure.ledger import J_PER_KWH, LedgerLiveView
from wattwatch.util.records import record

__all__ = ["PendingRow", "SeriesRow", "SeriesRows"]

_FRESH_S = 1e-3
"""A channel read within this many seconds before a row's time is read at the row (no interpolation)."""


@dataclass
class PendingRow:
    """A row taken but not yet computed: unix time, monotonic time of the row, the ledger's view, the PUE."""

    wall: float
    t: float
    view: LedgerLiveView
    pue: float


@dataclass
class SeriesRow:
    """A computed row: ``(wall, elapsed_s, phase, watts per channel, kWh, kg)`` as the writer takes them."""

    wall: float
    elapsed_s: float
    phase: str
    powers: list[float | None]
    energy_kwh: float
    emissions_kg: float


@record
class SeriesRows:
    """Computes rows channel by channel (see the module docstring); keeps, per channel, its energy and time at
    the last computed row and its mean power since the row before."""

    channels: Sequence[str]
    t0: float
    """Monotonic time of the run's first reading: elapsed_s = row time - t0."""
    _last: dict[str, tuple[float, float, float | None]] = field(default_factory=dict)
    """Per channel at the last computed row: ``(energy J, time, mean W since the row before)``."""

    def compute(self, rows: Sequence[PendingRow], latest: LedgerLiveView | None) -> list[SeriesRow]:
        """The rows, in order. ``latest``: the ledger's view now (after the flush's read of the host models), the
        reading after the last row for a channel no row saw read again."""
        future = _later_readings(rows, latest, self.channels)
        out: list[SeriesRow] = []
        for i, row in enumerate(rows):
            view = row.view
            powers: list[float | None] = []
            total_j = seen_j = 0.0
            for k, name in enumerate(self.channels):
                energy, read_t, in_gap = view.channels.get(name, (0.0, None, True))
                seen_j += energy
                at_e, at_t = energy, read_t
                nxt = future[k][i]
                if read_t is not None and row.t - read_t > _FRESH_S and nxt is not None and not in_gap:
                    e2, t2 = nxt
                    frac = min(1.0, max(0.0, (row.t - read_t) / (t2 - read_t)))
                    at_e, at_t = energy + (e2 - energy) * frac, read_t + (t2 - read_t) * frac
                total_j += at_e
                last_e, last_t, power = self._last.get(name, (0.0, self.t0, None))
                if at_t is not None and at_t > last_t:
                    power = (at_e - last_e) / (at_t - last_t)
                    self._last[name] = (at_e, at_t, power)
                powers.append(None if in_gap else power)
            grams = view.grams
            if total_j > seen_j and seen_j > 0:
                grams *= total_j / seen_j  # the interpolated energy at the run's mean intensity so far
            out.append(
                SeriesRow(row.wall, row.t - self.t0, view.phase, powers, total_j * row.pue / J_PER_KWH, grams / 1000.0)
            )
        return out


def _later_readings(
    rows: Sequence[PendingRow], latest: LedgerLiveView | None, channels: Sequence[str]
) -> list[list[tuple[float, float] | None]]:
    """Per channel, per row: the channel's first reading after the one the row saw, ``(energy J, time)``, from
    the later rows' views or ``latest``; ``None`` when there is none yet. Reading times never go backwards from
    one view to the next, so one pointer walks forward."""
    views = [r.view for r in rows] + ([latest] if latest is not None else [])
    out: list[list[tuple[float, float] | None]] = []
    for name in channels:
        stamps = [v.channels.get(name, (0.0, None, True)) for v in views]
        per_row: list[tuple[float, float] | None] = [None] * len(rows)
        j = 0
        for i in range(len(rows)):
            seen = stamps[i][1]
            if seen is None:
                continue
            j = max(j, i + 1)
            while j < len(stamps) and (stamps[j][1] is None or stamps[j][1] <= seen):  # type: ignore[operator]
                j += 1
            if j < len(stamps):
                energy, read_t, _ = stamps[j]
                assert read_t is not None
                per_row[i] = (energy, read_t)
        out.append(per_row)
    return out
