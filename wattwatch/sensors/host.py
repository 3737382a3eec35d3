"""Choose the CPU and RAM sensors for this host: measured (RAPL) when possible and meaningful, modelled otherwise.

What is charged, and the rule the channel's method names:

- bare metal, machine mode: RAPL package counters (``counter``) when readable, else the utilisation model over
  the TDP table (``model:tdp/machine``);
- a VM (``hypervisor`` CPU flag or a hypervisor's DMI vendor): the model over the VM's slice of its host
  (``model:vm-slice-tdp/...`` or ``model:vm-vcpu/...``, see :mod:`wattwatch.sensors.vm`); RAPL is not used,
  since where a hypervisor exposes it the counters are the host package's, other tenants included;
- a container whose cgroup limits CPU: the model over the container's CPU time and limit (``.../cgroup``);
  RAPL is not used, for the same reason. A cgroup that limits memory: RAM is the cgroup's memory in use
  (``model:ram-.../cgroup``);
- process mode: the process tree's CPU share (dynamic power only) and RSS (``.../process``), whatever the host.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from wattwatch.sensors.base import Sensor
from wattwatch.sensors.cgroup import DEFAULT_CGROUP_ROOT, CgroupSlice, find_cgroup
from wattwatch.sensors.cpu import CpuModelSensor
from wattwatch.sensors.cpuinfo import CpuInfo, read_cpuinfo
from wattwatch.sensors.ram import WATTS_PER_GIB, FixedRamSensor, RamModelSensor
from wattwatch.sensors.vm import DEFAULT_DMI_ROOT, CpuScale, cpu_scale, detect_vm

if TYPE_CHECKING:
    from wattwatch.sensors.rapl import RaplSensor

DEFAULT_POWERCAP_ROOT = Path("/sys/class/powercap")
"""Where RAPL's powercap zones are (the same as :data:`wattwatch.sensors.rapl.DEFAULT_POWERCAP_ROOT`; the RAPL
module is imported only on bare metal, where it is used: VMs and containers model the CPU)."""

__all__ = ["host_sensors"]


def _read_text(path: Path) -> str:
    return path.read_text()


def _machine_memory_bytes() -> int:
    from wattwatch.sensors.sysinfo import ram_total_bytes  # sysconf on Linux: a start does not import psutil

    return ram_total_bytes()


def host_sensors(
    mode: Literal["machine", "process"] = "machine",
    pid: int | None = None,
    powercap_root: Path = DEFAULT_POWERCAP_ROOT,
    proc_root: Path = Path("/proc"),
    include_dram: bool = False,
    tdp_w: float | None = None,
    logger: logging.Logger | None = None,
    *,
    vcpu_w: float | None = None,
    data_dir: Path | None = None,
    watts_per_gb: float = WATTS_PER_GIB,
    rapl_reader: Callable[[Path], str] = _read_text,
    dmi_root: Path = DEFAULT_DMI_ROOT,
    cgroup_root: Path | None = DEFAULT_CGROUP_ROOT,
    machine_memory_bytes: Callable[[], int] = _machine_memory_bytes,
    cpu_model_only: bool = False,
    ram_power_w: float | None = None,
    codecarbon_cpu: bool = False,
) -> list[Sensor]:
    """The CPU and RAM sensors for one host (one process per node calls this); see the module docstring.

    ``tdp_w``: watts of the visible CPUs at full load (overrides every rule); ``vcpu_w``: watts per vCPU at full
    load on a VM (forces the ``vm-vcpu`` rule). ``cgroup_root=None`` ignores containers. ``/proc/self/cgroup``
    is read under ``proc_root``. ``rapl_reader`` reads one sysfs file (tests pass a reader that raises
    ``PermissionError``). ``ValueError`` for a bad ``mode``, ``tdp_w`` or ``vcpu_w``.
    ``cpu_model_only`` skips RAPL and models the CPU (CodeCarbon's ``force_cpu_power`` / ``force_mode_cpu_load``;
    ``tdp_w`` is then the full-load power). ``ram_power_w`` replaces the RAM model by a constant power in watts
    (CodeCarbon's ``force_ram_power``; RAPL dram zones are not used then). ``codecarbon_cpu`` (with
    ``cpu_model_only`` and ``tdp_w``, CodeCarbon's classes) charges ``tdp_w`` as CodeCarbon 3.3.2 does
    (:mod:`wattwatch.sensors.codecarbon_cpu`).
    """
    if mode not in ("machine", "process"):
        raise ValueError(f"host_sensors mode must be 'machine' or 'process', not {mode!r}")
    log = logger or logging.getLogger(__name__)
    proc_root = Path(proc_root)
    info = read_cpuinfo(proc_root)
    vm = detect_vm(proc_root, Path(dmi_root), cpuinfo=info)
    scale = cpu_scale(
        info.model_name, info.logical_cpus, info.sockets, vm=vm, tdp_w=tdp_w, vcpu_w=vcpu_w, data_dir=data_dir
    )
    slice_: CgroupSlice | None = None
    if mode == "machine" and cgroup_root is not None:
        slice_ = _container_slice(Path(cgroup_root), proc_root, info.logical_cpus, machine_memory_bytes(), log)
    cpu_sliced = slice_ is not None and slice_.cpu_dir is not None
    ram_sliced = slice_ is not None and slice_.memory_dir is not None
    include_dram = include_dram and ram_power_w is None  # a forced RAM power replaces RAPL's dram zones
    sensors: list[Sensor] = []
    ram_from_rapl = False
    if mode == "machine" and cpu_model_only:
        log.info("CPU energy is modelled from utilisation (%s)", f"full load {tdp_w:g} W" if tdp_w else "as asked")
    elif mode == "machine" and vm is None and not cpu_sliced:
        from wattwatch.sensors.rapl import RaplSensor

        dram = include_dram and not ram_sliced  # a container's memory is its cgroup's, not the host's DIMMs
        rapl = _rapl_if_any(RaplSensor(powercap_root, dram, log, reader=rapl_reader, cpu_model=info.model_name), log)
        if rapl is not None:
            sensors.append(rapl)
            ram_from_rapl = any(ch.startswith("ram:") for ch in rapl.channels())
            if include_dram and not ram_from_rapl:
                log.info("no RAPL dram zone under %s (or memory is a cgroup's); modelling RAM", powercap_root)
    elif mode == "machine":
        log.info(
            "CPU energy is modelled for the %s slice (RAPL would count the whole host package)",
            "container" if cpu_sliced else "VM",
        )
    else:
        log.info("CPU energy is modelled from the process tree's utilisation (process mode)")
    if not sensors:
        cpu_slice = slice_ if cpu_sliced else None
        codecarbon = codecarbon_cpu and cpu_model_only
        sensors.append(_cpu_model(mode, pid, proc_root, tdp_w, data_dir, log, scale, info, cpu_slice, codecarbon))
    if ram_power_w is not None:
        sensors.append(FixedRamSensor(ram_power_w))
    elif not ram_from_rapl:
        ram_slice = slice_ if ram_sliced else None
        sensors.append(RamModelSensor(mode, pid, watts_per_gb, log, proc_root=proc_root, cgroup=ram_slice))
    return sensors


def _cpu_model(
    mode: Literal["machine", "process"],
    pid: int | None,
    proc_root: Path,
    tdp_w: float | None,
    data_dir: Path | None,
    log: logging.Logger,
    scale: CpuScale,
    info: CpuInfo,
    cgroup: CgroupSlice | None,
    codecarbon: bool,
) -> Sensor:
    """The modelled CPU: wattwatch's load model, or (``codecarbon``, a forced ``tdp_w`` on CodeCarbon's classes)
    CodeCarbon 3.3.2's."""
    if codecarbon and tdp_w is not None:
        from wattwatch.sensors.codecarbon_cpu import CodeCarbonCpuSensor

        return CodeCarbonCpuSensor(
            tdp_w, mode, pid, proc_root, model_name=info.model_name, cpu_count=info.logical_cpus, logger=log
        )
    return CpuModelSensor(mode, pid, proc_root, tdp_w, data_dir, logger=log, scale=scale, cpuinfo=info, cgroup=cgroup)


def _container_slice(
    cgroup_root: Path, proc_root: Path, machine_cpus: int, machine_memory_bytes: int, log: logging.Logger
) -> CgroupSlice | None:
    """The cgroup this process runs in, when it limits CPU or memory (one INFO line then), else ``None``."""
    slice_ = find_cgroup(
        cgroup_root,
        proc_root / "self" / "cgroup",
        machine_cpus=machine_cpus,
        machine_memory_bytes=machine_memory_bytes,
    )
    if slice_ is not None:
        log.info(
            "running in a cgroup slice (%s): CPU limit %s, memory limit %s bytes",
            slice_.path,
            slice_.cpu_limit,
            slice_.memory_limit_bytes,
        )
    return slice_


def _rapl_if_any(rapl: RaplSensor, log: logging.Logger) -> RaplSensor | None:
    """``rapl`` when it measures a CPU package; else it is closed, the reason logged (INFO) and ``None``."""
    if any(ch.startswith("cpu:") for ch in rapl.channels()):
        return rapl
    rapl.close()
    log.info("CPU energy is modelled from utilisation: %s", rapl.unavailable_reason)
    return None
