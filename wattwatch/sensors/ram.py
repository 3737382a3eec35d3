"""RAM power modelled from memory in use.

Model: ``P = WATTS_PER_GIB * GiB in use``, with ``WATTS_PER_GIB = 0.375`` -- CodeCarbon's long-standing figure
of 3 W per 8 GB of DDR3/DDR4 (``codecarbon/external/ram.py``: "3 watts of power for every 8GB of DDR3 or DDR4
memory"), expressed per GiB (2**30 bytes, as DIMM sizes are).

Why memory *in use* and not installed memory: DRAM's background power (refresh, idle DIMMs) is part of the
machine's idle power, whoever runs on it. Charging installed memory would bill a 2 TiB host 768 W for a job that
touches 16 GiB; charging what is in use bills 6 W. Machine mode uses ``total - available`` from
``psutil.virtual_memory()`` (page cache that can be reclaimed is not "in use"); process mode the summed RSS of
the process tree (shared pages are counted once per process, an upper bound).

In a container that limits memory (``cgroup`` given, machine mode) memory in use is the cgroup's:
``memory.current`` (v1 ``memory.usage_in_bytes``) less its inactive page cache, see
:mod:`wattwatch.sensors.cgroup`.

Readings are kind ``power_w`` with method ``model:ram-0.375w-per-gib/<attribution>`` (the figure follows
``watts_per_gb``; the attribution is ``machine``, ``cgroup`` or ``process``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from wattwatch.sensors.base import POWER, ChannelInfo, ProcFile, Reading
from wattwatch.sensors.cgroup import CgroupSlice

__all__ = [
    "GIB",
    "WATTS_PER_GIB",
    "RamModelSensor",
    "machine_used_bytes",
    "parse_meminfo_used",
    "FixedRamSensor",
    "process_tree_rss_bytes",
]

GIB = 2**30
WATTS_PER_GIB = 3.0 / 8.0
"""CodeCarbon's 3 W per 8 GB (DDR3/DDR4), in watts per GiB in use."""

Mode = Literal["machine", "process"]


def parse_meminfo_used(data: bytes) -> int:
    """``MemTotal - MemAvailable`` in bytes from the text of ``/proc/meminfo``; ``ValueError`` if absent."""
    total = available = None
    for line in data.splitlines():
        if line.startswith(b"MemTotal:"):
            total = int(line.split()[1]) * 1024
        elif line.startswith(b"MemAvailable:"):
            available = int(line.split()[1]) * 1024
        if total is not None and available is not None:
            return total - available
    raise ValueError("/proc/meminfo has no MemTotal/MemAvailable")


def machine_used_bytes(virtual_memory: Callable[[], Any] | None = None) -> int:
    """Bytes in use on the machine: ``total - available`` of ``virtual_memory()`` (psutil's by default)."""
    if virtual_memory is None:
        import psutil  # only off Linux: a start on Linux does not import psutil (~12 ms)

        virtual_memory = psutil.virtual_memory
    vm = virtual_memory()
    return int(vm.total - vm.available)


def process_tree_rss_bytes(pid: int) -> int:
    """Summed resident set size of ``pid`` and its descendants, in bytes (0 when the process is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except (psutil.Error, OSError):
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except (psutil.Error, OSError):
            continue
    return total


def _psutil_errors() -> tuple[type[Exception], ...]:
    """``(psutil.Error,)`` once psutil is loaded, else ``()``: a psutil error can only come from psutil, which
    the Linux paths never import."""
    psutil = sys.modules.get("psutil")
    return (psutil.Error,) if psutil is not None else ()


class RamModelSensor:
    """Modelled RAM power in watts; one channel, ``ram``.

    ``watts_per_gb`` is watts per GiB in use (default :data:`WATTS_PER_GIB`). ``used_bytes`` returns bytes in
    use (default: the machine's ``total - available``, or the process tree's RSS in process mode); tests fake it.
    """

    def __init__(
        self,
        mode: Mode = "machine",
        pid: int | None = None,
        watts_per_gb: float = WATTS_PER_GIB,
        logger: logging.Logger | None = None,
        *,
        used_bytes: Callable[[], int] | None = None,
        proc_root: Path = Path("/proc"),
        cgroup: CgroupSlice | None = None,
    ) -> None:
        if mode not in ("machine", "process"):
            raise ValueError(f"RamModelSensor mode must be 'machine' or 'process', not {mode!r}")
        if not watts_per_gb >= 0:
            raise ValueError(
                f"watts_per_gb must be a non-negative number of watts per GiB, not {watts_per_gb!r}"
            )
        self._log = logger or logging.getLogger(__name__)
        self._mode: Mode = mode
        self._meminfo: ProcFile | None = None
        self._pid = pid if pid is not None else os.getpid()
        self.watts_per_gb = float(watts_per_gb)
        self._cgroup = cgroup if mode == "machine" else None
        self._close_cgroup: Callable[[], None] | None = None
        if self._cgroup is not None and self._cgroup.memory_dir is None:
            raise ValueError("cgroup given to RamModelSensor does not limit memory")
        if used_bytes is not None:
            self._used = used_bytes
        elif self._cgroup is not None:
            reader = self._cgroup.memory_reader()
            self._close_cgroup = reader.close
            self._used = reader
        elif mode == "machine":
            try:
                meminfo = ProcFile(Path(proc_root) / "meminfo")
                parse_meminfo_used(meminfo.read())
            except (OSError, ValueError):
                self._used = machine_used_bytes  # not Linux: psutil
            else:
                self._meminfo = meminfo
                self._used = lambda: parse_meminfo_used(meminfo.read())
        else:
            self._used = lambda: process_tree_rss_bytes(self._pid)
        self._warned = False

    @property
    def attribution(self) -> str:
        """``machine``, ``cgroup`` or ``process``: whose memory is charged."""
        if self._mode == "process":
            return "process"
        return "cgroup" if self._cgroup is not None else "machine"

    @property
    def method(self) -> str:
        """``model:ram-<W>w-per-gib/<attribution>``."""
        return f"model:ram-{self.watts_per_gb:g}w-per-gib/{self.attribution}"

    def channels(self) -> list[str]:
        return ["ram"]

    def describe(self) -> list[ChannelInfo]:
        details: dict[str, object] = {
            "watts_per_gb": self.watts_per_gb,
            "unit": "W per GiB in use",
            "mode": self._mode,
            "attribution": self.attribution,
            "slice": self.attribution,
            "source": "CodeCarbon: 3 W per 8 GB of DDR3/DDR4",
        }
        if self._mode == "process":
            details["pid"] = self._pid
        if self._cgroup is not None:
            details.update(self._cgroup.describe())
        return [ChannelInfo("ram", "ram", self.method, "", details)]

    def read(self, t: float) -> dict[str, Reading]:
        """Watts for the memory in use now; a failed query leaves the channel out (a gap), logged once."""
        errors: tuple[type[Exception], ...] = (OSError, ValueError, *_psutil_errors())
        try:
            used = max(0, int(self._used()))
        except errors as exc:
            if not self._warned:
                self._warned = True
                self._log.warning("memory usage unreadable (%s); recording a gap", exc)
            return {}
        return {"ram": Reading(used / GIB * self.watts_per_gb, POWER)}

    def close(self) -> None:
        """Close the kept-open ``/proc/meminfo`` (or cgroup files)."""
        if self._meminfo is not None:
            self._meminfo.close()
        if self._close_cgroup is not None:
            self._close_cgroup()
            self._close_cgroup = None


class FixedRamSensor:
    """RAM at a constant power the user gives (CodeCarbon's ``force_ram_power``); one channel, ``ram``."""

    def __init__(self, watts: float) -> None:
        if isinstance(watts, bool) or not 0 <= float(watts) < float("inf"):
            raise ValueError(f"RAM power must be a number of watts >= 0, not {watts!r}")
        self.watts = float(watts)

    @property
    def method(self) -> str:
        return f"user:ram-{self.watts:g}w"

    def channels(self) -> list[str]:
        return ["ram"]

    def describe(self) -> list[ChannelInfo]:
        return [ChannelInfo("ram", "ram", self.method, "", {"watts": self.watts, "source": "force_ram_power"})]

    def read(self, t: float) -> dict[str, Reading]:
        return {"ram": Reading(self.watts, POWER)}

    def close(self) -> None:
        pass
