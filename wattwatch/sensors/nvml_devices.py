"""NVIDIA GPUs as NVML lists them, and which of them a process measures, for
:class:`~wattwatch.sensors.nvml.NvmlSensor`.

:func:`load_nvml` imports ``pynvml`` (optionally re-pointed at one ``libnvidia-ml`` file) and runs ``nvmlInit``;
when that is impossible it raises :class:`NvmlUnavailable` with the reason the sensor logs.
:func:`enumerate_devices` learns each GPU's identity and its MIG instances; :func:`select_devices` applies
``gpu_ids`` (NVML indices, ``GPU-...`` UUIDs or unique prefixes, ``MIG-...`` ids meaning their parent GPU) or else
``CUDA_VISIBLE_DEVICES`` with CUDA's rules (an entry that matches nothing ends the list).
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from pathlib import Path
from types import ModuleType

from wattwatch.sensors.gpu_common import gpu_id_tokens, split_visible
from wattwatch.sensors.gpu_share import NvmlHandle
from wattwatch.util.records import record

__all__ = [
    "energy_reader",
    "instant_w",
    "NvmlDevice",
    "NvmlSelection",
    "NvmlUnavailable",
    "enumerate_devices",
    "load_nvml",
    "parse_visible_devices",
    "select_devices",
    "text",
]

_LINUX_LIBRARY = "libnvidia-ml.so.1"
"""The file pynvml loads on Linux (by the dynamic linker's search) when no library is named."""


class NvmlUnavailable(Exception):
    """pynvml, the library or ``nvmlInit`` is missing; ``str()`` is the reason. ``failed``: NVIDIA's library is
    there (a driver is installed) but could not be used -- a WARNING, since the run will count no GPU energy
    on a machine that has GPUs; without the library (a host with no NVIDIA driver) one INFO line."""

    def __init__(self, reason: str, *, failed: bool = True) -> None:
        super().__init__(reason)
        self.failed = failed


@record
class NvmlDevice:
    """What enumeration learns about one physical GPU."""

    index: int
    handle: NvmlHandle
    uuid: str
    name: str
    pci_bus_id: str
    mig_uuids: list[str] = field(default_factory=list)
    mig_handles: dict[str, NvmlHandle] = field(default_factory=dict)


@record
class NvmlSelection:
    """The GPUs to measure, each with the MIG ids that selected it, and why there are none when empty."""

    chosen: list[tuple[NvmlDevice, list[str]]]
    empty_reason: str | None = None
    hidden: bool = False
    """``CUDA_VISIBLE_DEVICES`` hides every GPU there is (said as a WARNING)."""


def text(value: object) -> str:
    """NVML's bytes or str as str."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def parse_visible_devices(value: str) -> list[str]:
    """Split a ``CUDA_VISIBLE_DEVICES`` value into stripped entries (``""`` -> ``[]``): :func:`split_visible`."""
    return split_visible(value)


def load_nvml(library_path: str | os.PathLike[str] | None) -> ModuleType:
    """Import pynvml, load the library (exactly ``library_path`` when given) and ``nvmlInit``.

    Raises:
        NvmlUnavailable: pynvml is not installed, the file cannot be loaded, or ``nvmlInit`` failed.
    """
    lib: ctypes.CDLL | None = None
    if library_path is not None:
        path = os.fspath(Path(library_path))
        loaded = sys.modules.get("pynvml")
        if loaded is None or getattr(loaded.nvmlLib, "_name", None) != path:
            try:
                lib = ctypes.CDLL(path)
            except OSError as exc:
                raise NvmlUnavailable(f"cannot load NVML library {path!r} ({exc})") from None
    elif getattr(sys.modules.get("pynvml"), "nvmlLib", None) is None and sys.platform.startswith("linux"):
        # pynvml loads exactly this name on Linux; without it there is no NVIDIA driver, and importing pynvml
        # (~10 ms: hundreds of ctypes structures, ctypes.util, subprocess) would buy nothing. Also when another
        # library (CodeCarbon) imported pynvml first but it has loaded no library yet: still no driver, not a fault.
        try:
            ctypes.CDLL(_LINUX_LIBRARY)
        except OSError:
            raise NvmlUnavailable(
                f"NVML Shared Library Not Found ({_LINUX_LIBRARY}: no NVIDIA driver)", failed=False
            ) from None
    try:
        import pynvml
    except ImportError:
        raise NvmlUnavailable("pynvml is not installed (pip install nvidia-ml-py)") from None
    if lib is not None:  # pynvml keeps one module-level library and caches function pointers looked up in it
        with pynvml.libLoadLock:
            pynvml.nvmlLib = lib
            pynvml._nvmlGetFunctionPointer_cache.clear()
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        if library_path is None and getattr(exc, "value", None) == getattr(pynvml, "NVML_ERROR_LIBRARY_NOT_FOUND", -1):
            raise NvmlUnavailable("NVML Shared Library Not Found (no NVIDIA driver)", failed=False) from None
        raise NvmlUnavailable(f"nvmlInit failed ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - e.g. a library without the expected symbols
        raise NvmlUnavailable(f"nvmlInit failed ({exc!r})") from None
    return pynvml


def enumerate_devices(nvml: ModuleType, log: logging.Logger) -> list[NvmlDevice]:
    """Every GPU NVML lists, in NVML order; one it cannot name is skipped with a warning on ``log``. A failure
    to count them raises ``nvml.NVMLError``."""
    devices: list[NvmlDevice] = []
    for index in range(nvml.nvmlDeviceGetCount()):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            uuid = text(nvml.nvmlDeviceGetUUID(handle))
            name = text(nvml.nvmlDeviceGetName(handle))
        except nvml.NVMLError as exc:
            log.warning("wattwatch: skipping GPU %d: %s", index, exc)
            continue
        pci = ""
        try:
            pci = text(nvml.nvmlDeviceGetPciInfo(handle).busId)
        except nvml.NVMLError:
            pass
        mig = _mig_devices(nvml, handle)
        devices.append(NvmlDevice(index, handle, uuid, name, pci, list(mig), mig))
    return devices


def _mig_devices(nvml: ModuleType, handle: NvmlHandle) -> dict[str, NvmlHandle]:
    """``MIG uuid -> MIG handle`` of a GPU in MIG mode (``{}`` otherwise)."""
    try:
        if nvml.nvmlDeviceGetMigMode(handle)[0] != nvml.NVML_DEVICE_MIG_ENABLE:
            return {}
        count = nvml.nvmlDeviceGetMaxMigDeviceCount(handle)
    except nvml.NVMLError:
        return {}
    found: dict[str, NvmlHandle] = {}
    for i in range(count):
        try:
            mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, i)
            found[text(nvml.nvmlDeviceGetUUID(mig))] = mig
        except nvml.NVMLError:
            continue
    return found


def select_devices(
    devices: list[NvmlDevice],
    gpu_ids: Sequence[int | str] | str | int | None,
    environ: Mapping[str, str],
    log: logging.Logger,
) -> NvmlSelection:
    """The devices to measure, each with the MIG ids that selected it: ``gpu_ids``, else
    ``CUDA_VISIBLE_DEVICES`` in ``environ`` (an unmatched entry ends the list, logged on ``log``), else all.

    Raises:
        ValueError: a ``gpu_ids`` entry matches no GPU (the message lists the GPUs there are).
    """
    if gpu_ids is not None:
        tokens = gpu_id_tokens(gpu_ids)
        strict = True
    elif "CUDA_VISIBLE_DEVICES" in environ:
        tokens = parse_visible_devices(environ["CUDA_VISIBLE_DEVICES"])
        strict = False
    else:
        return NvmlSelection([(d, []) for d in devices])

    empty_reason: str | None = None
    chosen: dict[int, tuple[NvmlDevice, list[str]]] = {}
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
                log.info(
                    "wattwatch: CUDA_VISIBLE_DEVICES entry %r matches no GPU; like CUDA, ignoring it "
                    "and the entries after it (GPUs here: %s)",
                    token,
                    _listing(devices),
                )
            if not chosen:
                empty_reason = _hidden(environ["CUDA_VISIBLE_DEVICES"], devices)
            break
        entry = chosen.setdefault(device.index, (device, []))
        if token.upper().startswith("MIG-"):
            entry[1].append(token)
    if not tokens:
        empty_reason = "gpu_ids is empty" if strict else _hidden(environ["CUDA_VISIBLE_DEVICES"], devices)
    return NvmlSelection(list(chosen.values()), empty_reason, hidden=not strict and not chosen and bool(devices))


def _hidden(value: str, devices: list[NvmlDevice]) -> str:
    """Why no GPU is measured when ``CUDA_VISIBLE_DEVICES`` hides them all (what to do about it included)."""
    return (
        f"CUDA_VISIBLE_DEVICES={value!r} hides every GPU this machine has ({len(devices)}: {_listing(devices)}); "
        "no GPU energy is measured -- unset it (or pass gpu_ids=) if this run uses them"
    )


def _unique(matches: list[NvmlDevice]) -> NvmlDevice | None:
    distinct = {d.index: d for d in matches}
    return next(iter(distinct.values())) if len(distinct) == 1 else None


def _resolve(token: str, devices: list[NvmlDevice]) -> NvmlDevice | None:
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


def _listing(devices: list[NvmlDevice]) -> str:
    if not devices:
        return "none"
    return ", ".join(f"{d.index} ({d.uuid}, {d.name})" for d in devices)


def energy_reader(nvml: ModuleType) -> Callable[[NvmlHandle], int]:
    """``nvmlDeviceGetTotalEnergyConsumption(handle)`` in mJ, as pynvml answers it (raising its ``NVMLError``),
    without pynvml's per-call wrapper: the function pointer is looked up once and the result buffer reused (one
    reader at a time: the sampler's lock), instead of three Python calls and a new ctypes buffer per GPU per
    tick. pynvml without the private look-up: its public function."""
    import ctypes  # pynvml has loaded it already

    public: Callable[[NvmlHandle], int] = nvml.nvmlDeviceGetTotalEnergyConsumption
    try:
        fn = nvml._nvmlGetFunctionPointer("nvmlDeviceGetTotalEnergyConsumption")
        buffer = ctypes.c_uint64()
        ref = ctypes.byref(buffer)
        error, success = nvml.NVMLError, nvml.NVML_SUCCESS
    except Exception:  # noqa: BLE001 - another pynvml: its public function is the contract
        return lambda handle: int(public(handle))

    def read(handle: NvmlHandle) -> int:
        ret = fn(handle, ref)
        if ret != success:
            raise error(ret)
        return buffer.value

    return read


def instant_w(nvml: ModuleType, handle: NvmlHandle) -> float:
    """``NVML_FI_DEV_POWER_INSTANT`` in watts; raises the field's own NVMLError when unsupported."""
    value = nvml.nvmlDeviceGetFieldValues(handle, [nvml.NVML_FI_DEV_POWER_INSTANT])[0]
    if value.nvmlReturn != nvml.NVML_SUCCESS:
        raise nvml.NVMLError(value.nvmlReturn)
    attr = _VALUE_ATTR.get(value.valueType, "uiVal")
    return float(getattr(value.value, attr)) / 1000.0


_VALUE_ATTR = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}
