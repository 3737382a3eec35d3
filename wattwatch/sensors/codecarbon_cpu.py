"""CodeCarbon 3.3.2's CPU power for a forced full-load power: what its classes compute with ``force_cpu_power``.

CodeCarbon (``core/resource_tracker.py``, ``external/hardware.py``), given ``force_cpu_power=P``, skips RAPL and
charges the CPU one of three ways -- the compatibility classes do the same with :class:`CodeCarbonCpuSensor`
(wattwatch's own :class:`~wattwatch.Tracker` keeps its load model, :mod:`wattwatch.sensors.cpu`):

- **load, machine** (``tracking_mode="machine"``): ``P * (0.1 + 0.9 * L**3)``, ``L`` the whole machine's CPU
  load (0..1) since the previous sample -- busy over total CPU time from ``/proc/stat`` (CodeCarbon:
  ``psutil.cpu_times()``, guest time left out, idle and iowait not busy: the same counters). CodeCarbon samples
  every second (its ``_scheduler_monitor_power``) and at each measurement; here the sensor is read every second
  too (``details["read_every_s"]``) and at every synchronous read, each reading the mean since the previous one.
- **load, process** (``tracking_mode="process"``): ``P * S``, ``S`` the tracked process tree's CPU seconds over
  wall seconds and logical CPUs; no floor.
- **constant** (CodeCarbon: when ``psutil`` cannot read the CPU times): ``P * 0.5``
  (``CONSUMPTION_PERCENTAGE_CONSTANT``). Here: when neither ``/proc/stat`` nor psutil gives CPU times
  (:func:`cpu_load_available`).

Readings are watts (``interval_mean``: the mean since the previous read), method ``model:cpu-codecarbon-load/...``
or ``model:cpu-codecarbon-constant/machine``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from wattwatch.sensors.base import POWER, ChannelInfo, ProcFile, Reading
from wattwatch.sensors.cpu import ProcessTreeCpu, machine_cpu_seconds, parse_proc_stat

__all__ = [
    "CONSTANT_SHARE",
    "MONITOR_INTERVAL_S",
    "CodeCarbonCpuSensor",
    "SystemCpuLoad",
    "cpu_load_available",
    "load_power_w",
]

CONSTANT_SHARE = 0.5
"""CodeCarbon's ``CONSUMPTION_PERCENTAGE_CONSTANT``: the share of the forced power charged in constant mode."""

MONITOR_INTERVAL_S = 1.0
"""CodeCarbon's power monitor interval (its ``_scheduler_monitor_power``): the load curve is evaluated on windows
of about this length."""


def load_power_w(full_w: float, load_percent: float) -> float:
    """CodeCarbon's machine load curve: ``full_w * (0.1 + 0.9 * (load/100)**3)`` watts, load clamped to 0..100."""
    load = min(max(load_percent, 0.0), 100.0) / 100.0
    return full_w * (0.1 + 0.9 * load**3)


def _open_proc_stat(proc_root: Path) -> ProcFile | None:
    """``/proc/stat`` kept open, when it reads and parses; else ``None``."""
    try:
        stat = ProcFile(Path(proc_root) / "stat")
    except OSError:
        return None
    try:
        parse_proc_stat(stat.read())
    except (OSError, ValueError):
        stat.close()
        return None
    return stat


def cpu_load_available(proc_root: Path = Path("/proc")) -> bool:
    """Whether the machine's CPU times can be read (``/proc/stat``, else psutil): CodeCarbon's
    ``is_psutil_available()``, which decides between its load and constant modes."""
    stat = _open_proc_stat(proc_root)
    if stat is not None:
        stat.close()
        return True
    try:
        machine_cpu_seconds()
    except Exception:  # noqa: BLE001 - psutil missing or failing: no load to read
        return False
    return True


class SystemCpuLoad:
    """The machine's CPU load (percent) since the previous :meth:`percent` (CodeCarbon's ``SystemCPULoadMeter``),
    from cumulative ``(busy, total)`` CPU seconds (default: ``/proc/stat`` under ``proc_root``, else psutil)."""

    def __init__(
        self, proc_root: Path = Path("/proc"), machine_seconds: Callable[[], tuple[float, float]] | None = None
    ) -> None:
        self._stat = None if machine_seconds is not None else _open_proc_stat(proc_root)
        if machine_seconds is None:
            stat = self._stat
            machine_seconds = (lambda: parse_proc_stat(stat.read())) if stat is not None else machine_cpu_seconds
        self._seconds = machine_seconds
        self._last = self._seconds()

    def close(self) -> None:
        """Close the kept-open ``/proc/stat``."""
        if self._stat is not None:
            self._stat.close()
            self._stat = None

    def percent(self) -> float:
        busy, total = self._seconds()
        last_busy, last_total = self._last
        self._last = (busy, total)
        if total - last_total <= 0:
            return 0.0
        return min(max((busy - last_busy) / (total - last_total) * 100.0, 0.0), 100.0)


Mode = Literal["machine", "process"]


class CodeCarbonCpuSensor:
    """One channel, ``cpu``: CodeCarbon 3.3.2's power for a forced full-load power ``full_w`` (see the module
    doc). ``load`` and ``tree_seconds`` replace the machine load meter and the process tree's CPU seconds (tests),
    ``load_available`` the check that picks the constant mode (default :func:`cpu_load_available`); ``cpu_count``
    the logical CPUs (default ``os.cpu_count()``, as CodeCarbon's ``count_cpus``)."""

    def __init__(
        self,
        full_w: float,
        mode: Mode = "machine",
        pid: int | None = None,
        proc_root: Path = Path("/proc"),
        *,
        model_name: str = "",
        cpu_count: int | None = None,
        load: SystemCpuLoad | None = None,
        tree_seconds: Callable[[], float] | None = None,
        load_available: Callable[[Path], bool] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if not full_w > 0:
            raise ValueError(f"full_w must be a positive number of watts, not {full_w!r}")
        if mode not in ("machine", "process"):
            raise ValueError(f"mode must be 'machine' or 'process', not {mode!r}")
        self.full_w = float(full_w)
        self._mode: Mode = mode
        self.model_name = model_name
        self._n = cpu_count or os.cpu_count() or 1
        self._load: SystemCpuLoad | None = None
        self._tree: Callable[[], float] | None = None
        available = load_available if load_available is not None else cpu_load_available  # looked up now
        self.constant = load is None and tree_seconds is None and not available(Path(proc_root))
        if self.constant:
            (logger or logging.getLogger(__name__)).warning(
                "No CPU tracking mode found. Falling back on CPU constant mode: %g W (half of force_cpu_power)",
                self.full_w * CONSTANT_SHARE,
            )
        elif mode == "machine":
            self._load = load if load is not None else SystemCpuLoad(Path(proc_root))
        else:
            self._tree = tree_seconds if tree_seconds is not None else ProcessTreeCpu(pid)
            self._last_tree = self._tree()
        self._last_t: float | None = None
        """Time of the previous read (the sampler's clock); the first read starts the first window."""
        self._power = self._first_power()

    def _first_power(self) -> float:
        if self.constant:
            return self.full_w * CONSTANT_SHARE
        return load_power_w(self.full_w, 0.0) if self._mode == "machine" else 0.0

    @property
    def method(self) -> str:
        if self.constant:
            return "model:cpu-codecarbon-constant/machine"
        return f"model:cpu-codecarbon-load/{self._mode}"

    def channels(self) -> list[str]:
        return ["cpu"]

    def describe(self) -> list[ChannelInfo]:
        curve = (
            f"P = {self.full_w:g} W x {CONSTANT_SHARE:g}"
            if self.constant
            else f"P = {self.full_w:g} W x (0.1 + 0.9 L^3)"
            if self._mode == "machine"
            else f"P = {self.full_w:g} W x process tree CPU share"
        )
        details: dict[str, object] = {
            "tdp_w": self.full_w,
            "tdp_source": "force_cpu_power",
            "curve": f"CodeCarbon 3.3.2: {curve}",
            "interval_mean": True,
            "read_every_s": MONITOR_INTERVAL_S,
            "slice": f"codecarbon/{self._mode}",
            "n_cpus": self._n,
        }
        return [ChannelInfo("cpu", "cpu", self.method, self.model_name, details)]

    def read(self, t: float) -> dict[str, Reading]:
        """Mean watts since the previous read (the previous value when no time has passed); the first read
        starts the first window (CodeCarbon resets its load meter at ``start()``)."""
        if self._last_t is None:
            self._last_t = t
            if self._load is not None:
                self._load.percent()
            elif self._tree is not None:
                self._last_tree = self._tree()
            return {"cpu": Reading(self._power, POWER)}
        dt = t - self._last_t
        if dt > 0 and not self.constant:
            if self._load is not None:
                self._power = load_power_w(self.full_w, self._load.percent())
            elif self._tree is not None:
                used = self._tree()
                share = max(0.0, used - self._last_tree) / (dt * self._n)
                self._last_tree = used
                self._power = self.full_w * share
            self._last_t = t
        return {"cpu": Reading(self._power, POWER)}

    def close(self) -> None:
        if self._load is not None:
            self._load.close()
