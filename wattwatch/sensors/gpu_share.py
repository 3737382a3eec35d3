"""A shared GPU's energy split between the processes on it, and a MIG instance's share of its parent.

NVML meters whole boards. When several jobs share one GPU (or one GPU is cut into MIG instances), charging each
job the board's energy counts it several times. Both splits here are *estimates*, opt-in, and their methods
say so (``estimate:gpu-process-share``, ``estimate:mig-slice-share``):

- **Process share** (:func:`split_energy`, :class:`ProcessSplitter`): each interval's board energy is split in
  proportion to the processes' SM utilisation samples in that interval (``nvmlDeviceGetProcessUtilization``:
  one sample per process per driver sampling period, ``smUtil`` = percent of the period a kernel of that
  process ran; queried at most every 0.5 s, since the driver samples every 1/6 to 1 s and a faster query
  finds nothing new). A query with no new sample reuses the last split for up to 2 s (the driver's period can
  be longer than the read interval). Past that, no sample means nothing computed: the energy is split evenly among the
  processes holding a compute context (``nvmlDeviceGetComputeRunningProcesses``); with none, it is left
  unattributed: an idle board belongs to the machine, as the CPU idle floor does in process mode. The shares
  of all processes sum to the board's energy, interval by interval.
- **MIG slice share** (:func:`mig_slice_fraction`): a MIG instance is charged its parent's energy times its
  GPU-instance slices over the parent's slices (``gpuInstanceSliceCount`` of the instance; the largest
  ``sliceCount`` of the parent's GPU-instance profiles, 7 on A100/H100, 4 on A30). Slices split SMs, memory
  and bandwidth evenly, so this is the board's energy in proportion to the hardware the instance holds; what
  one tenant's load adds over another's is not seen by NVML, which has no per-instance power.

Why SM time and not power: NVML has no per-process power. SM time is the closest thing it reports; a
memory-bound kernel and a compute-bound one of the same duration draw different power, which is why the
method is an estimate and carries a wide band (:mod:`wattwatch.measure.uncertainty`).

PIDs: NVML reports host PIDs. In a container without the host's PID namespace the tracked PIDs do not match
and the run's share reads 0; the sensor warns once when none of its PIDs is ever seen on a busy GPU.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from typing import Protocol, TypeAlias

__all__ = [
    "MIG_PROFILES",
    "MigNvml",
    "NvmlHandle",
    "ProcessSplitter",
    "mig_slice_fraction",
    "process_tree_pids",
    "split_energy",
]

NvmlHandle: TypeAlias = object
"""pynvml's opaque device handle (a ``c_nvmlDevice_t`` pointer, of a GPU or a MIG instance): only ever passed back
to NVML."""


class _InstanceAttributes(Protocol):
    @property
    def gpuInstanceSliceCount(self) -> int: ...  # noqa: N802 - NVML's field name


class _ProfileInfo(Protocol):
    @property
    def sliceCount(self) -> int: ...  # noqa: N802 - NVML's field name


class MigNvml(Protocol):
    """The part of ``pynvml`` that :func:`mig_slice_fraction` calls (the module itself satisfies it)."""

    NVMLError: type[Exception]

    def nvmlDeviceGetAttributes(self, handle: NvmlHandle) -> _InstanceAttributes: ...  # noqa: N802

    def nvmlDeviceGetGpuInstanceProfileInfo(  # noqa: N802
        self, handle: NvmlHandle, profile: int, version: int = ...
    ) -> _ProfileInfo: ...


MIG_PROFILES = (0, 1, 2, 3, 4, 5, 6)
"""``NVML_GPU_INSTANCE_PROFILE_{1,2,3,4,7,8,6}_SLICE``: the profiles probed for the parent's slice count."""


def split_energy(delta_j: float, weights: Mapping[int, float], running: Collection[int]) -> dict[int, float]:
    """Split ``delta_j`` joules between PIDs: by ``weights`` (summed SM utilisation per PID) when any is
    positive, else evenly among ``running`` PIDs, else nobody (``{}``). The values sum to ``delta_j`` unless
    the result is empty."""
    positive = {pid: w for pid, w in weights.items() if w > 0}
    total = sum(positive.values())
    if total > 0:
        return {pid: delta_j * w / total for pid, w in positive.items()}
    pids = sorted(set(running))
    if pids:
        return dict.fromkeys(pids, delta_j / len(pids))
    return {}


class ProcessSplitter:
    """Per-PID energy totals of one board, fed interval by interval (see the module docstring).

    ``attributed_j`` per PID plus ``unattributed_j`` equals the energy fed in. Memory grows with the number of
    distinct PIDs ever seen on the board (a few per job), not with run length.
    """

    def __init__(self) -> None:
        self.attributed_j: dict[int, float] = {}
        self.unattributed_j = 0.0
        self.last_seen_us = 0

    def add(self, delta_j: float, weights: Mapping[int, float], running: Collection[int]) -> dict[int, float]:
        """Split one interval's ``delta_j`` and add it to the totals; returns this interval's split."""
        split = split_energy(delta_j, weights, running)
        if not split:
            self.unattributed_j += delta_j
        for pid, joules in split.items():
            self.attributed_j[pid] = self.attributed_j.get(pid, 0.0) + joules
        return split

    def share_of(
        self, pids: Collection[int], weights: Mapping[int, float], running: Collection[int]
    ) -> float:
        """The fraction (0..1) of an interval that ``pids`` get under the same rule (for power readings)."""
        split = split_energy(1.0, weights, running)
        return sum(split.get(pid, 0.0) for pid in set(pids))


def process_tree_pids(pid: int | None = None) -> Callable[[], frozenset[int]]:
    """A function returning ``pid`` (default: this process) and its live descendants."""
    root_pid = os.getpid() if pid is None else pid

    def pids() -> frozenset[int]:
        import psutil  # only when GPU shares are on: NVML's import (every start) must not load psutil (~12 ms)

        try:
            root = psutil.Process(root_pid)
            return frozenset([root_pid, *(c.pid for c in root.children(recursive=True))])
        except (psutil.Error, OSError):
            return frozenset([root_pid])

    return pids


def mig_slice_fraction(
    nvml: MigNvml, parent: NvmlHandle, mig_handles: Collection[NvmlHandle]
) -> tuple[float, int, int] | None:
    """``(fraction, instance slices, parent slices)`` for MIG instances ``mig_handles`` of GPU ``parent``, or
    ``None`` when NVML cannot say (the caller then keeps the parent's whole energy and says so)."""
    try:
        slices = sum(int(nvml.nvmlDeviceGetAttributes(h).gpuInstanceSliceCount) for h in mig_handles)
    except nvml.NVMLError:
        return None
    total = 0
    for profile in MIG_PROFILES:
        try:
            total = max(
                total, int(nvml.nvmlDeviceGetGpuInstanceProfileInfo(parent, profile, version=1).sliceCount)
            )
        except nvml.NVMLError:
            continue
    if slices <= 0 or total <= 0:
        return None
    return min(1.0, slices / total), slices, total
