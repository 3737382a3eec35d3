"""A levers sweep: every model x precision x batch size measured under one tracker, lowest precision last.

For each model and precision: the model is prepared (:mod:`.precision`), its perplexity on the evaluation text
and its greedy outputs on the first prompts are computed (outside any window), then each batch size gets a
warm-up and a steady-state window (:mod:`.window`) in a tracker phase of its own. A precision or batch size
that cannot run is listed with the reason. After the tracker stops, each window's phase total is read from
its final figures (``measured_j``), the Pareto front is marked, and two models are compared.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from wattwatch.errors import UsageError
from wattwatch.levers.comparison import compare_models, model_size
from wattwatch.levers.inputs import TextInput, default_eval_text, default_prompts
from wattwatch.levers.models import ModelLoadError, ModelSource, resolve_model
from wattwatch.levers.precision import DTYPES, Plan, plan, prepare
from wattwatch.levers.quality import agreement, greedy_outputs, perplexity
from wattwatch.levers.results import ConfigResult, Skipped, SweepResult, mark_pareto
from wattwatch.levers.threads import ThreadChoice, choose_threads
from wattwatch.levers.window import EnergyMeter, measure_window

__all__ = ["SweepOptions", "run_sweep"]

AGREEMENT_PROMPTS = 8
PERPLEXITY_WINDOW = 512
SETUP_PHASE = "levers-setup"


@dataclass
class SweepOptions:
    """What to measure. Units: seconds, tokens."""

    models: list[str]
    batch_sizes: list[int] = field(default_factory=lambda: [1, 8, 32])
    dtypes: list[str] = field(default_factory=lambda: list(DTYPES))
    new_tokens: int = 32
    prompts: list[str] = field(default_factory=default_prompts)
    eval_text: TextInput = field(default_factory=default_eval_text)
    window_s: float = 5.0
    warmup_s: float = 1.0
    device: str = "auto"
    """``auto`` (CUDA when torch sees a GPU), ``cpu`` or ``cuda``."""
    tracking_mode: str = "machine"
    """The tracker's: ``machine`` charges the whole machine (idle included), ``process`` this process's CPU."""
    threads: int | None = None
    """torch CPU threads; ``None``: the faster of torch's default and one, probed (:mod:`.threads`)."""
    tracker_kwargs: dict[str, Any] = field(default_factory=dict)


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: torch sees no CUDA GPU here (use --device cpu)")
    if name not in ("cpu", "cuda"):
        raise UsageError(f"--device must be auto, cpu or cuda; got {name!r}")
    return name


def _device_name(device: str) -> str:
    if device == "cuda":
        return str(torch.cuda.get_device_name(0))
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU"


@dataclass
class _Model:
    source: ModelSource
    prompts: list[list[int]]
    eval_ids: list[int]
    truncated: int


def _tokenize(source: ModelSource, prompts: Sequence[str], eval_text: str, new_tokens: int) -> _Model:
    """Prompts as ids, each cut to its last ``max_positions - new_tokens`` tokens (and at least one token)."""
    room = source.max_positions - new_tokens
    if room < 1:
        raise UsageError(f"--new-tokens {new_tokens} leaves no room for a prompt in {source.name} ({source.max_positions} positions)")
    ids, cut = [], 0
    for p in prompts:
        t = source.tokenizer.encode(p) or [source.tokenizer.pad_id]
        if len(t) > room:
            t, cut = t[-room:], cut + 1
        ids.append(t)
    return _Model(source, ids, source.tokenizer.encode(eval_text), cut)


def run_sweep(opts: SweepOptions, progress: Callable[[str], None] = lambda line: None) -> SweepResult:
    """Measure every configuration of ``opts``; ``progress`` gets one line per step. Models that cannot be loaded
    raise :class:`~wattwatch.levers.models.ModelLoadError` before any measuring."""
    from wattwatch import Tracker

    device = _device(opts.device)
    models = [_tokenize(resolve_model(m), opts.prompts, opts.eval_text.text, opts.new_tokens) for m in opts.models]
    if len({m.source.name for m in models}) != len(models):
        raise UsageError("the two models are the same; give two different models to compare")
    sizes = [model_size(m.source.name, m.source.config) for m in models] if len(models) == 2 else []
    result = SweepResult([], device=device, new_tokens=opts.new_tokens,
                         window_s=opts.window_s, warmup_s=opts.warmup_s, eval_text=opts.eval_text.source)  # fmt: skip
    for m in models:
        if m.truncated:
            result.notes.append(f"{m.source.name}: {m.truncated} prompt(s) cut to their last {m.source.max_positions - opts.new_tokens} tokens")
    started = time.perf_counter()
    threads_before = torch.get_num_threads()
    if opts.threads is not None:
        torch.set_num_threads(opts.threads)
    location_log = logging.getLogger("wattwatch.location")
    level = location_log.level
    location_log.setLevel(logging.ERROR)  # no CO2 here: the "no location given" advice does not apply
    tracker = Tracker(
        project_name="wattwatch-levers", save_to_file=False, save_timeseries=False, handle_signals=False,
        tracking_mode=opts.tracking_mode, **opts.tracker_kwargs,
    )  # fmt: skip
    try:
        tracker.start()
        tracker.set_phase(SETUP_PHASE)
        result.energy_method = "; ".join(f"{i.channel}: {i.method}" for i in tracker.channel_infos)
        phases: dict[int, str] = {}
        for m in models:
            _sweep_model(m, opts, device, tracker, result, phases, progress)
    finally:
        tracker.stop()
        location_log.setLevel(level)
        if not result.threads:
            result.threads = ThreadChoice(torch.get_num_threads(), {}).note
        torch.set_num_threads(threads_before)
    result.device_name = _device_name(device)
    for i, c in enumerate(result.configs):  # the ledger's own phase totals, after the final reading
        c.measured_j = tracker.energy_j(phases[i], refresh=False)
    result.duration_s = time.perf_counter() - started
    mark_pareto(result.configs)
    if len(sizes) == 2:
        result.comparison = compare_models((sizes[0], sizes[1]), result.configs)
    return result


_RUN_ERRORS = (RuntimeError, ValueError, MemoryError, NotImplementedError, ImportError, OSError, ModelLoadError)
"""What a precision or batch size that cannot run here raises (out of memory, an unsupported kernel, a missing
package); it is listed as skipped with the first line of the message."""


def _why(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200] if lines else ''}".rstrip(": ")


def _sweep_model(
    m: _Model,
    opts: SweepOptions,
    device: str,
    tracker: EnergyMeter,
    result: SweepResult,
    phases: dict[int, str],
    progress: Callable[[str], None],
) -> None:
    name, tok = m.source.name, m.source.tokenizer
    reference: tuple[str, list[list[int]]] | None = None
    for dtype in opts.dtypes:
        p: Plan = plan(dtype, device)
        if not p.runnable:
            result.skipped.append(Skipped(name, dtype, p.reason))
            progress(f"{name} {dtype}: skipped ({p.reason})")
            continue
        try:
            prepared = prepare(m.source, p)
            ppl = perplexity(prepared.model, m.eval_ids, window=min(PERPLEXITY_WINDOW, m.source.max_positions), device=prepared.device)
            outs = greedy_outputs(prepared.model, m.prompts[:AGREEMENT_PROMPTS], new_tokens=opts.new_tokens,
                                  pad_id=tok.pad_id, eos_ids=tok.eos_ids, device=prepared.device)  # fmt: skip
        except _RUN_ERRORS as exc:
            result.skipped.append(Skipped(name, dtype, _why(exc)))
            progress(f"{name} {dtype}: skipped ({_why(exc)})")
            continue
        if device == "cpu" and opts.threads is None and not result.threads:
            result.threads = choose_threads(prepared.model, m.prompts, pad_id=tok.pad_id, eos_ids=tok.eos_ids).note
            progress(result.threads)
        if reference is None:
            reference = (dtype, outs)
        agree = agreement(reference[1], outs)
        for batch in opts.batch_sizes:
            phase = f"levers {name} {dtype} b{batch}"
            try:
                w = measure_window(
                    prepared.model, m.prompts, tracker, phase=phase, batch_size=batch, new_tokens=opts.new_tokens,
                    pad_id=tok.pad_id, eos_ids=tok.eos_ids, device=prepared.device, window_s=opts.window_s,
                    warmup_s=opts.warmup_s,
                )  # fmt: skip
            except _RUN_ERRORS as exc:
                result.skipped.append(Skipped(name, dtype, _why(exc), batch))
                progress(f"{name} {dtype} batch {batch}: skipped ({_why(exc)})")
                _free(device)
                continue
            c = ConfigResult(
                name, dtype, batch, w.energy_j, w.duration_s, w.requests, ppl, agree, reference[0],
                w.peak_memory_mb, w.memory_source, prepared.weights_mb, p.method, w.attribution_s,
            )  # fmt: skip
            phases[len(result.configs)] = phase
            result.configs.append(c)
            progress(
                f"{name} {dtype} batch {batch}: {c.joules_per_token:.4g} J/token, {c.tokens_per_s:.4g} tokens/s, "
                f"{len(c.requests)} requests in {c.duration_s:.1f} s"
            )
        del prepared
        _free(device)


def _free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()

