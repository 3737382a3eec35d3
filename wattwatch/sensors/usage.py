"""How busy the machine was: CodeCarbon's usage columns, as running means in O(1) memory.

CodeCarbon samples, about once a second, the machine's CPU utilisation (``psutil.cpu_percent()``: busy share of
all CPUs since the previous sample), RAM utilisation (``virtual_memory().percent``), RAM in use (GB) and each
GPU's utilisation (NVML ``nvmlDeviceGetUtilizationRates().gpu``), and writes the means over the run in
``cpu_utilization_percent``, ``ram_utilization_percent``, ``ram_used_gb`` and ``gpu_utilization_percent``
(0 when nothing was sampled). :class:`UsageMeter` does the same from ``/proc/stat`` and ``/proc/meminfo`` (kept
open, one ``pread`` each; psutil where there is no ``/proc``), keeping only sums and counts, so a mean over any
window (a task) is the difference of two :class:`UsageTotals`. RAM in use is ``MemTotal - MemAvailable``, the
figure psutil's percent is computed from. Units: percent (0-100), GB of 2**30 bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from wattwatch.sensors.base import ProcFile
from wattwatch.util.records import record

__all__ = ["MIN_INTERVAL_S", "UsageMeans", "UsageMeter", "UsageTotals", "parse_meminfo_total"]

log = logging.getLogger("wattwatch.sensors.usage")

MIN_INTERVAL_S = 1.0
"""Seconds between samples (CodeCarbon's monitor interval); faster ticks of the sampler are skipped."""


def parse_meminfo_total(data: bytes) -> int:
    """``MemTotal`` in bytes from the text of ``/proc/meminfo``; ``ValueError`` if absent."""
    for line in data.splitlines():
        if line.startswith(b"MemTotal:"):
            return int(line.split()[1]) * 1024
    raise ValueError("/proc/meminfo has no MemTotal")


@record
class UsageMeans:
    """Mean usage over a window (CodeCarbon's columns): percent 0-100 and GB; 0.0 when nothing was sampled."""

    cpu_utilization_percent: float = 0.0
    gpu_utilization_percent: float = 0.0
    ram_utilization_percent: float = 0.0
    ram_used_gb: float = 0.0


@record
class UsageTotals:
    """Cumulative sums since the meter started (a snapshot: compare two to get a window's means)."""

    samples: int = 0
    cpu_percent_sum: float = 0.0
    ram_percent_sum: float = 0.0
    ram_used_gb_sum: float = 0.0
    gpu_samples: int = 0
    gpu_percent_sum: float = 0.0

    def means_since(self, earlier: UsageTotals | None = None) -> UsageMeans:
        """Means over the samples taken after ``earlier`` (all of them when ``None``)."""
        e = earlier or UsageTotals()
        n = self.samples - e.samples
        g = self.gpu_samples - e.gpu_samples
        return UsageMeans(
            cpu_utilization_percent=(self.cpu_percent_sum - e.cpu_percent_sum) / n if n > 0 else 0.0,
            gpu_utilization_percent=(self.gpu_percent_sum - e.gpu_percent_sum) / g if g > 0 else 0.0,
            ram_utilization_percent=(self.ram_percent_sum - e.ram_percent_sum) / n if n > 0 else 0.0,
            ram_used_gb=(self.ram_used_gb_sum - e.ram_used_gb_sum) / n if n > 0 else 0.0,
        )


class UsageMeter:
    """Samples CPU, RAM and GPU utilisation; :meth:`totals` gives the running sums. Never raises from
    :meth:`sample` (an unreadable source is skipped, with one log line).

    Args:
        proc_root: where ``stat`` and ``meminfo`` are read (``None`` or missing: psutil).
        gpu_utilization: returns each GPU's utilisation now, in percent (e.g. :meth:`NvmlSensor.utilization`).
        min_interval_s: samples closer together than this (by the caller's clock) are skipped.
    """

    def __init__(
        self,
        proc_root: str | Path | None = Path("/proc"),
        gpu_utilization: Callable[[], Sequence[float]] | None = None,
        min_interval_s: float = MIN_INTERVAL_S,
    ) -> None:
        self._gpu = gpu_utilization
        self._min_interval_s = min_interval_s
        self._failed: set[str] = set()
        self._stat: ProcFile | None = None
        self._meminfo: ProcFile | None = None
        # Imported here, not with the module: the row builder imports the result types at `import wattwatch`.
        from wattwatch.sensors.cpu import parse_proc_stat
        from wattwatch.sensors.ram import parse_meminfo_used

        self._parse_stat, self._parse_used = parse_proc_stat, parse_meminfo_used
        if proc_root is not None:
            try:
                self._stat = ProcFile(Path(proc_root) / "stat")
                self._meminfo = ProcFile(Path(proc_root) / "meminfo")
                parse_proc_stat(self._stat.read())
                parse_meminfo_used(self._meminfo.read())
            except (OSError, ValueError):
                self.close()
        self._last_cpu: tuple[float, float] | None = self._cpu_seconds()
        self._last_t: float | None = None
        self._totals = UsageTotals()

    def _cpu_seconds(self) -> tuple[float, float] | None:
        try:
            if self._stat is not None:
                return self._parse_stat(self._stat.read())
            from wattwatch.sensors.cpu import machine_cpu_seconds

            return machine_cpu_seconds()
        except (OSError, ValueError) as exc:
            self._once("cpu", f"wattwatch: cannot read CPU utilisation ({exc}); usage columns skip it")
            return None

    def _ram(self) -> tuple[float, float] | None:
        """(percent in use, GB in use)."""
        try:
            if self._meminfo is not None:
                text = self._meminfo.read()
                total, used = parse_meminfo_total(text), self._parse_used(text)
            else:
                import psutil

                vm = psutil.virtual_memory()
                total, used = int(vm.total), int(vm.total - vm.available)
        except (OSError, ValueError) as exc:
            self._once("ram", f"wattwatch: cannot read memory use ({exc}); usage columns skip it")
            return None
        return (100.0 * used / total if total > 0 else 0.0), used / 1024**3

    def sample(self, t: float) -> bool:
        """Take one sample at monotonic time ``t`` (s) unless the previous one is under ``min_interval_s`` old;
        returns whether a sample was taken."""
        if self._last_t is not None and t - self._last_t < self._min_interval_s:
            return False
        cpu = self._cpu_seconds()
        ram = self._ram()
        if cpu is None or ram is None:
            return False
        previous, self._last_cpu = self._last_cpu, cpu
        if previous is None:
            return False
        d_busy, d_total = cpu[0] - previous[0], cpu[1] - previous[1]
        if d_total <= 0:  # the kernel's counters have not moved yet (ticks of 10 ms): next time
            self._last_cpu = previous
            return False
        self._last_t = t
        cpu_percent = min(100.0, max(0.0, 100.0 * d_busy / d_total))
        gpus: Sequence[float] = ()
        if self._gpu is not None:
            try:
                gpus = [float(g) for g in self._gpu()]
            except Exception as exc:  # noqa: BLE001 - a GPU fault leaves the GPU column out of this sample
                self._once("gpu", f"wattwatch: cannot read GPU utilisation ({exc!r}); usage columns skip it")
        s = self._totals
        self._totals = UsageTotals(
            samples=s.samples + 1,
            cpu_percent_sum=s.cpu_percent_sum + cpu_percent,
            ram_percent_sum=s.ram_percent_sum + ram[0],
            ram_used_gb_sum=s.ram_used_gb_sum + ram[1],
            gpu_samples=s.gpu_samples + len(gpus),
            gpu_percent_sum=s.gpu_percent_sum + sum(gpus),
        )
        return True

    def totals(self) -> UsageTotals:
        """The running sums (immutable snapshot)."""
        return self._totals

    def close(self) -> None:
        for f in (self._stat, self._meminfo):
            if f is not None:
                f.close()
        self._stat = self._meminfo = None

    def _once(self, key: str, message: str) -> None:
        if key not in self._failed:
            self._failed.add(key)
            log.warning(message)
