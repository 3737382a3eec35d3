"""What training code reports into a running tracker and reads back: :class:`RunProgress`, the base of
:class:`~wattwatch.run.tracker.Tracker` with steps, samples and tokens, evaluation metrics, phases, listeners and
the live figures (no file I/O; safe from any thread). The state it works on -- the lock, the run's session,
counters and row recorder -- is the tracker's, set up by ``Tracker.__init__`` and ``start()``.

Import-light like the facade: nothing but this class loads with ``from wattwatch import Tracker``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

TYPE_CHECKING = False  # see wattwatch/run/tracker.py: typing loads when a tracker is made
if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterator
    from typing import Any, TypeVar

    from wattwatch.measure.ledger import Ledger, LedgerSnapshot
    from wattwatch.measure.sampler import Sampler
    from wattwatch.policy.policy import CarbonPolicy
    from wattwatch.result import EmissionsData
    from wattwatch.run.counters import Counters
    from wattwatch.run.recorder import RowRecorder
    from wattwatch.run.session import RunSession
    from wattwatch.run.tracker import Tracker
    from wattwatch.sensors.usage import UsageTotals

    _P = TypeVar("_P", bound="RunProgress")

__all__ = ["RunProgress"]


class RunProgress:
    """Counts, phases, evaluation metrics, listeners and live figures of a tracker's run."""

    project_name: str
    run_id: str
    final_emissions_data: EmissionsData | None
    _lock: threading.RLock
    _state: str
    """``new`` -> ``running`` -> ``stopped``."""
    _pid: int
    """The process that started the run (a forked child neither samples nor writes)."""
    _session: RunSession | None
    _counters: Counters
    _recorder: RowRecorder
    _listeners: list[Callable[[Tracker, float], None]]
    _policy: CarbonPolicy | None
    first_phase: str
    """The phase the next ``start()`` begins in (``(unphased)`` unless :meth:`set_phase` was called before it)."""
    experiment_id: str
    _run_id_fixed: bool
    _resume_state: dict[str, Any] | None
    _start_time_iso: str

    def current(self, *, refresh: bool = False) -> EmissionsData:
        """A live snapshot of the totals so far (no file I/O, safe from any thread); for a resumed run, with the
        earlier segments' totals saved in its state (so logged figures keep growing across preemptions).

        ``refresh=True`` first takes a reading now (a few hundred microseconds; waits at most 0.5 s for a read in
        progress), so figures logged at a training step include the energy up to that step rather than up to the
        last tick of the sampler.
        """
        if self._state == "stopped" and self.final_emissions_data is not None:
            return self.final_emissions_data
        if self._ledger is None:
            from wattwatch.result import EmissionsData

            return EmissionsData(project_name=self.project_name, run_id=self.run_id, status="new")
        if refresh and self._state == "running" and self._sampler is not None and os.getpid() == self._pid:
            self._sampler.sample_now(lock_timeout_s=0.5)
        return self._recorder.figures("running", carried=True)

    def energy_j(self, phase: str | None = None, *, refresh: bool = True) -> float:
        """Energy this process segment has measured so far, in joules with PUE applied: every phase, or only
        ``phase``'s. ``refresh=True`` first takes a reading now, as :meth:`current` does, but builds no row (what
        per-request attribution reads at each settle: :mod:`wattwatch.levers.attribution`). 0 before ``start()``."""
        ledger = self._ledger
        if ledger is None:
            return 0.0
        if refresh and self._state == "running" and self._sampler is not None and os.getpid() == self._pid:
            self._sampler.sample_now(lock_timeout_s=0.5)
        snap = ledger.snapshot(carried=False)
        joules = snap.energy_j if phase is None else snap.phase_energy_j.get(phase, 0.0)
        return joules * snap.pue

    def usage_totals(self) -> UsageTotals:
        """Running sums of the CPU, RAM and GPU utilisation sampled so far (empty before ``start()``); the means
        over a window are ``later.means_since(earlier)`` (see :mod:`wattwatch.sensors.usage`)."""
        from wattwatch.sensors.usage import UsageTotals

        return self._session.usage.totals() if self._session is not None else UsageTotals()

    def snapshot(self) -> LedgerSnapshot | None:
        """The raw ledger snapshot (joules per channel and phase; a resumed run's earlier segments included), or
        ``None`` before ``start()``."""
        return None if self._ledger is None else self._ledger.snapshot()

    def segment_snapshot(self) -> LedgerSnapshot | None:
        """This process segment's own ledger snapshot (what its row holds), or ``None`` before ``start()``."""
        return None if self._ledger is None else self._ledger.snapshot(carried=False)

    @contextmanager
    def phase(self: _P, name: str) -> Iterator[_P]:
        """Attribute the energy of the ``with`` body to phase ``name`` (e.g. ``"eval"``), with a reading at each
        edge so the split is exact."""
        previous = self.current_phase
        self.set_phase(name)
        try:
            yield self
        finally:
            self.set_phase(previous)

    @property
    def current_phase(self) -> str:
        return self._ledger.phase if self._ledger is not None and self._state == "running" else self.first_phase

    def set_phase(self, name: str) -> None:
        """Switch phase now (reading at the edge). Before ``start()``: the phase the run begins in."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"phase names are non-empty strings; got {name!r}")
        if self._state == "running" and self._sampler is not None and os.getpid() == self._pid:
            self._sampler.mark_phase(name)
        elif self._ledger is not None and self._state == "running":
            self._ledger.set_phase(name)
        else:
            self.first_phase = name  # before start(): the run begins in it (a callback's "train")

    def step(self, n: int = 1, *, samples: int | None = None, tokens: int | None = None) -> None:
        """Count ``n`` training steps (and the samples / tokens they processed) for per-step figures and the
        projection to ``total_steps`` (inference requests: :meth:`count_requests`). With a budget and
        ``on_budget="raise"``, raises :class:`~wattwatch.errors.BudgetExceeded` at the first step past it
        (docs/acting.md)."""
        with self._lock:
            self._counters.count(n, samples=samples, tokens=tokens)
            self._counters.feed_first_step(self._ledger)
        if self._policy is not None:  # the budget check between steps (O(1)); may raise BudgetExceeded
            self._policy.after_step()

    def count_requests(self, n: int = 1, *, generated_tokens: int | None = None, phase: str | None = None) -> None:
        """Count ``n`` inference requests (and the tokens they generated) measured in ``phase`` (default: the
        phase the tracker is in now, ``(unphased)`` outside any): their own figures (``requests``,
        ``generated_tokens``; J/request and J/generated token over that phase's energy). Training's steps,
        samples and tokens are left alone (:mod:`wattwatch.measure.figures`); to keep generation's energy out of
        J/step, generate inside its own phase (``with tracker.phase("inference")``, as ``GenerationMeter``
        does)."""
        with self._lock:
            self._counters.count_requests(n, generated_tokens=generated_tokens, phase=phase or self.current_phase)

    def set_counts(self, *, steps: int | None = None, samples: int | None = None, tokens: int | None = None) -> None:
        """Set the step / sample / token counters to absolute values (e.g. from a trainer's own state)."""
        with self._lock:
            self._counters.assign(steps=steps, samples=samples, tokens=tokens)
            self._counters.feed_first_step(self._ledger)
        if self._policy is not None:
            self._policy.after_step()

    def set_eval_metrics(self, metrics: dict[str, Any]) -> None:
        """Record the run's latest evaluation metrics (``{"eval_loss": 1.2, ...}``) for its row's ``eval_metrics``
        column (the last call wins: the final evaluation). Non-numbers, timings and throughputs are dropped and
        at most 16 are kept (:func:`wattwatch.result.clean_eval_metrics`)."""
        from wattwatch.result import clean_eval_metrics

        with self._lock:
            self._recorder.eval_metrics = clean_eval_metrics(metrics)

    def add_listener(self, listener: Callable[[Tracker, float], None]) -> None:
        """Call ``listener(tracker, t)`` on the sampler thread after every reading (errors are logged once)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Tracker, float], None]) -> None:
        """Stop calling ``listener`` (added by :meth:`add_listener`; absent: nothing happens)."""
        try:
            self._listeners.remove(listener)
        except ValueError:
            pass

    # -- continuing a run in another process ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run in another process (JSON-serialisable, see
        :mod:`wattwatch.run.state`)."""
        from wattwatch.run.state import save_state  # loaded when used (import time is a benchmark figure)

        with self._lock:
            resumed = (self._resume_state or {}).get("ledger")
            ledger = self._ledger.to_dict() if self._ledger is not None else resumed
            return save_state(
                run_id=self.run_id,
                project_name=self.project_name,
                experiment_id=self.experiment_id,
                start_time=self._start_time_iso,
                counters=self._counters,
                ledger=ledger,
            )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the run saved by :meth:`state_dict`: same ``run_id``, totals carried over. Call before
        ``start()``. Raises ``ValueError`` for a state that is not a wattwatch tracker state."""
        from wattwatch.run.state import read_state

        saved = read_state(state)
        with self._lock:
            if self._state == "stopped":  # continuing a saved run after an earlier one: start from scratch
                self._new_run()
                self._state = "new"
            self.run_id = saved.run_id or self.run_id
            self._run_id_fixed = True
            self._counters.load_state(saved.counts, saved.counted, list(saved.request_phases))
            resume = {"ledger": saved.ledger, "start_time": saved.start_time}
            self._resume_state = resume if saved.ledger else None
            if self._state == "running" and self._ledger is not None and saved.ledger is not None:
                self._ledger.load_dict(saved.ledger)

    # -- collaborators (read by tests and benchmarks) ----------------------------------------------------------
    def _new_run(self) -> None:
        raise NotImplementedError  # the tracker's: a new run id, fresh counts

    @property
    def _ledger(self) -> Ledger | None:
        return self._session.ledger if self._session is not None else None

    @property
    def _sampler(self) -> Sampler | None:
        return self._session.sampler if self._session is not None else None
