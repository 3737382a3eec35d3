"""One configuration measured: a warm-up, then a steady-state window of back-to-back batches whose energy the
tracker measures (a phase of its own, with a synchronous reading at each edge), split over its requests.

ML.ENERGY's method: the first batches pay one-time costs (allocations, caches, lazy initialisation), so the
window starts after a warm-up and runs whole batches for at least ``window_s`` seconds. Every request of the
window generates exactly ``new_tokens`` tokens (``min_new_tokens`` = ``max_new_tokens``, greedy), so configurations
do the same work. Prompts are taken in turn from the prompt list, so requests of a batch differ in length.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from wattwatch.levers.attribution import RequestAttributor, RequestEnergy
from wattwatch.levers.generate import GenerateRecorder

__all__ = ["CausalLM", "EnergyMeter", "PeakMemory", "WindowMeasurement", "generate_batch", "make_batch", "measure_window"]


class CausalLM(Protocol):
    """A Hugging Face causal language model as the sweep uses it: ``generate`` and a forward call."""

    def generate(self, *args: Any, **kwargs: Any) -> Any: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


class EnergyMeter(Protocol):
    """What the window needs of a :class:`~wattwatch.run.tracker.Tracker`."""

    def phase(self, name: str) -> Any: ...

    def energy_j(self, phase: str | None = None, *, refresh: bool = True) -> float: ...


@dataclass
class WindowMeasurement:
    """A window's energy (J, PUE applied), duration (s), requests and peak memory (MiB)."""

    energy_j: float
    duration_s: float
    requests: list[RequestEnergy]
    batches: int
    peak_memory_mb: float | None
    memory_source: str
    attribution_s: float
    """Time spent attributing (recording steps, splitting energy), s: the overhead of per-request energy."""


def make_batch(prompts: Sequence[Sequence[int]], pad_id: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ``input_ids`` and ``attention_mask`` (decoder-only models generate after the last token)."""
    width = max(len(p) for p in prompts)
    ids = [[pad_id] * (width - len(p)) + list(p) for p in prompts]
    mask = [[0] * (width - len(p)) + [1] * len(p) for p in prompts]
    return torch.tensor(ids, device=device), torch.tensor(mask, device=device)


def generate_batch(
    model: CausalLM,
    prompts: Sequence[Sequence[int]],
    *,
    new_tokens: int,
    pad_id: int,
    eos_ids: Sequence[int],
    device: str,
    recorder: GenerateRecorder | None = None,
) -> list[list[int]]:
    """Greedy generation of exactly ``new_tokens`` tokens per prompt; each row's new tokens."""
    input_ids, mask = make_batch(prompts, pad_id, device)
    kwargs: dict[str, Any] = {}
    if recorder is not None:
        kwargs["stopping_criteria"] = [recorder]
        recorder.start()
    with torch.inference_mode():
        out = model.generate(
            input_ids, attention_mask=mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
            do_sample=False, pad_token_id=pad_id, eos_token_id=list(eos_ids) or None, **kwargs,
        )  # fmt: skip
    sequences = getattr(out, "sequences", out)
    return [row[input_ids.shape[1] :] for row in sequences.tolist()]


class PeakMemory:
    """Peak memory over a window: CUDA's allocator peak on a GPU; else the process's peak resident set
    (``VmHWM``, reset through ``/proc/self/clear_refs``; where that is refused, the peak since the process
    started, and the source says so)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.source = "cuda-max-allocated" if device == "cuda" else "rss-peak"

    def reset(self) -> None:
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            return
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            self.source = "rss-peak-since-start"

    def peak_mb(self) -> float | None:
        if self.device == "cuda":
            return torch.cuda.max_memory_allocated() / 2**20
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except (OSError, ValueError, IndexError):
            pass
        self.source = "rss-peak-since-start"
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure_window(
    model: CausalLM,
    prompts: Sequence[Sequence[int]],
    meter: EnergyMeter,
    *,
    phase: str,
    batch_size: int,
    new_tokens: int,
    pad_id: int,
    eos_ids: Sequence[int],
    device: str,
    window_s: float,
    warmup_s: float,
    clock: Callable[[], float] = time.perf_counter,
) -> WindowMeasurement:
    """Warm up for ``warmup_s`` (at least one batch), then measure whole batches for at least ``window_s`` (at
    least one) inside the tracker phase ``phase``; the window's energy is split over its requests."""
    gen = dict(new_tokens=new_tokens, pad_id=pad_id, eos_ids=eos_ids, device=device)
    cursor = 0

    def next_prompts() -> list[Sequence[int]]:
        nonlocal cursor
        batch = [prompts[(cursor + j) % len(prompts)] for j in range(batch_size)]
        cursor = (cursor + batch_size) % len(prompts)
        return batch

    start = clock()
    while True:
        generate_batch(model, next_prompts(), **gen)  # type: ignore[arg-type]
        if clock() - start >= warmup_s:
            break
    memory = PeakMemory(device)
    _sync(device)
    memory.reset()
    attributor = RequestAttributor(lambda: meter.energy_j(phase, refresh=False), clock=clock)
    ids: list[int] = []
    spent = 0.0
    with meter.phase(phase):  # a synchronous reading at each edge
        attributor.settle()
        t0 = clock()
        batches = 0
        while batches < 1 or clock() - t0 < window_s:
            batch = next_prompts()
            recorder = GenerateRecorder(len(batch), clock=clock)
            rows = generate_batch(model, batch, recorder=recorder, **gen)  # type: ignore[arg-type]
            a = clock()
            rids = list(range(len(ids), len(ids) + len(batch)))
            recorder.feed(attributor, rids, [len(p) for p in batch], recorder.finish_counts(rows, eos_ids))
            ids.extend(rids)
            batches += 1
            spent += clock() - a + recorder.own_s
        _sync(device)
        duration = clock() - t0
    a = clock()
    requests = attributor.finish_many(ids)
    spent += clock() - a
    return WindowMeasurement(
        attributor.attributed_j, duration, requests, batches, memory.peak_mb(), memory.source, spent
    )

