"""Loading ROCm's ``amdsmi`` binding for :class:`~wattwatch.sensors.amd.AmdSmiSensor`, and decoding its values.

:func:`load_amdsmi` imports the binding (optionally re-bound to one ``libamd_smi.so``) and calls ``amdsmi_init``;
when that is impossible it raises :class:`AmdSmiUnavailable` with the reason the sensor logs. The small decoders
turn amdsmi's answers (``"N/A"`` strings, all-ones sentinels, bytes) into ``str`` / ``float`` / ``int`` or
``None``. Power values are watts, energy counters count units of ``counter_resolution`` microjoules.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeAlias

__all__ = [
    "AVERAGE",
    "CURRENT",
    "NA_VALUES",
    "POWER_FIELDS",
    "SOCKET",
    "AmdSmiUnavailable",
    "ProcessorHandle",
    "as_int",
    "as_number",
    "as_text",
    "describe_error",
    "info_of",
    "load_amdsmi",
    "optional_call",
]

ProcessorHandle: TypeAlias = object
"""amdsmi's opaque processor handle (a ctypes pointer): wattwatch only passes it back to amdsmi."""

CURRENT = "current"
AVERAGE = "average"
SOCKET = "socket"
POWER_FIELDS = {CURRENT: "current_socket_power", AVERAGE: "average_socket_power", SOCKET: "socket_power"}
"""``amdsmi_get_power_info``'s power fields (W), by the short name ``describe()`` reports as ``power_source``."""

NA_VALUES = {0xFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF}
"""The all-ones sentinels amdsmi returns for a value the board does not report."""


class AmdSmiUnavailable(Exception):
    """The binding, its library or ``amdsmi_init`` is missing; ``str()`` is the reason, for one INFO line."""


def load_amdsmi(library_path: str | os.PathLike[str] | None) -> ModuleType:
    """Import amdsmi (bound to ``library_path`` when given) and ``amdsmi_init`` it for GPUs.

    Raises:
        AmdSmiUnavailable: the file, the binding or the library cannot be loaded, or ``amdsmi_init`` failed.
    """
    path = os.fspath(library_path) if library_path is not None else None
    if path is not None:
        try:
            # Registers the soname, so the binding's own ``CDLL("libamd_smi.so")`` finds this file.
            ctypes.CDLL(path, mode=getattr(ctypes, "RTLD_GLOBAL", 0))
        except OSError as exc:
            raise AmdSmiUnavailable(f"cannot load {path!r} ({exc})") from exc
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):  # the binding prints when it cannot find its library
            import amdsmi
    except ImportError as exc:
        if getattr(exc, "name", None) == "amdsmi":
            raise AmdSmiUnavailable("the amdsmi package is not installed (pip install amdsmi: wattwatch's [amd] extra)") from exc
        raise AmdSmiUnavailable(f"amdsmi failed to import ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - KeyError('libamd_smi.so') when no library was found
        said = " ".join(printed.getvalue().split())
        raise AmdSmiUnavailable(
            "libamd_smi.so not found (install ROCm's amd-smi-lib, or set ROCM_PATH to the ROCm folder)"
            + (f": {said}" if said else f" ({exc!r})")
        ) from exc
    if path is not None:
        try:
            _bind_library(amdsmi.amdsmi_wrapper, path)
        except (OSError, AttributeError) as exc:
            raise AmdSmiUnavailable(f"cannot bind amdsmi to {path!r} ({exc})") from exc
    try:
        amdsmi.amdsmi_init(amdsmi.AmdSmiInitFlags.INIT_AMD_GPUS)
    except Exception as exc:  # noqa: BLE001 - AmdSmiLibraryException, or a library missing symbols
        raise AmdSmiUnavailable(f"amdsmi_init failed ({describe_error(exc)})") from exc
    return amdsmi


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


def optional_call(fn: Callable[..., object] | None, *args: object) -> object:
    """``fn(*args)``, or ``None`` when ``fn`` is missing (an older binding) or raises (optional facts)."""
    if fn is None:
        return None
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001
        return None


def info_of(fn: Callable[..., object] | None, handle: ProcessorHandle) -> dict[str, Any]:
    """An amdsmi info dict (``fn(handle)``), or ``{}`` when the call is missing, fails or answers nothing."""
    info = optional_call(fn, handle)
    return info if isinstance(info, dict) else {}


def describe_error(exc: BaseException) -> str:
    """``amdsmi status <code>: <info>`` for the binding's exceptions, else ``repr(exc)``."""
    code = getattr(exc, "err_code", None)
    info = getattr(exc, "err_info", None)
    if code is not None:
        return f"amdsmi status {code}: {info}" if info else f"amdsmi status {code}"
    return repr(exc)


def as_text(value: object) -> str:
    """A string fact, ``""`` for ``None`` and amdsmi's ``"N/A"``."""
    if value is None:
        return ""
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return "" if text.strip() in ("N/A", "") else text.strip()


def as_number(value: object) -> float | None:
    """A numeric reading, or ``None`` for amdsmi's "N/A" and its sentinel values."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and value in NA_VALUES:
        return None
    return float(value)


def as_int(value: object) -> int | None:
    """:func:`as_number`, truncated to an int."""
    number = as_number(value)
    return int(number) if number is not None else None
