"""Where a run's figures go while it runs: its row in ``emissions.csv``, its time series and its ``/metrics``
endpoint, behind one object opened at ``start()`` and closed at ``stop()``.

Disk faults never reach user code: a row that cannot be written is logged once and written at the next
flush that succeeds (totals stay in memory); a time-series row that cannot be written is skipped with one
warning. Units: W in the time series, kWh and kg CO2eq for totals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from wattwatch.measure.ledger import J_PER_KWH, Ledger
from wattwatch.result import COLUMNS, EmissionsData
from wattwatch.util.once import WarnOnce

if TYPE_CHECKING:
    from wattwatch.sinks.prometheus import Exporter, MetricsSource
    from wattwatch.sinks.timeseries import TimeseriesWriter

__all__ = ["Outputs"]

log = logging.getLogger("wattwatch")


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
    ) -> None:
        self.output_path = output_path
        self._warn = warn
        self._clock = clock
        self._wall = wall_clock
        self.timeseries_every_s = timeseries_every_s
        self.timeseries: TimeseriesWriter | None = None
        self.exporter: Exporter | None = None
        self._t0 = 0.0
        self._ts_last: tuple[float, dict[str, float]] = (0.0, {})
        self._write_failed = False

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
    ) -> None:
        """Open the time series (``timeseries``) and the ``/metrics`` endpoint (``prometheus_port`` not None).
        Raises :class:`~wattwatch.errors.ConfigurationError` for a port that cannot be bound; the caller closes
        what was opened."""
        self._t0 = t0
        self._ts_last = (t0, {})
        self._write_failed = False
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
        """Close the time series and stop the endpoint (idempotent)."""
        if self.timeseries is not None:
            self.timeseries.close()
            self.timeseries = None
        if self.exporter is not None:
            try:
                self.exporter.close()
            except Exception:  # noqa: BLE001 - never into user code
                pass
            self.exporter = None

    def detach(self) -> None:
        """Forget the time series and endpoint without touching them (a forked child: they are the parent's)."""
        self.timeseries = None
        self.exporter = None

    # -- the row -------------------------------------------------------------------------------------------
    def write_row(self, data: EmissionsData, *, durable: bool) -> None:
        """Upsert the run's row; ``durable``: ``fsync`` it (final rows and explicit flushes, see ``upsert_row``)."""
        from wattwatch.sinks.csv import upsert_row

        try:
            self.output_path.parent.mkdir(parents=True, exist_ok=True)
            upsert_row(self.output_path, data.to_row(), COLUMNS, durable=durable)
        except Exception as exc:  # disk full, folder deleted, read-only file, lock timeout...
            self._write_failed = True
            self._warn(
                "write",
                f"wattwatch: cannot write {self.output_path} ({exc}); totals are kept in memory and written "
                "at the next flush that succeeds",
            )
        else:
            if self._write_failed:
                log.warning("wattwatch: %s is writable again; the run's row is up to date", self.output_path)
            self._write_failed = False

    # -- the time series -----------------------------------------------------------------------------------
    def flush_timeseries(self) -> None:
        """Push buffered time-series rows to the file."""
        if self.timeseries is not None:
            try:
                self.timeseries.flush()
            except OSError as exc:
                self._warn("timeseries", f"wattwatch: cannot write the time series ({exc}); skipping rows")

    def timeseries_tick(self, ledger: Ledger, *, final: bool = False) -> None:
        """Append one time-series row when ``timeseries_every_s`` has passed (or at the end): the mean power of
        each channel since the previous row, from energy differences, so no sample is lost between rows."""
        if self.timeseries is None:
            return
        last_t, last_e = self._ts_last
        if not final and self._clock() - last_t < self.timeseries_every_s:
            return
        phase, energies, in_gap, grams, read_t = ledger.live()
        now = read_t if read_t is not None else self._clock()
        dt = now - last_t
        powers: dict[str, float | None] = {
            n: (None if n in in_gap or dt <= 0 else (e - last_e.get(n, 0.0)) / dt) for n, e in energies.items()
        }
        self._ts_last = (now, energies)
        total_j = sum(energies.values()) + ledger.carried_energy_j()
        try:
            self.timeseries.write(
                self._wall(), now - self._t0, phase, powers, total_j * ledger.pue / J_PER_KWH, grams / 1000.0
            )
        except OSError as exc:
            self._warn("timeseries", f"wattwatch: cannot write the time series ({exc}); skipping rows")
