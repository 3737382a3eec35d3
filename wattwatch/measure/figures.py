"""The per-unit figures every part of wattwatch divides the same way: which energy J/step, J/sample and J/token
divide (training's), and which J/request and J/generated-token divide (inference's).

One place, so that the callbacks' logs, the row, ``wattwatch report`` (text, ``--json``, HTML) and
``wattwatch check`` cannot disagree:

- **Training energy** is the ``train`` phase's when the run has one (the Trainer and Lightning callbacks name
  their steps ``train``), else the energy of the time no phase was named (:data:`UNPHASED`: a plain loop that
  counts steps with ``Tracker.step`` or ``track_optimizer``), else -- a row from before phases were recorded,
  CodeCarbon's -- the run's whole energy. Evaluation, checkpoints and inference are never in it.
- **Inference energy** is the energy of the phases in which requests were counted (``Tracker.count_requests``:
  the phase the tracker is in at the call unless one is named; :class:`wattwatch.callbacks.torch.GenerationMeter`
  names its own); its requests and generated tokens never enter the training counts. A plain inference script
  without phases counts them in :data:`UNPHASED`: its energy over its requests. Steps and requests counted in
  one phase share its energy (a phase of their own keeps generation out of J/step).

Units: kWh in, joules per unit out (PUE applied, as the row's energies).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

__all__ = [
    "INFERENCE_PHASE",
    "TRAIN_PHASE",
    "UNPHASED",
    "inference_energy_kwh",
    "joules_per",
    "run_joules_per",
    "training_energy_kwh",
    "training_phase",
]

J_PER_KWH = 3.6e6

UNPHASED = "(unphased)"
"""The phase of time no phase was named for (a tracker starts in it and returns to it after ``phase(...)``)."""
TRAIN_PHASE = "train"
"""The phase the training callbacks (Hugging Face, Lightning) give their steps."""
INFERENCE_PHASE = "inference"
"""The phase :class:`~wattwatch.callbacks.torch.GenerationMeter` measures requests in by default."""


def training_phase(phase_energy_kwh: Mapping[str, float]) -> str | None:
    """The phase whose energy is training's: ``train`` when the run has it, else :data:`UNPHASED` when the run has
    that, else ``None`` (no phases: the run's whole energy is training's)."""
    if TRAIN_PHASE in phase_energy_kwh:
        return TRAIN_PHASE
    if UNPHASED in phase_energy_kwh:
        return UNPHASED
    return None


def training_energy_kwh(phase_energy_kwh: Mapping[str, float], energy_kwh: float) -> float:
    """The energy J/step, J/sample and J/token divide (kWh; see the module docstring)."""
    phase = training_phase(phase_energy_kwh)
    if phase is None:
        return float(energy_kwh)
    return float(phase_energy_kwh[phase])


def inference_energy_kwh(phase_energy_kwh: Mapping[str, float], request_phases: str) -> float:
    """The energy of the phases requests were counted in (``request_phases``: ``+``-joined names, the row's
    column), kWh; 0 when none."""
    names = {p for p in request_phases.split("+") if p} if request_phases else set()
    return float(sum(v for k, v in phase_energy_kwh.items() if k in names))


def run_joules_per(segment_training_kwh: Iterable[float], count: int | float | None) -> float | None:
    """J per unit of ``count`` for a run of one or more process segments (a resumed run): the training energy of
    *every* segment over the run's count (the last segment's: the trainer's counters at the end); ``None`` without
    a positive count. The one computation of ``wattwatch report``'s table, ``--json``, HTML page and ``check``.

    ``segment_training_kwh``: each segment's own :func:`training_energy_kwh` (kWh), decided per segment from
    that segment's phases, never from the run's summed phases. So in a mixed run -- one segment with a ``train``
    phase, another (resumed without the callbacks) that named no phase -- the unphased segment contributes its
    :data:`UNPHASED` energy (no phase was named: its steps and tokens were counted in that time), while the
    ``train`` segment contributes its ``train`` energy only (its unphased time -- set-up, the time after
    training -- is not training's). A segment without phases (a row from before phases) contributes its whole
    energy."""
    return joules_per(math.fsum(segment_training_kwh), count)


def joules_per(energy_kwh: float, count: int | float | None) -> float | None:
    """``energy_kwh`` in joules per unit of ``count``; ``None`` without a positive count."""
    if count is None or not count > 0:
        return None
    return float(energy_kwh) * J_PER_KWH / float(count)
