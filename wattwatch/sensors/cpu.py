"""CPU power modelled from utilisation when there is no RAPL counter (most cloud VMs, unprivileged users).

The curve: a linear min/max model over the CPU's TDP,

    P(u) = TDP_total * (IDLE_FRACTION + (1 - IDLE_FRACTION) * u),   u in [0, 1]

with ``IDLE_FRACTION = 0.74 / 3.5 = 0.2114``. The figures are Cloud Carbon Footprint's AWS coefficients (min
0.74 W, max 3.5 W per vCPU, averaged from SPECpower_ssj2008 results; cloudcarbonfootprint.org, "Methodology",
compute energy ``Average Watts = Min Watts + Avg vCPU Utilization * (Max Watts - Min Watts)``). We keep CCF's
*shape* (idle ~21 % of full load, linear in utilisation, which SPECpower curves of modern servers follow closely)
and anchor full load at the CPU's TDP from CodeCarbon's table, so a known model gives a model-specific scale.
CodeCarbon 3's own machine curve (``0.1 + 0.9 u**3``) was not chosen: cubic growth puts 50 % load at 21 % of
TDP, well under SPECpower measurements (typically 55-65 % of full-load power at 50 % load).

Attribution (the part of the method after ``/``):

- ``machine``: u is whole-machine (or whole-VM) utilisation from ``/proc/stat`` deltas between reads
  (busy = total - idle - iowait); the idle share is charged. Everything that runs there is charged to the run,
  other users' work included: the method ``model:<rule>/machine`` says so in the row.
- ``cgroup``: the container's CPU seconds over its CPU limit; the container is charged as a machine of its
  limit's size (see :class:`CpuModelSensor`).
- ``process``: u is the process tree's share of the machine, tree CPU seconds / (dt * logical CPUs), and only
  the dynamic part is charged: ``P = TDP_total * (1 - IDLE_FRACTION) * u``. The idle floor belongs to the
  machine, not to one process (summing process-mode readings over all processes gives machine power minus idle).

``TDP_total`` (the scale) is chosen by :func:`wattwatch.sensors.vm.cpu_scale`: ``tdp_w`` when given; on bare
metal the per-socket TDP times the sockets in ``/proc/cpuinfo`` (rule ``tdp``); on a VM its slice of the host
socket (``vm-slice-tdp``) or watts per vCPU (``vm-vcpu``) when the host model is hidden.

Readings are kind ``power_w`` (the mean over the interval since the previous read, ``details["interval_mean"]``:
the ledger folds each as ``mean * dt``) with method ``model:<rule>/<attribution>``, e.g. ``model:tdp/machine``,
``model:vm-vcpu/machine``, ``model:tdp/cgroup``. Because each mean comes from cumulative CPU seconds, the energy
is the same whether the sensor is read every second or every ten (the tracker reads it on a slower cadence than
the GPUs, see :data:`wattwatch.measure.sampler.SLOW_INTERVAL_S`): ``TDP * (idle * dt + (1 - idle) * d_busy / n)``
adds up over intervals (machine mode exactly when the kernel's total CPU seconds advance as ``n * dt``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from wattwatch.sensors.base import POWER, ChannelInfo, ProcFile, Reading
from wattwatch.sensors.cgroup import CgroupSlice
from wattwatch.sensors.cpuinfo import CpuInfo, read_cpuinfo
from wattwatch.sensors.vm import (
    CCF_MAX_W_PER_VCPU,
    CCF_MIN_W_PER_VCPU,
    DEFAULT_DMI_ROOT,
    CpuScale,
    cpu_scale,
    detect_vm,
)

__all__ = [
    "CCF_MAX_W_PER_VCPU",
    "CCF_MIN_W_PER_VCPU",
    "IDLE_FRACTION",
    "CpuModelSensor",
    "ProcessTreeCpu",
    "dynamic_power_w",
    "machine_cpu_seconds",
    "parse_proc_stat",
    "machine_power_w",
]

IDLE_FRACTION = CCF_MIN_W_PER_VCPU / CCF_MAX_W_PER_VCPU
"""Idle power as a fraction of full-load power (0.2114)."""

Mode = Literal["machine", "process"]


def _clamp01(u: float) -> float:
    return min(1.0, max(0.0, u))


def machine_power_w(utilisation: float, tdp_w: float) -> float:
    """Whole-machine CPU watts at ``utilisation`` (0..1, clamped) for a total TDP of ``tdp_w`` watts."""
    return tdp_w * (IDLE_FRACTION + (1.0 - IDLE_FRACTION) * _clamp01(utilisation))


def dynamic_power_w(share: float, tdp_w: float) -> float:
    """Watts above idle attributable to a process using ``share`` (0..1, clamped) of all logical CPUs."""
    return tdp_w * (1.0 - IDLE_FRACTION) * _clamp01(share)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def parse_proc_stat(data: bytes) -> tuple[float, float]:
    """``(busy, total)`` CPU seconds from the text of ``/proc/stat`` (its first line); ``ValueError`` if it is
    not there."""
    line = data.split(b"\n", 1)[0]
    fields = line.split()
    if not fields or fields[0] != b"cpu" or len(fields) < 5:
        raise ValueError(f"unexpected first line in /proc/stat: {line[:60]!r}")
    # user nice system idle iowait irq softirq steal guest guest_nice; guest* are already in user/nice.
    values = [int(v) for v in fields[1:9]]
    total = sum(values)
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (total - idle) / _CLOCK_TICKS, total / _CLOCK_TICKS


def machine_cpu_seconds() -> tuple[float, float]:
    """``(busy, total)`` CPU seconds summed over all CPUs since boot (busy = total - idle - iowait), by psutil."""
    import psutil  # only off Linux or on an unusual /proc: not imported by a start on Linux (~12 ms)

    times = psutil.cpu_times()
    fields = times._asdict()
    # guest and guest_nice are already included in user and nice on Linux.
    total = sum(v for k, v in fields.items() if k not in ("guest", "guest_nice"))
    idle = fields.get("idle", 0.0) + fields.get("iowait", 0.0)
    return total - idle, total


class ProcessTreeCpu:
    """Cumulative CPU seconds (user + system) used by process ``pid`` and its descendants since construction.

    Per process, keyed by (pid, create time) so reused pids are not confused. A child that exits and is reaped
    by a process of the tree shows up in that parent's ``children_user/system``; the seconds already counted for
    it while alive are subtracted so nothing is counted twice. A process orphaned to init loses its last
    interval. Calling it never raises: vanished or forbidden processes are skipped.
    """

    def __init__(self, pid: int | None = None) -> None:
        self._pid = os.getpid() if pid is None else pid
        self._seen: dict[tuple[int, float], tuple[float, float, int]] = {}  # key -> (own, kids, ppid)
        self._total = 0.0
        self._sample(first=True)

    def _snapshot(self) -> dict[tuple[int, float], tuple[float, float, int]]:
        import psutil

        snap: dict[tuple[int, float], tuple[float, float, int]] = {}
        try:
            root = psutil.Process(self._pid)
            procs = [root, *root.children(recursive=True)]
        except (psutil.Error, OSError):
            return snap
        for proc in procs:
            try:
                with proc.oneshot():
                    ct = proc.cpu_times()
                    key = (proc.pid, proc.create_time())
                    snap[key] = (
                        ct.user + ct.system,
                        getattr(ct, "children_user", 0.0) + getattr(ct, "children_system", 0.0),
                        proc.ppid(),
                    )
            except (psutil.Error, OSError):
                continue
        return snap

    def _sample(self, first: bool = False) -> None:
        snap = self._snapshot()
        if not first:
            delta = 0.0
            live_pids = {key[0] for key in snap}
            for key, (own, kids, _ppid) in snap.items():
                prev = self._seen.get(key)
                if prev is None:
                    delta += own + kids  # born since the last sample
                else:
                    delta += (own - prev[0]) + (kids - prev[1])
            for key, (own, kids, ppid) in self._seen.items():
                if key not in snap and ppid in live_pids:
                    delta -= own + kids  # already counted; now inside the parent's children_* times
            self._total += max(0.0, delta)
        self._seen = snap

    def __call__(self) -> float:
        self._sample()
        return self._total


class CpuModelSensor:
    """Modelled CPU power (watts) from utilisation and the full-load watts of the visible CPUs; one channel,
    ``cpu``.

    The full-load watts (the *scale*) come from :func:`wattwatch.sensors.vm.cpu_scale`: ``tdp_w`` if given, the
    TDP table on bare metal, a VM's slice of its host socket, or watts per vCPU (``vcpu_w``) on a VM hiding its
    host model. ``scale`` passes a ready one (tests, or a caller that already chose).

    Attribution (the part after ``/`` in the method):

    - ``machine``: utilisation of the whole machine (or VM) from ``/proc/stat``; idle power is charged. The run
      is charged for everything running there, other users' work included, and the method says so.
    - ``cgroup`` (``cgroup`` given, machine mode): the container's CPU time over its CPU limit; the container is
      charged as a machine of its limit's size: ``P = scale * (limit / n_cpus) * (idle + (1 - idle) * u)`` with
      ``u = container CPU seconds / (dt * limit)``.
    - ``process``: the process tree's CPU seconds over ``dt * n_cpus``, dynamic part only (see the module doc).

    ``machine_seconds`` returns cumulative ``(busy, total)`` CPU seconds of the machine (default: ``/proc/stat``);
    ``tree_seconds`` cumulative CPU seconds of the tracked process tree (default: :class:`ProcessTreeCpu`);
    ``cgroup_seconds`` cumulative CPU seconds of the cgroup (default: its ``cpu.stat``/``cpuacct.usage``);
    ``clock`` the monotonic clock the sampler's ``t`` comes from. Tests fake them.
    """

    def __init__(
        self,
        mode: Mode = "machine",
        pid: int | None = None,
        proc_root: Path = Path("/proc"),
        tdp_w: float | None = None,
        data_dir: Path | None = None,
        cpu_count: int | None = None,
        logger: logging.Logger | None = None,
        *,
        vcpu_w: float | None = None,
        dmi_root: Path = DEFAULT_DMI_ROOT,
        scale: CpuScale | None = None,
        cpuinfo: CpuInfo | None = None,
        cgroup: CgroupSlice | None = None,
        machine_seconds: Callable[[], tuple[float, float]] | None = None,
        tree_seconds: Callable[[], float] | None = None,
        cgroup_seconds: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in ("machine", "process"):
            raise ValueError(f"CpuModelSensor mode must be 'machine' or 'process', not {mode!r}")
        if cpu_count is not None and cpu_count < 1:
            raise ValueError(f"cpu_count must be >= 1, not {cpu_count!r}")
        self._log = logger or logging.getLogger(__name__)
        self._mode: Mode = mode
        info = cpuinfo if cpuinfo is not None else read_cpuinfo(Path(proc_root))
        self.model_name = info.model_name
        self.n_cpus = cpu_count or info.logical_cpus
        if scale is None:
            scale = cpu_scale(
                info.model_name,
                self.n_cpus,
                info.sockets,
                vm=detect_vm(Path(proc_root), Path(dmi_root), cpuinfo=info),
                tdp_w=tdp_w,
                vcpu_w=vcpu_w,
                data_dir=data_dir,
            )
        elif tdp_w is not None and not tdp_w > 0:
            raise ValueError(f"tdp_w must be a positive number of watts, not {tdp_w!r}")
        self.scale = scale
        self.tdp_w = scale.full_w
        """Watts of the visible CPUs at full load (the scale of the curve)."""
        self.tdp_source = str(scale.details.get("tdp_source", scale.details.get("source", scale.rule)))
        self._note_scale(info.model_name, scale)
        self._pid = pid if pid is not None else os.getpid()
        self._cgroup = cgroup if mode == "machine" else None
        self._closers: list[Callable[[], None]] = []
        self._stat: ProcFile | None = None
        self._cgroup_seconds: Callable[[], float] | None = None
        self._limit = float(self.n_cpus)
        if self._cgroup is not None:
            if self._cgroup.cpu_limit is None:
                raise ValueError("cgroup given to CpuModelSensor does not limit CPU")
            self._limit = min(float(self.n_cpus), self._cgroup.cpu_limit)
            if cgroup_seconds is None:
                reader = self._cgroup.cpu_usage_reader()
                self._closers.append(reader.close)
                cgroup_seconds = reader
            self._cgroup_seconds = cgroup_seconds
        if machine_seconds is None and mode == "machine" and self._cgroup is None:
            machine_seconds = self._open_proc_stat(Path(proc_root))
        machine_seconds = machine_seconds or machine_cpu_seconds
        self._machine_seconds = machine_seconds
        self._tree_seconds = tree_seconds
        if mode == "process" and tree_seconds is None:
            self._tree_seconds = ProcessTreeCpu(self._pid)
        self._last_t = clock()
        self._last_busy, self._last_total = (
            self._machine_seconds() if mode == "machine" and self._cgroup is None else (0.0, 0.0)
        )
        self._last_cg = self._cgroup_seconds() if self._cgroup_seconds is not None else 0.0
        self._last_tree = self._tree_seconds() if self._tree_seconds is not None else 0.0
        if mode == "process":
            self._last_power = 0.0
        else:
            self._last_power = machine_power_w(0.0, self.tdp_w) * self._limit / self.n_cpus

    def _note_scale(self, model_name: str, scale: CpuScale) -> None:
        """One INFO line when the full-load watts are a default TDP or a VM's slice."""
        if scale.rule == "tdp-default":
            self._log.info(
                "CPU model %r not in CodeCarbon's TDP table; modelling with a default %.0f W per socket",
                model_name,
                scale.details.get("tdp_w_per_socket", 0.0),
            )
        elif scale.rule.startswith("vm-"):
            self._log.info(
                "CPU runs in a VM (%s): charging its slice, %.1f W at full load (rule %s)",
                scale.details.get("hypervisor", "unknown"),
                scale.full_w,
                scale.rule,
            )

    def _open_proc_stat(self, proc_root: Path) -> Callable[[], tuple[float, float]]:
        """Cumulative ``(busy, total)`` machine CPU seconds from ``/proc/stat``, kept open and re-read; psutil's
        when it cannot be read or parsed (not Linux, or an unusual ``/proc``)."""
        try:
            stat = ProcFile(proc_root / "stat")
            parse_proc_stat(stat.read())
        except (OSError, ValueError):
            return machine_cpu_seconds  # not Linux, or an unusual /proc: psutil knows more
        self._stat = stat
        return lambda: parse_proc_stat(stat.read())

    @property
    def attribution(self) -> str:
        """``machine``, ``cgroup`` or ``process``: whose CPU time is charged."""
        if self._mode == "process":
            return "process"
        return "cgroup" if self._cgroup is not None else "machine"

    @property
    def method(self) -> str:
        """``model:<scale rule>/<attribution>``, e.g. ``model:vm-vcpu/machine``, ``model:tdp/cgroup``."""
        return f"model:{self.scale.rule}/{self.attribution}"

    def channels(self) -> list[str]:
        return ["cpu"]

    def describe(self) -> list[ChannelInfo]:
        details: dict[str, object] = {
            **self.scale.details,
            "tdp_w": self.tdp_w,
            "tdp_source": self.tdp_source,
            "scale_rule": self.scale.rule,
            "n_cpus": self.n_cpus,
            "mode": self._mode,
            "attribution": self.attribution,
            "slice": self.scale.rule + "/" + self.attribution,
            "idle_fraction": round(IDLE_FRACTION, 4),
            "curve": "P = TDP * (idle + (1 - idle) * u); process mode charges only (1 - idle) * TDP * share",
            "interval_mean": True,
        }
        if self._mode == "process":
            details["pid"] = self._pid
        if self._cgroup is not None:
            details.update(self._cgroup.describe())
            details["cpu_limit_used"] = self._limit
        return [ChannelInfo("cpu", "cpu", self.method, self.model_name, details)]

    def read(self, t: float) -> dict[str, Reading]:
        """Mean modelled watts since the previous read (the previous value when no time has passed)."""
        if self._mode == "machine" and self._cgroup_seconds is not None:
            used = self._cgroup_seconds()
            dt = t - self._last_t
            if dt > 0:
                u = max(0.0, used - self._last_cg) / (dt * self._limit)
                self._last_power = machine_power_w(u, self.tdp_w) * self._limit / self.n_cpus
                self._last_cg = used
        elif self._mode == "machine":
            busy, total = self._machine_seconds()
            d_total = total - self._last_total
            if d_total > 0:
                u = (busy - self._last_busy) / d_total
                self._last_power = machine_power_w(u, self.tdp_w)
                self._last_busy, self._last_total = busy, total
        else:
            assert self._tree_seconds is not None
            tree = self._tree_seconds()
            dt = t - self._last_t
            if dt > 0:
                share = max(0.0, tree - self._last_tree) / (dt * self.n_cpus)
                self._last_power = dynamic_power_w(share, self.tdp_w)
                self._last_tree = tree
        self._last_t = t
        return {"cpu": Reading(self._last_power, POWER)}

    def close(self) -> None:
        """Close the kept-open ``/proc/stat`` and cgroup files."""
        if self._stat is not None:
            self._stat.close()
        for close in self._closers:
            close()
        self._closers = []
