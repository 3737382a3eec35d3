"""GPUs without a vendor library, through the kernel's hwmon interface (``/sys/class/hwmon/hwmon*``).

Which devices: a hwmon directory whose ``name`` is a GPU driver's -- ``i915`` or ``xe`` (Intel discrete GPUs: Arc,
Data Center GPU Flex / Max) or ``amdgpu`` -- and whose ``device`` link resolves to a PCI function. Per-GT
directories (``i915_gt0``...) are parts of a device and never counted.

What is read (one channel per GPU, ``gpu:<PCI bus id>``):

- Intel: ``energy1_input``, a cumulative **microjoule** counter (``xe`` labels ``card`` and ``pkg``: ``card`` is
  preferred, it includes the memory) -> joules, method ``counter``. The kernel widens the hardware register to 64
  bits, so a decrease is a restart (driver reload), stitched so the total never decreases.
- amdgpu: ``power1_input`` (instantaneous, newer kernels and boards) else ``power1_average``, in **microwatts**
  -> watts, method ``power-integral``.

Readings above :data:`~wattwatch.sensors.gpu_common.IMPLAUSIBLE_FACTOR` x the board's cap (``power1_cap``,
``power1_max`` or ``power1_rated_max``) are dropped as gaps with one warning. Integrated amdgpu parts (APUs,
recognised by less than :data:`INTEGRATED_VRAM_BYTES` of dedicated VRAM) are skipped: their power covers the
whole SoC, which the CPU's RAPL package already counts.

Precedence: a GPU that a vendor library measures (amdsmi for AMD) is excluded by PCI bus id
(``exclude_pci_bus_ids``) -- the library's counter and per-package handling are better -- so no GPU is counted
twice. The sysfs root is a parameter (tests build trees in temporary directories).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from wattwatch.sensors.base import ENERGY, POWER, ChannelInfo, ProcFile, Reading
from wattwatch.sensors.gpu_common import (
    IMPLAUSIBLE_FACTOR,
    EnergyCounter,
    normalise_bus_id,
    plausible_limit_w,
)

__all__ = [
    "DEFAULT_HWMON_ROOT",
    "GPU_DRIVERS",
    "INTEGRATED_VRAM_BYTES",
    "HwmonGpu",
    "HwmonGpuSensor",
    "discover_hwmon_gpus",
    "normalise_bus_id",
]

DEFAULT_HWMON_ROOT = Path("/sys/class/hwmon")
GPU_DRIVERS = {"i915": "intel", "xe": "intel", "amdgpu": "amd"}
"""hwmon ``name`` -> vendor, for the drivers whose hwmon device is a whole GPU."""
INTEGRATED_VRAM_BYTES = 2 * 1024**3
"""An amdgpu device with less dedicated VRAM than this is taken for an APU's integrated GPU (skipped)."""

_LOG = logging.getLogger(__name__)
_VENDOR_NAMES = {"0x1002": "AMD", "0x8086": "Intel"}


@dataclass(frozen=True)
class HwmonGpu:
    """One GPU found under the hwmon root and the file that measures it."""

    channel: str
    driver: str
    vendor: str
    pci_bus_id: str
    model: str
    path: Path
    """The hwmon directory."""
    file: Path
    """``energy*_input`` (microjoules) or ``power1_input`` / ``power1_average`` (microwatts)."""
    kind: str
    """``energy_j`` or ``power_w``."""
    power_cap_w: float | None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _energy_file(hwmon: Path) -> Path | None:
    inputs = sorted(hwmon.glob("energy*_input"))
    labelled = {(_read(p.with_name(p.name.replace("_input", "_label"))) or ""): p for p in inputs}
    for label in ("card",):
        if label in labelled:
            return labelled[label]
    plain = hwmon / "energy1_input"
    return plain if plain in inputs else (inputs[0] if inputs else None)


def _cap_w(hwmon: Path) -> float | None:
    for name in ("power1_cap", "power1_max", "power1_rated_max", "power2_max"):
        value = _read_int(hwmon / name)
        if value is not None and value > 0:
            return value / 1e6
    return None


def _model(device: Path, vendor: str, driver: str) -> str:
    product = _read(device / "product_name")
    if product:
        return product
    vendor_id = (_read(device / "vendor") or "").lower()
    device_id = (_read(device / "device") or "").lower()
    label = _VENDOR_NAMES.get(vendor_id, vendor.upper() if vendor != "amd" else "AMD")
    ids = f" {vendor_id.removeprefix('0x')}:{device_id.removeprefix('0x')}" if vendor_id and device_id else ""
    return f"{label} GPU{ids} ({driver})"


def discover_hwmon_gpus(
    root: Path = DEFAULT_HWMON_ROOT,
    *,
    exclude_pci_bus_ids: Iterable[str] = (),
    logger: logging.Logger | None = None,
) -> list[HwmonGpu]:
    """The GPUs under ``root`` that hwmon can measure, less those in ``exclude_pci_bus_ids``, by bus id."""
    log = logger or _LOG
    root = Path(root)
    if not root.is_dir():
        return []
    excluded = {normalise_bus_id(b) for b in exclude_pci_bus_ids}
    found: dict[str, HwmonGpu] = {}
    for hwmon in sorted(root.iterdir(), key=lambda p: p.name):
        driver = _read(hwmon / "name")
        if driver not in GPU_DRIVERS:
            continue
        vendor = GPU_DRIVERS[driver]
        device = hwmon / "device"
        try:
            bus_id = normalise_bus_id(os.path.basename(os.path.realpath(device)))
        except OSError:
            continue
        if bus_id.count(":") != 2 or bus_id in excluded or bus_id in found:
            continue
        if vendor == "amd":
            vram = _read_int(device / "mem_info_vram_total")
            if vram is not None and vram < INTEGRATED_VRAM_BYTES:
                log.info(
                    "wattwatch: %s (amdgpu) looks integrated (%.1f GiB VRAM): its power covers the SoC, which "
                    "the CPU measurement counts; not measured as a GPU",
                    bus_id,
                    vram / 1024**3,
                )
                continue
            power = next((hwmon / n for n in ("power1_input", "power1_average") if (hwmon / n).exists()), None)
            if power is None:
                continue
            file, kind = power, POWER
        else:
            energy = _energy_file(hwmon)
            if energy is None:
                continue
            file, kind = energy, ENERGY
        found[bus_id] = HwmonGpu(
            channel=f"gpu:{bus_id}",
            driver=driver,
            vendor=vendor,
            pci_bus_id=bus_id,
            model=_model(device, vendor, driver),
            path=hwmon,
            file=file,
            kind=kind,
            power_cap_w=_cap_w(hwmon),
        )
    return list(found.values())


@dataclass
class _State:
    gpu: HwmonGpu
    handle: ProcFile
    limit_w: float
    counter: EnergyCounter | None = None
    logged: set[str] = field(default_factory=set)


class HwmonGpuSensor:
    """Energy (Intel) or power (amdgpu) of the GPUs hwmon exposes under ``root``.

    Args:
        root: the hwmon class directory (default ``/sys/class/hwmon``).
        exclude_pci_bus_ids: GPUs measured elsewhere (by amdsmi), left out.
        implausible_factor: readings above this many times the board's cap are dropped as gaps.
        logger: where the sensor logs (default ``wattwatch.sensors.hwmon``).
    """

    def __init__(
        self,
        root: str | os.PathLike[str] = DEFAULT_HWMON_ROOT,
        *,
        exclude_pci_bus_ids: Iterable[str] = (),
        implausible_factor: float = IMPLAUSIBLE_FACTOR,
        logger: logging.Logger | None = None,
    ) -> None:
        self._log = logger or _LOG
        self._states: list[_State] = []
        for gpu in discover_hwmon_gpus(Path(root), exclude_pci_bus_ids=exclude_pci_bus_ids, logger=self._log):
            try:
                handle = ProcFile(gpu.file, size=64)
                handle.read()
            except OSError as exc:
                self._log.info("wattwatch: cannot read %s (%s); GPU %s not measured", gpu.file, exc, gpu.pci_bus_id)
                continue
            limit = plausible_limit_w(gpu.power_cap_w, implausible_factor)
            counter = EnergyCounter(resolution_j=1e-6, limit_w=limit, wrap_units=2**64) if gpu.kind == ENERGY else None
            self._states.append(_State(gpu, handle, limit, counter))

    def channels(self) -> list[str]:
        """``gpu:<PCI bus id>`` per GPU measured."""
        return [s.gpu.channel for s in self._states]

    def describe(self) -> list[ChannelInfo]:
        infos = []
        for s in self._states:
            g = s.gpu
            details: dict[str, object] = {
                "vendor": g.vendor,
                "driver": g.driver,
                "pci_bus_id": g.pci_bus_id,
                "hwmon": str(g.path),
                "file": g.file.name,
                "power_limit_w": g.power_cap_w,
                "implausible_above_w": s.limit_w,
            }
            if g.file.name == "power1_average":
                details["power_note"] = "power1_average is a trailing average: it smooths short peaks"
            if s.counter is not None and s.counter.resets:
                details["counter_resets"] = s.counter.resets
            method = "counter" if g.kind == ENERGY else "power-integral"
            infos.append(ChannelInfo(g.channel, "gpu", method, model=g.model, details=details))
        return infos

    def read(self, t: float) -> dict[str, Reading]:
        """Cumulative joules (Intel) or watts (amdgpu) per GPU; a failed or implausible read is left out."""
        out: dict[str, Reading] = {}
        for s in self._states:
            try:
                raw = int(s.handle.read().strip() or b"x")
            except (OSError, ValueError) as exc:
                self._once(s, "read", "wattwatch: reading %s failed (%r); recording a gap", s.gpu.file, exc)
                continue
            if s.counter is not None:
                joules = s.counter.update(raw, t)
                if joules is None:
                    self._once(s, "implausible", "wattwatch: %s jumped by more than %.0f W could draw; dropping "
                               "the reading as a gap", s.gpu.file, s.limit_w)
                    continue
                out[s.gpu.channel] = Reading(joules, ENERGY)
                continue
            watts = raw / 1e6
            if watts > s.limit_w:
                self._once(s, "implausible", "wattwatch: %s reported %.0f W, above %.0f W; dropping such readings "
                           "as gaps", s.gpu.file, watts, s.limit_w)
                continue
            out[s.gpu.channel] = Reading(watts, POWER)
        return out

    def close(self) -> None:
        for s in self._states:
            s.handle.close()

    def _once(self, s: _State, key: str, msg: str, *args: object) -> None:
        if key not in s.logged:
            s.logged.add(key)
            self._log.warning(msg, *args)
