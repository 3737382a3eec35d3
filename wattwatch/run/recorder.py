"""The run's figures and where they go: :class:`RowRecorder`, the Tracker's row-writing collaborator.

From the session's ledger and the run's facts it builds :class:`~wattwatch.result.EmissionsData` (this process
segment's own totals for the row; with a resumed run's earlier segments for live logs), adds the embodied CO2 of
the row's hardware, combines a distributed run's ranks (through the session's aggregator), and writes: the
run's journal while it runs (``fsync``ed only for explicit flushes), the final row at the end. Writing never
raises into user code: a failed final row is one warning and a status ending in ``-unsaved``.

Units: CodeCarbon's -- kWh (PUE applied), kg CO2eq, W, seconds.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from wattwatch.carbon.embodied_slice import EmbodiedSlice
    from wattwatch.carbon.intensity import CarbonIntensity
    from wattwatch.distributed.topology import Ownership, Topology
    from wattwatch.ledger.sink import LedgerSink
    from wattwatch.measure.ledger import LedgerSnapshot
    from wattwatch.result import EmissionsData
    from wattwatch.run.config import TrackerConfig
    from wattwatch.run.counters import Counters
    from wattwatch.run.overlap import Overlap
    from wattwatch.run.row import RunFacts
    from wattwatch.run.session import RunSession
    from wattwatch.sensors.base import ChannelInfo
    from wattwatch.sensors.usage import UsageTotals
    from wattwatch.sinks.journal import SaveOutcome
    from wattwatch.util.once import WarnOnce

__all__ = ["RecordedRun", "RowRecorder"]


class RecordedRun(Protocol):
    """What the recorder reads of its run, live at each row (a :class:`~wattwatch.run.tracker.Tracker` is one;
    the distributed aggregator reads the last four as its ``RunView``)."""

    @property
    def project_name(self) -> str: ...
    @property
    def experiment_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def tracking_mode(self) -> str: ...
    @property
    def wue(self) -> float: ...
    @property
    def intensity(self) -> CarbonIntensity: ...
    @property
    def topology(self) -> Topology | None: ...
    @property
    def ownership(self) -> Ownership | None: ...
    @property
    def save_to_file(self) -> bool: ...
    @property
    def config(self) -> TrackerConfig: ...
    def usage_totals(self) -> UsageTotals: ...
    @property
    def output_dir(self) -> Path: ...
    @property
    def output_path(self) -> Path: ...
    @property
    def channel_infos(self) -> Sequence[ChannelInfo]: ...
    def segment_snapshot(self) -> LedgerSnapshot | None: ...


class RowRecorder:
    """Builds and writes ``run``'s rows; ``counters`` (steps, samples, tokens) and ``warn`` (one warning per
    fault) are the tracker's, ``wall_clock`` stamps rows (unix seconds). :meth:`attach` gives it each started
    session."""

    def __init__(
        self, run: RecordedRun, counters: Counters, warn: WarnOnce, wall_clock: Callable[[], float]
    ) -> None:
        self._run = run
        self._counters = counters
        self._warn = warn
        self._wall = wall_clock
        self._session: RunSession | None = None
        self._pid = os.getpid()
        self.eval_metrics: dict[str, float] = {}
        """The last evaluation's metrics (cleaned), for the row's ``eval_metrics`` column."""
        self.annotate: Callable[[EmissionsData], None] | None = None
        """Adds the carbon policy's columns (budgets, marginal intensity) to each row built."""
        self.appended: EmissionsData | None = None
        """The run's final row as this process appended it (the combined row for a distributed run; ``None``
        when another rank appends it): what goes to the ledger (:mod:`wattwatch.ledger.sink`)."""
        self.ledger: LedgerSink | None = None
        """The ledger's pusher (``ledger_url`` / ``$WATTWATCH_DB``): :meth:`write_final` hands it the row."""
        self.job: dict[str, object] = {}
        """The run's job-metadata columns, read at each :meth:`attach` (:mod:`wattwatch.run.job`)."""
        self._embodied: tuple[object, float, float, str] | None = None
        """``(hardware and slice, kg per second of run, whole footprint kg, source)`` of the last row."""
        self._static: dict[str, object] | None = None
        """The row's columns that stay put during a session (place, host, slices): computed once."""
        self._charged: EmbodiedSlice | None = None
        """The slice charged for embodied CO2, when nothing in it moves with the run."""
        self.overlap: Overlap | None = None
        """The run this one overlaps on the same machine (set by ``start()``), or ``None``."""

    def attach(self, session: RunSession) -> None:
        """Record ``session``'s run from now on (called by ``start()``, in the process that writes the rows)."""
        self._session = session
        self._pid = os.getpid()
        from wattwatch.run.job import job_fields

        self.job = job_fields(self._run.config.environ)
        self._static = None
        self._embodied = None
        self._charged = None

    # -- figures ---------------------------------------------------------------------------------------------
    def facts(self) -> RunFacts:
        """The row's facts besides its measured energy, as the run has them now."""
        from wattwatch.run.row import RunFacts  # the row's code: loaded by the first row, at start()
        from wattwatch.util.times import utc_codecarbon

        run = self._run
        topology, ownership = run.topology, run.ownership
        return RunFacts(
            project_name=run.project_name,
            experiment_id=run.experiment_id,
            run_id=run.run_id,
            tracking_mode=run.tracking_mode,
            wue=run.wue,
            intensity=run.intensity,
            start_time=self._session.start_time if self._session is not None else "",
            timestamp=utc_codecarbon(self._wall()),
            infos=run.channel_infos,
            rank_count=topology.world_size if topology is not None else 1,
            ownership=ownership.rule if ownership is not None else "",
            job=self.job,
        )

    def figures(self, status: str, *, carried: bool = False) -> EmissionsData:
        """The run's figures: this segment's own (its row), or with a resumed run's earlier segments (``carried``,
        for live logs), with the embodied CO2 of its hardware."""
        from wattwatch.run.row import build_emissions_data, static_fields

        assert self._session is not None
        snap = self._session.ledger.snapshot(carried=carried)
        usage = self._run.usage_totals().means_since()
        facts = self.facts()
        if self._static is None:
            self._static = static_fields(facts)
        data = build_emissions_data(snap, facts, status, counters=self._counters, usage=usage, static=self._static)
        if self.eval_metrics:
            data.eval_metrics = dict(self.eval_metrics)
        if self.annotate is not None:
            self.annotate(data)
        overlap = self.overlap
        if overlap is not None:  # another run measured this machine meanwhile (wattwatch.run.overlap)
            data.overlaps_run_id = overlap.run_id
            data.overlap_energy_kwh = overlap.energy_kwh(data.energy_consumed)
        return self.with_embodied(self.adjust(data, snap))

    def adjust(self, data: EmissionsData, snap: LedgerSnapshot) -> EmissionsData:
        """The last word on a row's figures, given the snapshot they come from: unchanged here; the compatibility
        classes' recorder applies CodeCarbon's conventions (:mod:`wattwatch.compat.row`)."""
        return data

    def with_embodied(self, data: EmissionsData) -> EmissionsData:
        """``data`` (a row this recorder built: set in place) with its embodied CO2: the run's share of its
        hardware's manufacturing footprint, from the row's own hardware and duration (a combined row of several
        ranks gets its whole hardware) and the slice its energy was charged by -- the VM's vCPUs, the
        container's limit, the process's share, the MIG slice (:mod:`wattwatch.carbon.embodied_slice`). Cheap:
        the footprint is computed once per hardware and slice. A failure leaves the columns empty, with one
        warning."""
        from wattwatch.carbon.embodied import embodied_for_run
        from wattwatch.carbon.embodied_slice import embodied_slice

        config = self._run.config
        try:
            infos = self._run.channel_infos
            charged = self._charged if self._charged is not None else embodied_slice(infos, data, board_j=self._board_j())
            if self._charged is None and not _moving_slice(infos):
                self._charged = charged  # nothing in it moves with the run: computed once
            key = (data.gpu_model, data.cpu_model, data.cpu_count, data.ram_total_size, data.node_count, charged)
            cached = self._embodied
            if cached is None or cached[0] != key:  # once per hardware and slice (a flush: arithmetic only)
                one_second = embodied_for_run(
                    replace(data, duration=1.0),
                    lifetime_years=config.embodied_lifetime_years,
                    use_ratio=config.embodied_use_ratio,
                    charged=charged,
                )
                cached = self._embodied = (key, one_second.kg, one_second.footprint.kg, one_second.source)
        except Exception as exc:  # noqa: BLE001 - never into user code
            self._warn("embodied", f"wattwatch: cannot compute the embodied CO2 ({exc!r}); column left empty")
            return data
        _, per_s, whole, source = cached
        data.embodied_emissions = min(whole, per_s * max(0.0, data.duration))  # the share is at most the whole
        data.embodied_source = source
        return data

    def _board_j(self) -> dict[str, float]:
        """Each shared GPU's whole-board joules so far (sensors that can say: ``board_energy_j``)."""
        if self._session is None:
            return {}
        out: dict[str, float] = {}
        for sensor in self._session.hardware.sensors:
            board = getattr(sensor, "board_energy_j", None)
            if callable(board):
                out.update(board())
        return out

    def combined(self, data: EmissionsData, *, final: bool, collective: bool = False) -> EmissionsData:
        """Combine this process's totals with the other ranks' (distributed runs); identity otherwise.

        ``collective`` is true only from ``flush()`` and ``stop()``, which every rank calls (a completed stop
        with torch.distributed initialised exchanges totals); never from ``start()`` or the sampler thread, whose
        periodic flush merges the part files on disk instead."""
        dist = self._session.hardware.aggregator if self._session is not None else None
        if dist is None:
            return data
        try:
            return self.with_embodied(dist.aggregate(self._run, data, final=final, collective=collective))
        except Exception as exc:  # noqa: BLE001 - never into user code
            self._warn("aggregate", f"wattwatch: cannot combine the ranks' totals ({exc!r}); this rank's only")
            return data

    # -- writing ---------------------------------------------------------------------------------------------
    def should_write(self) -> bool:
        """Rows are saved, and this is the process that started the run (a forked child never writes)."""
        return self._run.save_to_file and os.getpid() == self._pid

    def write_row(self, status: str) -> None:
        """The run's journal with its totals now (``running`` rows: the periodic flushes and the first row)."""
        self.write(self.combined(self.figures(status), final=False))

    def write(self, data: EmissionsData) -> SaveOutcome | None:
        """Write the run's figures: its journal while it runs, its row at the end (the returned outcome says
        where it went) -- directly, or (distributed runs) through this rank's part file and, once every rank
        has ended, the one row of the combined run (see :mod:`wattwatch.distributed`)."""
        session = self._session
        if not self.should_write() or session is None:
            return None
        dist = session.hardware.aggregator
        if dist is not None:
            return dist.write(self._run, data, self._append_row)
        if data.status == "running":
            # fsync only explicit flushes: the periodic ones (sampler thread) skip it, most of their cost
            session.outputs.write_row(data, durable=threading.current_thread() is not session.sampler.thread)
            return None
        return session.outputs.write_final(data)
        # A signal that stops the run while a periodic write is under way (its handler runs inside it) appends
        # the final row first; the journal then refuses the interrupted "running" write (RunJournal.update).

    def write_final(self, data: EmissionsData) -> EmissionsData:
        """Write the final row; returns ``data``, its status ending in ``-unsaved`` (after one warning naming
        where the numbers are) when it is in no CSV. Never raises."""
        dist = self._session.hardware.aggregator if self._session is not None else None
        self.appended = data if dist is None else None
        try:
            outcome = self.write(data)
        except Exception as exc:  # noqa: BLE001 - stop() never raises because of I/O
            outcome = None
            self._warn("final-row", f"wattwatch: cannot write the final row of run {self._run.run_id} ({exc!r})")
        self._push_to_ledger()
        if outcome is not None and not outcome.saved:
            self._warn("final-row", outcome.warning())
            return replace(data, status=f"{data.status}-unsaved")
        return data

    def _push_to_ledger(self) -> None:
        """The final row as this process appended it to the ledger, once it is in the CSV (the durable record);
        waits at most 100 ms (:mod:`wattwatch.ledger.sink`). No row: another rank appends and pushes it."""
        sink, self.ledger = self.ledger, None
        if sink is not None:
            if self.appended is None:
                sink.close()
            else:
                sink.push(self.appended, source=str(self._run.output_path))

    def _append_row(self, data: EmissionsData) -> SaveOutcome:
        """A distributed run's one combined row, with the embodied CO2 of the whole run's hardware."""
        assert self._session is not None
        self.appended = row = self.with_embodied(replace(data))
        return self._session.outputs.append_row(row)


def _moving_slice(infos: Sequence[ChannelInfo]) -> bool:
    """Whether the embodied slice moves with the run: a process-mode CPU or RAM share, a process-shared GPU."""
    for info in infos:
        rule = str((info.details or {}).get("slice", ""))
        if rule.endswith("process") or rule == "gpu-process-share":
            return True
    return False
