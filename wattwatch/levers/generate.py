"""The steps of a Hugging Face ``model.generate`` call, for per-request attribution.

``generate`` calls its stopping criteria once per new token: after the prefill forward (which gives every row
its first token) and after each decode forward. :class:`GenerateRecorder` is such a criterion: it time-stamps
each call -- so the call splits into a prefill step and one decode step per further token -- and can stop each
row at its own new-token limit (a served request's ``max_tokens``). It reads no tensor while ``generate`` runs
(no device synchronisation of its own): which row was active in which step is worked out afterwards from the
returned sequences (a row finishes at its first end-of-sequence token, its limit, or the end of the call).

No torch import: the recorder uses the tensors' own methods.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

from wattwatch.levers.attribution import DECODE, PREFILL, RequestAttributor, Step

__all__ = ["GenerateRecorder", "IdTensor", "eos_ids_of"]


class IdTensor(Protocol):
    """A ``torch.Tensor`` of token ids (rows x tokens) as the recorder uses it."""

    @property
    def shape(self) -> Sequence[int]: ...

    def new_zeros(self, *size: int) -> Any: ...

    def new_tensor(self, data: Sequence[int]) -> Any: ...

    def tolist(self) -> Any: ...


class GenerateRecorder:
    """A stopping criterion for ``model.generate(..., stopping_criteria=[recorder])`` that time-stamps every
    step; ``limits`` (one per row) stops each row after that many new tokens.

    Call :meth:`start` just before ``generate``, then :meth:`finish_counts` and :meth:`feed` with its output.
    """

    def __init__(
        self, rows: int, *, limits: Sequence[int] | None = None, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        if limits is not None and len(limits) != rows:
            raise ValueError(f"{len(limits)} new-token limits for {rows} rows")
        if limits is not None and any(int(n) < 1 for n in limits):
            raise ValueError("new-token limits must be >= 1")
        self.rows = rows
        self.limits = None if limits is None else [int(n) for n in limits]
        self.clock = clock
        self.start_s = 0.0
        self.marks: list[float] = []
        """Clock at each call: the end of the prefill, then of each decode step."""
        self.own_s = 0.0
        """Time spent inside the recorder's calls (s): its share of the attribution overhead."""
        self._never: Any = None
        self._limit_t: Any = None

    def start(self) -> None:
        self.marks = []
        self.own_s = 0.0
        self.start_s = self.clock()

    def __call__(self, input_ids: IdTensor, scores: object = None, **kwargs: object) -> Any:
        now = self.clock()
        self.marks.append(now)
        if self.limits is None or input_ids.shape[0] != self.rows:  # several sequences per row: no limits
            if self._never is None:
                self._never = input_ids.new_zeros(input_ids.shape[0]).bool()
            done = self._never
        else:
            if self._limit_t is None:
                self._limit_t = input_ids.new_tensor(self.limits)
            done = self._limit_t <= len(self.marks)
        self.own_s += self.clock() - now
        return done

    def finish_counts(self, generated: Sequence[Sequence[int]], eos_ids: Sequence[int] = ()) -> list[int]:
        """New tokens of each row: up to and including its first end-of-sequence token, at most its limit and
        the number of steps recorded. ``generated``: each row's tokens after the prompt."""
        eos = set(eos_ids)
        steps = len(self.marks)
        counts = []
        for i, row in enumerate(generated):
            n = min(len(row), steps) if steps else len(row)
            for j, tok in enumerate(row[:n]):
                if tok in eos:
                    n = j + 1
                    break
            if self.limits is not None:
                n = min(n, self.limits[i])
            counts.append(max(1, n) if steps else n)
        return counts

    def steps(
        self,
        request_ids: Sequence[Hashable],
        prompt_tokens: Sequence[int],
        counts: Sequence[int],
        end_s: float | None = None,
    ) -> list[Step]:
        """The prefill step (weights: prompt tokens) and one decode step per further call (weights: 1 per row
        still active). A call with no row active -- the loop ran on after every row had finished -- is shared by
        the whole batch and gives no token. With no call recorded the whole call is one prefill step."""
        ids = list(request_ids)
        marks = self.marks or [self.clock() if end_s is None else end_s]
        steps = [Step(PREFILL, self.start_s, marks[0], {r: float(n) for r, n in zip(ids, prompt_tokens, strict=True)})]
        for k in range(1, len(marks)):
            active = [r for r, c in zip(ids, counts, strict=True) if c > k]
            if active:
                steps.append(Step(DECODE, marks[k - 1], marks[k], dict.fromkeys(active, 1.0)))
            else:
                steps.append(Step(DECODE, marks[k - 1], marks[k], dict.fromkeys(ids, 1.0), tokens=False))
        return steps

    def feed(
        self,
        attributor: RequestAttributor,
        request_ids: Sequence[Hashable],
        prompt_tokens: Sequence[int],
        counts: Sequence[int],
    ) -> None:
        """Admit the rows as requests (at :meth:`start`'s time) and add the call's steps to ``attributor``."""
        for rid, n in zip(request_ids, prompt_tokens, strict=True):
            attributor.admit(rid, n, self.start_s)
        for step in self.steps(request_ids, prompt_tokens, counts):
            attributor.add_step(step)


def eos_ids_of(model: object) -> tuple[int, ...]:
    """The end-of-sequence token ids ``generate`` stops at: the model's ``generation_config``, else its config."""
    for holder in (getattr(model, "generation_config", None), getattr(model, "config", None)):
        eos = getattr(holder, "eos_token_id", None)
        if eos is not None:
            return tuple(int(e) for e in (eos if isinstance(eos, list | tuple) else [eos]))
    return ()
