"""A shared NVIDIA GPU's readings cut to this run's share, for :class:`~wattwatch.sensors.nvml.NvmlSensor`
(``share=True``; the rules are :mod:`wattwatch.sensors.gpu_share`'s).

:func:`prepare_share` picks the rule per GPU: MIG instances by their slices (``estimate:mig-slice-share``), a
whole GPU by this process tree's share of the SM utilisation samples (``estimate:gpu-process-share``), or the
whole board when NVML cannot say (logged). :meth:`ShareReader.read` turns one board reading (cumulative joules
or watts) into the run's share of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import field
from types import ModuleType

from wattwatch.sensors.base import ENERGY, POWER, Reading
from wattwatch.sensors.gpu_share import NvmlHandle, ProcessSplitter, mig_slice_fraction
from wattwatch.util.records import record

__all__ = ["MIG_SHARE", "PROCESS_SHARE", "GpuShare", "ShareReader", "nvml_code", "prepare_share"]

PROCESS_SHARE = "estimate:gpu-process-share"
MIG_SHARE = "estimate:mig-slice-share"
_PID_REFRESH_S = 1.0
_SAMPLES_REFRESH_S = 0.5
"""Per-process samples are queried at most this often: the driver samples utilisation every 1/6 to 1 s, so a
faster query finds no new sample, which must not read as "nothing ran" (the power path reads every 20 ms)."""
_SAMPLES_CARRY_S = 2.0
"""A query that finds no new sample reuses the last non-empty weights this long (the driver's period may be a
second or more); past it, no sample means nothing ran and the compute processes share evenly."""

Once = Callable[..., None]
"""``once(key, message, *args)``: log ``message`` the first time ``key`` is seen for this GPU."""


def nvml_code(exc: BaseException) -> int | None:
    """The nvmlReturn_t inside a pynvml ``NVMLError``."""
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


@record
class GpuShare:
    """One GPU's share rule (``rule``: :data:`PROCESS_SHARE`, :data:`MIG_SHARE` or ``None``, the whole board),
    what ``describe()`` says of it, and the state the process share keeps between reads."""

    rule: str | None = None
    details: dict[str, object] = field(default_factory=dict)
    fraction: float = 1.0
    splitter: ProcessSplitter | None = None
    last_device_j: float | None = None
    share_j: float = 0.0
    saw_our_pid: bool = False
    samples_at: float = -float("inf")
    weights: dict[int, float] = field(default_factory=dict)
    running: set[int] = field(default_factory=set)
    weights_seen_at: float = -float("inf")


def prepare_share(
    nvml: ModuleType,
    index: int,
    handle: NvmlHandle,
    mig_handles: Mapping[str, NvmlHandle],
    mig_requested: Collection[str],
    log: logging.Logger,
) -> GpuShare:
    """The share rule for GPU ``index`` (MIG slices when selected by MIG ids, else process samples), or the whole
    board, logged, when NVML answers neither."""
    if mig_requested:
        wanted = [r.lower() for r in mig_requested]
        handles = [h for m, h in mig_handles.items() if any(m.lower().startswith(w) for w in wanted)]
        found = mig_slice_fraction(nvml, handle, handles) if handles else None
        if found is None:
            log.warning("wattwatch: GPU %d: MIG slice counts unavailable; charging the whole GPU", index)
            return GpuShare(details={"share_unavailable": "NVML gave no MIG slice counts; the parent's whole energy"})
        details: dict[str, object] = {"mig_slices": found[1], "parent_slices": found[2], "fraction": round(found[0], 6)}
        return GpuShare(MIG_SHARE, details, fraction=found[0])
    problems = []
    for query in (
        lambda: nvml.nvmlDeviceGetProcessUtilization(handle, 0),
        lambda: nvml.nvmlDeviceGetComputeRunningProcesses(handle),
    ):
        try:
            query()
        except nvml.NVMLError as exc:
            if nvml_code(exc) != nvml.NVML_ERROR_NOT_FOUND:
                problems.append(str(exc))
    if len(problems) == 2:
        log.warning(
            "wattwatch: GPU %d answers no per-process query (%s); charging the whole GPU", index, "; ".join(problems)
        )
        return GpuShare(details={"share_unavailable": "; ".join(problems)})
    rule = "SM utilisation samples; even split among compute processes when none"
    return GpuShare(PROCESS_SHARE, {"share_rule": rule}, splitter=ProcessSplitter())


class ShareReader:
    """Cuts board readings to the share of the PIDs ``pids()`` returns (refreshed at most once a second)."""

    def __init__(self, pids: Callable[[], Collection[int]]) -> None:
        self._pids_fn = pids
        self._pids: frozenset[int] = frozenset()
        self._pids_at = -float("inf")

    def _our_pids(self) -> frozenset[int]:
        now = time.monotonic()
        if now - self._pids_at >= _PID_REFRESH_S:
            self._pids, self._pids_at = frozenset(self._pids_fn()), now
        return self._pids

    def read(
        self, nvml: ModuleType, index: int, handle: NvmlHandle, share: GpuShare, reading: Reading, once: Once
    ) -> Reading:
        """``reading`` (the whole board's) as this run's share: MIG readings times the slice fraction; otherwise
        energy split interval by interval, power times the current split."""
        if share.rule == MIG_SHARE:
            return Reading(reading.value * share.fraction, reading.kind)
        assert share.splitter is not None
        now = time.monotonic()
        if now - share.samples_at >= _SAMPLES_REFRESH_S:
            weights, share.running = _process_samples(nvml, index, handle, share.splitter, once)
            if weights:
                share.weights, share.weights_seen_at = weights, now
            elif now - share.weights_seen_at > _SAMPLES_CARRY_S:
                share.weights = {}
            share.samples_at = now
        weights, running = share.weights, share.running
        ours = self._our_pids()
        if ours & (set(weights) | set(running)):
            share.saw_our_pid = True
        elif weights and not share.saw_our_pid:
            once(
                "no-own-pid",
                "wattwatch: GPU %d is busy but none of this run's processes is on it (pids %s; in a container "
                "without the host PID namespace NVML's pids differ); its share reads 0",
                index,
                sorted(ours)[:8],
            )
        if reading.kind == ENERGY:
            if share.last_device_j is None:
                share.last_device_j = reading.value
                return Reading(share.share_j, ENERGY)
            delta = max(0.0, reading.value - share.last_device_j)
            share.last_device_j = reading.value
            split = share.splitter.add(delta, weights, running)
            share.share_j += sum(split.get(pid, 0.0) for pid in ours)
            return Reading(share.share_j, ENERGY)
        return Reading(reading.value * share.splitter.share_of(ours, weights, running), POWER)


def _process_samples(
    nvml: ModuleType, index: int, handle: NvmlHandle, splitter: ProcessSplitter, once: Once
) -> tuple[dict[int, float], set[int]]:
    """SM utilisation summed per PID over the samples since the last read, and the compute PIDs now."""
    weights: dict[int, float] = {}
    try:
        samples = nvml.nvmlDeviceGetProcessUtilization(handle, splitter.last_seen_us)
    except nvml.NVMLError as exc:
        if nvml_code(exc) != nvml.NVML_ERROR_NOT_FOUND:  # NOT_FOUND: no sample since the last read
            once("util:" + str(exc), "wattwatch: GPU %d per-process utilisation: %s", index, exc)
        samples = []
    for sample in samples:
        weights[int(sample.pid)] = weights.get(int(sample.pid), 0.0) + float(sample.smUtil)
        splitter.last_seen_us = max(splitter.last_seen_us, int(sample.timeStamp))
    try:
        running = {int(p.pid) for p in nvml.nvmlDeviceGetComputeRunningProcesses(handle)}
    except nvml.NVMLError as exc:
        once("procs:" + str(exc), "wattwatch: GPU %d compute processes: %s", index, exc)
        running = set()
    return weights, running
