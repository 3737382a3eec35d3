"""How many torch CPU threads the sweep uses when the user does not say (``--threads auto``).

torch's default is one thread per core. On a machine busy with other work, its OpenMP threads wait for each other
at every operation -- whichever one the scheduler parked holds up the rest -- and a decode step of a small model
takes tens of times longer than on one thread (2-thread tiny-gpt2 on this project's shared 2-core VM: 2 s for 32
tokens at batch 1 against 0.06 s on one thread). Both the timings and the CPU seconds charged (spinning threads
burn them) then describe the contention, not the model. So before the sweep, the first model's own ``generate``
(a batch of prompts, a few tokens) is timed with torch's default and with one thread, alternated; the faster
count is kept for the whole sweep and the result says which and why.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from wattwatch.levers.window import CausalLM, generate_batch

__all__ = ["ThreadChoice", "choose_threads"]


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count kept, and the probe's median seconds per call for each count tried."""

    threads: int
    timings: dict[int, float]

    @property
    def note(self) -> str:
        """``"1 torch thread, the faster by a probe: 1 thread 138 ms, 2 threads 1030 ms"``."""
        kept = f"{self.threads} torch thread{'s' if self.threads != 1 else ''}"
        if len(self.timings) < 2:
            return kept
        probe = ", ".join(f"{n} thread{'s' if n != 1 else ''} {t * 1e3:.0f} ms" for n, t in sorted(self.timings.items()))
        return f"{kept}, the faster by a probe (auto): {probe}"


def choose_threads(
    model: CausalLM,
    prompts: Sequence[Sequence[int]],
    *,
    pad_id: int,
    eos_ids: Sequence[int],
    rounds: int = 3,
    clock: Callable[[], float] = time.perf_counter,
) -> ThreadChoice:
    """Time a short greedy ``generate`` (up to 8 prompts, 4 tokens) with torch's thread count and with one,
    ``rounds`` times each, alternated; set and return the faster (ties keep torch's)."""
    default = torch.get_num_threads()
    if default <= 1:
        return ThreadChoice(default, {default: 0.0})
    batch = list(prompts[:8])
    times: dict[int, list[float]] = {default: [], 1: []}
    try:
        generate_batch(model, batch, new_tokens=4, pad_id=pad_id, eos_ids=eos_ids, device="cpu")  # first-call costs
        for _ in range(rounds):
            for n in (default, 1):
                torch.set_num_threads(n)
                t = clock()
                generate_batch(model, batch, new_tokens=4, pad_id=pad_id, eos_ids=eos_ids, device="cpu")
                times[n].append(clock() - t)
    finally:
        torch.set_num_threads(default)
    medians = {n: statistics.median(ts) for n, ts in times.items()}
    best = 1 if medians[1] < medians[default] else default
    torch.set_num_threads(best)
    return ThreadChoice(best, medians)
