"""What one tracker measures on this host: the rank topology, which GPUs and whether CPU/RAM this process owns,
and the sensors that read them -- opened together at ``start()``, closed together at ``stop()``.

:meth:`Hardware.open` detects the topology (:mod:`wattwatch.distributed.topology`), resolves ownership, joins the
run id every rank agrees on (a distributed run gets an :class:`~wattwatch.distributed.aggregator.Aggregator`)
and opens the sensors (NVML and the host's CPU/RAM models, or the ``sensors`` given). Hardware roots are
parameters; nothing here raises for a missing device (a host without NVML simply has no GPU channel).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from wattwatch.sensors.base import ChannelInfo, Sensor
from wattwatch.util.once import WarnOnce

if TYPE_CHECKING:
    from wattwatch.distributed.aggregator import Aggregator
    from wattwatch.distributed.topology import Ownership, Topology

__all__ = ["Hardware", "HardwareRoots"]


@dataclass(frozen=True)
class HardwareRoots:
    """Where the hardware is read from (parameters, so tests and unusual hosts can point elsewhere)."""

    nvml_library: str | os.PathLike[str] | None = None
    powercap_root: Path = Path("/sys/class/powercap")
    proc_root: Path = Path("/proc")
    environ: Mapping[str, str] | None = None


@dataclass
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
        warn: WarnOnce | None = None,
    ) -> Hardware:
        """Detect, resolve and open. ``fixed_run_id``: the user chose ``run_id`` (never replaced); ``warn``
        reports a distributed run's file faults once."""
        from wattwatch.distributed.aggregator import Aggregator
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
            visible = _visible_gpu_uuids(roots)
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
            aggregator = Aggregator(topology, environ=roots.environ, warn=warn)
            if not fixed_run_id:
                run_id = aggregator.shared_run_id(run_id)
        elif not fixed_run_id:
            run_id = launcher_run_id(topology) or run_id
        if sensors is not None:
            opened = list(sensors)
        else:
            opened = _discover(ownership, roots, tracking_mode=tracking_mode, pid=pid, include_dram=include_dram)
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
    pid: int | None, include_dram: bool
) -> list[Sensor]:
    from wattwatch.sensors.host import host_sensors
    from wattwatch.sensors.nvml import NvmlSensor

    sensors: list[Sensor] = []
    if ownership.gpu_ids is None or ownership.gpu_ids:
        sensors.append(NvmlSensor(ownership.gpu_ids, library_path=roots.nvml_library, environ=roots.environ))
    if ownership.measure_host or tracking_mode == "process":  # process mode: each rank its own tree
        sensors.extend(
            host_sensors(
                mode=tracking_mode,
                pid=pid if pid is not None else os.getpid(),
                powercap_root=roots.powercap_root,
                proc_root=roots.proc_root,
                include_dram=include_dram,
            )
        )
    return sensors


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
