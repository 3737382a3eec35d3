"""AMD GPUs (Instinct, Radeon) through ROCm's ``amdsmi`` Python binding (``pip install wattwatch[amd]``).

One channel per physical **package**, ``gpu:<amdsmi index of the die that reports it>``:

- **counter** (method ``counter``): ``amdsmi_get_energy_count`` -- an accumulator in units of
  ``counter_resolution`` microjoules -- as cumulative **joules**. Wraparound (accumulators narrower than 64 bits),
  restarts (driver reload) and implausible jumps are undone by :class:`~wattwatch.sensors.gpu_common.EnergyCounter`.
  A counter that stops answering, or that stays still for :data:`STUCK_S` seconds while the board draws power
  (older ROCm releases served a frozen value), is abandoned for the power path.
- **power** (method ``power-integral``): ``amdsmi_get_power_info`` in **watts**, preferring
  ``current_socket_power`` (instantaneous; MI300 and newer) over ``average_socket_power`` (a trailing average;
  MI200 and older, where the current value is N/A). The sampler integrates it at its 20 ms dithered interval.

Multi-die packages: an MI250X OAM holds two GCDs, each its own amdsmi processor; the first reports the whole
package's power and energy and the second reads 0 W. MI300X partitions (CPX...) likewise report on one
partition. Dies that read 0 W (or N/A) and share ``oam_id`` with a die that reads power are merged into that
die's package, measured once; ``describe()`` lists the dies (``dies``) and says so (``package_note``). Dies that
all report power are never merged, whatever their ``oam_id`` says. Selecting any die of a package measures the
whole package, as selecting a MIG slice measures its parent GPU with NVML -- except with
``measure_shared_packages=False`` (distributed runs: the process that owns the package's reporting die counts it,
and a process that owns only another die of it counts nothing, so the package is counted once per node).

Readings above :data:`~wattwatch.sensors.gpu_common.IMPLAUSIBLE_FACTOR` x the board's power cap are dropped as
gaps, with one warning per GPU.

Which GPUs: explicit ``gpu_ids`` (amdsmi indices, ``GPU-...`` HIP UUIDs, amdsmi UUIDs or unique prefixes, PCI
bus ids), else the ROCm variables as the runtime applies them (``ROCR_VISIBLE_DEVICES`` first, then
``HIP_VISIBLE_DEVICES`` or ``CUDA_VISIBLE_DEVICES`` relative to it; indices in HIP order, from
``amdsmi_get_gpu_enumeration_info``'s ``hip_id`` where the library has it), else every GPU.

How amdsmi finds its library: when first imported it loads ``$ROCM_HOME/lib/libamd_smi.so``, else
``$ROCM_PATH/lib/libamd_smi.so``, else ``libamd_smi.so`` through the dynamic linker (``LD_LIBRARY_PATH``,
``ld.so.conf``), else a copy beside the binding, else ``/opt/rocm/lib/libamd_smi.so``. ``library_path`` loads
exactly that file instead (the binding's functions are re-bound to it). A missing binding, a missing library or a
failed ``amdsmi_init`` leave the sensor with no channels and one INFO log line.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from wattwatch.sensors.base import ENERGY, POWER, ChannelInfo, Reading
from wattwatch.sensors.gpu_common import (
    EnergyCounter,
    normalise_bus_id,
    plausible_limit_w,
    rocm_visible,
    split_visible,
)

__all__ = ["AmdGpu", "AmdSmiSensor", "STUCK_S"]

_LOG = logging.getLogger(__name__)

COUNTER = "counter"
CURRENT = "current"
AVERAGE = "average"
SOCKET = "socket"
_POWER_FIELDS = {CURRENT: "current_socket_power", AVERAGE: "average_socket_power", SOCKET: "socket_power"}
_NA_VALUES = {0xFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF}

STUCK_S = 5.0
"""Seconds an energy counter may stand still while the board reports power before it is declared frozen."""

_AVERAGE_NOTE = (
    "average_socket_power is a trailing average (current_socket_power is N/A on this board): integrating it "
    "smooths short peaks and lags the true power"
)
_PACKAGE_NOTE = (
    "one package of {n} dies (amdsmi {dies}): die {primary} reports the whole package's power and energy and "
    "the others read 0 W, so the package is counted once, here"
)


@dataclass
class AmdGpu:
    """What enumeration learns about one amdsmi GPU processor (a die, or a partition)."""

    index: int
    handle: Any
    name: str
    uuid: str
    hip_uuid: str
    serial: str
    bdf: str
    hip_id: int | None
    oam_id: int | None
    partition_id: int | None
    power_cap_w: float | None
    silent: bool = False
    """Reads 0 W (or N/A) and no energy: a package's second die or a non-primary partition."""


@dataclass
class _Package:
    """Per-channel read state: a primary die and the silent dies measured with it."""

    primary: AmdGpu
    dies: list[AmdGpu]
    channel: str
    source: str
    limit_w: float
    counter: EnergyCounter | None = None
    requested: list[int] = field(default_factory=list)
    method_changed_from: str | None = None
    still_since: float | None = None
    logged: set[str] = field(default_factory=set)


class AmdSmiSensor:
    """Energy (or power) of the AMD GPUs this process owns.

    Args:
        gpu_ids: GPUs to measure: amdsmi indices (ints or digit strings), ``GPU-...`` HIP UUIDs, amdsmi UUIDs
            (unique prefixes allowed), PCI bus ids, or one comma-separated string. ``None``: the ROCm visibility
            variables if set, else every GPU.
        library_path: use exactly this ``libamd_smi.so``; ``None`` lets amdsmi search (see the module doc).
        environ: where the visibility variables are read from (default ``os.environ``).
        prefer_current: on the power path, use ``current_socket_power`` when the board has it.
        implausible_factor: readings above this many times the power cap are dropped as gaps.
        measure_shared_packages: a selected die whose package reports through another, unselected die measures
            that package (``True``, one process); ``False`` leaves it to the process that owns the reporting die.
        logger: where the sensor logs (default ``wattwatch.sensors.amd``).

    Raises:
        ValueError: a ``gpu_ids`` entry matches no GPU (the message lists the GPUs there are).
    """

    def __init__(
        self,
        gpu_ids: Sequence[int | str] | str | int | None = None,
        *,
        library_path: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        prefer_current: bool = True,
        implausible_factor: float = 3.0,
        measure_shared_packages: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        self._log = logger or _LOG
        self._environ = os.environ if environ is None else environ
        self._prefer_current = prefer_current
        self._factor = implausible_factor
        self._shared = measure_shared_packages
        self._amdsmi: ModuleType | None = None
        self._packages: list[_Package] = []
        self.devices: list[AmdGpu] = []
        """Every AMD GPU processor amdsmi lists (selected or not), in amdsmi order."""
        self.selected: list[AmdGpu] = []
        """The dies this process selected (``gpu_ids`` or the ROCm variables), in their order."""
        self.driver_version = ""
        self.selection_rule = ""
        """How the GPUs were chosen (``gpu_ids``, the ROCm variables, or every GPU)."""
        self.unavailable_reason: str | None = None

        amdsmi = self._start(library_path)
        if amdsmi is None:
            return
        try:
            self.devices = self._enumerate(amdsmi)
        except Exception as exc:  # noqa: BLE001 - the library answered init but not the listing
            self._unavailable(f"amdsmi could not list GPUs ({exc})")
            return
        self.selected = chosen = self._select(gpu_ids)
        self._packages = self._packages_for(amdsmi, chosen)
        if not self._packages:
            self._unavailable(self.unavailable_reason or "no AMD GPU to measure")

    # ------------------------------------------------------------------------------------------ setup

    def _unavailable(self, reason: str) -> None:
        self.unavailable_reason = reason
        self._log.info("wattwatch: no AMD GPU energy: %s", reason)
        self.close()

    def _start(self, library_path: str | os.PathLike[str] | None) -> ModuleType | None:
        """Import amdsmi (bound to ``library_path`` when given) and ``amdsmi_init``; ``None`` when impossible."""
        path = os.fspath(library_path) if library_path is not None else None
        if path is not None:
            try:
                # Registers the soname, so the binding's own ``CDLL("libamd_smi.so")`` finds this file.
                ctypes.CDLL(path, mode=getattr(ctypes, "RTLD_GLOBAL", 0))
            except OSError as exc:
                self._unavailable(f"cannot load {path!r} ({exc})")
                return None
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):  # the binding prints when it cannot find its library
                import amdsmi
        except ImportError as exc:
            if getattr(exc, "name", None) == "amdsmi":
                self._unavailable("the amdsmi package is not installed (pip install wattwatch[amd])")
            else:
                self._unavailable(f"amdsmi failed to import ({exc})")
            return None
        except Exception as exc:  # noqa: BLE001 - KeyError('libamd_smi.so') when no library was found
            said = " ".join(printed.getvalue().split())
            self._unavailable(
                "libamd_smi.so not found (install ROCm's amd-smi-lib, or set ROCM_PATH to the ROCm folder)"
                + (f": {said}" if said else f" ({exc!r})")
            )
            return None
        if path is not None:
            try:
                _bind_library(amdsmi.amdsmi_wrapper, path)
            except (OSError, AttributeError) as exc:
                self._unavailable(f"cannot bind amdsmi to {path!r} ({exc})")
                return None
        try:
            amdsmi.amdsmi_init(amdsmi.AmdSmiInitFlags.INIT_AMD_GPUS)
        except Exception as exc:  # noqa: BLE001 - AmdSmiLibraryException, or a library missing symbols
            self._unavailable(f"amdsmi_init failed ({_describe_error(exc)})")
            return None
        self._amdsmi = amdsmi
        return amdsmi

    def _enumerate(self, amdsmi: ModuleType) -> list[AmdGpu]:
        devices: list[AmdGpu] = []
        for index, handle in enumerate(amdsmi.amdsmi_get_processor_handles()):
            try:
                asic = amdsmi.amdsmi_get_gpu_asic_info(handle)
                bdf = str(amdsmi.amdsmi_get_gpu_device_bdf(handle))
            except Exception as exc:  # noqa: BLE001
                self._log.warning("wattwatch: skipping AMD GPU %d: %s", index, _describe_error(exc))
                continue
            name = _text(asic.get("market_name"))
            if not name:
                board = _call(amdsmi.amdsmi_get_gpu_board_info, handle) or {}
                name = _text(board.get("product_name")) or "AMD GPU"
            uuid = _text(_call(amdsmi.amdsmi_get_gpu_device_uuid, handle))
            enum_info = _call(getattr(amdsmi, "amdsmi_get_gpu_enumeration_info", None), handle) or {}
            kfd = _call(amdsmi.amdsmi_get_gpu_kfd_info, handle) or {}
            if not self.driver_version:
                driver = _call(amdsmi.amdsmi_get_gpu_driver_info, handle) or {}
                self.driver_version = _text(driver.get("driver_version"))
            devices.append(
                AmdGpu(
                    index=index,
                    handle=handle,
                    name=name,
                    uuid=uuid,
                    hip_uuid=_text(enum_info.get("hip_uuid")),
                    serial=_text(asic.get("asic_serial")),
                    bdf=bdf,
                    hip_id=_int(enum_info.get("hip_id")),
                    oam_id=_int(asic.get("oam_id")),
                    partition_id=_int(kfd.get("current_partition_id")),
                    power_cap_w=_power_cap_w(amdsmi, handle),
                )
            )
        for device in devices:
            device.silent = _is_silent(amdsmi, device.handle)
        return devices

    def _select(self, gpu_ids: Sequence[int | str] | str | int | None) -> list[AmdGpu]:
        devices = self.devices
        if gpu_ids is not None:
            if isinstance(gpu_ids, int):
                tokens = [str(gpu_ids)]
            elif isinstance(gpu_ids, str):
                tokens = split_visible(gpu_ids)
            else:
                tokens = [str(t).strip() for t in gpu_ids]
            chosen: list[AmdGpu] = []
            for token in tokens:
                device = _by_index(token, devices) or _by_id(token, devices)
                if device is None:
                    raise ValueError(
                        f"gpu_ids entry {token!r} matches no AMD GPU. GPUs here: {_listing(devices)}. "
                        "Pass amdsmi indices, GPU-... HIP UUIDs, amdsmi UUIDs (or unique prefixes) or PCI bus ids."
                    )
                if device not in chosen:
                    chosen.append(device)
            self.selection_rule = "gpu_ids"
            if not chosen:
                self.unavailable_reason = "gpu_ids is empty"
            return chosen
        hip_order = sorted(devices, key=lambda d: (d.hip_id if d.hip_id is not None else d.index, d.index))
        visible, rule = rocm_visible(hip_order, self._environ, _by_id)
        if visible is None:
            self.selection_rule = "all"
            return list(devices)
        self.selection_rule = rule
        if not visible:
            self.unavailable_reason = f"{rule} selects no AMD GPU"
        return visible

    def _packages_for(self, amdsmi: ModuleType, chosen: list[AmdGpu]) -> list[_Package]:
        """Group the chosen dies into packages (each measured once through its primary die)."""
        packages: dict[int, _Package] = {}
        for device in chosen:
            primary = _primary_of(device, self.devices)
            if primary is not device and primary not in chosen and not self._shared:
                self._log.info(
                    "wattwatch: AMD GPU %d reports through die %d, which another process owns; not counted here",
                    device.index,
                    primary.index,
                )
                continue
            package = packages.get(primary.index)
            if package is None:
                prepared = self._prepare(amdsmi, primary)
                if prepared is None:
                    continue
                package = packages[primary.index] = prepared
            package.requested.append(device.index)
        return sorted(packages.values(), key=lambda p: p.primary.index)

    def _prepare(self, amdsmi: ModuleType, primary: AmdGpu) -> _Package | None:
        dies = [primary] + [d for d in self.devices if d is not primary and _primary_of(d, self.devices) is primary]
        limit = plausible_limit_w(primary.power_cap_w, self._factor)
        channel = f"gpu:{primary.index}"
        counter = self._counter_for(amdsmi, primary, limit)
        if counter is not None:
            return _Package(primary, dies, channel, COUNTER, limit, counter)
        source = self._power_source(amdsmi, primary.handle)
        if source is None:
            self._log.info(
                "wattwatch: AMD GPU %d (%s) reports neither energy nor power; not measured", primary.index, primary.name
            )
            return None
        return _Package(primary, dies, channel, source, limit)

    def _counter_for(self, amdsmi: ModuleType, gpu: AmdGpu, limit_w: float) -> EnergyCounter | None:
        try:
            info = amdsmi.amdsmi_get_energy_count(gpu.handle)
        except Exception:  # noqa: BLE001 - NOT_SUPPORTED (VM guests, older boards) and friends
            return None
        resolution_uj = _num(info.get("counter_resolution"))
        raw = _int(info.get("energy_accumulator", info.get("power")))
        if resolution_uj is None or resolution_uj <= 0 or raw is None:
            return None
        return EnergyCounter(resolution_j=resolution_uj * 1e-6, limit_w=limit_w)

    def _power_source(self, amdsmi: ModuleType, handle: Any) -> str | None:
        try:
            info = amdsmi.amdsmi_get_power_info(handle)
        except Exception:  # noqa: BLE001
            return None
        order = (CURRENT, AVERAGE, SOCKET) if self._prefer_current else (AVERAGE, CURRENT, SOCKET)
        return next((s for s in order if _num(info.get(_POWER_FIELDS[s])) is not None), None)

    # ------------------------------------------------------------------------------------------ contract

    def channels(self) -> list[str]:
        """``gpu:<amdsmi index>`` per package measured (empty when amdsmi or GPUs are missing)."""
        return [p.channel for p in self._packages]

    def describe(self) -> list[ChannelInfo]:
        """Static facts per channel; ``method`` reflects the current path (it changes if a counter stops)."""
        infos = []
        for p in self._packages:
            d = p.primary
            details: dict[str, object] = {
                "vendor": "amd",
                "index": d.index,
                "uuid": d.uuid,
                "hip_uuid": d.hip_uuid,
                "hip_id": d.hip_id,
                "name": d.name,
                "pci_bus_id": d.bdf,
                "oam_id": d.oam_id,
                "power_limit_w": d.power_cap_w,
                "implausible_above_w": p.limit_w,
                "power_source": p.source,
                "driver_version": self.driver_version,
                "selected_by": self.selection_rule,
                "requested_dies": list(p.requested),
                "dies": [x.index for x in p.dies],
            }
            if len(p.dies) > 1:
                details["package_note"] = _PACKAGE_NOTE.format(
                    n=len(p.dies), dies=", ".join(str(x.index) for x in p.dies), primary=d.index
                )
            if p.source == AVERAGE:
                details["power_note"] = _AVERAGE_NOTE
            if p.counter is not None:
                details["counter_resolution_uj"] = p.counter.resolution_j * 1e6
                bound = p.counter.max_read_interval_s
                if bound is not None:
                    details["max_read_interval_s"] = bound
                for key in ("wraps", "resets", "glitches", "rebases"):
                    if getattr(p.counter, key):
                        details[f"counter_{key}"] = getattr(p.counter, key)
            if p.method_changed_from is not None:
                details["method_changed_from"] = p.method_changed_from
            method = "counter" if p.source == COUNTER else "power-integral"
            infos.append(ChannelInfo(p.channel, "gpu", method, model=d.name, details=details))
        return infos

    def read(self, t: float) -> dict[str, Reading]:
        """Cumulative joules (counter) or watts (power) per package; never raises. A failed or implausible read
        leaves the channel out (a gap)."""
        amdsmi = self._amdsmi
        if amdsmi is None:
            return {}
        out: dict[str, Reading] = {}
        for p in self._packages:
            try:
                reading = self._read_one(amdsmi, p, t)
            except Exception as exc:  # noqa: BLE001 - a sensor fault must never reach user code
                self._once(p, f"error:{_describe_error(exc)}", "wattwatch: reading AMD GPU %d failed (%s); "
                           "recording a gap", p.primary.index, _describe_error(exc))
                continue
            if reading is not None:
                out[p.channel] = reading
        return out

    def close(self) -> None:
        """``amdsmi_shut_down`` (idempotent); afterwards ``read`` returns nothing."""
        amdsmi, self._amdsmi = self._amdsmi, None
        if amdsmi is not None:
            try:
                amdsmi.amdsmi_shut_down()
            except Exception:  # noqa: BLE001
                pass

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    # ------------------------------------------------------------------------------------------ reading

    def _read_one(self, amdsmi: ModuleType, p: _Package, t: float) -> Reading | None:
        if p.source == COUNTER and p.counter is not None:
            try:
                info = amdsmi.amdsmi_get_energy_count(p.primary.handle)
            except amdsmi.AmdSmiLibraryException as exc:
                if exc.get_error_code() != amdsmi.amdsmi_wrapper.AMDSMI_STATUS_NOT_SUPPORTED:
                    raise
                self._leave_counter(amdsmi, p, "its energy counter stopped answering")
                return self._read_one(amdsmi, p, t)
            raw = int(info.get("energy_accumulator", info.get("power")))
            before = p.counter.last_raw
            joules = p.counter.update(raw, t)
            if joules is None:
                self._once(p, "implausible", "wattwatch: AMD GPU %d energy counter jumped by more than %.0f W "
                           "could draw; dropping the reading as a gap", p.primary.index, p.limit_w)
                return None
            if self._frozen(amdsmi, p, raw, before, t):
                self._leave_counter(amdsmi, p, f"its energy counter stood still for {STUCK_S:g} s under load")
                return self._read_one(amdsmi, p, t)
            return Reading(joules, ENERGY)
        info = amdsmi.amdsmi_get_power_info(p.primary.handle)
        watts = _num(info.get(_POWER_FIELDS[p.source]))
        if watts is None and p.source == CURRENT:
            p.source = AVERAGE if _num(info.get(_POWER_FIELDS[AVERAGE])) is not None else SOCKET
            self._once(p, "current-na", "wattwatch: AMD GPU %d current power became N/A; using %s power",
                       p.primary.index, p.source)
            watts = _num(info.get(_POWER_FIELDS[p.source]))
        if watts is None:
            raise RuntimeError("power reads N/A")
        if watts > p.limit_w:
            self._once(p, "implausible", "wattwatch: AMD GPU %d reported %.0f W, above %.0f W (%g x its power cap); "
                       "dropping such readings as gaps", p.primary.index, watts, p.limit_w, self._factor)
            return None
        return Reading(watts, POWER)

    def _frozen(self, amdsmi: ModuleType, p: _Package, raw: int, before: int | None, t: float) -> bool:
        """True when the counter has not moved for :data:`STUCK_S` s while the board reports power."""
        if before is None or raw != before:
            p.still_since = None
            return False
        if p.still_since is None:
            p.still_since = t
            return False
        if t - p.still_since < STUCK_S:
            return False
        p.still_since = t
        watts = _num((_call(amdsmi.amdsmi_get_power_info, p.primary.handle) or {}).get("average_socket_power"))
        if watts is None:
            watts = _num((_call(amdsmi.amdsmi_get_power_info, p.primary.handle) or {}).get("current_socket_power"))
        return watts is not None and watts > 1.0

    def _leave_counter(self, amdsmi: ModuleType, p: _Package, why: str) -> None:
        source = self._power_source(amdsmi, p.primary.handle)
        p.method_changed_from = COUNTER
        p.source = source or AVERAGE
        p.counter = None
        self._log.warning(
            "wattwatch: AMD GPU %d %s; integrating %s power from now on", p.primary.index, why, p.source
        )

    def _once(self, p: _Package, key: str, msg: str, *args: object) -> None:
        if key not in p.logged:
            p.logged.add(key)
            self._log.warning(msg, *args)


# ---------------------------------------------------------------------------------------------- helpers


def _bind_library(wrapper: ModuleType, path: str) -> None:
    """Point every function of the amdsmi binding at the library in ``path`` (no-op when it already is)."""
    libraries: dict[str, Any] = wrapper._libraries
    current = libraries.get("libamd_smi.so")
    if current is not None and _same_file(getattr(current, "_name", ""), path):
        return
    lib = ctypes.CDLL(path)
    func_type: Any = getattr(ctypes, "_CFuncPtr")  # noqa: B009 - the base of every foreign function
    bound: dict[str, Any] = dict(vars(wrapper))
    for attr, value in bound.items():
        name = getattr(value, "__name__", None)
        if isinstance(value, func_type) and isinstance(name, str):
            try:
                fresh = getattr(lib, name)
            except AttributeError:
                continue  # a function this library lacks: calls to it keep failing as before
            fresh.argtypes = value.argtypes
            fresh.restype = value.restype
            setattr(wrapper, attr, fresh)
    libraries["libamd_smi.so"] = lib


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _call(fn: Any, *args: Any) -> Any:
    """``fn(*args)``, or ``None`` when it is missing or raises (optional facts)."""
    if fn is None:
        return None
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001
        return None


def _describe_error(exc: BaseException) -> str:
    code = getattr(exc, "err_code", None)
    info = getattr(exc, "err_info", None)
    if code is not None:
        return f"amdsmi status {code}: {info}" if info else f"amdsmi status {code}"
    return repr(exc)


def _text(value: object) -> str:
    if value is None:
        return ""
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return "" if text.strip() in ("N/A", "") else text.strip()


def _num(value: object) -> float | None:
    """A numeric reading, or ``None`` for amdsmi's "N/A" and its sentinel values."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and value in _NA_VALUES:
        return None
    return float(value)


def _int(value: object) -> int | None:
    number = _num(value)
    return int(number) if number is not None else None


def _power_cap_w(amdsmi: ModuleType, handle: Any) -> float | None:
    """The board's power cap in watts (amdsmi states it in microwatts), else the power info's limit (W)."""
    caps = _call(amdsmi.amdsmi_get_power_cap_info, handle) or {}
    cap_uw = _num(caps.get("power_cap"))
    if cap_uw is not None and cap_uw > 0:
        return cap_uw / 1e6
    limit = _num((_call(amdsmi.amdsmi_get_power_info, handle) or {}).get("power_limit"))
    return limit if limit is not None and limit > 0 else None


def _is_silent(amdsmi: ModuleType, handle: Any) -> bool:
    """True when the die reports no power (0 W or N/A in every field) and no energy."""
    power = _call(amdsmi.amdsmi_get_power_info, handle)
    if power is None:
        return False
    if any((_num(power.get(f)) or 0.0) > 0.0 for f in _POWER_FIELDS.values()):
        return False
    energy = _call(amdsmi.amdsmi_get_energy_count, handle) or {}
    return not (_int(energy.get("energy_accumulator", energy.get("power"))) or 0)


def _primary_of(device: AmdGpu, devices: Sequence[AmdGpu]) -> AmdGpu:
    """The die that reports ``device``'s package: itself unless it is silent and shares its ``oam_id`` with a die
    that reports power (the lowest-index such die)."""
    if not device.silent or device.oam_id is None:
        return device
    return next((d for d in devices if d.oam_id == device.oam_id and not d.silent), device)


def _by_index(token: str, devices: Sequence[AmdGpu]) -> AmdGpu | None:
    if not token.lstrip("+").isdigit():
        return None
    index = int(token)
    return next((d for d in devices if d.index == index), None)


def _by_id(token: str, devices: Sequence[AmdGpu]) -> AmdGpu | None:
    """The device a UUID (HIP ``GPU-...`` / amdsmi, or a unique prefix) or PCI bus id names, else ``None``."""
    low = token.strip().lower()
    if not low:
        return None
    if low.count(":") == 2:
        low = normalise_bus_id(low)

    def ids(d: AmdGpu) -> list[str]:
        keys = [d.uuid.lower(), d.hip_uuid.lower(), normalise_bus_id(d.bdf)]
        if d.serial:
            serial = d.serial.lower().removeprefix("0x")
            keys.append(f"gpu-{serial}")
        return [k for k in keys if k]

    exact = [d for d in devices if low in ids(d)]
    if len(exact) == 1:
        return exact[0]
    prefix = [d for d in devices if any(k.startswith(low) for k in ids(d))] if not exact else []
    return prefix[0] if len(prefix) == 1 else None


def _listing(devices: Sequence[AmdGpu]) -> str:
    if not devices:
        return "none"
    return ", ".join(f"{d.index} ({d.hip_uuid or d.uuid}, {d.bdf}, {d.name})" for d in devices)
