"""Pieces every GPU sensor without NVML's conveniences needs: a hardware energy counter turned into cumulative
joules that never decrease (wraparound, restarts and glitches undone), the plausibility bound that drops
megawatt readings, and ROCm's rules for which GPUs a process sees.

Units: joules, watts, seconds (monotonic).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from wattwatch.util.records import record

__all__ = [
    "FALLBACK_POWER_CAP_W",
    "IMPLAUSIBLE_FACTOR",
    "REBASE_AFTER",
    "EnergyCounter",
    "gpu_id_tokens",
    "normalise_bus_id",
    "plausible_limit_w",
    "rocm_visible",
    "split_visible",
]

IMPLAUSIBLE_FACTOR = 3.0
"""A reading above this many times the board's power cap is a glitch, not a measurement (some amdgpu driver
versions have reported megawatts): it is dropped as a gap."""
FALLBACK_POWER_CAP_W = 1500.0
"""The cap assumed for the plausibility bound when the board states none (W)."""
REBASE_AFTER = 3
"""Consecutive implausible counter readings after which the counter is taken to have really jumped: the sensor
restarts from the new value without counting the jump (the reads in between are a gap)."""
_SLACK_S = 0.05
"""Timing slack (s) added to each interval before the plausibility test: the counter updates asynchronously."""


def plausible_limit_w(power_cap_w: float | None, factor: float = IMPLAUSIBLE_FACTOR) -> float:
    """The highest power (W) a board with this cap can plausibly report: ``factor`` x the cap (or the fallback)."""
    cap = power_cap_w if power_cap_w is not None and power_cap_w > 0 else FALLBACK_POWER_CAP_W
    return factor * cap


@record
class EnergyCounter:
    """A raw energy counter (``raw`` units of ``resolution_j`` joules) as cumulative joules that never decrease.

    Between two reads the counter may have:

    - advanced normally: the delta counts;
    - wrapped (it went down, and ``raw + wrap_units - last`` is a plausible amount of energy for the interval;
      accumulators narrower than 64 bits wrap at ``2**32`` units): the wrapped delta counts;
    - restarted from 0 (driver reload: it went down and the wrap is implausible): ``raw`` counts;
    - glitched (the delta implies more than ``limit_w``): :meth:`update` returns ``None`` -- the caller records a
      gap -- and the next read is compared with the last good one, so a transient glitch costs nothing. After
      :data:`REBASE_AFTER` implausible reads in a row the new value becomes the base (the jump is not counted).
    """

    resolution_j: float
    limit_w: float
    wrap_units: int = 2**32
    cumulative_j: float = 0.0
    last_raw: int | None = None
    last_t: float | None = None
    wraps: int = 0
    resets: int = 0
    glitches: int = 0
    rebases: int = 0
    _pending: int = 0

    def allowance_j(self, dt: float) -> float:
        """The most energy (J) the board can plausibly draw in ``dt`` seconds."""
        return self.limit_w * (max(dt, 0.0) + _SLACK_S)

    @property
    def max_read_interval_s(self) -> float | None:
        """Half the time the counter takes to wrap at ``limit_w`` when it may be a 32-bit one (``None`` once a
        reading above ``wrap_units`` has shown it is wider)."""
        if self.last_raw is not None and self.last_raw >= self.wrap_units:
            return None
        return self.wrap_units * self.resolution_j / self.limit_w / 2.0

    def update(self, raw: int, t: float) -> float | None:
        """Fold one raw reading taken at monotonic ``t``; returns cumulative joules, or ``None`` for a glitch."""
        if self.last_raw is None or self.last_t is None:
            self.last_raw, self.last_t = raw, t
            return self.cumulative_j
        allowance = self.allowance_j(t - self.last_t)
        delta = raw - self.last_raw
        event = ""
        if delta < 0:
            wrapped = raw + self.wrap_units - self.last_raw
            if self.last_raw < self.wrap_units and raw < self.wrap_units and wrapped * self.resolution_j <= allowance:
                delta, event = wrapped, "wrap"
            else:
                delta, event = raw, "reset"
        joules = delta * self.resolution_j
        if joules > allowance:
            self.glitches += 1
            self._pending += 1
            if self._pending >= REBASE_AFTER:
                self._pending = 0
                self.rebases += 1
                self.last_raw, self.last_t = raw, t
                return self.cumulative_j
            return None
        self._pending = 0
        if event == "wrap":
            self.wraps += 1
        elif event == "reset":
            self.resets += 1
        self.cumulative_j += joules
        self.last_raw, self.last_t = raw, t
        return self.cumulative_j


def normalise_bus_id(bus_id: str) -> str:
    """``0000:03:00.0`` form, lower case (NVML writes an 8-digit domain, amdsmi and sysfs a 4-digit one)."""
    text = bus_id.strip().lower()
    domain, sep, rest = text.partition(":")
    if sep and len(domain) > 4 and set(domain[:-4]) <= {"0"}:
        text = f"{domain[-4:]}:{rest}"
    return text


def split_visible(value: str) -> list[str]:
    """Split a ``*_VISIBLE_DEVICES`` value into stripped entries (``""`` -> ``[]``)."""
    return [part.strip() for part in value.split(",")] if value.strip() else []


def gpu_id_tokens(gpu_ids: Sequence[int | str] | str | int) -> list[str]:
    """A ``gpu_ids`` option as text entries: one index, a comma-separated string (as :func:`split_visible`), or a
    sequence of indices and ids (stripped)."""
    if isinstance(gpu_ids, int):
        return [str(gpu_ids)]
    if isinstance(gpu_ids, str):
        return split_visible(gpu_ids)
    return [str(t).strip() for t in gpu_ids]


D = TypeVar("D")


def rocm_visible(
    devices: Sequence[D],
    environ: Mapping[str, str],
    match: Callable[[str, Sequence[D]], D | None],
) -> tuple[list[D] | None, str]:
    """The devices a ROCm process sees, in its order, as the runtime applies the variables.

    ``devices`` are all GPUs in ROCr/HIP enumeration order. ``ROCR_VISIBLE_DEVICES`` (indices into that order, or
    UUIDs) filters first; then ``HIP_VISIBLE_DEVICES``, or ``CUDA_VISIBLE_DEVICES`` when HIP's is unset (the same
    effect on AMD), selects among what ROCr left, by position. ``match(token, candidates)`` resolves a non-numeric
    token. An entry that matches nothing ends its list (as CUDA does). Returns ``(None, "")`` when no variable is
    set (every device), else the selection and a text naming the variables that decided it.
    """
    chosen: list[D] = list(devices)
    used: list[str] = []
    for names in (("ROCR_VISIBLE_DEVICES",), ("HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES")):
        name = next((n for n in names if n in environ), None)
        if name is None:
            continue
        used.append(f"{name}={environ[name]}")
        picked: list[D] = []
        for token in split_visible(environ[name]):
            device = chosen[int(token)] if token.isdigit() and int(token) < len(chosen) else None
            if device is None and not token.lstrip("-").isdigit():
                device = match(token, chosen)
            if device is None:
                break
            if device not in picked:
                picked.append(device)
        chosen = picked
    if not used:
        return None, ""
    return chosen, ", ".join(used)
