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

import ctypes
import logging
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from wattwatch.sensors.base import ENERGY, POWER, ChannelInfo, Reading
from wattwatch.sensors.gpu_share import ProcessSplitter, mig_slice_fraction, process_tree_pids

__all__ = ["NvmlSensor", "parse_visible_devices"]

_LOG = logging.getLogger(__name__)

COUNTER = "counter"
INSTANT = "instant"
AVERAGE = "average"
PROCESS_SHARE = "estimate:gpu-process-share"
MIG_SHARE = "estimate:mig-slice-share"
_PID_REFRESH_S = 1.0
_SAMPLES_REFRESH_S = 0.5
"""Per-process samples are queried at most this often: the driver samples utilisation every 1/6 to 1 s, so a
faster query finds no new sample, which must not read as "nothing ran" (the power path reads every 20 ms)."""
_SAMPLES_CARRY_S = 2.0
"""A query that finds no new sample reuses the last non-empty weights this long (the driver's period may be a
second or more); past it, no sample means nothing ran and the compute processes share evenly."""

_AVERAGE_NOTE = (
    "nvmlDeviceGetPowerUsage is a 1 s trailing average on Ampere and newer boards: integrating it "
    "smooths short peaks and lags the true power by about 0.5 s"
)


@dataclass
class _Device:
    """What enumeration learns about one physical GPU."""

    index: int
    handle: Any
    uuid: str
    name: str
    pci_bus_id: str
    mig_uuids: list[str] = field(default_factory=list)
    mig_handles: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Gpu:
    """Per-channel read state."""

    device: _Device
    channel: str
    source: str
    power_limit_w: float | None
    mig_requested: list[str] = field(default_factory=list)
    offset_mj: int = 0
    last_raw_mj: int = -1
    resets: int = 0
    lost: bool = False
    method_changed_from: str | None = None
    logged: set[str] = field(default_factory=set)
    share: str | None = None
    """``PROCESS_SHARE``, ``MIG_SHARE`` or ``None`` (the whole board)."""
    share_details: dict[str, object] = field(default_factory=dict)
    fraction: float = 1.0
    splitter: ProcessSplitter | None = None
    last_device_j: float | None = None
    share_j: float = 0.0
    saw_our_pid: bool = False
    samples_at: float = -float("inf")
    weights: dict[int, float] = field(default_factory=dict)
    running: set[int] = field(default_factory=set)
    weights_seen_at: float = -float("inf")


def parse_visible_devices(value: str) -> list[str]:
    """Split a ``CUDA_VISIBLE_DEVICES`` value into stripped entries (``""`` -> ``[]``)."""
    return [part.strip() for part in value.split(",")] if value.strip() else []


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
    ) -> None:
        self._log = logger or _LOG
        self._share = share
        self._pids_fn = pids or process_tree_pids()
        self._pids: frozenset[int] = frozenset()
        self._pids_at = -float("inf")
        self._environ = os.environ if environ is None else environ
        self._prefer_instant = prefer_instant
        self._nvml: ModuleType | None = None
        self._lib: object = None
        """The library this sensor's ``nvmlInit`` ran in (``pynvml.nvmlLib`` then)."""
        self._gpus: list[_Gpu] = []
        self.driver_version: str = ""
        self.unavailable_reason: str | None = None
        """Why there are no channels, when there are none (else ``None``)."""

        nvml = self._start(library_path)
        if nvml is None:
            return
        try:
            self.driver_version = _text(nvml.nvmlSystemGetDriverVersion())
        except Exception:  # noqa: BLE001 - informative only
            self.driver_version = ""
        try:
            devices = self._enumerate(nvml)
        except nvml.NVMLError as exc:
            self._unavailable(f"NVML could not list GPUs ({exc})")
            return
        chosen = self._select(devices, gpu_ids)
        for device, mig_ids in chosen:
            gpu = self._prepare(nvml, device, mig_ids)
            if gpu is not None:
                self._gpus.append(gpu)
        if not self._gpus:
            self._unavailable(self.unavailable_reason or "no NVIDIA GPU to measure")

    # ------------------------------------------------------------------------------------------ setup

    def _unavailable(self, reason: str) -> None:
        self.unavailable_reason = reason
        self._log.info("wattwatch: no GPU energy: %s", reason)
        self.close()

    def _start(self, library_path: str | os.PathLike[str] | None) -> ModuleType | None:
        """Import pynvml, load the library and ``nvmlInit``; ``None`` (logged) when impossible."""
        try:
            import pynvml
        except ImportError:
            self._unavailable("pynvml is not installed (pip install nvidia-ml-py)")
            return None
        if library_path is not None:
            path = os.fspath(Path(library_path))
            current = pynvml.nvmlLib
            if current is None or getattr(current, "_name", None) != path:
                try:
                    lib = ctypes.CDLL(path)
                except OSError as exc:
                    self._unavailable(f"cannot load NVML library {path!r} ({exc})")
                    return None
                # pynvml keeps one module-level library and caches function pointers looked up in it.
                with pynvml.libLoadLock:
                    pynvml.nvmlLib = lib
                    pynvml._nvmlGetFunctionPointer_cache.clear()
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            self._unavailable(f"nvmlInit failed ({exc})")
            return None
        except Exception as exc:  # noqa: BLE001 - e.g. a library without the expected symbols
            self._unavailable(f"nvmlInit failed ({exc!r})")
            return None
        self._nvml = pynvml
        self._lib = pynvml.nvmlLib
        return pynvml

    def _enumerate(self, nvml: ModuleType) -> list[_Device]:
        devices: list[_Device] = []
        for index in range(nvml.nvmlDeviceGetCount()):
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                uuid = _text(nvml.nvmlDeviceGetUUID(handle))
                name = _text(nvml.nvmlDeviceGetName(handle))
            except nvml.NVMLError as exc:
                self._log.warning("wattwatch: skipping GPU %d: %s", index, exc)
                continue
            pci = ""
            try:
                pci = _text(nvml.nvmlDeviceGetPciInfo(handle).busId)
            except nvml.NVMLError:
                pass
            mig = _mig_devices(nvml, handle)
            devices.append(_Device(index, handle, uuid, name, pci, list(mig), mig))
        return devices

    def _select(
        self, devices: list[_Device], gpu_ids: Sequence[int | str] | str | int | None
    ) -> list[tuple[_Device, list[str]]]:
        """The devices to measure, each with the MIG ids that selected it."""
        if gpu_ids is not None:
            if isinstance(gpu_ids, int):
                tokens = [str(gpu_ids)]
            elif isinstance(gpu_ids, str):
                tokens = parse_visible_devices(gpu_ids)
            else:
                tokens = [str(t).strip() for t in gpu_ids]
            strict = True
        elif "CUDA_VISIBLE_DEVICES" in self._environ:
            tokens = parse_visible_devices(self._environ["CUDA_VISIBLE_DEVICES"])
            strict = False
        else:
            return [(d, []) for d in devices]

        chosen: dict[int, tuple[_Device, list[str]]] = {}
        for token in tokens:
            device = _resolve(token, devices)
            if device is None:
                if strict:
                    raise ValueError(
                        f"gpu_ids entry {token!r} matches no GPU. GPUs here: {_listing(devices)}. "
                        "Pass NVML indices, GPU-... UUIDs (or unique prefixes) or MIG-... ids."
                    )
                # CUDA stops at the first entry it cannot match and ignores the rest.
                if token != "-1":
                    self._log.info(
                        "wattwatch: CUDA_VISIBLE_DEVICES entry %r matches no GPU; like CUDA, ignoring it "
                        "and the entries after it (GPUs here: %s)",
                        token,
                        _listing(devices),
                    )
                if not chosen:
                    self.unavailable_reason = "CUDA_VISIBLE_DEVICES selects no GPU"
                break
            entry = chosen.setdefault(device.index, (device, []))
            if token.upper().startswith("MIG-"):
                entry[1].append(token)
        if not tokens:
            self.unavailable_reason = "gpu_ids is empty" if strict else "CUDA_VISIBLE_DEVICES is empty"
        return list(chosen.values())

    def _prepare(self, nvml: ModuleType, device: _Device, mig_ids: list[str]) -> _Gpu | None:
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
        if self._share:
            self._prepare_share(nvml, gpu)
        return gpu

    def _prepare_share(self, nvml: ModuleType, g: _Gpu) -> None:
        """Pick the share rule for ``g`` (MIG slices or process samples), or leave the whole board, logged."""
        d = g.device
        if g.mig_requested:
            wanted = [r.lower() for r in g.mig_requested]
            handles = [h for m, h in d.mig_handles.items() if any(m.lower().startswith(w) for w in wanted)]
            found = mig_slice_fraction(nvml, d.handle, handles) if handles else None
            if found is None:
                g.share_details = {
                    "share_unavailable": "NVML gave no MIG slice counts; the parent's whole energy"
                }
                self._log.warning(
                    "wattwatch: GPU %d: MIG slice counts unavailable; charging the whole GPU", d.index
                )
                return
            g.share, g.fraction = MIG_SHARE, found[0]
            g.share_details = {
                "mig_slices": found[1],
                "parent_slices": found[2],
                "fraction": round(found[0], 6),
            }
            return
        problems = []
        for query in (
            lambda: nvml.nvmlDeviceGetProcessUtilization(d.handle, 0),
            lambda: nvml.nvmlDeviceGetComputeRunningProcesses(d.handle),
        ):
            try:
                query()
            except nvml.NVMLError as exc:
                if _code(exc) != nvml.NVML_ERROR_NOT_FOUND:
                    problems.append(str(exc))
        if len(problems) == 2:
            g.share_details = {"share_unavailable": "; ".join(problems)}
            self._log.warning(
                "wattwatch: GPU %d answers no per-process query (%s); charging the whole GPU",
                d.index,
                "; ".join(problems),
            )
            return
        g.share, g.splitter = PROCESS_SHARE, ProcessSplitter()
        g.share_details = {
            "share_rule": "SM utilisation samples; even split among compute processes when none"
        }

    def _power_source(self, nvml: ModuleType, handle: Any) -> str | None:
        if self._prefer_instant:
            try:
                _instant_w(nvml, handle)
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
        infos = []
        for g in self._gpus:
            d = g.device
            details: dict[str, object] = {
                "index": d.index,
                "uuid": d.uuid,
                "name": d.name,
                "pci_bus_id": d.pci_bus_id,
                "power_limit_w": g.power_limit_w,
                "power_source": g.source,
                "driver_version": self.driver_version,
                "mig_parent": d.uuid if g.mig_requested else None,
                "mig_devices": list(g.mig_requested),
            }
            if g.mig_requested:
                details["mig_note"] = (
                    "NVML meters the whole GPU, not a MIG slice: this is the parent's energy"
                    if g.share != MIG_SHARE
                    else "the parent's energy x the instances' share of its slices (an estimate)"
                )
            if g.source == AVERAGE:
                details["power_note"] = _AVERAGE_NOTE
            if g.method_changed_from is not None:
                details["method_changed_from"] = g.method_changed_from
            if g.resets:
                details["counter_resets"] = g.resets
            method = "counter" if g.source == COUNTER else "power-integral"
            details.update(g.share_details)
            details["slice"] = {PROCESS_SHARE: "gpu-process-share", MIG_SHARE: "mig-slice-share"}.get(
                g.share or "", "whole-gpu"
            )
            if g.share is not None:
                details["share_of"] = method
                method = g.share
            infos.append(ChannelInfo(g.channel, "gpu", method, model=d.name, details=details))
        return infos

    def read(self, t: float) -> dict[str, Reading]:
        """Cumulative joules (counter) or watts (power) per live GPU; never raises. ``t`` is unused."""
        nvml = self._nvml
        if nvml is None:
            return {}
        out: dict[str, Reading] = {}
        for g in self._gpus:
            if g.lost:
                continue
            try:
                reading = self._read_one(nvml, g)
                out[g.channel] = reading if g.share is None else self._share_reading(nvml, g, reading)
            except Exception as exc:  # noqa: BLE001 - a sensor fault must never reach user code
                self._on_error(nvml, g, exc)
        return out

    def process_energy_j(self, channel: str) -> dict[int, float]:
        """Joules of ``channel``'s board attributed to each PID so far (process share only; else ``{}``)."""
        for g in self._gpus:
            if g.channel == channel and g.splitter is not None:
                return dict(g.splitter.attributed_j)
        return {}

    def _our_pids(self) -> frozenset[int]:
        now = time.monotonic()
        if now - self._pids_at >= _PID_REFRESH_S:
            self._pids, self._pids_at = frozenset(self._pids_fn()), now
        return self._pids

    def _share_reading(self, nvml: ModuleType, g: _Gpu, reading: Reading) -> Reading:
        if g.share == MIG_SHARE:
            return Reading(reading.value * g.fraction, reading.kind)
        assert g.splitter is not None
        now = time.monotonic()
        if now - g.samples_at >= _SAMPLES_REFRESH_S:
            weights, g.running = self._process_samples(nvml, g)
            if weights:
                g.weights, g.weights_seen_at = weights, now
            elif now - g.weights_seen_at > _SAMPLES_CARRY_S:
                g.weights = {}
            g.samples_at = now
        weights, running = g.weights, g.running
        ours = self._our_pids()
        if ours & (set(weights) | set(running)):
            g.saw_our_pid = True
        elif weights and not g.saw_our_pid:
            self._once(
                g,
                "no-own-pid",
                "wattwatch: GPU %d is busy but none of this run's processes is on it (pids %s; in a container "
                "without the host PID namespace NVML's pids differ); its share reads 0",
                g.device.index,
                sorted(ours)[:8],
            )
        if reading.kind == ENERGY:
            if g.last_device_j is None:
                g.last_device_j = reading.value
                return Reading(g.share_j, ENERGY)
            delta = max(0.0, reading.value - g.last_device_j)
            g.last_device_j = reading.value
            split = g.splitter.add(delta, weights, running)
            g.share_j += sum(split.get(pid, 0.0) for pid in ours)
            return Reading(g.share_j, ENERGY)
        return Reading(reading.value * g.splitter.share_of(ours, weights, running), POWER)

    def _process_samples(self, nvml: ModuleType, g: _Gpu) -> tuple[dict[int, float], set[int]]:
        """SM utilisation summed per PID over the samples since the last read, and the compute PIDs now."""
        assert g.splitter is not None
        weights: dict[int, float] = {}
        try:
            samples = nvml.nvmlDeviceGetProcessUtilization(g.device.handle, g.splitter.last_seen_us)
        except nvml.NVMLError as exc:
            if _code(exc) != nvml.NVML_ERROR_NOT_FOUND:  # NOT_FOUND: no sample since the last read
                self._once(
                    g,
                    "util:" + str(exc),
                    "wattwatch: GPU %d per-process utilisation: %s",
                    g.device.index,
                    exc,
                )
            samples = []
        for sample in samples:
            weights[int(sample.pid)] = weights.get(int(sample.pid), 0.0) + float(sample.smUtil)
            g.splitter.last_seen_us = max(g.splitter.last_seen_us, int(sample.timeStamp))
        try:
            running = {int(p.pid) for p in nvml.nvmlDeviceGetComputeRunningProcesses(g.device.handle)}
        except nvml.NVMLError as exc:
            self._once(g, "procs:" + str(exc), "wattwatch: GPU %d compute processes: %s", g.device.index, exc)
            running = set()
        return weights, running

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

    def _read_one(self, nvml: ModuleType, g: _Gpu) -> Reading:
        if g.source == COUNTER:
            try:
                raw = int(nvml.nvmlDeviceGetTotalEnergyConsumption(g.device.handle))
            except nvml.NVMLError as exc:
                if _code(exc) != nvml.NVML_ERROR_NOT_SUPPORTED:
                    raise
                self._counter_lost(nvml, g)
                return self._read_one(nvml, g)
            if raw < g.last_raw_mj:
                # Driver reload: the counter restarted from 0. Keep the total non-decreasing.
                g.offset_mj += g.last_raw_mj
                g.resets += 1
                self._log.warning(
                    "wattwatch: GPU %d energy counter went back (%d -> %d mJ); assuming a restart from 0",
                    g.device.index,
                    g.last_raw_mj,
                    raw,
                )
            g.last_raw_mj = raw
            return Reading((g.offset_mj + raw) / 1000.0, ENERGY)
        if g.source == INSTANT:
            try:
                return Reading(_instant_w(nvml, g.device.handle), POWER)
            except nvml.NVMLError as exc:
                if _code(exc) != nvml.NVML_ERROR_NOT_SUPPORTED:
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
        if isinstance(exc, nvml.NVMLError) and _code(exc) == nvml.NVML_ERROR_GPU_IS_LOST:
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


def _code(exc: BaseException) -> int | None:
    """The nvmlReturn_t inside a pynvml ``NVMLError``."""
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _instant_w(nvml: ModuleType, handle: Any) -> float:
    """``NVML_FI_DEV_POWER_INSTANT`` in watts; raises the field's own NVMLError when unsupported."""
    value = nvml.nvmlDeviceGetFieldValues(handle, [nvml.NVML_FI_DEV_POWER_INSTANT])[0]
    if value.nvmlReturn != nvml.NVML_SUCCESS:
        raise nvml.NVMLError(value.nvmlReturn)
    attr = _VALUE_ATTR.get(value.valueType, "uiVal")
    return float(getattr(value.value, attr)) / 1000.0


_VALUE_ATTR = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}


def _mig_devices(nvml: ModuleType, handle: Any) -> dict[str, Any]:
    """``MIG uuid -> MIG handle`` of a GPU in MIG mode (``{}`` otherwise)."""
    try:
        if nvml.nvmlDeviceGetMigMode(handle)[0] != nvml.NVML_DEVICE_MIG_ENABLE:
            return {}
        count = nvml.nvmlDeviceGetMaxMigDeviceCount(handle)
    except nvml.NVMLError:
        return {}
    found: dict[str, Any] = {}
    for i in range(count):
        try:
            mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, i)
            found[_text(nvml.nvmlDeviceGetUUID(mig))] = mig
        except nvml.NVMLError:
            continue
    return found


def _unique(matches: list[_Device]) -> _Device | None:
    distinct = {d.index: d for d in matches}
    return next(iter(distinct.values())) if len(distinct) == 1 else None


def _resolve(token: str, devices: list[_Device]) -> _Device | None:
    """The device an index / UUID (prefix) / MIG id names, or None (no match or ambiguous)."""
    if token.lstrip("+").isdigit():
        index = int(token)
        return next((d for d in devices if d.index == index), None)
    low = token.lower()
    if low.startswith("mig-gpu-"):  # legacy MIG-GPU-<uuid>/<gi>/<ci>
        parent = low[4:].split("/")[0]
        return _unique([d for d in devices if d.uuid.lower() == parent])
    if low.startswith("mig-"):
        exact = [d for d in devices if any(m.lower() == low for m in d.mig_uuids)]
        return _unique(exact or [d for d in devices if any(m.lower().startswith(low) for m in d.mig_uuids)])
    if low.startswith("gpu-"):
        exact = [d for d in devices if d.uuid.lower() == low]
        return _unique(exact or [d for d in devices if d.uuid.lower().startswith(low)])
    return None


def _listing(devices: list[_Device]) -> str:
    if not devices:
        return "none"
    return ", ".join(f"{d.index} ({d.uuid}, {d.name})" for d in devices)
