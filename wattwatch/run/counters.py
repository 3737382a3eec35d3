"""The run's work counters -- training's steps, samples, tokens; inference's requests and generated tokens --
and the projection of its final totals from them.

A counter that was never fed stays unknown (``None`` in the row), not zero: a run that does not count samples
must not claim to have processed none. Inference is counted apart (:meth:`Counters.count_requests`): a
generation request is never a training step (see :mod:`wattwatch.measure.figures`). Units: kWh, kg CO2eq,
seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from wattwatch.util.records import record

if TYPE_CHECKING:
    from wattwatch.measure.ledger import Ledger
    from wattwatch.measure.projection import Projection, Projector

__all__ = ["COUNTER_NAMES", "Counters", "WorkDone"]

COUNTER_NAMES = ("steps", "samples", "tokens", "requests", "generated_tokens")


@record
class WorkDone:
    """The counters as the row shows them: ``None`` for a counter never fed."""

    steps: int | None = None
    samples: int | None = None
    tokens: int | None = None
    requests: int | None = None
    generated_tokens: int | None = None
    request_phases: str = ""
    """The phases requests were counted in, ``+``-joined (their energy is inference's)."""


class Counters:
    """Steps, samples and tokens counted by the user's code, and the :class:`~wattwatch.measure.projection.
    Projector` that turns them into projected end-of-run totals when ``total_steps`` is known. Not thread-safe
    on its own: the tracker calls it under its lock."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(COUNTER_NAMES, 0)
        self.counted = dict.fromkeys(COUNTER_NAMES, False)
        self.request_phases: list[str] = []
        self._projector: Projector | None = None

    def reset(self) -> None:
        """Forget every count (a new run)."""
        self.counts = dict.fromkeys(COUNTER_NAMES, 0)
        self.counted = dict.fromkeys(COUNTER_NAMES, False)
        self.request_phases = []

    def add(self, name: str, n: int) -> None:
        """Add ``n`` to counter ``name``."""
        self.counts[name] += int(n)
        self.counted[name] = True

    def set(self, name: str, value: int) -> None:
        """Set counter ``name`` to an absolute value."""
        self.counts[name] = int(value)
        self.counted[name] = True

    def count(self, steps: int, *, samples: int | None = None, tokens: int | None = None) -> None:
        """Add ``steps`` steps (and the samples / tokens they processed, when given)."""
        self.add("steps", steps)
        if samples is not None:
            self.add("samples", samples)
        if tokens is not None:
            self.add("tokens", tokens)

    def count_requests(self, n: int, *, generated_tokens: int | None = None, phase: str) -> None:
        """Add ``n`` inference requests (and the tokens they generated) measured in ``phase``; training's counters
        are left alone."""
        self.add("requests", n)
        if generated_tokens is not None:
            self.add("generated_tokens", generated_tokens)
        if phase not in self.request_phases:
            self.request_phases.append(phase)

    def assign(self, *, steps: int | None = None, samples: int | None = None, tokens: int | None = None) -> None:
        """Set the counters given to absolute values (e.g. from a trainer's own state)."""
        for name, value in (("steps", steps), ("samples", samples), ("tokens", tokens)):
            if value is not None:
                self.set(name, value)

    def done(self) -> WorkDone:
        """The counters for the row (unknown ones ``None``)."""
        c, known = self.counts, self.counted
        steps, samples, tokens, requests, generated = (c[n] if known[n] else None for n in COUNTER_NAMES)
        return WorkDone(steps, samples, tokens, requests, generated, "+".join(self.request_phases))

    # -- saved state ---------------------------------------------------------------------------------------
    def to_state(self) -> tuple[dict[str, int], dict[str, bool]]:
        """``(counts, counted)`` as :meth:`Tracker.state_dict` saves them (with :attr:`request_phases`)."""
        return dict(self.counts), dict(self.counted)

    def load_state(
        self, counts: Mapping[str, object], counted: Mapping[str, object], request_phases: object = ()
    ) -> None:
        """Restore what :meth:`to_state` saved (missing counters: zero, not counted)."""
        for name in COUNTER_NAMES:
            self.counts[name] = int(counts.get(name, 0))  # type: ignore[call-overload]
            self.counted[name] = bool(counted.get(name, False))
        phases = request_phases if isinstance(request_phases, list | tuple) else ()
        self.request_phases = [str(p) for p in phases if isinstance(p, str) and p][:16]

    # -- projection ----------------------------------------------------------------------------------------
    def start_projection(self, total_steps: int | None) -> None:
        """Project to ``total_steps`` from now on (``None``: no projection)."""
        if total_steps is None:
            self._projector = None
            return
        from wattwatch.measure.projection import Projector

        self._projector = Projector(total_steps)

    def feed_first_step(self, ledger: Ledger | None) -> None:
        """Give the projector its base at the first counted step, so start-up work is not multiplied (the
        ledger is read only then, not at every step)."""
        projector = self._projector
        if projector is None or projector.latest is not None or ledger is None:
            return
        snap = ledger.snapshot()
        projector.update(snap.duration_s, self.counts["steps"], snap.energy_kwh, snap.emissions_g / 1000.0)

    def project(self, duration_s: float, energy_kwh: float, emissions_kg: float) -> Projection | None:
        """The projection with the totals so far (``None`` without ``total_steps`` or before a step)."""
        if self._projector is None:
            return None
        return self._projector.update(duration_s, self.done().steps, energy_kwh, emissions_kg)
