"""What one tracker measures on this host: the rank topology, which GPUs and whether CPU/RAM this process owns,
and the sensors that read them -- opened together at ``start()``, closed together at ``stop()``.

:meth:`Hardware.open` detects the topology (:mod:`wattwatch.distributed.topology`), resolves ownership, joins the
run id every rank agrees on (a distributed run gets an :class:`~wattwatch.distributed.aggregator.Aggregator`)
and opens the sensors (or takes the ``sensors`` given). Hardware roots are parameters; nothing here raises for a
missing device (a host without NVML simply has no GPU channel).

GPUs, one vendor library per host: NVML when it lists a GPU; else, on a host that shows an AMD GPU (ROCm's
``/dev/kfd``, an amdgpu hwmon device, or an ``amd_library`` given), amdsmi -- so hosts without AMD GPUs never
import it. Then the kernel's hwmon for GPUs no library measures (Intel i915/xe; amdgpu when amdsmi is not used),
read by the process that measures the host and only when ``gpu_ids`` was not given: hwmon has no per-process
selection. A GPU amdsmi lists is never read through hwmon (see :mod:`wattwatch.sensors.hwmon`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from wattwatch.sensors.base import ChannelInfo, Sensor
from wattwatch.util.background import Background
from wattwatch.util.once import WarnOnce
from wattwatch.util.records import record

if TYPE_CHECKING:
    from wattwatch.distributed.aggregator import Aggregator
    from wattwatch.distributed.topology import Ownership, Topology
    from wattwatch.sensors.amd import AmdSmiSensor

__all__ = [
    "HWMON_GPU_DRIVERS",
    "ForcedPower",
    "Hardware",
    "HardwareRoots",
    "SliceOptions",
    "amd_possible",
    "hwmon_gpu_possible",
    "open_together",
]


@record
class HardwareRoots:
    """Where the hardware is read from (parameters, so tests and unusual hosts can point elsewhere)."""

    nvml_library: str | os.PathLike[str] | None = None
    powercap_root: Path = Path("/sys/class/powercap")
    proc_root: Path = Path("/proc")
    environ: Mapping[str, str] | None = None
    amd_library: str | os.PathLike[str] | None = None
    """ROCm's ``libamd_smi.so``; ``None``: amdsmi's own search."""
    hwmon_root: Path = Path("/sys/class/hwmon")
    kfd_path: Path = Path("/dev/kfd")
    """ROCm's compute device node: one of the signs that the host has an AMD GPU worth asking amdsmi about."""
    dmi_root: Path = Path("/sys/class/dmi/id")
    """Read to detect a VM (with ``/proc/cpuinfo``'s hypervisor flag)."""
    cgroup_root: Path = Path("/sys/fs/cgroup")
    """Read (with ``<proc_root>/self/cgroup``) to find a container's CPU and memory limits."""


@record
class SliceOptions:
    """How the run's slice of shared hardware is charged (see docs/accuracy.md): ``tdp_w`` (watts of the
    visible CPUs at full load), ``vcpu_w`` (watts per vCPU on a VM), ``gpu_share`` (a shared GPU's share)."""

    tdp_w: float | None = None
    vcpu_w: float | None = None
    gpu_share: bool = False


@record(frozen=True)
class ForcedPower:
    """Powers the user imposes (CodeCarbon's ``force_cpu_power``, ``force_ram_power``, ``force_mode_cpu_load``)."""

    cpu_w: float | None = None
    """The CPU's full-load power (W): the CPU is modelled from its load at this power, RAPL is not read."""
    ram_w: float | None = None
    """A constant RAM power (W) instead of the RAM model."""
    cpu_load_mode: bool = False
    """Model the CPU from its load even where RAPL is readable."""
    curve: str = "wattwatch"
    """How ``cpu_w`` is charged: wattwatch's load model, or ``"codecarbon"`` (CodeCarbon 3.3.2's)."""


@record
class Hardware:
    """The open sensors of one run, with the rank facts that chose them."""

    topology: Topology
    ownership: Ownership
    run_id: str
    """The run id to use: the one given, the launcher's, or rank 0's (distributed runs)."""
    sensors: list[Sensor] = field(default_factory=list)
    infos: list[ChannelInfo] = field(default_factory=list)
    """Every channel the sensors report (one per GPU, CPU package, RAM...)."""
    aggregator: Aggregator | None = None
    """Combines the ranks' totals of a distributed run; ``None`` for a single process."""

    @classmethod
    def open(
        cls,
        *,
        roots: HardwareRoots,
        run_id: str,
        fixed_run_id: bool,
        gpu_ids: Sequence[int | str] | None,
        sensors: Sequence[Sensor] | None,
        tracking_mode: Literal["machine", "process"],
        pid: int | None,
        include_dram: bool,
        slices: SliceOptions | None = None,
        warn: WarnOnce | None = None,
        forced: ForcedPower | None = None,
    ) -> Hardware:
        """Detect, resolve and open. ``fixed_run_id``: the user chose ``run_id`` (never replaced); ``warn``
        reports a distributed run's file faults once."""
        from wattwatch.distributed.topology import (
            current_cuda_device,
            detect_topology,
            launcher_run_id,
            resolve_ownership,
        )

        topology = detect_topology(roots.environ)
        cuda_device = current_cuda_device() if topology.is_distributed else None
        visible = None
        if topology.is_distributed and gpu_ids is None and cuda_device is None and sensors is None:
            visible = _visible_gpu_uuids(roots) or _visible_amd_ids(roots)
        ownership = resolve_ownership(
            topology,
            None if gpu_ids is None else list(gpu_ids),
            roots.environ,
            visible_gpus=visible,
            cuda_device=cuda_device,
        )
        aggregator = None
        if topology.is_distributed:
            # One row per run: parts and the run's row go through the aggregator (see wattwatch.distributed).
            from wattwatch.distributed.aggregator import Aggregator  # not imported by a single-process run

            aggregator = Aggregator(topology, environ=roots.environ, warn=warn)
            if not fixed_run_id:
                run_id = aggregator.shared_run_id(run_id)
        elif not fixed_run_id:
            run_id = launcher_run_id(topology) or run_id
        outer = (roots.environ if roots.environ is not None else os.environ).get("WATTWATCH_OUTER_RUN_ID")
        if outer and run_id == outer and not fixed_run_id:
            run_id = f"{outer}.inner"  # a tracker inside `wattwatch run`: its own run (wattwatch.run.overlap)
        if sensors is not None:
            opened = list(sensors)
        else:
            opened = _discover(
                ownership,
                roots,
                tracking_mode=tracking_mode,
                pid=pid,
                include_dram=include_dram,
                forced=forced or ForcedPower(),
                explicit_gpus=gpu_ids is not None,
                distributed=topology.is_distributed,
                slices=slices or SliceOptions(),
            )
        infos = [info for s in opened for info in s.describe()]
        return cls(topology, ownership, run_id, opened, infos, aggregator)

    def close(self) -> None:
        """Close every sensor (errors ignored: the run's numbers are already taken)."""
        for sensor in self.sensors:
            try:
                sensor.close()
            except Exception:  # noqa: BLE001 - never into user code
                pass


def _discover(
    ownership: Ownership,
    roots: HardwareRoots,
    *,
    tracking_mode: Literal["machine", "process"],
    pid: int | None,
    include_dram: bool,
    explicit_gpus: bool = False,
    distributed: bool = False,
    slices: SliceOptions | None = None,
    forced: ForcedPower = ForcedPower(),  # noqa: B008 - a frozen record: immutable, shared safely
) -> list[Sensor]:
    """NVML for the GPUs this rank owns (their share when ``slices.gpu_share``) and the host's CPU/RAM sensors:
    RAPL or the model on bare metal, the VM's or the container's slice where there is one, the process tree in
    process mode (see :func:`wattwatch.sensors.host.host_sensors`). The GPUs open in a thread of their own while
    the host's sensors open here (:func:`open_together`)."""
    hwmon = ownership.measure_host and not explicit_gpus and hwmon_gpu_possible(roots)
    if hwmon:  # imported here, not in the GPU thread: no import-lock interplay; and only where hwmon has a GPU
        import wattwatch.sensors.hwmon  # noqa: F401
    import wattwatch.sensors.nvml  # noqa: F401
    from wattwatch.sensors.gpu_share import process_tree_pids
    from wattwatch.sensors.host import host_sensors

    slices = slices or SliceOptions()
    tree_pid = pid if pid is not None else os.getpid()
    gpu_share = slices.gpu_share

    def open_gpus() -> list[Sensor]:
        return _gpu_sensors(
            ownership,
            roots,
            explicit_gpus=explicit_gpus,
            distributed=distributed,
            share=gpu_share,
            pids=process_tree_pids(tree_pid) if gpu_share else None,
            hwmon=hwmon,
        )

    open_host: Callable[[], list[Sensor]] | None = None
    if ownership.measure_host or tracking_mode == "process":  # process mode: each rank its own tree
        tdp_w = forced.cpu_w if forced.cpu_w is not None else slices.tdp_w
        vcpu_w = slices.vcpu_w

        def open_host() -> list[Sensor]:
            return list(
                host_sensors(
                    mode=tracking_mode,
                    pid=tree_pid,
                    powercap_root=roots.powercap_root,
                    proc_root=roots.proc_root,
                    include_dram=include_dram,
                    tdp_w=tdp_w,
                    vcpu_w=vcpu_w,
                    dmi_root=roots.dmi_root,
                    cgroup_root=roots.cgroup_root,
                    cpu_model_only=forced.cpu_w is not None or forced.cpu_load_mode,
                    ram_power_w=forced.ram_w,
                    codecarbon_cpu=forced.cpu_w is not None and forced.curve == "codecarbon",
                )
            )

    return open_together(open_gpus, open_host)


def open_together(
    open_gpus: Callable[[], list[Sensor]] | None, open_host: Callable[[], list[Sensor]] | None
) -> list[Sensor]:
    """The GPU sensors (first) and the host's sensors, opened at the same time: ``open_gpus`` in a thread of its
    own (NVML's init can take seconds on a real node, inside the driver with the GIL released) while
    ``open_host`` runs here. An exception from either is raised once both are done, after closing what the
    other one opened."""
    gpus = Background(open_gpus, name="wattwatch-open-gpus") if open_gpus is not None else None
    try:
        host = open_host() if open_host is not None else []
    except BaseException:
        if gpus is not None:
            for sensor in _result_or_empty(gpus):
                _close_quietly(sensor)
        raise
    try:
        gpu = gpus.result() if gpus is not None else []
    except BaseException:
        for sensor in host:
            _close_quietly(sensor)
        raise
    return list(gpu) + host


def _result_or_empty(pending: Background[list[Sensor]]) -> list[Sensor]:
    try:
        return pending.result()
    except Exception:  # noqa: BLE001 - the other opener's error is the one raised
        return []


def _close_quietly(sensor: Sensor) -> None:
    try:
        sensor.close()
    except Exception:  # noqa: BLE001 - never into user code
        pass


def _gpu_sensors(
    ownership: Ownership,
    roots: HardwareRoots,
    *,
    explicit_gpus: bool,
    distributed: bool,
    share: bool = False,
    pids: Callable[[], Collection[int]] | None = None,
    hwmon: bool = True,
) -> list[Sensor]:
    """NVML, else amdsmi, for the GPUs this process owns; then (``hwmon``: this process measures the host and
    hwmon lists a GPU driver) hwmon for the GPUs neither library measures. ``share``: NVIDIA GPUs are charged by
    the share of ``pids`` (the process tree) in their utilisation."""
    from wattwatch.sensors.nvml import NvmlSensor

    sensors: list[Sensor] = []
    measured_by_amdsmi: list[str] | None = None
    nvidia = False
    if ownership.gpu_ids is None or ownership.gpu_ids:
        nvml = NvmlSensor(
            ownership.gpu_ids,
            library_path=roots.nvml_library,
            environ=roots.environ,
            share=share,
            pids=pids,
        )
        sensors.append(nvml)
        nvidia = bool(nvml.channels())
        if not nvidia and amd_possible(roots):
            amd = _amd_sensor(ownership, roots, explicit_gpus=explicit_gpus, distributed=distributed)
            measured_by_amdsmi = [d.bdf for d in amd.devices] if amd is not None else []
            if amd is not None:
                sensors.append(amd)
    if hwmon and ownership.measure_host and not explicit_gpus:
        from wattwatch.sensors.hwmon import HwmonGpuSensor

        if measured_by_amdsmi is None:  # this process did not ask amdsmi: does it list GPUs hwmon also sees?
            measured_by_amdsmi = _amd_bus_ids(roots) if not nvidia and amd_possible(roots) else []
        sensor = HwmonGpuSensor(roots.hwmon_root, exclude_pci_bus_ids=measured_by_amdsmi)
        if sensor.channels():
            sensors.append(sensor)
    return sensors


HWMON_GPU_DRIVERS = frozenset({"i915", "xe", "amdgpu"})
"""The hwmon device names of whole-GPU drivers (the keys of :data:`wattwatch.sensors.hwmon.GPU_DRIVERS`, repeated here
so that a host without one does not import the hwmon sensor)."""


def _hwmon_names(root: Path) -> set[str]:
    """The ``name`` of every hwmon device under ``root`` (empty when the folder is missing or unreadable)."""
    names: set[str] = set()
    try:
        entries = list(Path(root).iterdir())
    except OSError:
        return names
    for p in entries:
        try:
            names.add((p / "name").read_text().strip())
        except OSError:
            continue
    return names


def hwmon_gpu_possible(roots: HardwareRoots) -> bool:
    """Whether hwmon lists a device of a GPU driver (:data:`HWMON_GPU_DRIVERS`): only then is the hwmon GPU sensor
    imported and opened."""
    return not HWMON_GPU_DRIVERS.isdisjoint(_hwmon_names(roots.hwmon_root))


def amd_possible(roots: HardwareRoots) -> bool:
    """Whether to ask amdsmi at all: a library was named, ROCm's ``/dev/kfd`` exists, or hwmon shows an amdgpu
    device. Keeps hosts without AMD GPUs from importing the binding (tens of milliseconds)."""
    if roots.amd_library is not None or roots.kfd_path.exists():
        return True
    return "amdgpu" in _hwmon_names(roots.hwmon_root)


def _amd_sensor(
    ownership: Ownership, roots: HardwareRoots, *, explicit_gpus: bool, distributed: bool
) -> AmdSmiSensor | None:
    """amdsmi for the owned GPUs. In a distributed run an MI250 package is left to the rank owning its reporting
    die. Ids the ownership rules derived (not the user's) that amdsmi cannot resolve fall back to the lead rule:
    local rank 0 measures every visible AMD GPU."""
    from wattwatch.sensors.amd import AmdSmiSensor

    def make(gpu_ids: Sequence[int | str] | None) -> AmdSmiSensor:
        return AmdSmiSensor(
            gpu_ids,
            library_path=roots.amd_library,
            environ=roots.environ,
            measure_shared_packages=not distributed,
        )

    sensor: AmdSmiSensor | None
    try:
        sensor = make(ownership.gpu_ids)
    except ValueError:
        if explicit_gpus:
            raise
        sensor = make(None) if ownership.measure_host else None
    if sensor is not None and not sensor.channels() and not sensor.devices:
        sensor.close()
        return None
    return sensor


def _amd_bus_ids(roots: HardwareRoots) -> list[str]:
    """PCI bus ids of every GPU amdsmi lists (for hwmon to leave alone), or none."""
    from wattwatch.sensors.amd import AmdSmiSensor

    probe = AmdSmiSensor([], library_path=roots.amd_library, environ=roots.environ)
    try:
        return [d.bdf for d in probe.devices]
    finally:
        probe.close()


def _visible_amd_ids(roots: HardwareRoots) -> list[str]:
    """HIP UUIDs of the AMD GPUs this process sees, in HIP order (the ROCm variables applied), when the host
    may have any; every die of a multi-die package counts (GPU[local rank] is about dies)."""
    if not amd_possible(roots):
        return []
    from wattwatch.sensors.amd import AmdSmiSensor

    try:
        probe = AmdSmiSensor(None, library_path=roots.amd_library, environ=roots.environ)
    except Exception:  # noqa: BLE001 - no GPU facts: local rank 0 measures whatever amdsmi shows
        return []
    try:
        return [d.hip_uuid or d.uuid or str(d.index) for d in probe.selected]
    finally:
        probe.close()


def _visible_gpu_uuids(roots: HardwareRoots) -> list[str]:
    """UUIDs of the GPUs this process sees, in CUDA order (for GPU[local rank] ownership)."""
    from wattwatch.sensors.nvml import NvmlSensor

    try:
        probe = NvmlSensor(None, library_path=roots.nvml_library, environ=roots.environ)
    except Exception:  # noqa: BLE001 - no GPU facts: local rank 0 measures whatever NVML shows
        return []
    try:
        return [str(i.details.get("uuid") or i.channel.split(":")[1]) for i in probe.describe()]
    finally:
        probe.close()
