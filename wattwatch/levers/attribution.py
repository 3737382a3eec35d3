"""Per-request energy of batched generation: each request's share of the energy a tracker measured.

The rule (``docs/levers.md``):

- The energy measured between two *settle* points (joules, PUE applied) is split over the steps recorded
  between them in proportion to each step's duration; the loop's own time between steps (padding, scheduling)
  is spread the same way, so nothing measured is lost. When no step was recorded, the energy is *idle*
  energy, kept apart in :attr:`RequestAttributor.idle_j` rather than charged to the next request.
- A **prefill** step's energy is shared by the requests it admitted in proportion to their prompt tokens.
- A **decode** step's energy is shared equally by the requests active in it (not finished before it); a step
  where none was active (an extra forward of a deferred stop check) is shared by the requests of its batch.

So requests of different lengths get different energy, and the requests of a window add up to the window's
measured energy (to float rounding). ML.ENERGY's per-request figure, J/token x output length, ignores the
prompt and gives two requests with the same output the same energy whatever their prompts.

Pure Python, no torch: a serving loop times its own steps with :meth:`RequestAttributor.prefill` and
:meth:`RequestAttributor.decode`; :mod:`wattwatch.levers.generate` records Hugging Face ``generate`` calls.
Units: seconds (any monotonic clock), joules.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = [
    "DECODE",
    "PREFILL",
    "RequestAttributor",
    "RequestEnergy",
    "Step",
    "split_energy",
]

PREFILL = "prefill"
DECODE = "decode"

RequestId = Hashable


@dataclass
class Step:
    """One forward pass of a batch: ``kind`` (:data:`PREFILL` or :data:`DECODE`), its start and end on the
    attributor's clock (s), and each taking-part request's weight (prompt tokens for a prefill, 1 for a
    decode). ``tokens``: each request got one new token from it (``False`` for a step nobody was active in)."""

    kind: str
    start_s: float
    end_s: float
    weights: dict[RequestId, float]
    tokens: bool = True

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)


@dataclass
class RequestEnergy:
    """One request's energy (J, PUE applied): its share of prefill and of the decode steps it took part in."""

    request_id: RequestId
    prompt_tokens: int
    new_tokens: int
    prefill_j: float
    decode_j: float
    latency_s: float | None = None
    """From admission to its last token (s), when known."""

    @property
    def energy_j(self) -> float:
        return self.prefill_j + self.decode_j

    def as_dict(self) -> dict[str, float | int | None]:
        """The ``requests`` entry of ``wattwatch levers --json``."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "new_tokens": self.new_tokens,
            "energy_j": self.energy_j,
            "prefill_j": self.prefill_j,
            "decode_j": self.decode_j,
            "latency_s": self.latency_s,
        }


def split_energy(steps: Sequence[Step], energy_j: float) -> dict[RequestId, tuple[float, float]]:
    """``{request: (prefill J, decode J)}``: ``energy_j`` split over ``steps`` by duration, then within each step
    by weight. The values add up to ``energy_j`` (``math.fsum``, to rounding) when ``steps`` is not empty;
    steps of zero total duration share it equally."""
    out: dict[RequestId, list[float]] = {}
    if not steps:
        return {}
    total_s = math.fsum(s.duration_s for s in steps)
    for step in steps:
        share = energy_j * (step.duration_s / total_s if total_s > 0 else 1.0 / len(steps))
        weights = step.weights
        total_w = math.fsum(weights.values())
        slot = 0 if step.kind == PREFILL else 1
        for rid, w in weights.items():
            part = share * (w / total_w if total_w > 0 else 1.0 / len(weights))
            acc = out.get(rid)
            if acc is None:
                acc = out[rid] = [0.0, 0.0]
            acc[slot] += part
    return {rid: (v[0], v[1]) for rid, v in out.items()}


@dataclass
class _Pending:
    prompt_tokens: int
    admitted_s: float
    new_tokens: int = 0
    prefill_j: float = 0.0
    decode_j: float = 0.0
    last_token_s: float | None = None


class RequestAttributor:
    """Per-request energy for a serving loop (static or continuous batching), against a measured energy.

    ``energy_j`` returns the cumulative energy measured so far (J), e.g. ``tracker.energy_j`` (a synchronous
    read of the tracker's sensors); it is read at each :meth:`settle` (and so at each :meth:`finish`). Time the
    steps::

        attr = RequestAttributor(tracker.energy_j)
        with attr.prefill({req_a: 12, req_b: 40}):     # admitted with their prompt tokens
            logits = model(batch)
        with attr.decode([req_a, req_b]):              # the requests still generating
            logits = model(next_tokens)
        energy = attr.finish(req_a)                    # RequestEnergy: settles, then forgets req_a

    A prefill that finds no request in flight settles first, so the energy of an idle server goes to
    :attr:`idle_j`, not to the next request. Requests finished plus in flight plus idle add up to the energy
    measured since the first settle: ``attributed_j + idle_j == measured_j``.
    """

    def __init__(self, energy_j: Callable[[], float], clock: Callable[[], float] = time.perf_counter) -> None:
        self.energy_j = energy_j
        self.clock = clock
        self.idle_j = 0.0
        """Energy of settle intervals with no step (J)."""
        self.attributed_j = 0.0
        """Energy handed to requests so far (J)."""
        self._pending: dict[RequestId, _Pending] = {}
        self._steps: list[Step] = []
        self._last_energy_j: float | None = None

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def measured_j(self) -> float:
        return self.attributed_j + self.idle_j

    def admit(self, request_id: RequestId, prompt_tokens: int, admitted_s: float | None = None) -> None:
        """Register a request (done by :meth:`prefill`; call it yourself with :meth:`add_step`)."""
        if request_id in self._pending:
            raise ValueError(f"request {request_id!r} is already in flight")
        when = self.clock() if admitted_s is None else admitted_s
        self._pending[request_id] = _Pending(int(prompt_tokens), when)

    def add_step(self, step: Step) -> None:
        """Record a step timed by the caller (every request in it must have been admitted)."""
        for rid in step.weights:
            req = self._pending.get(rid)
            if req is None:
                raise KeyError(f"request {rid!r} was not admitted")
            if step.tokens:
                req.new_tokens += 1
                req.last_token_s = step.end_s
        self._steps.append(step)

    @contextmanager
    def prefill(self, prompt_tokens: Mapping[RequestId, int]) -> Iterator[None]:
        """Time the ``with`` body as the prefill of these requests (admitted now, weighted by prompt tokens)."""
        if not self._pending:
            self.settle()
        start = self.clock()
        for rid, n in prompt_tokens.items():
            self.admit(rid, n, start)
        yield
        self.add_step(Step(PREFILL, start, self.clock(), {r: float(n) for r, n in prompt_tokens.items()}))

    @contextmanager
    def decode(self, active: Iterable[RequestId]) -> Iterator[None]:
        """Time the ``with`` body as one decode step of the ``active`` requests (equal shares)."""
        ids = list(active)
        start = self.clock()
        yield
        self.add_step(Step(DECODE, start, self.clock(), dict.fromkeys(ids, 1.0)))

    def settle(self) -> float:
        """Read the energy and split what was measured since the last settle over the steps since then (or book
        it as idle). Returns the joules settled (0 at the first call, which sets the baseline)."""
        now = float(self.energy_j())
        last, self._last_energy_j = self._last_energy_j, now
        delta = 0.0 if last is None else max(0.0, now - last)
        steps, self._steps = self._steps, []
        if not steps:
            self.idle_j += delta
            return delta
        for rid, (pre, dec) in split_energy(steps, delta).items():
            req = self._pending.get(rid)
            if req is not None:
                req.prefill_j += pre
                req.decode_j += dec
        self.attributed_j += delta
        return delta

    def finish(self, request_id: RequestId) -> RequestEnergy:
        """Settle, then return the request's energy and forget it."""
        return self.finish_many([request_id])[0]

    def finish_many(self, request_ids: Sequence[RequestId], *, settle: bool = True) -> list[RequestEnergy]:
        """:meth:`finish` for several requests with one settle (``settle=False``: the caller just did)."""
        if settle:
            self.settle()
        out = []
        for rid in request_ids:
            req = self._pending.pop(rid)
            latency = None if req.last_token_s is None else req.last_token_s - req.admitted_s
            out.append(RequestEnergy(rid, req.prompt_tokens, req.new_tokens, req.prefill_j, req.decode_j, latency))
        return out
