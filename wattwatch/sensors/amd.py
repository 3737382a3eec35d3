"""AMD GPUs (Instinct, Radeon) through ROCm's ``amdsmi`` Python binding (wattwatch's ``[amd]`` extra).

One channel per physical **package**, ``gpu:<amdsmi index of the die that reports it>``:

- **counter** (method ``counter``): ``amdsmi_get_energy_count`` -- an accumulator in units of
  ``counter_resolution`` microjoules -- as cumulative **joules**. Wraparound (accumulators narrower than 64 bits),
  restarts (driver reload) and implausible jumps are undone by :class:`~wattwatch.sensors.gpu_common.EnergyCounter`.
  A counter that stops answering, or that stays still for :data:`STUCK_S` seconds while the board draws power
  (older ROCm releases served a frozen value), is abandoned for the power path; while it stands still under
  load its readings are gaps (issue 24: they counted 0 J), bridged exactly if it moves again, else filled at
  the first power reading. A counter that goes back (a restart) is warned about.
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

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType

from wattwatch.sensors.amd_devices import AmdGpu, enumerate_gpus, select_gpus
from wattwatch.sensors.amd_library import (
    AVERAGE,
    CURRENT,
    POWER_FIELDS,
    SOCKET,
    AmdSmiUnavailable,
    as_number,
    describe_error,
    info_of,
    load_amdsmi,
)
from wattwatch.sensors.amd_packages import COUNTER, Package, packages_for, power_source
from wattwatch.sensors.base import ENERGY, POWER, ChannelInfo, Reading

__all__ = ["AmdGpu", "AmdSmiSensor", "STUCK_S"]

_LOG = logging.getLogger(__name__)

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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger or _LOG
        self._clock = clock
        """Times each package's call within a read (offsets added to the ``t`` the read is given)."""
        self._environ = os.environ if environ is None else environ
        self._prefer_current = prefer_current
        self._factor = implausible_factor
        self._shared = measure_shared_packages
        self._amdsmi: ModuleType | None = None
        self._packages: list[Package] = []
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
            self.devices, self.driver_version = enumerate_gpus(amdsmi, self._log)
        except Exception as exc:  # noqa: BLE001 - the library answered init but not the listing
            self._unavailable(f"amdsmi could not list GPUs ({exc})")
            return
        selection = select_gpus(self.devices, gpu_ids, self._environ)
        self.selected, self.selection_rule = selection.chosen, selection.rule
        self._packages = packages_for(
            amdsmi,
            selection.chosen,
            self.devices,
            measure_shared=self._shared,
            implausible_factor=self._factor,
            prefer_current=self._prefer_current,
            log=self._log,
        )
        if not self._packages:
            hidden = selection.rule not in ("gpu_ids", "all") and not selection.chosen and bool(self.devices)
            self._unavailable(selection.empty_reason or "no AMD GPU to measure", failed=hidden)

    # ------------------------------------------------------------------------------------------ setup

    def _unavailable(self, reason: str, *, failed: bool = True) -> None:
        """No channel: one WARNING with the reason when something failed -- this sensor is only opened where the
        host shows an AMD GPU (``/dev/kfd``, an amdgpu device, a library named), so a failed start, a failed
        listing or ROCm variables hiding every GPU mean GPU energy the run will lack; INFO otherwise (an empty
        ``gpu_ids``, a probe)."""
        self.unavailable_reason = reason
        (self._log.warning if failed else self._log.info)("wattwatch: no AMD GPU energy: %s", reason)
        self.close()

    def _start(self, library_path: str | os.PathLike[str] | None) -> ModuleType | None:
        """Import amdsmi (bound to ``library_path`` when given) and ``amdsmi_init``; ``None`` when impossible."""
        try:
            amdsmi = load_amdsmi(library_path)
        except AmdSmiUnavailable as exc:
            self._unavailable(str(exc))
            return None
        self._amdsmi = amdsmi
        return amdsmi

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
        clock = self._clock
        origin = clock()
        for p in self._packages:
            try:
                reading = self._read_one(amdsmi, p, t + clock() - origin)
            except Exception as exc:  # noqa: BLE001 - a sensor fault must never reach user code
                self._once(p, f"error:{describe_error(exc)}", "wattwatch: reading AMD GPU %d failed (%s); "
                           "recording a gap", p.primary.index, describe_error(exc))
                continue
            if reading is not None:
                reading.t = t + clock() - origin  # the end of this package's call (see NvmlSensor.read)
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

    def _read_one(self, amdsmi: ModuleType, p: Package, t: float) -> Reading | None:
        if p.source == COUNTER and p.counter is not None:
            try:
                info = amdsmi.amdsmi_get_energy_count(p.primary.handle)
            except amdsmi.AmdSmiLibraryException as exc:
                if exc.get_error_code() != amdsmi.amdsmi_wrapper.AMDSMI_STATUS_NOT_SUPPORTED:
                    raise
                self._leave_counter(amdsmi, p, "its energy counter stopped answering")
                return self._read_one(amdsmi, p, t)
            raw = int(info.get("energy_accumulator", info.get("power")))
            if self._still_under_load(amdsmi, p, raw, t):
                if t - (p.still_since or t) < STUCK_S:
                    self._once(p, "still", "wattwatch: AMD GPU %d energy counter stands still while the board "
                               "draws power; recording a gap", p.primary.index)
                    return None  # a gap: a counter that moves again bridges it exactly
                # frozen: the power path from now on; the ledger fills the frozen stretch at its first power
                self._leave_counter(amdsmi, p, f"its energy counter stood still for {STUCK_S:g} s under load")
                return self._read_one(amdsmi, p, t)
            resets = p.counter.resets
            joules = p.counter.update(raw, t)
            if joules is None:
                self._once(p, "implausible", "wattwatch: AMD GPU %d energy counter jumped by more than %.0f W "
                           "could draw; dropping the reading as a gap", p.primary.index, p.limit_w)
                return None
            if p.counter.resets > resets:
                self._log.warning("wattwatch: AMD GPU %d energy counter went back (a driver reload?); counting "
                                  "from its new value", p.primary.index)  # fmt: skip
            return Reading(joules, ENERGY)
        info = amdsmi.amdsmi_get_power_info(p.primary.handle)
        watts = as_number(info.get(POWER_FIELDS[p.source]))
        if watts is None and p.source == CURRENT:
            p.source = AVERAGE if as_number(info.get(POWER_FIELDS[AVERAGE])) is not None else SOCKET
            self._once(p, "current-na", "wattwatch: AMD GPU %d current power became N/A; using %s power",
                       p.primary.index, p.source)
            watts = as_number(info.get(POWER_FIELDS[p.source]))
        if watts is None:
            raise RuntimeError("power reads N/A")
        if watts > p.limit_w:
            self._once(p, "implausible", "wattwatch: AMD GPU %d reported %.0f W, above %.0f W (%g x its power cap); "
                       "dropping such readings as gaps", p.primary.index, watts, p.limit_w, self._factor)
            return None
        return Reading(watts, POWER)

    def _still_under_load(self, amdsmi: ModuleType, p: Package, raw: int, t: float) -> bool:
        """True when the counter has not moved since the last reading while the board reports power (over 1 W):
        the counter may be frozen (older ROCm releases served one), so the reading is not trusted.
        ``p.still_since`` is when it was first seen still. Costs a power query only when the counter stood
        still."""
        if p.counter is None or p.counter.last_raw is None or raw != p.counter.last_raw:
            p.still_since = None
            return False
        watts = as_number(info_of(amdsmi.amdsmi_get_power_info, p.primary.handle).get("average_socket_power"))
        if watts is None:
            watts = as_number(info_of(amdsmi.amdsmi_get_power_info, p.primary.handle).get("current_socket_power"))
        if watts is None or watts <= 1.0:
            p.still_since = None
            return False  # an idle board: its counter may well stand still
        if p.still_since is None:
            p.still_since = t
        return True

    def _leave_counter(self, amdsmi: ModuleType, p: Package, why: str) -> None:
        source = power_source(amdsmi, p.primary.handle, self._prefer_current)
        p.method_changed_from = COUNTER
        p.source = source or AVERAGE
        p.counter = None
        self._log.warning(
            "wattwatch: AMD GPU %d %s; integrating %s power from now on", p.primary.index, why, p.source
        )

    def _once(self, p: Package, key: str, msg: str, *args: object) -> None:
        if key not in p.logged:
            p.logged.add(key)
            self._log.warning(msg, *args)
