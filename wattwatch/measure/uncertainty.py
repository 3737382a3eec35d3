"""How sure each number is: an error band per measurement method, with its source.

Every channel's energy carries a method (``counter``, ``power-integral``, ``model:<rule>/<attribution>``,
``estimate:<rule>``). :func:`method_band` maps it to a :class:`Band`: the fraction the truth may lie below
(``low``) and above (``high``) the reported energy, an absolute floor in watts (``abs_w``, applied over the
channel's duration, the larger of the two wins) and where the figure comes from. :func:`channel_band` turns
one channel's joules into low/high joules; :func:`run_band` adds channels up into the run's low/high kWh.

The figures (see docs/accuracy.md for the full argument):

- ``nvml-counter``: +-5 % or +-5 W, whichever is larger. NVML's reference manual gives +-5 % of the current
  draw for the power reading (``nvmlDeviceGetPowerUsage``); nvidia-smi's manual gives +-5 W for
  ``power.draw``. The energy counter integrates the same sensor, so it inherits that accuracy; it adds no
  sampling error (the project's bench: 2.4e-6 % against the fake board's exact integral, RESULTS.md 5a).
- ``nvml-power-integral``: the sensor's +-5 % / +-5 W plus a sampling term ``interval_s x 1 Hz`` (capped at
  50 %). Yang et al. 2024 ("Part-time Power Measurements: nvidia-smi's Lack of Attention") show that on
  A100/H100 the sensor averages only 25 ms of every 100 ms, so power swings faster than the reading interval
  are seen by chance. A trapezoid over samples ``dt`` apart misses at most ``dt x dP / 2`` per power edge; with
  full swings (``dP`` about the mean) at up to one edge per second, as training steps make, the relative error
  is below ``dt x 1 Hz``. The project's bench measures 0.02-0.34 % at 10-100 ms on a 2.3 s square wave
  (RESULTS.md 5b/5c), well inside the term (2 % at 20 ms).
- ``rapl-counter``: +-10 %. Intel documents no accuracy for RAPL. Khan et al. 2018 ("RAPL in Action") find
  package readings highly correlated with plug power from Haswell on, where RAPL measures rather than models;
  the package excludes the board, fans and power supply. The 10 % is this project's allowance, not a measured
  figure, and docs/accuracy.md says so.
- ``tdp-model`` (``model:tdp``, ``tdp-default``, ``user-tdp``, ``vm-slice-tdp``, and the RAM model): +-40 %.
  Fischer 2025 ("Ground-Truthing AI Energy Consumption: Validating CodeCarbon Against External Measurements")
  finds CodeCarbon-style static estimates off by up to 40 % against a power meter, over hundreds of runs.
- ``vm-vcpu``: -47 % / +71 %. The per-vCPU watts (Cloud Carbon Footprint's AWS average, 0.74-3.5 W) against
  CCF's own per-microarchitecture coefficients: the lowest full-load figure (AMD EPYC Milan, 1.87 W) is 47 %
  below 3.5 W, the highest (Intel Haswell, 5.99 W) 71 % above. The host is hidden, so any of them may be it.
- ``gpu-process-share`` and ``mig-slice-share``: +-50 % on top of the board's band (counter or power integral,
  the channel's ``share_of``). NVML has no per-process or
  per-instance power: SM time (or slices held) stands in for it, and kernels of equal duration draw unequal
  power. No published validation exists; the 50 % is this project's allowance and is labelled so.
- anything else: -100 % / +100 % (a method nobody has characterised says nothing about its accuracy).

Attribution (``/machine``, ``/cgroup``, ``/process``) adds no band: the kernel's CPU time and memory accounting
is exact; what it does is choose *whose* energy is counted, which the method names.

Channels are added as if their errors were fully correlated (lows summed, highs summed): a wider band than
independent errors would give, and the honest one when every CPU channel shares one model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from wattwatch.util.records import record

__all__ = [
    "BANDS",
    "EDGE_RATE_HZ",
    "Band",
    "ChannelEnergy",
    "EnergyBand",
    "channel_band",
    "channel_bands",
    "method_band",
    "run_band",
]

J_PER_KWH = 3.6e6

EDGE_RATE_HZ = 1.0
"""Full power swings per second assumed for the sampling term of a power integral (training-step scale)."""

_SRC_NVML = "NVIDIA: NVML reference (+-5 % of draw), nvidia-smi manual (+-5 W)"
_SRC_YANG = (
    "Yang et al. 2024, Part-time Power Measurements: nvidia-smi's Lack of Attention (sampling windows)"
)


@record
class Band:
    """The truth lies within ``[E x (1 - low), E x (1 + high)]``, widened to ``E -+ abs_w x duration`` when that
    is wider. ``rule`` names the band (``nvml-counter``...), ``source`` says where the figures come from."""

    rule: str
    low: float
    high: float
    abs_w: float
    source: str

    def combine(self, other: Band) -> Band:
        """This band applied on top of ``other`` (factors multiply): e.g. a share estimate over a counter."""
        return Band(
            f"{self.rule}*{other.rule}",
            1.0 - (1.0 - self.low) * (1.0 - other.low),
            (1.0 + self.high) * (1.0 + other.high) - 1.0,
            max(self.abs_w, other.abs_w),
            f"{self.source}; {other.source}",
        )


BANDS: dict[str, Band] = {
    "nvml-counter": Band("nvml-counter", 0.05, 0.05, 5.0, _SRC_NVML),
    "rapl-counter": Band(
        "rapl-counter",
        0.10,
        0.10,
        0.0,
        "wattwatch allowance; Khan et al. 2018, RAPL in Action (RAPL tracks plug power from Haswell on)",
    ),
    "tdp-model": Band(
        "tdp-model",
        0.40,
        0.40,
        0.0,
        "Fischer 2025, Ground-Truthing AI Energy Consumption (static estimates off by up to 40 %)",
    ),
    "vm-vcpu": Band(
        "vm-vcpu",
        1.0 - 1.87 / 3.5,
        5.99 / 3.5 - 1.0,
        0.0,
        "Cloud Carbon Footprint coefficients: 1.87 W (EPYC Milan) to 5.99 W (Haswell) per vCPU vs 3.5 W",
    ),
    "share-estimate": Band(
        "share-estimate",
        0.50,
        0.50,
        0.0,
        "wattwatch allowance: NVML has no per-process or per-instance power; SM time or slices stand in",
    ),
    "unknown": Band("unknown", 1.0, 1.0, 0.0, "no characterised method: no claim"),
}
"""The fixed bands; ``nvml-power-integral`` is built per interval by :func:`method_band`."""

_TDP_RULES = {"tdp", "tdp-default", "user-tdp", "vm-slice-tdp"}


def _power_integral(interval_s: float | None) -> Band:
    dt = 1.0 if interval_s is None or interval_s <= 0 else interval_s
    sampling = min(0.5, dt * EDGE_RATE_HZ)
    rel = 0.05 + sampling
    return Band(
        "nvml-power-integral", rel, rel, 5.0, f"{_SRC_NVML}; {_SRC_YANG}; sampling {sampling:.1%} at {dt:g} s"
    )


def method_band(
    method: str, component: str, interval_s: float | None = None, share_of: str = "counter"
) -> Band:
    """The band of ``method`` for a channel of ``component`` (``gpu``, ``cpu``, ``ram``) read every
    ``interval_s`` seconds. A composite ``a+b`` method (a counter that fell back to power) gets the wider. A share
    estimate's band sits on top of the band of the method under it, ``share_of`` (its channel's details)."""
    if "+" in method:
        parts = [method_band(m, component, interval_s, share_of) for m in method.split("+") if m]
        return max(parts, key=lambda b: b.low + b.high) if parts else BANDS["unknown"]
    if method == "counter":
        return BANDS["nvml-counter"] if component == "gpu" else BANDS["rapl-counter"]
    if method == "power-integral":
        return _power_integral(interval_s)
    if method.startswith("model:"):
        rule = method.removeprefix("model:").split("/", 1)[0]
        if rule == "vm-vcpu":
            return BANDS["vm-vcpu"]
        if rule in _TDP_RULES or rule.startswith("ram-") or rule.startswith("cpu-"):
            return BANDS["tdp-model"]
        return BANDS["unknown"]
    if method in ("estimate:gpu-process-share", "estimate:mig-slice-share"):
        under = share_of if share_of in ("counter", "power-integral") else "counter"
        return BANDS["share-estimate"].combine(method_band(under, component, interval_s))
    return BANDS["unknown"]


@record
class EnergyBand:
    """Reported energy and its band, in kWh; ``rules`` are the bands that went into it."""

    energy_kwh: float
    low_kwh: float
    high_kwh: float
    rules: tuple[str, ...]

    @property
    def rel_low(self) -> float:
        """How far below the reported energy the band reaches, as a fraction (0 when nothing was reported)."""
        return (self.energy_kwh - self.low_kwh) / self.energy_kwh if self.energy_kwh > 0 else 0.0

    @property
    def rel_high(self) -> float:
        """How far above the reported energy the band reaches, as a fraction."""
        return (self.high_kwh - self.energy_kwh) / self.energy_kwh if self.energy_kwh > 0 else 0.0


class ChannelEnergy(Protocol):
    """What :func:`run_band` needs of a channel (a ledger's ``ChannelTotals`` has it)."""

    @property
    def channel(self) -> str: ...
    @property
    def component(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def energy_j(self) -> float: ...
    @property
    def samples(self) -> int: ...
    @property
    def first_t(self) -> float | None: ...
    @property
    def last_t(self) -> float | None: ...


def channel_band(
    energy_j: float,
    method: str,
    component: str,
    duration_s: float,
    interval_s: float | None = None,
    share_of: str = "counter",
) -> EnergyBand:
    """Low/high kWh of one channel's ``energy_j`` joules measured by ``method`` over ``duration_s`` seconds."""
    band = method_band(method, component, interval_s, share_of)
    e = max(0.0, energy_j)
    below = max(e * band.low, band.abs_w * max(0.0, duration_s))
    above = max(e * band.high, band.abs_w * max(0.0, duration_s))
    return EnergyBand(e / J_PER_KWH, max(0.0, e - below) / J_PER_KWH, (e + above) / J_PER_KWH, (band.rule,))


def _interval(ch: ChannelEnergy) -> tuple[float, float | None]:
    if ch.first_t is None or ch.last_t is None:
        return 0.0, None
    duration = max(0.0, ch.last_t - ch.first_t)
    return duration, (duration / (ch.samples - 1) if ch.samples > 1 else None)


def channel_bands(
    channels: Iterable[ChannelEnergy], pue: float = 1.0, share_of: Mapping[str, str] | None = None
) -> dict[str, EnergyBand]:
    """Per component (``gpu``, ``cpu``, ``ram``): low/high kWh summed over its channels, times ``pue``. Each
    channel's interval is its mean reading interval (duration / (samples - 1)); ``share_of`` maps a share
    estimate's channel to the method under it (default ``counter``)."""
    out: dict[str, EnergyBand] = {}
    for ch in channels:
        duration, interval = _interval(ch)
        under = (share_of or {}).get(ch.channel, "counter")
        b = channel_band(ch.energy_j, ch.method, ch.component, duration, interval, under)
        prev = out.get(ch.component)
        rules = tuple(dict.fromkeys((prev.rules if prev else ()) + b.rules))
        out[ch.component] = EnergyBand(
            (prev.energy_kwh if prev else 0.0) + b.energy_kwh * pue,
            (prev.low_kwh if prev else 0.0) + b.low_kwh * pue,
            (prev.high_kwh if prev else 0.0) + b.high_kwh * pue,
            rules,
        )
    return out


def run_band(
    channels: Iterable[ChannelEnergy], pue: float = 1.0, share_of: Mapping[str, str] | None = None
) -> EnergyBand:
    """The run's total energy (kWh, times ``pue``) and its band: the channels' lows and highs summed."""
    parts = channel_bands(channels, pue, share_of).values()
    rules = tuple(dict.fromkeys(r for p in parts for r in p.rules))
    return EnergyBand(
        sum(p.energy_kwh for p in parts), sum(p.low_kwh for p in parts), sum(p.high_kwh for p in parts), rules
    )
