"""Where a run's figures go while it runs: its journal and final row (``emissions.csv``), its time series and its
``/metrics`` endpoint, behind one object opened at ``start()`` and closed at ``stop()``.

The row (see :mod:`wattwatch.sinks.journal`): while the run goes, each flush replaces the run's small journal
(``.wattwatch/runs/<run_id>.<token>.json``); ``emissions.csv`` gets the run's row once, appended at the end
(O(1) in the file's history). Disk faults never reach user code: a journal that cannot be written is logged
once and rewritten at the next flush that succeeds (totals stay in memory); a final row that cannot be appended
stays in the journal, and :meth:`Outputs.write_final` says where (a :class:`~wattwatch.sinks.journal.SaveOutcome`);
a time-series row that cannot be written is skipped with one warning, and closing the series on a full disk is
a warning too. Units: W in the time series, kWh and kg CO2eq for totals.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wattwatch.measure.ledger import Ledger
from wattwatch.result import COLUMNS, EmissionsData
from wattwatch.run.series_rows import PendingRow, SeriesRows
from wattwatch.util.once import WarnOnce

if TYPE_CHECKING:
    from wattwatch.distributed.topology import Topology
    from wattwatch.measure.ledger import LedgerSnapshot
    from wattwatch.sinks.journal import RunJournal, SaveOutcome
    from wattwatch.sinks.prometheus import Exporter, MetricsSource
    from wattwatch.sinks.timeseries import TimeseriesWriter

__all__ = ["FlushGrid", "FreshMetrics", "LOSS_FLOOR_S", "LOSS_FRACTION", "Outputs", "loss_bound_s", "prepare_folder"]

log = logging.getLogger("wattwatch")

_PENDING_ROWS = 64
"""Time-series rows kept (as ledger views) before they are computed without waiting for a flush."""


def prepare_folder(output_dir: Path, output_path: Path, proc_root: str | os.PathLike[str]) -> None:
    """Before a run writes in ``output_dir``: check it is writable (``ConfigurationError`` saying so, before any
    measuring), remove dead writers' temporary files beside ``output_path`` and add the rows of runs whose
    process died there (their journals; ``proc_root`` tells which processes are alive)."""
    from wattwatch.errors import ConfigurationError
    from wattwatch.sinks.files import check_writable, remove_stale_temp_files
    from wattwatch.sinks.journal import finalize_stale

    try:
        check_writable(output_dir)
    except PermissionError as exc:
        raise ConfigurationError(str(exc)) from None
    remove_stale_temp_files(output_path)
    finalize_stale(output_dir, proc_root=proc_root)


LOSS_FLOOR_S = 2.0
"""A ``kill -9`` may lose up to this many seconds however young the run (s)."""
LOSS_FRACTION = 0.10
"""... or up to this fraction of the time elapsed, never more than ``flush_every_s``."""


def loss_bound_s(elapsed_s: float, period_s: float) -> float:
    """The most of a run a ``kill -9`` at ``elapsed_s`` may lose: ``max(2 s, 10 % of elapsed)``, never more than
    ``period_s`` (``flush_every_s``); seconds."""
    return min(period_s, max(LOSS_FLOOR_S, LOSS_FRACTION * elapsed_s))


class FlushGrid:
    """When the periodic flushes happen, so that a ``kill -9`` never loses more than :func:`loss_bound_s` of
    the run: dense at the start (a 25 s run loses at most 2.5 s, not the 25 s a fixed 30 s period lost), then
    every ``period_s``.

    :meth:`due` is asked at every tick of the sampler: it flushes when waiting for the next tick (``tick_s``
    later at most: the interval with its dither) would leave more than the bound unwritten. So the bound holds
    at every instant, to the lateness of one tick; a late tick moves nothing forward that is not needed.
    Monotonic seconds."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.origin = 0.0
        self.last = 0.0
        """Monotonic time of the data the last flush wrote."""
        self.tick_s = 1.0

    def start(self, origin: float, tick_s: float = 1.0) -> None:
        """The run's data is on disk as of ``origin`` (its first row); the sampler ticks at most ``tick_s``
        apart."""
        self.origin = self.last = origin
        self.tick_s = tick_s

    def due(self, t: float) -> bool:
        """Whether the tick at ``t`` flushes (then the data written is as of ``t``)."""
        after = t + self.tick_s * 1.05  # the next tick, a little late
        if after - self.last <= loss_bound_s(after - self.origin, self.period_s):
            return False
        self.last = t
        return True

    def flushed(self, t: float) -> None:
        """An explicit flush wrote the data as of ``t``."""
        self.last = max(self.last, t)


def _row_text_maker() -> Callable[[EmissionsData], dict[str, str]]:
    """A :class:`~wattwatch.run.rowtext.RowText`, imported when first called (a flush, not ``start()``)."""
    made: list[Callable[[EmissionsData], dict[str, str]]] = []

    def text(data: EmissionsData) -> dict[str, str]:
        if not made:
            from wattwatch.run.rowtext import RowText

            made.append(RowText())
        return made[0](data)

    return text


class FreshMetrics:
    """What ``/metrics`` is rendered from: ``tracker``'s figures after a reading of the host models taken at the
    render (at most one per ``min_gap_s``; waits at most 0.2 s for a read in progress), so the energy counters
    hold the host models' energy up to the page, not up to their last read up to 10 s before (on a host without
    GPUs, all of it). The page is rendered after a sample, on the sampler thread, at most every 0.25 s
    (:class:`~wattwatch.sinks.prometheus.Exporter`): at most 5 reads of ``/proc/stat`` and ``/proc/meminfo`` a
    second while an exporter runs, and a scrape itself still costs the training process nothing."""

    def __init__(self, tracker: MetricsSource, refresh: Callable[[], object], *, min_gap_s: float = 0.2) -> None:
        self._tracker = tracker
        self._refresh = refresh
        self._min_gap_s = min_gap_s
        self._next = 0.0
        self._lock = threading.Lock()

    @property
    def topology(self) -> Topology | None:
        return self._tracker.topology

    def current(self) -> EmissionsData:
        import time

        with self._lock:
            now = time.monotonic()
            if now >= self._next:
                self._next = now + self._min_gap_s
                try:
                    self._refresh()
                except Exception:  # noqa: BLE001 - a scrape never fails for want of a fresh reading
                    pass
        return self._tracker.current()

    def snapshot(self) -> LedgerSnapshot | None:
        return self._tracker.snapshot()

    def add_listener(self, listener: Callable[[Any, float], None]) -> None:
        self._tracker.add_listener(listener)

    def remove_listener(self, listener: Callable[[Any, float], None]) -> None:
        self._tracker.remove_listener(listener)


class Outputs:
    """The run's row writer, time series and Prometheus exporter.

    ``output_path`` is the CSV file; the time series (when ``save_timeseries``) lives next to it as
    ``<run_id>.timeseries.csv`` with one row every ``timeseries_every_s`` seconds.
    """

    def __init__(
        self,
        output_path: Path,
        *,
        warn: WarnOnce,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        timeseries_every_s: float,
        proc_root: str | os.PathLike[str] = "/proc",
    ) -> None:
        self.output_path = output_path
        self._proc_root = proc_root
        self.journal: RunJournal | None = None
        """The run's journal (``None`` when rows are not saved, or for a distributed run: its parts are)."""
        self._warn = warn
        self._clock = clock
        self._wall = wall_clock
        self.timeseries_every_s = timeseries_every_s
        self.timeseries: TimeseriesWriter | None = None
        self.exporter: Exporter | None = None
        self._t0 = 0.0
        self._ts_t = 0.0
        """Monotonic time of the latest time-series row."""
        self._ts_rows: SeriesRows | None = None
        """Computes the rows (keeps each channel's energy at the last row)."""
        self._ts_pending: list[PendingRow] = []
        """Rows taken but not yet computed (see :mod:`wattwatch.run.series_rows`)."""
        self._ts_ledger: Ledger | None = None
        """The ledger the rows are taken from: its view at the flush is the reading after the last row."""
        self._ts_lock = threading.Lock()
        """Rows are taken on the sampler thread, at phase edges (the user's thread) and at the end, and computed
        there or by an explicit ``flush()``."""
        self._write_failed = False
        self._row_text: Callable[[EmissionsData], dict[str, str]] | None = None
        """A running row's bounded text, its steady columns converted once (:mod:`wattwatch.run.rowtext`); made
        at the second row (the flushes, on the sampler thread), so ``start()`` writes its first row plainly."""

    # -- life cycle ----------------------------------------------------------------------------------------
    def open(
        self,
        *,
        run_id: str,
        channels: Sequence[str],
        t0: float,
        timeseries: bool,
        prometheus_port: int | None,
        prometheus_host: str,
        metrics: MetricsSource,
        journal: bool = False,
    ) -> None:
        """Open the journal (``journal``), the time series (``timeseries``) and the ``/metrics`` endpoint
        (``prometheus_port`` not None). Raises :class:`~wattwatch.errors.ConfigurationError` for a port that
        cannot be bound; the caller closes what was opened."""
        self._t0 = t0
        self._ts_t = t0
        self._ts_rows = SeriesRows(list(channels), t0)
        self._ts_pending = []
        self._write_failed = False
        if journal:
            from wattwatch.sinks.journal import RunJournal

            self.journal = RunJournal(
                self.output_path.parent, self.output_path.name, run_id, proc_root=self._proc_root
            )
        if timeseries:
            from wattwatch.sinks.timeseries import TimeseriesWriter, timeseries_path

            self.timeseries = TimeseriesWriter(timeseries_path(self.output_path.parent, run_id), list(channels))
        if prometheus_port is not None:
            try:
                from wattwatch.sinks.prometheus import start_exporter
            except ImportError:
                self._warn("prometheus", "wattwatch: prometheus export is not available in this build")
            else:
                self.exporter = start_exporter(metrics, port=prometheus_port, host=prometheus_host)

    def close(self) -> None:
        """Close the time series and stop the endpoint (idempotent; never raises: a full disk when the last
        buffered rows are written is one warning)."""
        if self.timeseries is not None:
            try:
                with self._ts_lock:
                    self._compute_rows()
                self.timeseries.close()
            except OSError as exc:
                self._warn("timeseries", f"wattwatch: cannot write the time series ({exc}); its last rows are lost")
            self.timeseries = None
        if self.exporter is not None:
            try:
                self.exporter.close()
            except Exception:  # noqa: BLE001 - never into user code
                pass
            self.exporter = None

    def detach(self) -> None:
        """Forget the journal, time series and endpoint without touching them (a forked child: they are the
        parent's)."""
        self.journal = None
        self.timeseries = None
        self.exporter = None

    # -- the row -------------------------------------------------------------------------------------------
    def write_row(self, data: EmissionsData, *, durable: bool) -> None:
        """Replace the run's journal with its current totals (status ``running``); ``durable``: ``fsync`` it
        (explicit flushes; the periodic ones skip it, which is most of their cost)."""
        journal = self.journal
        if journal is None:
            return
        text = self._row_text
        if text is not None:
            row, bounded = text(data), True
        else:  # the first row (start()): plainly, the journal bounds it; the flushes' way from the next one
            row, bounded = data.to_row(), False
            self._row_text = _row_text_maker()
        if journal.update(row, COLUMNS, durable=durable, bounded=bounded):
            if self._write_failed:
                log.warning("wattwatch: %s is writable again; the run's journal is up to date", journal.path)
            self._write_failed = False
            return
        self._write_failed = True
        self._warn(
            "write",
            f"wattwatch: cannot write the run's journal {journal.path} ({journal.last_error}); totals are kept in "
            f"memory and written at the next flush that succeeds (the row goes to {self.output_path} at the end)",
        )

    def append_row(self, data: EmissionsData) -> SaveOutcome:
        """Append ``data`` as a row of ``emissions.csv`` now, O(1), beside the journal: a distributed run's one
        combined row (its aggregator calls this once, when every rank has ended; the ranks' parts are its
        journal), or a row to leave behind at an explicit flush (CodeCarbon's ``on_csv_write="append"``).
        Never raises."""
        from wattwatch.sinks.emissions_file import append_row
        from wattwatch.sinks.journal import SaveOutcome

        outcome = append_row(self.output_path, data.to_row(), COLUMNS)
        return SaveOutcome(data.run_id, self.output_path, outcome.saved_in, error=outcome.error)

    def write_final(self, data: EmissionsData) -> SaveOutcome | None:
        """Append the run's final row to ``emissions.csv`` and remove its journal. Returns where the numbers
        are (``None`` when rows are not saved); never raises."""
        journal = self.journal
        if journal is None:
            return None
        return journal.finish(data.to_row(), COLUMNS)

    # -- the time series -----------------------------------------------------------------------------------
    def flush_timeseries(self) -> None:
        """Compute the rows taken since the last flush and push them to the file (the caller reads the host
        models first, so every row's energy can be placed between two readings)."""
        if self.timeseries is not None:
            try:
                with self._ts_lock:
                    self._compute_rows()
                    self.timeseries.flush()
            except OSError as exc:
                self._warn("timeseries", f"wattwatch: cannot write the time series ({exc}); skipping rows")

    def timeseries_tick(
        self, ledger: Ledger, *, t: float | None = None, final: bool = False, edge: bool = False
    ) -> None:
        """Take one time-series row when ``timeseries_every_s`` has passed since the last one (``final``: the
        run's last row; ``edge``: a row at a phase change, before the new phase begins, so that every phase's
        band starts and ends where it did). ``t`` is the row's monotonic time (the sampler's tick; default: the
        latest reading). Only the ledger's view is kept: the rows are computed together at the next flush
        (:mod:`wattwatch.run.series_rows`; a tick's code runs on cold caches, ten rows in a row do not)."""
        if self.timeseries is None:
            return
        with self._ts_lock:
            if not (final or edge) and (t if t is not None else self._clock()) - self._ts_t < self.timeseries_every_s:
                return
            view = ledger.live(carried=False)  # this segment's own (see plot)
            now = view.read_t if t is None or final or edge else t
            if now is None:
                now = self._clock()
            if now < self._ts_t:
                now = self._ts_t  # never back in time (an edge row taken just before a tick's)
            self._ts_t = now
            self._ts_ledger = ledger
            self._ts_pending.append(PendingRow(self._wall(), now, view, ledger.pue))
            full = len(self._ts_pending) >= _PENDING_ROWS
        if full:
            self.flush_timeseries()

    def _compute_rows(self) -> None:
        """Turn the rows taken since the last flush into the writer's rows (``OSError`` from the writer
        propagates; the rows are dropped then)."""
        series, rows, self._ts_pending = self.timeseries, self._ts_pending, []
        if series is None or self._ts_rows is None or not rows:
            return
        latest = self._ts_ledger.live(carried=False) if self._ts_ledger is not None else None
        for r in self._ts_rows.compute(rows, latest):
            series.write(r.wall, r.elapsed_s, r.phase, r.powers, r.energy_kwh, r.emissions_kg)
