"""Turn sensor readings into energy per channel and per phase, and into CO2.

The ledger is fed by the sampler: ``add(t, wall, readings)`` once per sensor read. For every channel it keeps the
previous reading and adds the energy of the interval since then:

- cumulative energy counters (``energy_j``): the delta, never negative (a counter that went backwards adds 0 and
  is counted as a reset);
- power (``power_w``): the trapezoid rule, ``(p_prev + p) / 2 * dt``; or, for a channel whose readings are each
  the *mean* power since its previous read (``details["interval_mean"]`` true: the CPU models over cumulative
  CPU seconds), that mean times ``dt`` -- exact whatever the read cadence, where the trapezoid would smear each
  mean over half of the next interval;
- a reading whose kind changed (the GPU counter vanished mid-run): the new power times ``dt``.

Each interval's energy is multiplied by the PUE and by the carbon intensity (g/kWh) at the interval's midpoint in
wall time, so time-varying intensities are honoured. Memory is O(1) in run length: totals only, and at most
``max_gaps`` gap records (counts and seconds keep growing; the list does not).

A channel missing from a read is a *gap*. When it comes back, a counter channel is bridged exactly (the counter
kept counting) and a power channel is bridged by the trapezoid across the gap; either way the gap's length is
recorded. A channel that never comes back (a lost GPU) simply stops adding energy.

Units: seconds (monotonic clock for ``t``, unix time for ``wall``), joules, watts, grams CO2eq.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from wattwatch.measure.figures import UNPHASED
from wattwatch.sensors.base import ENERGY, ChannelInfo, Reading
from wattwatch.util.records import record

__all__ = [
    "ChannelTotals",
    "Gap",
    "Ledger",
    "LedgerSnapshot",
    "J_PER_KWH",
    "LedgerLiveView",
    "read_carried",
]

J_PER_KWH = 3.6e6
"""Joules in one kilowatt-hour."""

_STATE_VERSION = 1


@dataclass
class Gap:
    """A stretch of monotonic time ``[start_t, end_t]`` (s) during which ``channel`` could not be read.

    ``end_t`` is ``None`` while the gap is still open (the channel has not come back).
    """

    channel: str
    start_t: float
    end_t: float | None
    reason: str = "read failed"

    @property
    def duration_s(self) -> float | None:
        return None if self.end_t is None else self.end_t - self.start_t


@record
class ChannelTotals:
    """One channel's totals at snapshot time. Energies in joules (before PUE), times in monotonic seconds."""

    channel: str
    component: str
    method: str
    energy_j: float
    phase_energy_j: dict[str, float]
    samples: int
    first_t: float | None
    last_t: float | None
    power_w: float | None
    """Mean power over the most recent interval, or ``None`` before the second reading."""
    gap_count: int
    gap_s: float
    resets: int
    in_gap: bool


@record
class LedgerSnapshot:
    """A consistent view of the whole ledger. Energies in joules before PUE unless the name says ``_kwh``."""

    phase: str
    duration_s: float
    """Measured seconds (first to last reading) plus the duration carried over from a resumed run."""
    channels: dict[str, ChannelTotals]
    component_energy_j: dict[str, float]
    phase_energy_j: dict[str, float]
    """Energy per phase, all channels summed."""
    emissions_g: float
    """Grams CO2eq, PUE and time-varying intensity applied."""
    phase_emissions_g: dict[str, float]
    pue: float
    samples: int
    gaps: tuple[Gap, ...]
    gap_count: int
    resumed_segments: int
    """How many earlier segments (a resumed run's previous processes) are folded into these totals."""

    @property
    def energy_j(self) -> float:
        """Total energy over all channels, before PUE (J)."""
        return sum(self.component_energy_j.values())

    @property
    def energy_kwh(self) -> float:
        """Total energy with PUE applied (kWh), as CodeCarbon's ``energy_consumed``."""
        return self.energy_j * self.pue / J_PER_KWH

    def component_kwh(self, component: str) -> float:
        """One component's energy with PUE applied (kWh)."""
        return self.component_energy_j.get(component, 0.0) * self.pue / J_PER_KWH


class LedgerLiveView(NamedTuple):
    """What a per-tick sink needs of the ledger, read under one lock: the phase; per channel ``(energy J in this
    segment, monotonic time of its latest reading, in a gap now)``; grams CO2eq so far; the monotonic time of the
    latest reading of any channel. Energies are before PUE; the difference of a channel's energies between two
    views over the difference of its reading times is its mean power in between."""

    phase: str
    channels: dict[str, tuple[float, float | None, bool]]
    grams: float
    read_t: float | None


class _Channel:
    """One channel's running state (a plain slotted class: it is on the hot path, and a dataclass costs import
    time)."""

    __slots__ = (
        "info", "method", "energy_j", "phase_energy_j", "samples", "first_t", "last_t", "last_value", "last_kind",
        "power_w", "gap_start", "gap_count", "gap_s", "resets", "interval_mean",
    )

    def __init__(self, info: ChannelInfo, method: str) -> None:
        self.info = info
        self.method = method
        self.interval_mean = bool(info.details.get("interval_mean")) if info.details else False
        """Each power reading is the mean since the previous read: folded as ``mean * dt`` (see the module doc)."""
        self.energy_j = 0.0
        self.phase_energy_j: dict[str, float] = {}
        self.samples = 0
        self.first_t: float | None = None
        self.last_t: float | None = None
        self.last_value: float | None = None
        self.last_kind: str | None = None
        self.power_w: float | None = None
        self.gap_start: float | None = None
        self.gap_count = 0
        self.gap_s = 0.0
        self.resets = 0


class Ledger:
    """Accumulates energy per channel and phase; thread-safe (one writer, any number of readers).

    ``intensity`` maps a unix time (s) to gCO2eq/kWh; ``pue`` multiplies every joule, as CodeCarbon does.
    """

    def __init__(
        self,
        infos: Sequence[ChannelInfo],
        *,
        phase: str = UNPHASED,
        intensity: Callable[[float], float] | None = None,
        pue: float = 1.0,
        max_gaps: int = 100,
    ) -> None:
        if pue < 1.0:
            raise ValueError(f"pue must be >= 1.0 (a data centre cannot use less than its IT load); got {pue}")
        self._lock = threading.RLock()
        self._channels: dict[str, _Channel] = {i.channel: _Channel(info=i, method=i.method) for i in infos}
        self._phase = phase
        self._intensity = intensity
        self._pue = float(pue)
        self._max_gaps = max_gaps
        self._gaps: list[Gap] = []
        self._gap_count = 0
        self._emissions_g = 0.0
        self._phase_emissions_g: dict[str, float] = {}
        self._first_t: float | None = None
        self._last_t: float | None = None
        self._samples = 0
        self._intensity_at = (float("nan"), 0.0)  # the last (wall time, g/kWh): one read's channels share it
        # Totals carried over from earlier segments of a resumed run.
        self._carried: dict[str, Any] = {}

    # -- writing -------------------------------------------------------------------------------------------
    def add_channels(self, infos: Sequence[ChannelInfo]) -> None:
        """Register channels that appeared after construction (e.g. a sensor opened late)."""
        with self._lock:
            for info in infos:
                self._channels.setdefault(info.channel, _Channel(info=info, method=info.method))

    def set_phase(self, phase: str) -> None:
        """Attribute energy of intervals ending after this call to ``phase``."""
        with self._lock:
            self._phase = phase

    @property
    def phase(self) -> str:
        return self._phase

    @property
    def pue(self) -> float:
        """The power usage effectiveness applied to every total (>= 1)."""
        return self._pue

    def after_fork_in_child(self) -> None:
        """A lock another thread held at ``fork()`` stays locked forever in the child: take a fresh one."""
        self._lock = threading.RLock()

    def add(self, t: float, wall: float, readings: Mapping[str, Reading], expected: Sequence[str] = ()) -> None:
        """Fold one read into the totals.

        ``t`` is the monotonic time of the read (s), ``wall`` the matching unix time (s); a reading with its own
        ``t`` (taken at its own moment within the read) is folded at that time. ``expected`` names the channels
        this read was supposed to return: those missing from ``readings`` open (or extend) a gap.
        """
        with self._lock:
            self._samples += 1
            if self._first_t is None:
                self._first_t = t
            self._last_t = t if self._last_t is None else max(self._last_t, t)
            for name in expected:
                if name not in readings:
                    self._open_gap(name, t)
            for name, reading in readings.items():
                ch = self._channels.get(name)
                if ch is None:
                    continue
                rt = reading.t
                if rt is None:
                    self._fold(ch, t, wall, reading)
                else:  # stamped by the sensor at its own call: the wall time moves with it
                    self._fold(ch, rt, wall + (rt - t), reading)
                    if rt > self._last_t:
                        self._last_t = rt

    def _open_gap(self, name: str, t: float) -> None:
        ch = self._channels.get(name)
        if ch is None or ch.gap_start is not None:
            return
        ch.gap_start = ch.last_t if ch.last_t is not None else t
        ch.gap_count += 1
        self._gap_count += 1
        self._record_gap(Gap(channel=name, start_t=ch.gap_start, end_t=None))

    def _record_gap(self, gap: Gap) -> None:
        # Replace the open record of the same channel when closing it; keep the list bounded.
        for i in range(len(self._gaps) - 1, -1, -1):
            g = self._gaps[i]
            if g.channel == gap.channel and g.end_t is None:
                self._gaps[i] = gap
                return
        self._gaps.append(gap)
        if len(self._gaps) > self._max_gaps:
            del self._gaps[0]

    def _fold(self, ch: _Channel, t: float, wall: float, reading: Reading) -> None:
        if ch.gap_start is not None:
            ch.gap_s += max(0.0, t - ch.gap_start)
            self._record_gap(Gap(channel=ch.info.channel, start_t=ch.gap_start, end_t=t))
            ch.gap_start = None
        ch.samples += 1
        if ch.first_t is None:
            ch.first_t = t
        if ch.last_t is not None and ch.last_value is not None and t > ch.last_t:
            dt = t - ch.last_t
            if ch.last_kind == reading.kind == ENERGY:
                delta = reading.value - ch.last_value
                if delta < 0:
                    ch.resets += 1
                    delta = 0.0
            elif ch.last_kind == reading.kind:
                delta = reading.value * dt if ch.interval_mean else 0.5 * (ch.last_value + reading.value) * dt
            else:
                ch.method = "counter+power-integral" if reading.kind != ENERGY else ch.method
                delta = reading.value * dt if reading.kind != ENERGY else 0.0
            ch.power_w = delta / dt
            ch.energy_j += delta
            ch.phase_energy_j[self._phase] = ch.phase_energy_j.get(self._phase, 0.0) + delta
            if self._intensity is not None and delta > 0.0:
                mid_wall = wall - dt / 2.0
                at, g_per_kwh = self._intensity_at
                if mid_wall != at:
                    self._intensity_at = (mid_wall, g_per_kwh := float(self._intensity(mid_wall)))
                grams = delta * self._pue / J_PER_KWH * g_per_kwh
                self._emissions_g += grams
                self._phase_emissions_g[self._phase] = self._phase_emissions_g.get(self._phase, 0.0) + grams
        if ch.last_t is None or t >= ch.last_t:
            ch.last_t = t
            ch.last_value = reading.value
            ch.last_kind = reading.kind

    # -- reading -------------------------------------------------------------------------------------------
    def live(self, *, carried: bool = True) -> LedgerLiveView:
        """Cheap view for per-tick sinks (see :class:`LedgerLiveView`). ``carried=False``: the grams of this segment
        only (a resumed run's earlier segments left out)."""
        with self._lock:
            channels = {n: (c.energy_j, c.last_t, c.gap_start is not None) for n, c in self._channels.items()}
            grams = self._emissions_g + (float(self._carried.get("emissions_g", 0.0)) if carried else 0.0)
            return LedgerLiveView(self._phase, channels, grams, self._last_t)

    def carried_energy_j(self) -> float:
        """Energy (J, before PUE) carried over from earlier segments of a resumed run."""
        with self._lock:
            return sum(float(c.get("energy_j", 0.0)) for c in self._carried.get("channels", {}).values())

    def snapshot(self, *, carried: bool = True) -> LedgerSnapshot:
        """A consistent copy of the totals, including those carried over from earlier segments (``carried=False``:
        this process segment's own, as its row in ``emissions.csv`` holds them; ``resumed_segments`` still says
        how many came before).

        A channel still in a gap counts the time since its last reading in ``gap_s`` (a GPU lost until the end
        of the run is a gap, not a zero)."""
        with self._lock:
            carried_state: dict[str, Any] = (
                self._carried if carried else {"segments": self._carried.get("segments", 0)}
            )
            return self._snapshot_locked(carried_state)

    def _snapshot_locked(self, carried: dict[str, Any]) -> LedgerSnapshot:
        carried_ch: dict[str, dict[str, Any]] = carried.get("channels", {})
        channels: dict[str, ChannelTotals] = {}
        names = list(self._channels) + [n for n in carried_ch if n not in self._channels]
        for name in names:
            ch = self._channels.get(name)
            old = carried_ch.get(name, {})
            phase_e = dict(old.get("phase_energy_j", {}))
            if ch is not None:
                for p, e in ch.phase_energy_j.items():
                    phase_e[p] = phase_e.get(p, 0.0) + e
            channels[name] = ChannelTotals(
                channel=name,
                component=ch.info.component if ch else str(old.get("component", "")),
                method=ch.method if ch else str(old.get("method", "")),
                energy_j=(ch.energy_j if ch else 0.0) + float(old.get("energy_j", 0.0)),
                phase_energy_j=phase_e,
                samples=(ch.samples if ch else 0) + int(old.get("samples", 0)),
                first_t=ch.first_t if ch else None,
                last_t=ch.last_t if ch else None,
                power_w=ch.power_w if ch else None,
                gap_count=(ch.gap_count if ch else 0) + int(old.get("gap_count", 0)),
                gap_s=(ch.gap_s + self._open_gap_s(ch) if ch else 0.0) + float(old.get("gap_s", 0.0)),
                resets=(ch.resets if ch else 0) + int(old.get("resets", 0)),
                in_gap=bool(ch and ch.gap_start is not None),
            )
        component: dict[str, float] = {}
        phase_total: dict[str, float] = {}
        for tot in channels.values():
            component[tot.component] = component.get(tot.component, 0.0) + tot.energy_j
            for p, e in tot.phase_energy_j.items():
                phase_total[p] = phase_total.get(p, 0.0) + e
        phase_em = dict(carried.get("phase_emissions_g", {}))
        for p, g in self._phase_emissions_g.items():
            phase_em[p] = phase_em.get(p, 0.0) + g
        measured = 0.0 if self._first_t is None or self._last_t is None else self._last_t - self._first_t
        return LedgerSnapshot(
            phase=self._phase,
            duration_s=measured + float(carried.get("duration_s", 0.0)),
            channels=channels,
            component_energy_j=component,
            phase_energy_j=phase_total,
            emissions_g=self._emissions_g + float(carried.get("emissions_g", 0.0)),
            phase_emissions_g=phase_em,
            pue=self._pue,
            samples=self._samples + int(carried.get("samples", 0)),
            gaps=tuple(self._gaps),
            gap_count=self._gap_count + int(carried.get("gap_count", 0)),
            resumed_segments=int(carried.get("segments", 0)),
        )

    def _open_gap_s(self, ch: _Channel) -> float:
        """Seconds a channel still in a gap has been missing, up to the latest reading of any channel."""
        if ch.gap_start is None or self._last_t is None:
            return 0.0
        return max(0.0, self._last_t - ch.gap_start)

    # -- persistence ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Totals as plain JSON-serialisable data, to resume the run later with :meth:`from_dict`.

        Only totals travel: the next segment starts with fresh hardware readings.
        """
        snap = self.snapshot()
        return {
            "version": _STATE_VERSION,
            "segments": snap.resumed_segments + 1,
            "duration_s": snap.duration_s,
            "emissions_g": snap.emissions_g,
            "phase_emissions_g": snap.phase_emissions_g,
            "samples": snap.samples,
            "gap_count": snap.gap_count,
            "pue": snap.pue,
            "channels": {
                name: {
                    "component": c.component,
                    "method": c.method,
                    "energy_j": c.energy_j,
                    "phase_energy_j": c.phase_energy_j,
                    "samples": c.samples,
                    "gap_count": c.gap_count,
                    "gap_s": c.gap_s,
                    "resets": c.resets,
                }
                for name, c in snap.channels.items()
            },
        }

    def load_dict(self, state: Mapping[str, Any]) -> None:
        """Carry the totals of earlier segments (from :meth:`to_dict`) into this ledger.

        Raises ``ValueError`` for a state this version cannot read.
        """
        carried = read_carried(state)
        with self._lock:
            self._carried = carried

    @classmethod
    def from_dict(
        cls,
        state: Mapping[str, Any],
        infos: Sequence[ChannelInfo] = (),
        **kwargs: Any,
    ) -> Ledger:
        """A new ledger for the next segment of a run, starting from the totals in ``state``."""
        kwargs.setdefault("pue", float(state.get("pue", 1.0)) if isinstance(state, Mapping) else 1.0)
        ledger = cls(infos, **kwargs)
        ledger.load_dict(state)
        return ledger


def read_carried(state: Mapping[str, Any]) -> dict[str, Any]:
    """The totals of earlier segments as :meth:`Ledger.to_dict` saved them, checked and typed (what the ledger
    keeps as carried). Raises ``ValueError`` for a state this version cannot read."""
    if not isinstance(state, Mapping) or state.get("version") != _STATE_VERSION:
        raise ValueError(
            f"cannot resume from this ledger state (version {state.get('version') if isinstance(state, Mapping) else '?'}, "
            f"expected {_STATE_VERSION}); start a new run instead"
        )
    try:
        channels = {
            str(name): {
                "component": str(c["component"]),
                "method": str(c["method"]),
                "energy_j": float(c["energy_j"]),
                "phase_energy_j": {str(p): float(e) for p, e in dict(c["phase_energy_j"]).items()},
                "samples": int(c["samples"]),
                "gap_count": int(c["gap_count"]),
                "gap_s": float(c["gap_s"]),
                "resets": int(c["resets"]),
            }
            for name, c in dict(state["channels"]).items()
        }
        carried = {
            "segments": int(state["segments"]),
            "duration_s": float(state["duration_s"]),
            "emissions_g": float(state["emissions_g"]),
            "phase_emissions_g": {str(p): float(g) for p, g in dict(state["phase_emissions_g"]).items()},
            "samples": int(state["samples"]),
            "gap_count": int(state["gap_count"]),
            "channels": channels,
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"corrupt ledger state ({exc!r}); start a new run instead") from exc
    return carried
