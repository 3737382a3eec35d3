"""RAM power modelled from the memory the run's slice holds (issue 24).

Model: ``P = WATTS_PER_GIB * GiB charged``, with ``WATTS_PER_GIB = 0.375``: 3 W per 8 GB of DDR3/DDR4, Crucial's
figure ("allocate around 3 watts of power for every 8GB of DDR3 or DDR4 memory", crucial.com, "How much power
does memory use?"; the figure CodeCarbon 2.x used, and cited), expressed per GiB (2**30 bytes, as DIMM sizes
are).

What is charged -- the memory the slice *holds*, not what the run touches:

- ``machine``: the installed memory of the machine or VM (``MemTotal``). DRAM draws its background power --
  refresh, the DIMMs' idle power -- for every installed gigabyte whether a page is in use or not, and a VM holds
  its memory whether it uses it or not; charging memory in use (``MemTotal - MemAvailable``, before issue 24)
  made RAM all but vanish (0.2 W on a 24 GiB VM where CodeCarbon 3 charges 20 W by its DIMM estimate, 5 W per
  estimated DIMM; ``docs/codecarbon.md`` compares the two on one machine).
- ``cgroup`` (a container that limits memory): its limit (``memory.max``), at most the machine's memory: what
  the container holds of the host.
- ``process``: the process tree's resident memory (summed RSS): its share of the machine's memory, moving with
  the run (shared pages counted once per process: an upper bound).

Readings are kind ``power_w`` with method ``model:ram-0.375w-per-gib/<attribution>`` (the figure follows
``watts_per_gb``; the attribution is ``machine``, ``cgroup`` or ``process``); ``describe()`` states the GiB
charged (``charged_gib``, at start; machine and cgroup) and the source.
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
    "RAM_SOURCE",
    "WATTS_PER_GIB",
    "RamModelSensor",
    "machine_total_bytes",
    "machine_used_bytes",
    "parse_meminfo_total",
    "parse_meminfo_used",
    "FixedRamSensor",
    "process_tree_rss_bytes",
]

GIB = 2**30
WATTS_PER_GIB = 3.0 / 8.0
"""Crucial's 3 W per 8 GB (DDR3/DDR4), in watts per GiB charged."""
RAM_SOURCE = (
    "Crucial, 'How much power does memory use?': about 3 W per 8 GB of DDR3 or DDR4 "
    "(https://www.crucial.com/support/articles-faq-memory/how-much-power-does-memory-use; CodeCarbon 2.x's figure)"
)
"""Where :data:`WATTS_PER_GIB` comes from."""

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


def parse_meminfo_total(data: bytes) -> int:
    """``MemTotal`` in bytes from the text of ``/proc/meminfo``; ``ValueError`` if absent."""
    for line in data.splitlines():
        if line.startswith(b"MemTotal:"):
            return int(line.split()[1]) * 1024
    raise ValueError("/proc/meminfo has no MemTotal")


def machine_total_bytes(virtual_memory: Callable[[], Any] | None = None) -> int:
    """The machine's (or VM's) installed memory in bytes: ``virtual_memory().total`` (psutil's by default)."""
    if virtual_memory is None:
        import psutil  # only off Linux

        virtual_memory = psutil.virtual_memory
    return int(virtual_memory().total)


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
    """Modelled RAM power in watts; one channel, ``ram``: ``watts_per_gb`` x the GiB the slice holds (see the
    module docstring: installed memory, a container's limit, or the process tree's resident memory).

    ``charged_bytes`` returns the bytes charged now (default: by mode, as above); tests fake it.
    """

    def __init__(
        self,
        mode: Mode = "machine",
        pid: int | None = None,
        watts_per_gb: float = WATTS_PER_GIB,
        logger: logging.Logger | None = None,
        *,
        charged_bytes: Callable[[], int] | None = None,
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
        if self._cgroup is not None and self._cgroup.memory_dir is None:
            raise ValueError("cgroup given to RamModelSensor does not limit memory")
        if charged_bytes is not None:
            self._charged = charged_bytes
        elif mode == "process":
            self._charged = lambda: process_tree_rss_bytes(self._pid)
        else:
            total = self._machine_total(Path(proc_root))
            limit = self._cgroup.memory_limit_bytes if self._cgroup is not None else None
            if limit is not None:
                self._charged = lambda: min(int(limit), total())
            else:
                self._charged = total
        self._warned = False
        self.charged_at_start: float | None = None
        """GiB charged when the sensor opened (machine and cgroup: constant but for a VM's memory hot-plug)."""
        if mode == "machine":
            try:
                self.charged_at_start = max(0, int(self._charged())) / GIB
            except (OSError, ValueError):
                self.charged_at_start = None

    def _machine_total(self, proc_root: Path) -> Callable[[], int]:
        """Installed memory: ``MemTotal`` from ``/proc/meminfo`` (kept open and ``pread``), psutil off Linux."""
        try:
            meminfo = ProcFile(proc_root / "meminfo")
            parse_meminfo_total(meminfo.read())
        except (OSError, ValueError):
            return machine_total_bytes  # not Linux: psutil
        self._meminfo = meminfo
        return lambda: parse_meminfo_total(meminfo.read())

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
        unit = {"machine": "installed", "cgroup": "the container's memory limit", "process": "resident (RSS)"}
        details: dict[str, object] = {
            "watts_per_gb": self.watts_per_gb,
            "unit": f"W per GiB {unit[self.attribution]}",
            "mode": self._mode,
            "attribution": self.attribution,
            "slice": self.attribution,
            "source": RAM_SOURCE,
        }
        if self.charged_at_start is not None:
            details["charged_gib"] = round(self.charged_at_start, 6)
        if self._mode == "process":
            details["pid"] = self._pid
        if self._cgroup is not None:
            details.update(self._cgroup.describe())
        return [ChannelInfo("ram", "ram", self.method, "", details)]

    def read(self, t: float) -> dict[str, Reading]:
        """Watts for the memory charged now; a failed query leaves the channel out (a gap), logged once."""
        errors: tuple[type[Exception], ...] = (OSError, ValueError, *_psutil_errors())
        try:
            charged = max(0, int(self._charged()))
        except errors as exc:
            if not self._warned:
                self._warned = True
                self._log.warning("memory size unreadable (%s); recording a gap", exc)
            return {}
        return {"ram": Reading(charged / GIB * self.watts_per_gb, POWER)}

    def close(self) -> None:
        """Close the kept-open ``/proc/meminfo``."""
        if self._meminfo is not None:
            self._meminfo.close()


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
