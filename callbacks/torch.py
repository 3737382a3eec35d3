"""Plain PyTorch: one line to hook a hand-written loop, and joules per generated token for inference.

Training::

    tracker = Tracker(project_name="my-run", country_iso_code="FRA").start()
    hook = track_optimizer(optimizer, tracker, batch_size=32, tokens_per_step=32 * 512)
    for batch in loader:
        ...; optimizer.step()                # each step is counted (steps, samples, tokens)
        if it % 100 == 0:
            with tracker.phase("eval"):      # evaluation energy kept apart
                evaluate()
    tracker.stop()
    print(energy_per_unit(tracker.final_emissions_data))   # J per step / sample / token (training's energy)

Inference (the number the ML.energy leaderboard ranks models by, on your own model)::

    meter = GenerationMeter(tracker)
    for prompt in prompts:
        out = meter.generate(model, **tokenizer(prompt, return_tensors="pt"), max_new_tokens=64)
    print(meter.report())                    # J per generated token and per request

Distributed runs: every process hooks its own optimizer and **every process calls** ``tracker.stop()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from wattwatch.measure.figures import inference_energy_kwh, training_energy_kwh, training_phase
from wattwatch.measure.ledger import J_PER_KWH
from wattwatch.result import EmissionsData
from wattwatch.run.tracker import Tracker

__all__ = [
    "GenerationMeter",
    "GenerationReport",
    "GenerativeModel",
    "HookableOptimizer",
    "OptimizerHook",
    "TokenIds",
    "UnitEnergy",
    "energy_per_unit",
    "log_metrics",
    "track_optimizer",
]

Count = int | Callable[[], int] | None


class RemovableHandle(Protocol):
    """What ``register_step_post_hook`` returns (``torch.utils.hooks.RemovableHandle``)."""

    def remove(self) -> None: ...


class HookableOptimizer(Protocol):
    """What :func:`track_optimizer` needs of an optimizer: ``torch.optim.Optimizer.register_step_post_hook``
    (torch >= 2.0), which calls ``hook(optimizer, args, kwargs)`` after each ``step()``."""

    def register_step_post_hook(self, hook: Callable[[object, object, object], None]) -> RemovableHandle: ...


class TokenIds(Protocol):
    """A batch of token ids (a ``torch.Tensor`` of shape ``(requests, tokens)``): only its shape is read."""

    @property
    def shape(self) -> Sequence[int]: ...


class GenerativeModel(Protocol):
    """A model with Hugging Face's ``generate(input_ids, **kwargs)``, whatever its exact signature; its output (a
    tensor of token ids, or an object whose ``sequences`` is one) is returned to the caller unchanged."""

    def generate(self, *args: Any, **kwargs: Any) -> Any: ...


def _value(count: Count) -> int | None:
    if count is None:
        return None
    return int(count() if callable(count) else count)


@dataclass(frozen=True)
class UnitEnergy:
    """Energy of one phase divided by the run's counts, in joules (``None`` where nothing was counted)."""

    phase: str
    energy_j: float
    per_step_j: float | None
    per_sample_j: float | None
    per_token_j: float | None


def energy_per_unit(data: EmissionsData, phase: str | None = None) -> UnitEnergy:
    """Joules per step / sample / token: the training energy (PUE applied) over the run's counts.

    ``phase=None`` (default): training's energy as every wattwatch figure takes it -- the ``train`` phase, else
    the time no phase was named (``(unphased)``), see :mod:`wattwatch.measure.figures`; inference requests
    (:class:`GenerationMeter`) are never in it. A phase name divides that phase's energy instead."""
    if phase is None:
        phase = training_phase(data.phase_energy_kwh) or ""
        energy_j = training_energy_kwh(data.phase_energy_kwh, data.energy_consumed) * J_PER_KWH
    else:
        energy_j = float(data.phase_energy_kwh.get(phase, 0.0)) * J_PER_KWH

    def per(count: int | None) -> float | None:
        return energy_j / count if count else None

    return UnitEnergy(phase, energy_j, per(data.steps), per(data.samples), per(data.tokens))


def log_metrics(data: EmissionsData, *, train_phase: str | None = None) -> dict[str, float]:
    """The ``wattwatch/*`` numbers for a log line: totals so far and energy per step / sample / token.

    Units: ``energy_kwh`` kWh, ``emissions_kg`` kg CO2eq, ``power_w`` mean W since the start, ``*_energy_j`` J.
    Per-unit figures divide the *training* energy by the counts (evaluation, checkpoints and inference
    excluded; see :func:`energy_per_unit`); inference requests get ``request_energy_j`` and
    ``generated_token_energy_j``.
    """
    out: dict[str, float] = {
        "wattwatch/energy_kwh": float(data.energy_consumed),
        "wattwatch/emissions_kg": float(data.emissions),
        "wattwatch/power_w": float(data.cpu_power + data.gpu_power + data.ram_power),
    }
    train_j = energy_per_unit(data, train_phase).energy_j
    for key, count in (("step", data.steps), ("sample", data.samples), ("token", data.tokens)):
        if count:
            out[f"wattwatch/{key}_energy_j"] = train_j / count
    inference_j = inference_energy_kwh(data.phase_energy_kwh, data.request_phases) * J_PER_KWH
    for key, count in (("request", data.requests), ("generated_token", data.generated_tokens)):
        if count:
            out[f"wattwatch/{key}_energy_j"] = inference_j / count
    for phase, kwh in sorted(data.phase_energy_kwh.items()):
        out[f"wattwatch/{phase.strip('()')}_energy_kwh"] = float(kwh)  # "(unphased)" -> "unphased"
    return out


class OptimizerHook:
    """Counts optimizer steps into a tracker (see :func:`track_optimizer`). ``remove()`` detaches it."""

    def __init__(
        self, optimizer: HookableOptimizer, tracker: Tracker, batch_size: Count = None, tokens_per_step: Count = None
    ):
        self.tracker = tracker
        self.batch_size = batch_size
        self.tokens_per_step = tokens_per_step
        self.steps = 0
        self._handle = optimizer.register_step_post_hook(self._on_step)

    def _on_step(self, optimizer: object, args: object, kwargs: object) -> None:
        self.steps += 1
        self.tracker.step(1, samples=_value(self.batch_size), tokens=_value(self.tokens_per_step))

    def remove(self) -> None:
        self._handle.remove()

    def per_unit(self, phase: str | None = None) -> UnitEnergy:
        """Live joules per step / sample / token so far (cheap, no I/O)."""
        return energy_per_unit(self.tracker.current(refresh=True), phase)


def track_optimizer(
    optimizer: HookableOptimizer, tracker: Tracker, *, batch_size: Count = None, tokens_per_step: Count = None
) -> OptimizerHook:
    """Count every ``optimizer.step()`` as one step of ``tracker`` (``register_step_post_hook``).

    ``batch_size`` (samples per step) and ``tokens_per_step`` are numbers or zero-argument callables read after
    each step (for variable batches). The tracker is not started or stopped here.
    """
    if not hasattr(optimizer, "register_step_post_hook"):
        raise ValueError("track_optimizer needs a torch.optim.Optimizer (torch >= 2.0); call tracker.step() yourself")
    return OptimizerHook(optimizer, tracker, batch_size, tokens_per_step)


@dataclass(frozen=True)
class GenerationReport:
    """Inference energy: the ``phase``'s joules over generated tokens and requests."""

    requests: int
    generated_tokens: int
    energy_j: float
    joules_per_token: float | None
    joules_per_request: float | None


class GenerationMeter:
    """Measure ``generate`` calls in their own phase (default ``"inference"``) and count requests and tokens.

    One call of :meth:`generate` (or one ``with meter.request() as r`` block) is one request; a batched call
    counts one request per row.
    """

    def __init__(self, tracker: Tracker, phase: str = "inference") -> None:
        self.tracker = tracker
        self.phase = phase
        self.requests = 0
        self.generated_tokens = 0

    @contextmanager
    def request(self, n: int = 1) -> Iterator[_Request]:
        """``with meter.request() as r: ...; r.tokens = <generated tokens>`` for loops that do not call
        :meth:`generate`."""
        req = _Request()
        with self.tracker.phase(self.phase):
            yield req
        self.requests += n
        self.generated_tokens += int(req.tokens)
        self.tracker.count_requests(n, generated_tokens=int(req.tokens), phase=self.phase)

    def generate(
        self, model: GenerativeModel, input_ids: TokenIds | None = None, pad_token_id: int | None = None, **kwargs: Any
    ) -> Any:
        """``model.generate(input_ids, **kwargs)`` measured; generated tokens are the new columns of the output
        (padding excluded when ``pad_token_id`` is given or the model's config has one)."""
        with self.request(n=1 if input_ids is None else int(input_ids.shape[0])) as req:
            out = model.generate(input_ids, **({} if pad_token_id is None else {"pad_token_id": pad_token_id}), **kwargs)
            sequences = getattr(out, "sequences", out)
            new = sequences[:, 0 if input_ids is None else input_ids.shape[-1] :]
            pad = pad_token_id
            if pad is None:
                pad = getattr(getattr(model, "generation_config", None), "pad_token_id", None)
            req.tokens = int((new != pad).sum()) if pad is not None else int(new.numel())
        return out

    def report(self) -> GenerationReport:
        """Joules per generated token and per request so far (PUE applied)."""
        data = self.tracker.current(refresh=True)
        energy_j = float(data.phase_energy_kwh.get(self.phase, 0.0)) * J_PER_KWH
        return GenerationReport(
            self.requests,
            self.generated_tokens,
            energy_j,
            energy_j / self.generated_tokens if self.generated_tokens else None,
            energy_j / self.requests if self.requests else None,
        )


class _Request:
    tokens: int = 0
