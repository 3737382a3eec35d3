"""One run, one line: the rows of a run's process segments combined into the run's figures (issue 24).

A run resumed from a checkpoint (``Tracker.state_dict`` / ``load_state_dict``, the Trainer's
``resume_from_checkpoint``) has one row per process segment: each holds *its own* energy, emissions and
duration, and the *run's* cumulative counts (steps, samples, tokens, requests) as the trainer's state had them.
Listing the rows as runs showed one run twice, and the second segment at its own energy over the whole run's
tokens (1.52 J/token where the run's truth is 2.77), which put resumed runs first in the J/token ranking.

The rules (:func:`combine_segments`):

- energies, emissions, water, embodied CO2, durations, error bands, readings and gaps **add up** over the
  segments (each segment holds its own), and so do the per-phase and per-GPU figures;
- the counts are the **last segment's** (the highest ``resumed_segments``; the latest started among equals): the
  trainer's counters at the end. A step replayed after a crash (a crash at step 25, resumed from the checkpoint
  of step 20: steps 21-25 run twice) counts once -- the model took it once -- while the energy of both runs of
  it counts: it was spent. The crash's cost shows in J/step, where a user deciding on checkpoint intervals
  wants to see it;
- the status, the evaluation metrics and the row's other facts are the last segment's; the start is the first
  segment's; mean powers and the intensity are recomputed from the sums.

J/step, J/sample and J/token are then the training energy of all segments over those counts
(:mod:`wattwatch.measure.figures`).

Which rows are segments (:class:`SegmentWinners`, the one rule of ``report``'s readers and of ``check``): a
process segment is ``(run_id, resumed_segments, start_time)``. ``resumed_segments`` alone is not enough: two
retries resumed from the *same* checkpoint carry the same number, and each holds energy that was spent. The same
segment found twice (a copy of the file, a journal and its row) has the same start and counts once: its fuller
row, then its latest ``timestamp``. A row without a ``start_time`` (CodeCarbon's columns in ``emissions.csv``
beside the full row in ``emissions.wattwatch.csv``) is a copy of the segment of its run and number that has one;
rows without one anywhere (CodeCarbon's own file) are told apart by ``(run_id, resumed_segments)`` only.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Generic, TypeVar

from wattwatch.result import EmissionsData

__all__ = ["SegmentWinners", "combine_segments", "segment_order", "segments_training_kwh"]

T = TypeVar("T")

_ADDED = (
    "duration", "emissions", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed", "water_consumed",
    "gap_seconds",
)  # fmt: skip
_ADDED_INT = ("readings", "gaps")
_ADDED_OPTIONAL = ("embodied_emissions", "energy_low_kwh", "energy_high_kwh", "overlap_energy_kwh")
_ADDED_MAPS = ("phase_energy_kwh", "phase_emissions_kg", "gpu_energy_by_device_kwh")


def segment_order(data: EmissionsData) -> tuple[int, str, str]:
    """How a run's segments are ordered: by ``resumed_segments``, then by when the segment started (two retries
    from one checkpoint), then by when the row was written."""
    return (data.resumed_segments, data.start_time, data.timestamp)


class SegmentWinners(Generic[T]):
    """The row that stands for each process segment among rows added one by one (see the module docstring):
    ``add`` each row's item with its run id, ``resumed_segments``, ``start_time`` and rank (higher wins; a later
    row on a tie), then read :meth:`winners`."""

    def __init__(self) -> None:
        self._best: dict[tuple[str, int, str], tuple[tuple[bool, str], T]] = {}
        self._dated: set[tuple[str, int]] = set()

    def add(self, item: T, run_id: str, segment: int, start: str, rank: tuple[bool, str]) -> None:
        key = (run_id, segment, start)
        old = self._best.get(key)
        if old is None or rank >= old[0]:
            self._best[key] = (rank, item)
        if start:
            self._dated.add((run_id, segment))

    def winners(self) -> list[T]:
        """One item per segment, in the order each segment was first seen; a row without a start is left out
        where its run and number have rows with one (it is a copy of one of them in fewer columns)."""
        dated = self._dated
        return [item for (rid, seg, start), (_, item) in self._best.items() if start or (rid, seg) not in dated]


def _sum_maps(maps: Iterable[Mapping[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in maps:
        for k, v in m.items():
            out[k] = out.get(k, 0.0) + float(v)
    return out


def segments_training_kwh(segments: Sequence[EmissionsData]) -> tuple[float, ...]:
    """Each segment's training energy (kWh, in :func:`segment_order`), decided from its own phases
    (:func:`wattwatch.measure.figures.training_energy_kwh`): what a combined run's J/step, J/sample and J/token
    divide (:func:`wattwatch.measure.figures.run_joules_per`). The combined row's summed phases cannot say it: a
    segment that named no phase trained in ``(unphased)`` time, which a ``train`` segment's row calls set-up."""
    from wattwatch.measure.figures import training_energy_kwh

    return tuple(training_energy_kwh(d.phase_energy_kwh, d.energy_consumed) for d in sorted(segments, key=segment_order))


def combine_segments(segments: Sequence[EmissionsData]) -> EmissionsData:
    """The run whose segments' rows are ``segments`` (one run id), as one row: see the module docstring. One
    segment is returned as it is."""
    if len(segments) == 1:
        return segments[0]
    ordered = sorted(segments, key=segment_order)
    first, last = ordered[0], ordered[-1]
    sums: dict[str, object] = {n: math.fsum(getattr(d, n) for d in ordered) for n in _ADDED}
    sums.update({n: sum(getattr(d, n) for d in ordered) for n in _ADDED_INT})
    for name in _ADDED_OPTIONAL:
        values = [getattr(d, name) for d in ordered]
        if name == "overlap_energy_kwh":
            values = [v for v in values if v is not None] or [None]
        sums[name] = None if any(v is None for v in values) else math.fsum(values)
    sums.update({n: _sum_maps(getattr(d, n) for d in ordered) for n in _ADDED_MAPS})
    duration = float(sums["duration"])  # type: ignore[arg-type]
    per_w = 3.6e6 / duration if duration > 0 else 0.0
    energy = float(sums["energy_consumed"])  # type: ignore[arg-type]
    emissions = float(sums["emissions"])  # type: ignore[arg-type]
    return dataclasses.replace(
        last,
        start_time=first.start_time or last.start_time,
        cpu_power=float(sums["cpu_energy"]) * per_w,  # type: ignore[arg-type]
        gpu_power=float(sums["gpu_energy"]) * per_w,  # type: ignore[arg-type]
        ram_power=float(sums["ram_energy"]) * per_w,  # type: ignore[arg-type]
        emissions_rate=emissions / duration if duration > 0 else 0.0,
        intensity_g_per_kwh=emissions * 1000.0 / energy if energy > 0 else last.intensity_g_per_kwh,
        **sums,  # type: ignore[arg-type]
    )
