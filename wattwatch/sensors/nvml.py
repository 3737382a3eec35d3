"""NVIDIA GPUs through NVML (``pynvml``, from the ``nvidia-ml-py`` package).

One channel per physical GPU, ``gpu:<nvml index>``. Where the board has an energy counter (Volta and newer,
``nvmlDeviceGetTotalEnergyConsumption``, millijoules) the channel reports cumulative **joules** (method
``counter``); otherwise it reports **watts** (method ``power-integral``): the instantaneous
``NVML_FI_DEV_POWER_INSTANT`` field where supported, else ``nvmlDeviceGetPowerUsage``, which on Ampere and newer
is a 1 s trailing average (``describe()`` says which).

Faults never raise from :meth:`NvmlSensor.read`: a lost GPU drops out of the readings (the ledger records a
gap), a counter that goes backwards (driver reload) is stitched so the cumulative value never decreases, and a
counter that stops answering falls back to power. A missing library, a failed ``nvmlInit`` or no visible GPU
leave the sensor with no channels and one INFO log line.

Which GPUs: explicit ``gpu_ids`` (NVML indices, ``GPU-...`` UUIDs or unique prefixes, ``MIG-...`` ids), else
``CUDA_VISIBLE_DEVICES`` with CUDA's rules (an entry that matches nothing ends the list), else all. Integer
entries are NVML indices, i.e. PCI bus order -- the same as CUDA's when ``CUDA_DEVICE_ORDER=PCI_BUS_ID``. A MIG
id selects its parent GPU: NVML meters whole boards, not slices; ``describe()`` says so (``mig_parent``).

Shared GPUs (opt-in, ``share=True``): a GPU selected by MIG ids is charged its parent's energy times the
instances' share of the parent's slices (method ``estimate:mig-slice-share``); a whole GPU is charged its
energy times this process tree's share of the SM utilisation samples (``estimate:gpu-process-share``). See
:mod:`wattwatch.sensors.gpu_share` for the rules; both are estimates and their methods say so.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import field
from types import ModuleType

from wattwatch.sensors.base import ENERGY, POWER, ChannelInfo, Reading
from wattwatch.sensors.gpu_common import EnergyCounter, plausible_limit_w
from wattwatch.sensors.gpu_share import NvmlHandle, process_tree_pids
from wattwatch.sensors.nvml_devices import (
    NvmlDevice,
    NvmlUnavailable,
    energy_reader,
    enumerate_devices,
    instant_w,
    load_nvml,
    parse_visible_devices,
    select_devices,
    text,
)
from wattwatch.sensors.nvml_share import (
    MIG_SHARE,
    PROCESS_SHARE,
    GpuShare,
    ShareReader,
    nvml_code,
    prepare_share,
)
from wattwatch.util.records import record

__all__ = ["NvmlSensor", "parse_visible_devices"]

_LOG = logging.getLogger(__name__)

COUNTER = "counter"
INSTANT = "instant"
AVERAGE = "average"

_AVERAGE_NOTE = (
    "nvmlDeviceGetPowerUsage is a 1 s trailing average on Ampere and newer boards: integrating it "
    "smooths short peaks and lags the true power by about 0.5 s"
)


@record
class _Gpu:
    """Per-channel read state."""

    device: NvmlDevice
    channel: str
    source: str
    power_limit_w: float | None
    mig_requested: list[str] = field(default_factory=list)
    counter: EnergyCounter = field(default_factory=lambda: EnergyCounter(1e-3, plausible_limit_w(None), 2**64))
    """The energy counter (mJ) as cumulative joules: restarts stitched, implausible steps dropped."""
    resets: int = 0
    lost: bool = False
    method_changed_from: str | None = None
    logged: set[str] = field(default_factory=set)
    share: GpuShare = field(default_factory=GpuShare)
    """The share rule and its state (``share.rule is None``: the whole board)."""


class NvmlSensor:
    """Energy (or power) of the NVIDIA GPUs this process owns.

    Args:
        gpu_ids: GPUs to measure: NVML indices (ints or digit strings), ``GPU-...`` UUIDs (unique prefixes
            allowed), ``MIG-...`` ids (meaning their parent GPU), or one comma-separated string. ``None``:
            ``CUDA_VISIBLE_DEVICES`` if set, else every GPU.
        library_path: load exactly this ``libnvidia-ml`` file; ``None`` lets pynvml find the system library.
        environ: where ``CUDA_VISIBLE_DEVICES`` is read from (default ``os.environ``).
        prefer_instant: for boards without an energy counter, use the instantaneous power field when the
            driver supports it (else the 1 s averaged ``nvmlDeviceGetPowerUsage``).
        share: charge a shared GPU's share instead of the whole board: MIG instances by slices, whole GPUs by
            this process tree's share of the SM utilisation samples (estimates; see the module docstring).
        pids: with ``share``, returns the PIDs whose share is charged (default: this process and its
            descendants, refreshed at most once a second).
        logger: where the sensor logs (default ``wattwatch.sensors.nvml``).

    Raises:
        ValueError: a ``gpu_ids`` entry matches no GPU (the message lists the GPUs there are).
    """

    def __init__(
        self,
        gpu_ids: Sequence[int | str] | str | int | None = None,
        *,
        library_path: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        prefer_instant: bool = True,
        share: bool = False,
        pids: Callable[[], Collection[int]] | None = None,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger or _LOG
        self._clock = clock
        """Times each GPU's call within a read (offsets added to the ``t`` the read is given)."""
        self._share = share
        self._shares = ShareReader(pids or process_tree_pids())
        self._environ = os.environ if environ is None else environ
        self._prefer_instant = prefer_instant
        self._nvml: ModuleType | None = None
        self._lib: object = None
        """The library this sensor's ``nvmlInit`` ran in (``pynvml.nvmlLib`` then)."""
        self._gpus: list[_Gpu] = []
        self._energy: Callable[[NvmlHandle], int] | None = None
        """Reads one board's energy counter (mJ); made at the first read (see :func:`~wattwatch.sensors.nvml_devices.energy_reader`)."""
        self.driver_version: str = ""
        self.unavailable_reason: str | None = None
        """Why there are no channels, when there are none (else ``None``)."""

        nvml = self._start(library_path)
        if nvml is None:
            return
        try:
            self.driver_version = text(nvml.nvmlSystemGetDriverVersion())
        except Exception:  # noqa: BLE001 - informative only
            self.driver_version = ""
        try:
            devices = enumerate_devices(nvml, self._log)
        except nvml.NVMLError as exc:
            self._unavailable(f"NVML could not list GPUs ({exc})", failed=True)
            return
        selection = select_devices(devices, gpu_ids, self._environ, self._log)
        for device, mig_ids in selection.chosen:
            gpu = self._prepare(nvml, device, mig_ids)
            if gpu is not None:
                self._gpus.append(gpu)
        if not self._gpus:
            self._unavailable(selection.empty_reason or "no NVIDIA GPU to measure", failed=selection.hidden)

    # ------------------------------------------------------------------------------------------ setup

    def _unavailable(self, reason: str, *, failed: bool = False) -> None:
        """No channel: one WARNING when something that should have worked did not (``failed``: NVIDIA's library is
        there but would not start or list GPUs, or ``CUDA_VISIBLE_DEVICES`` hides them all), else one INFO line
        (no NVIDIA driver: a CPU host)."""
        self.unavailable_reason = reason
        (self._log.warning if failed else self._log.info)("wattwatch: no GPU energy: %s", reason)
        self.close()

    def _start(self, library_path: str | os.PathLike[str] | None) -> ModuleType | None:
        """Import pynvml, load the library and ``nvmlInit``; ``None`` (logged) when impossible."""
        try:
            nvml = load_nvml(library_path)
        except NvmlUnavailable as exc:
            self._unavailable(str(exc), failed=exc.failed)
            return None
        self._nvml = nvml
        self._lib = nvml.nvmlLib
        return nvml

    def _prepare(self, nvml: ModuleType, device: NvmlDevice, mig_ids: list[str]) -> _Gpu | None:
        """Probe what the board answers and pick the reading path."""
        handle = device.handle
        limit: float | None = None
        for getter in (nvml.nvmlDeviceGetEnforcedPowerLimit, nvml.nvmlDeviceGetPowerManagementLimit):
            try:
                limit = getter(handle) / 1000.0
                break
            except nvml.NVMLError:
                continue
        try:
            nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            source: str | None = COUNTER
        except nvml.NVMLError:
            source = self._power_source(nvml, handle)
        if source is None:
            self._log.info(
                "wattwatch: GPU %d (%s) reports neither energy nor power; not measured",
                device.index,
                device.name,
            )
            return None
        gpu = _Gpu(device, f"gpu:{device.index}", source, limit, mig_ids)
        gpu.counter = EnergyCounter(1e-3, plausible_limit_w(limit), 2**64)  # 64-bit mJ: never wraps
        if self._share:
            gpu.share = prepare_share(nvml, device.index, handle, device.mig_handles, mig_ids, self._log)
        return gpu

    def _power_source(self, nvml: ModuleType, handle: NvmlHandle) -> str | None:
        if self._prefer_instant:
            try:
                instant_w(nvml, handle)
                return INSTANT
            except nvml.NVMLError:
                pass
        try:
            nvml.nvmlDeviceGetPowerUsage(handle)
            return AVERAGE
        except nvml.NVMLError:
            return None

    # ------------------------------------------------------------------------------------------ contract

    def channels(self) -> list[str]:
        """``gpu:<nvml index>`` for every GPU measured (empty when NVML or GPUs are missing)."""
        return [g.channel for g in self._gpus]

    def describe(self) -> list[ChannelInfo]:
        """Static facts per channel; ``method`` reflects the current path (it changes if a counter stops)."""
        return [_describe(g, self.driver_version) for g in self._gpus]

    def read(self, t: float) -> dict[str, Reading]:
        """Cumulative joules (counter) or watts (power) per live GPU; never raises. Each GPU's reading is stamped
        at the end of its own call (``t`` is the clock when this read began): GPUs are read one after the other,
        and a slow call -- time spent waiting for the driver or the board's firmware, then the value read -- must
        not shift its value, nor the others' (issue 24: with 250 ms calls, one stamp for the whole read put the
        four GPUs' energy -3 % to +6 % off their windows). A counter step above 3 x the board's power limit over
        the interval is a glitch: the GPU is left out of this read (a gap), as for AMD boards."""
        nvml = self._nvml
        if nvml is None:
            return {}
        energy = self._energy
        if energy is None:
            energy = self._energy = energy_reader(nvml)
        out: dict[str, Reading] = {}
        clock = self._clock
        origin = clock()
        for g in self._gpus:
            if g.lost:
                continue
            before = clock()
            if g.source == COUNTER and g.share.rule is None:  # the common case, kept short: it runs every tick
                try:
                    raw = energy(g.device.handle)
                    at = t + clock() - origin
                    reading = _counted(g, raw, at, self._log)
                    if reading is not None:
                        out[g.channel] = reading
                    continue
                except Exception as exc:  # noqa: BLE001 - a sensor fault must never reach user code
                    if not isinstance(exc, nvml.NVMLError) or nvml_code(exc) != nvml.NVML_ERROR_NOT_SUPPORTED:
                        self._on_error(nvml, g, exc)
                        continue
                    self._counter_lost(nvml, g)  # and the full path below reads its power
            try:
                got = self._read_one(nvml, g, t + before - origin)
                if got is None:
                    continue
                at = t + clock() - origin
                got.t = at
                if g.share.rule is not None:
                    got = self._share_of(nvml, g, got)
                    got.t = at
                out[g.channel] = got
            except Exception as exc:  # noqa: BLE001 - a sensor fault must never reach user code
                self._on_error(nvml, g, exc)
        return out

    def process_energy_j(self, channel: str) -> dict[int, float]:
        """Joules of ``channel``'s board attributed to each PID so far (process share only; else ``{}``)."""
        for g in self._gpus:
            if g.channel == channel and g.share.splitter is not None:
                return dict(g.share.splitter.attributed_j)
        return {}

    def board_energy_j(self) -> dict[str, float]:
        """Each process-shared board's whole energy so far (J, every process's; ``{}`` without shares): what
        this run's share of its manufacture is measured against."""
        out: dict[str, float] = {}
        for g in self._gpus:
            splitter = g.share.splitter
            if splitter is not None:
                out[g.channel] = sum(splitter.attributed_j.values()) + splitter.unattributed_j
        return out

    def _share_of(self, nvml: ModuleType, g: _Gpu, reading: Reading) -> Reading:
        def once(key: str, msg: str, *args: object) -> None:
            self._once(g, key, msg, *args)

        return self._shares.read(nvml, g.device.index, g.device.handle, g.share, reading, once)

    def utilization(self) -> list[float]:
        """Each live GPU's utilisation now, in percent (``nvmlDeviceGetUtilizationRates().gpu``: the share of the
        last sample period a kernel ran); GPUs that cannot say are left out. Never raises."""
        nvml = self._nvml
        if nvml is None:
            return []
        out = []
        for g in self._gpus:
            if g.lost:
                continue
            try:
                out.append(float(nvml.nvmlDeviceGetUtilizationRates(g.device.handle).gpu))
            except Exception:  # noqa: BLE001 - informative column: a GPU that cannot say is skipped
                continue
        return out

    def close(self) -> None:
        """``nvmlShutdown`` (idempotent); afterwards ``read`` returns nothing."""
        nvml, self._nvml = self._nvml, None
        # pynvml has one module-wide library: when another sensor has since switched it to another file, this
        # sensor's nvmlShutdown would end *that* library's session under the other sensor (seen when a
        # sensor left to the garbage collector is finalised after the switch). Its own library is unused then.
        if nvml is not None and getattr(nvml, "nvmlLib", None) is self._lib:
            try:
                nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    # ------------------------------------------------------------------------------------------ reading

    def _read_one(self, nvml: ModuleType, g: _Gpu, at: float) -> Reading | None:
        if g.source == COUNTER:
            try:
                raw = (self._energy or energy_reader(nvml))(g.device.handle)
            except nvml.NVMLError as exc:
                if nvml_code(exc) != nvml.NVML_ERROR_NOT_SUPPORTED:
                    raise
                self._counter_lost(nvml, g)
                return self._read_one(nvml, g, at)
            return _counted(g, raw, at, self._log)
        if g.source == INSTANT:
            try:
                return Reading(instant_w(nvml, g.device.handle), POWER)
            except nvml.NVMLError as exc:
                if nvml_code(exc) != nvml.NVML_ERROR_NOT_SUPPORTED:
                    raise
                g.source = AVERAGE
                self._log.warning(
                    "wattwatch: GPU %d instant power stopped answering; using the 1 s average", g.device.index
                )
        return Reading(nvml.nvmlDeviceGetPowerUsage(g.device.handle) / 1000.0, POWER)

    def _counter_lost(self, nvml: ModuleType, g: _Gpu) -> None:
        source = self._power_source(nvml, g.device.handle)
        g.method_changed_from = COUNTER
        g.source = source or AVERAGE
        self._log.warning(
            "wattwatch: GPU %d energy counter stopped answering; integrating %s power from now on",
            g.device.index,
            g.source,
        )

    def _on_error(self, nvml: ModuleType, g: _Gpu, exc: Exception) -> None:
        if isinstance(exc, nvml.NVMLError) and nvml_code(exc) == nvml.NVML_ERROR_GPU_IS_LOST:
            g.lost = True
            self._log.warning(
                "wattwatch: GPU %d (%s) fell off the bus; its energy stops here",
                g.device.index,
                g.device.uuid,
            )
            return
        self._once(g, repr(exc), "wattwatch: reading GPU %d failed: %r", g.device.index, exc)

    def _once(self, g: _Gpu, key: str, msg: str, *args: object) -> None:
        if key not in g.logged:
            g.logged.add(key)
            self._log.warning(msg, *args)


# ---------------------------------------------------------------------------------------------- helpers


def _counted(g: _Gpu, raw: int, at: float, log: logging.Logger) -> Reading | None:
    """The cumulative joules of ``g``'s counter reading ``raw`` (mJ) taken at ``at``: restarts stitched on
    (with a warning), implausible steps dropped (``None``: a gap; warned once per GPU)."""
    counter = g.counter
    if counter.last_raw is None:
        counter.cumulative_j = raw / 1000.0  # the counter's own value: joules since the driver loaded
    resets = counter.resets
    joules = counter.update(raw, at)
    if joules is None:
        if "implausible" not in g.logged:
            g.logged.add("implausible")
            limit = f"{g.power_limit_w:g}" if g.power_limit_w else "assumed"
            log.warning("wattwatch: GPU %d energy counter jumped by more than %.0f W could draw (3 x its %s W "
                        "limit); dropping such readings as gaps", g.device.index, counter.limit_w, limit)  # fmt: skip
        return None
    if counter.resets > resets:
        g.resets += 1
        log.warning("wattwatch: GPU %d energy counter went back (to %d mJ); assuming a restart from 0", g.device.index, raw)
    return Reading(joules, ENERGY, at)


def _describe(g: _Gpu, driver_version: str) -> ChannelInfo:
    """One GPU's channel: its identity, power limit and path, the share rule and notes."""
    d = g.device
    details: dict[str, object] = {
        "index": d.index,
        "uuid": d.uuid,
        "name": d.name,
        "pci_bus_id": d.pci_bus_id,
        "power_limit_w": g.power_limit_w,
        "implausible_above_w": g.counter.limit_w,
        "power_source": g.source,
        "driver_version": driver_version,
        "mig_parent": d.uuid if g.mig_requested else None,
        "mig_devices": list(g.mig_requested),
    }
    if g.mig_requested:
        details["mig_note"] = (
            "NVML meters the whole GPU, not a MIG slice: this is the parent's energy"
            if g.share.rule != MIG_SHARE
            else "the parent's energy x the instances' share of its slices (an estimate)"
        )
    if g.source == AVERAGE:
        details["power_note"] = _AVERAGE_NOTE
    if g.method_changed_from is not None:
        details["method_changed_from"] = g.method_changed_from
    if g.resets:
        details["counter_resets"] = g.resets
    if g.counter.glitches:
        details["counter_glitches"] = g.counter.glitches
    method = "counter" if g.source == COUNTER else "power-integral"
    details.update(g.share.details)
    details["slice"] = {PROCESS_SHARE: "gpu-process-share", MIG_SHARE: "mig-slice-share"}.get(
        g.share.rule or "", "whole-gpu"
    )
    if g.share.rule is not None:
        details["share_of"] = method
        method = g.share.rule
    return ChannelInfo(g.channel, "gpu", method, model=d.name, details=details)
