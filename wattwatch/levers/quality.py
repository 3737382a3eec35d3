"""What a precision costs in quality: perplexity on an evaluation text, and agreement of greedy outputs with the
highest-precision configuration's."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from wattwatch.levers.window import CausalLM, generate_batch

__all__ = ["agreement", "greedy_outputs", "perplexity"]


def perplexity(model: CausalLM, ids: Sequence[int], *, window: int, device: str) -> float:
    """``exp`` of the mean negative log-likelihood of the text's tokens (natural log), in consecutive windows of
    at most ``window`` tokens (each window's first token is context only). ``ValueError`` under two tokens."""
    if len(ids) < 2:
        raise ValueError("the evaluation text needs at least two tokens")
    nll = 0.0
    predicted = 0
    with torch.inference_mode():
        for start in range(0, len(ids), window):
            chunk = list(ids[start : start + window])
            if len(chunk) < 2:
                break
            x = torch.tensor([chunk], device=device)
            logits = model(x).logits[0, :-1].float()
            nll += float(torch.nn.functional.cross_entropy(logits, x[0, 1:], reduction="sum"))
            predicted += len(chunk) - 1
    mean = nll / predicted
    return math.exp(mean) if mean < 700 else math.inf  # a precision that broke the model: shown as "-"


def greedy_outputs(
    model: CausalLM,
    prompts: Sequence[Sequence[int]],
    *,
    new_tokens: int,
    pad_id: int,
    eos_ids: Sequence[int],
    device: str,
) -> list[list[int]]:
    """Each prompt's greedy continuation (one batch, left-padded, exactly ``new_tokens`` tokens)."""
    return generate_batch(model, prompts, new_tokens=new_tokens, pad_id=pad_id, eos_ids=eos_ids, device=device)


def agreement(reference: Sequence[Sequence[int]], outputs: Sequence[Sequence[int]]) -> float:
    """Mean over prompts of the share of the reference's tokens reproduced before the first difference (1.0:
    every greedy output identical). Prefix agreement: after a first different token the contexts differ, so
    later positions say nothing more about the precision."""
    if not reference:
        return 1.0
    shares = []
    for ref, out in zip(reference, outputs, strict=True):
        same = 0
        for a, b in zip(ref, out, strict=False):
            if a != b:
                break
            same += 1
        shares.append(same / len(ref) if ref else 1.0)
    return sum(shares) / len(shares)
