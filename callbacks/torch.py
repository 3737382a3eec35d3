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
        print(meter.last_requests[0].energy_j)   # this request's joules: prefill + its decode steps
    print(meter.report())                    # J per generated token and per request

A batched call gives each row its own energy (``last_requests``): its share of the prefill by prompt tokens plus
an equal share of each decode step it took part in, adding up to the call's measured energy
(:mod:`wattwatch.levers.attribution`; serving loops of their own use its ``RequestAttributor``).

Distributed runs: every process hooks its own optimizer and **every process calls** ``tracker.stop()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from wattwatch.levers.attribution import RequestAttributor, RequestEnergy
from wattwatch.measure.figures import inference_energy_kwh, training_energy_kwh, training_phase
from wattwatch.measure.ledger import J_PER_KWH
from wattwatch.result import EmissionsData
from wattwatch.run.tracker import Tracker

if TYPE_CHECKING:
    from wattwatch.levers.generate import GenerateRecorder

__all__ = [
    "GenerationMeter",
    "GenerationReport",
    "GenerativeModel",
    "HookableOptimizer",
    "OptimizerHook",
    "RequestEnergy",
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
        self,
        optimizer: HookableOptimizer,
        tracker: Tracker,
        batch_size: Count = None,
        tokens_per_step: Count = None,
        checkpoint: Callable[[], object] | None = None,
    ):
        self.tracker = tracker
        self.batch_size = batch_size
        self.tokens_per_step = tokens_per_step
        self.checkpoint = checkpoint
        self.steps = 0
        self._stopped = False
        self._handle = optimizer.register_step_post_hook(self._on_step)

    def _on_step(self, optimizer: object, args: object, kwargs: object) -> None:
        self.steps += 1
        tracker = self.tracker
        tracker.step(1, samples=_value(self.batch_size), tokens=_value(self.tokens_per_step))  # may raise (budget)
        if tracker.policy is None:
            return
        if tracker.should_stop:
            if not self._stopped:  # once: a checkpoint, then BudgetExceeded out of optimizer.step()
                self._stopped = True
                if self.checkpoint is not None:
                    self.checkpoint()
                raise tracker.policy.exception()
        elif tracker.pause_due():
            tracker.pause_if_dirty(before_wait=self.checkpoint)

    def remove(self) -> None:
        self._handle.remove()

    def per_unit(self, phase: str | None = None) -> UnitEnergy:
        """Live joules per step / sample / token so far (cheap, no I/O)."""
        return energy_per_unit(self.tracker.current(refresh=True), phase)


def track_optimizer(
    optimizer: HookableOptimizer,
    tracker: Tracker,
    *,
    batch_size: Count = None,
    tokens_per_step: Count = None,
    checkpoint: Callable[[], object] | None = None,
) -> OptimizerHook:
    """Count every ``optimizer.step()`` as one step of ``tracker`` (``register_step_post_hook``).

    ``batch_size`` (samples per step) and ``tokens_per_step`` are numbers or zero-argument callables read after
    each step (for variable batches). The tracker is not started or stopped here.

    Acting on carbon (docs/acting.md): when the tracker has a budget, the first ``optimizer.step()`` past it calls
    ``checkpoint()`` (when given) and raises :class:`wattwatch.BudgetExceeded` (``on_budget`` ``"stop"`` or
    ``"raise"``; the row ends ``budget-stopped``); with a pause rule, a step on a dirty grid calls
    ``checkpoint()`` and waits (phase ``paused``) while the deadline allows.
    """
    if not hasattr(optimizer, "register_step_post_hook"):
        raise ValueError("track_optimizer needs a torch.optim.Optimizer (torch >= 2.0); call tracker.step() yourself")
    return OptimizerHook(optimizer, tracker, batch_size, tokens_per_step, checkpoint)


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
        self.attributor = _phase_attributor(tracker, phase)
        """Per-request energy of :meth:`generate` calls (:mod:`wattwatch.levers.attribution`)."""
        self.last_requests: list[RequestEnergy] = []
        """The requests (rows) of the last :meth:`generate` call with their energy: a share of its prefill by
        prompt tokens plus an equal share of each decode step they took part in, adding up to the call's
        measured energy."""
        self._next_request_id = 0

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
        self,
        model: GenerativeModel,
        input_ids: TokenIds | None = None,
        pad_token_id: int | None = None,
        *,
        request_new_tokens: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> Any:
        """``model.generate(input_ids, **kwargs)`` measured; generated tokens are the new columns of the output
        (padding excluded when ``pad_token_id`` is given or the model's config has one).

        Each row is a request whose energy lands in :attr:`last_requests` (prompt tokens from
        ``attention_mask`` when given). ``request_new_tokens`` (one per row) stops each row after its own number
        of new tokens, as a server honours each request's ``max_tokens``."""
        from wattwatch.levers.generate import GenerateRecorder

        rows = 1 if input_ids is None else int(input_ids.shape[0])
        recorder = None if input_ids is None else GenerateRecorder(rows, limits=request_new_tokens)
        if recorder is not None:
            kwargs["stopping_criteria"] = [*(kwargs.get("stopping_criteria") or []), recorder]
        with self.request(n=rows) as req:
            self.attributor.settle()  # energy of this phase since the last call, outside generate: idle
            if recorder is not None:
                recorder.start()
            out = model.generate(input_ids, **({} if pad_token_id is None else {"pad_token_id": pad_token_id}), **kwargs)
            sequences = getattr(out, "sequences", out)
            new = sequences[:, 0 if input_ids is None else input_ids.shape[-1] :]
            pad = pad_token_id
            if pad is None:
                pad = getattr(getattr(model, "generation_config", None), "pad_token_id", None)
            req.tokens = int((new != pad).sum()) if pad is not None else int(new.numel())
        if recorder is not None and input_ids is not None:
            mask = kwargs.get("attention_mask")
            width = int(input_ids.shape[-1])
            generated = new.tolist()
            prompts = [int(n) for n in mask.sum(dim=-1).tolist()] if mask is not None else [width] * len(generated)
            self.last_requests = self._attribute(recorder, model, generated, prompts)
        return out

    def _attribute(
        self, recorder: GenerateRecorder, model: GenerativeModel, generated: list[list[int]], prompts: list[int]
    ) -> list[RequestEnergy]:
        """Split the call's measured energy (read after the phase's closing edge) over its rows."""
        from wattwatch.levers.generate import eos_ids_of

        if len(prompts) != len(generated):  # several sequences per prompt (beams, num_return_sequences)
            return []
        ids = list(range(self._next_request_id, self._next_request_id + len(generated)))
        self._next_request_id += len(generated)
        recorder.feed(self.attributor, ids, prompts, recorder.finish_counts(generated, eos_ids_of(model)))
        return self.attributor.finish_many(ids)

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


def _phase_attributor(tracker: Tracker, phase: str) -> RequestAttributor:
    """An attributor reading ``phase``'s energy as the tracker's last reading left it (the phase edges around
    each call read the sensors, so no reading of its own)."""
    return RequestAttributor(lambda: tracker.energy_j(phase, refresh=False))
