"""What one tracker measures on this host: the rank topology, which GPUs and whether CPU/RAM this process owns,
and the sensors that read them -- opened together at ``start()``, closed together at ``stop()``.

:meth:`Hardware.open` detects the topology (:mod:`wattwatch.distributed.topology`), resolves ownership, joins the
run id every rank agrees on (a distributed run gets an :class:`~wattwatch.distributed.aggregator.Aggregator`)
and opens the sensors (NVML and the host's CPU/RAM models, or the ``sensors`` given). Hardware roots are
parameters; nothing here raises for a missing device (a host without NVML simply has no GPU channel).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from wattwatch.sensors.base import ChannelInfo, Sensor
from wattwatch.util.background import Background
from wattwatch.util.once import WarnOnce

if TYPE_CHECKING:
    from wattwatch.distributed.aggregator import Aggregator
    from wattwatch.distributed.topology import Ownership, Topology

__all__ = ["Hardware", "HardwareRoots", "open_together"]


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
            from wattwatch.distributed.aggregator import Aggregator  # not imported by a single-process run

            aggregator = Aggregator(topology, environ=roots.environ, warn=warn)
            if not fixed_run_id:
                run_id = aggregator.shared_run_id(run_id)
        elif not fixed_run_id:
            run_id = launcher_run_id(topology) or run_id
        if sensors is not None:
            opened = list(sensors)
        else:
            opened = _discover(
                ownership, roots, tracking_mode=tracking_mode, pid=pid, include_dram=include_dram
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
) -> list[Sensor]:
    from wattwatch.sensors.host import host_sensors
    from wattwatch.sensors.nvml import NvmlSensor

    open_gpus: Callable[[], Sensor] | None = None
    if ownership.gpu_ids is None or ownership.gpu_ids:
        gpu_ids = ownership.gpu_ids

        def open_gpus() -> Sensor:
            return NvmlSensor(gpu_ids, library_path=roots.nvml_library, environ=roots.environ)

    open_host: Callable[[], list[Sensor]] | None = None
    if ownership.measure_host or tracking_mode == "process":  # process mode: each rank its own tree

        def open_host() -> list[Sensor]:
            return list(
                host_sensors(
                    mode=tracking_mode,
                    pid=pid if pid is not None else os.getpid(),
                    powercap_root=roots.powercap_root,
                    proc_root=roots.proc_root,
                    include_dram=include_dram,
                )
            )

    return open_together(open_gpus, open_host)


def open_together(
    open_gpus: Callable[[], Sensor] | None, open_host: Callable[[], list[Sensor]] | None
) -> list[Sensor]:
    """The GPU sensor (first) and the host's sensors, opened at the same time: ``open_gpus`` in a thread of its
    own (NVML's init can take seconds on a real node, with the GIL released) while ``open_host`` runs here. An
    exception from either is raised once both are done, after closing what the other one opened."""
    gpus = Background(open_gpus, name="wattwatch-open-gpus") if open_gpus is not None else None
    try:
        host = open_host() if open_host is not None else []
    except BaseException:
        if gpus is not None:
            _close_quietly(_result_or_none(gpus))
        raise
    try:
        gpu = gpus.result() if gpus is not None else None
    except BaseException:
        for sensor in host:
            _close_quietly(sensor)
        raise
    return ([gpu] if gpu is not None else []) + host


def _result_or_none(pending: Background[Sensor]) -> Sensor | None:
    try:
        return pending.result()
    except Exception:  # noqa: BLE001 - the other opener's error is the one raised
        return None


def _close_quietly(sensor: Sensor | None) -> None:
    if sensor is None:
        return
    try:
        sensor.close()
    except Exception:  # noqa: BLE001 - never into user code
        pass


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
