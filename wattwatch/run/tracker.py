"""One tracked run: start, phases, flushes, stop -- as an object, a context manager or a decorator.

>>> with Tracker(project_name="demo", country_iso_code="FRA") as t:   # doctest: +SKIP
...     train()
>>> t.final_emissions_data.energy_consumed                          # doctest: +SKIP

Life cycle
  ``Tracker(...)`` validates every option (bad input raises :class:`~wattwatch.errors.ConfigurationError`, a
  ``ValueError``, before any work). ``start()`` checks that the output folder is writable, adds to
  ``emissions.csv`` the rows of runs whose processes died there (their journals), opens the sensors, takes the
  first reading, writes the run's journal (status ``running``) and starts the sampler thread. The journal is
  replaced atomically on a fixed grid, every ``flush_every_s`` seconds from the start (a ``kill -9`` loses at
  most that much; the next opener of the folder adds the row the journal held). ``stop()`` takes the last
  reading and appends the run's one row to ``emissions.csv`` -- O(1) whatever the file's history, see
  :mod:`wattwatch.sinks.journal`.

  Status: normal end or exit code 0 -> ``completed`` (``sys.exit(0)`` inside ``with`` too); an exception or a
  non-zero exit code -> ``failed``; SIGINT, SIGTERM or ``KeyboardInterrupt`` -> ``interrupted`` (the signal is
  then handed to the program's previous handler); ``kill -9`` -> the last write stands. When the final row
  cannot be written, ``stop()`` warns once, naming the file and where the numbers still are, and the returned
  status ends in ``-unsaved`` (``completed-unsaved``...); files only ever hold the four statuses.

  ``start()`` after ``stop()`` begins a *new* run with a new ``run_id`` (fresh totals). To continue a run across
  processes, save :meth:`state_dict` and pass it to :meth:`load_state_dict` before ``start()``: the new
  process is a new *segment* of the same ``run_id`` (``resumed_segments`` counts the earlier ones) and appends
  its own row holding its own energy, so the segments of a run add up (energy spent after the last checkpoint
  of a crashed segment included). :meth:`current` (live logs) adds the earlier segments' totals as saved in the
  state; rows, :meth:`flush` and :meth:`stop` hold this segment's own.

Never into user code: a sensor fault, a failing disk or a full disk during the run is logged once and recorded;
the run keeps its totals in memory and writes them when it can.

The facade holds the state machine; the work is done by its collaborators: :mod:`.config` (options and their
validation), :mod:`.hardware` (topology, ownership, sensors), :mod:`wattwatch.measure` (sampler and ledger),
:mod:`.counters` (steps and projection), :mod:`.row` (the row from a ledger snapshot), :mod:`.outputs` (CSV row,
time series, Prometheus) and :mod:`.process` (signals, exit, fork).
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

from wattwatch.run.defaults import DEFAULT_FLUSH_EVERY_S

TYPE_CHECKING = (
    False  # `from wattwatch import Tracker` loads only this facade: see _log and the local imports
)
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path
    from types import TracebackType
    from typing import Any, Literal, TypeVar

    from wattwatch.distributed.aggregator import Aggregator
    from wattwatch.distributed.topology import Ownership, Topology
    from wattwatch.measure.ledger import Ledger, LedgerSnapshot
    from wattwatch.measure.sampler import Sampler
    from wattwatch.result import EmissionsData
    from wattwatch.run.row import RunFacts
    from wattwatch.run.session import RunSession
    from wattwatch.sensors.base import ChannelInfo, Sensor
    from wattwatch.sensors.usage import UsageTotals
    from wattwatch.sinks.journal import SaveOutcome
    from wattwatch.sinks.prometheus import Exporter

    _F = TypeVar("_F", bound=Callable[..., Any])

__all__ = ["DEFAULT_FLUSH_EVERY_S", "Tracker", "track"]


def _log(name: str = "wattwatch") -> logging.Logger:
    import logging

    return logging.getLogger(name)


def _new_run_id() -> str:
    """A random (version 4) UUID's text, as ``str(uuid.uuid4())``, without importing :mod:`uuid` (which
    imports :mod:`platform`: ~4 ms of every start)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Tracker:
    """Measure the energy and CO2 of the code run between :meth:`start` and :meth:`stop`.

    Keyword names follow CodeCarbon's ``EmissionsTracker`` where it has them. Units: seconds, watts, kWh, kg
    CO2eq (``carbon_intensity_g_per_kwh`` in grams per kWh). Every keyword is documented, validated and given
    its default in :class:`~wattwatch.run.config.TrackerConfig` (kept as :attr:`config`).

    Hardware roots are parameters (``nvml_library``, ``amd_library``, ``powercap_root``, ``hwmon_root``,
    ``proc_root``, ``clock``) and so are the sensors themselves (``sensors=``), so tests and unusual hosts can pass
    their own.
    """

    def __init__(
        self,
        project_name: str = "wattwatch",
        experiment_id: str = "",
        output_dir: str | os.PathLike[str] = ".",
        output_file: str = "emissions.csv",
        *,
        country_iso_code: str | None = None,
        region: str | None = None,
        cloud_provider: str | None = None,
        cloud_region: str | None = None,
        carbon_intensity_g_per_kwh: float | None = None,
        intensity_csv: str | os.PathLike[str] | None = None,
        pue: float = 1.0,
        wue: float = 0.0,
        gpu_ids: Sequence[int | str] | str | None = None,
        tracking_mode: str = "machine",
        measure_power_secs: float | None = None,
        save_to_file: bool = True,
        save_timeseries: bool = True,
        timeseries_every_s: float = 1.0,
        flush_every_s: float = DEFAULT_FLUSH_EVERY_S,
        log_level: str | int | None = None,
        total_steps: int | None = None,
        run_id: str | None = None,
        handle_signals: bool = True,
        include_dram: bool = False,
        tdp_w: float | None = None,
        vcpu_w: float | None = None,
        gpu_share: bool = False,
        force_cpu_power: float | None = None,
        force_ram_power: float | None = None,
        force_mode_cpu_load: bool = False,
        prometheus_port: int | None = None,
        prometheus_host: str = "127.0.0.1",
        pid: int | None = None,
        sensors: Sequence[Sensor] | None = None,
        nvml_library: str | os.PathLike[str] | None = None,
        powercap_root: str | os.PathLike[str] = "/sys/class/powercap",
        proc_root: str | os.PathLike[str] = "/proc",
        amd_library: str | os.PathLike[str] | None = None,
        hwmon_root: str | os.PathLike[str] = "/sys/class/hwmon",
        dmi_root: str | os.PathLike[str] = "/sys/class/dmi/id",
        cgroup_root: str | os.PathLike[str] = "/sys/fs/cgroup",
        environ: dict[str, str] | None = None,
        embodied_lifetime_years: float = 4.0,
        embodied_use_ratio: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        options = {k: v for k, v in locals().items() if k != "self"}  # first: before any local name exists
        from wattwatch.run.config import TrackerConfig  # the machinery loads when a tracker is made
        from wattwatch.run.counters import Counters
        from wattwatch.run.outputs import FlushGrid
        from wattwatch.run.process import ProcessGuard
        from wattwatch.util.once import WarnOnce

        log = _log()
        self.config = config = TrackerConfig.from_kwargs(**options)
        """The validated options (frozen); the attributes below start as copies of them."""
        if config.log_level is not None:
            log.setLevel(config.log_level)
        self.intensity = config.resolve_intensity()

        self.project_name = config.project_name
        self.experiment_id = config.experiment_id
        self.output_dir: Path = config.output_dir
        self.output_file = config.output_file
        self.pue = config.pue
        self.wue = config.wue
        self.gpu_ids = None if config.gpu_ids is None else list(config.gpu_ids)
        self.tracking_mode: Literal["machine", "process"] = config.tracking_mode
        self.save_to_file = config.save_to_file
        self.save_timeseries = config.save_timeseries
        self.timeseries_every_s = config.timeseries_every_s
        """Seconds between rows of the per-sample time series (each row: mean power since the previous one)."""
        self.flush_every_s = config.flush_every_s
        self.total_steps = config.total_steps
        self.handle_signals = config.handle_signals
        self.include_dram = config.include_dram
        self.prometheus_port = config.prometheus_port
        self.prometheus_host = config.prometheus_host
        self.pid = config.pid
        """Process whose tree ``tracking_mode="process"`` measures (default: this process)."""
        self._clock = config.clock
        self._wall = config.wall_clock

        self.run_id: str = config.run_id or _new_run_id()
        self._run_id_fixed = config.run_id is not None and config.run_id != ""
        self.final_emissions_data: EmissionsData | None = None
        self.topology: Topology | None = None
        self.ownership: Ownership | None = None
        self._lock = threading.RLock()
        self._state = "new"  # new -> running -> stopped
        self._pid = os.getpid()
        self._warn_once = WarnOnce(log)
        self._counters = Counters()
        self._guard = ProcessGuard(self.stop, lambda: self._state == "running", lambda: self._pid)
        self._session: RunSession | None = None
        """The current (or last) run's hardware, ledger, sampler and outputs."""
        self._resume_state: dict[str, Any] | None = None
        self._start_time_iso = ""
        self._flushes = FlushGrid(self.flush_every_s)
        self._listeners: list[Callable[[Tracker, float], None]] = []
        self._eval_metrics: dict[str, float] = {}

    # -- public API ------------------------------------------------------------------------------------------
    @property
    def output_path(self) -> Path:
        """The emissions.csv this run writes to."""
        return self.output_dir / self.output_file

    @property
    def running(self) -> bool:
        return self._state == "running"

    @property
    def channel_infos(self) -> list[ChannelInfo]:
        """Every channel this run measures (empty before ``start()``)."""
        return self._session.hardware.infos if self._session is not None else []

    def start(self) -> Tracker:
        """Begin measuring. Raises ``ConfigurationError`` (before any measuring) when the output folder cannot be
        written. A second ``start()`` on a running tracker is ignored with a warning."""
        with self._lock:
            if self._state == "running":
                self._warn_once("double-start", "wattwatch: start() called on a running tracker; ignored")
                return self
            if self._state == "stopped":
                self._new_run()
            if self.save_to_file:
                self._check_output_dir()
            from wattwatch.run.session import RunSession  # sensors, sampler, outputs: loaded by start()

            session = RunSession.open(
                self,
                fixed_run_id=self._run_id_fixed,
                resume=self._resume_state,
                warn=self._warn_once,
                on_tick=self._on_tick,
            )
            self._session = session
            hardware = session.hardware
            self.topology, self.ownership, self.run_id = (
                hardware.topology,
                hardware.ownership,
                hardware.run_id,
            )
            self._pid = os.getpid()
            self._start_time_iso = session.start_time
            self._counters.start_projection(self.total_steps)
            self._flushes.start(self._clock())  # before the thread starts: its first tick is not a flush
            session.sampler.start()
            self._state = "running"
            from wattwatch.run.process import watch_forks

            watch_forks(self)
            self._write_row("running")
            self._guard.install(handle_signals=bool(self.handle_signals))
            from wattwatch.carbon.intensity import coverage_warning

            uncovered = coverage_warning(self.intensity, self._wall())
            if uncovered:
                self._warn_once("intensity-coverage", uncovered)
            if self.intensity.source.kind == "default":
                _log("wattwatch.location").warning(
                    "wattwatch: no location given, so emissions use the world-average grid "
                    f"({self.intensity.mean_g_per_kwh():.0f} gCO2eq/kWh); set one with country_iso_code= "
                    '(e.g. "FRA"), cloud_provider= and cloud_region=, or carbon_intensity_g_per_kwh= '
                    "(command line: --country-iso-code ...)"
                )
            _log().info(
                "wattwatch: run %s started: %d channel(s) (%s), sampling every %.3g s, intensity %s",
                self.run_id,
                len(hardware.infos),
                ", ".join(f"{i.channel}={i.method}" for i in hardware.infos) or "none",
                session.sampler.interval_s,
                self.intensity.source.description,
            )
            return self

    def stop(self, status: str = "completed") -> EmissionsData | None:
        """Take the last reading, write the run's final row and return its totals (also kept in
        :attr:`final_emissions_data`). Idempotent: a second call returns the same result."""
        with self._lock:
            if self._state != "running":
                return self.final_emissions_data
            if os.getpid() != self._pid:  # a forked child must not finish its parent's run
                self._state = "stopped"
                return None
            session = self._session
            assert session is not None
            session.sampler.stop()
            session.outputs.timeseries_tick(session.ledger, final=True)
            self._state = "stopped"
            data = self._emissions_data(status)
            data = self._aggregate(data, final=True, collective=True)
            self.final_emissions_data = data
            try:
                outcome = self._write_data(data)
            except Exception as exc:  # noqa: BLE001 - stop() never raises because of I/O
                outcome = None
                self._warn_once(
                    "final-row", f"wattwatch: cannot write the final row of run {self.run_id} ({exc!r})"
                )
            if outcome is not None and not outcome.saved:
                self._warn_once("final-row", outcome.warning())
                from dataclasses import replace

                data = replace(data, status=f"{data.status}-unsaved")
                self.final_emissions_data = data
            self._guard.remove()
            session.close()
            _log().info(
                "wattwatch: run %s %s: %.6f kWh, %.6f kg CO2eq in %.1f s",
                self.run_id,
                data.status,
                data.energy_consumed,
                data.emissions,
                data.duration,
            )
            return data

    def flush(self) -> EmissionsData | None:
        """Rewrite the run's journal now (status ``running``, ``fsync``ed) and return this segment's totals so
        far. The periodic flushes keep their grid (an explicit flush does not move it)."""
        with self._lock:
            if self._state != "running":
                return self.final_emissions_data
            session = self._session
            assert session is not None
            session.sampler.sample_now()
            data = self._aggregate(self._emissions_data("running"), final=False, collective=True)
            self._write_data(data)
            session.outputs.flush_timeseries()
            return data

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
        return self._emissions_data("running", carried=True)

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
    def phase(self, name: str) -> Iterator[Tracker]:
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
        return self._ledger.phase if self._ledger is not None else "train"

    def set_phase(self, name: str) -> None:
        """Switch phase now (reading at the edge). No-op when not running."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"phase names are non-empty strings; got {name!r}")
        if self._state == "running" and self._sampler is not None and os.getpid() == self._pid:
            self._sampler.mark_phase(name)
        elif self._ledger is not None:
            self._ledger.set_phase(name)

    def step(self, n: int = 1, *, samples: int | None = None, tokens: int | None = None) -> None:
        """Count ``n`` training/inference steps (and the samples / tokens they processed) for per-step figures
        and the projection to ``total_steps``."""
        with self._lock:
            self._counters.count(n, samples=samples, tokens=tokens)
            self._counters.feed_first_step(self._ledger)

    def set_counts(
        self, *, steps: int | None = None, samples: int | None = None, tokens: int | None = None
    ) -> None:
        """Set the step / sample / token counters to absolute values (e.g. from a trainer's own state)."""
        with self._lock:
            self._counters.assign(steps=steps, samples=samples, tokens=tokens)
            self._counters.feed_first_step(self._ledger)

    def set_eval_metrics(self, metrics: dict[str, Any]) -> None:
        """Record the run's latest evaluation metrics (``{"eval_loss": 1.2, ...}``) for its row's ``eval_metrics``
        column (the last call wins: the final evaluation). Non-numbers, timings and throughputs are dropped and
        at most 16 are kept (:func:`wattwatch.result.clean_eval_metrics`)."""
        from wattwatch.result import clean_eval_metrics

        with self._lock:
            self._eval_metrics = clean_eval_metrics(metrics)

    def add_listener(self, listener: Callable[[Tracker, float], None]) -> None:
        """Call ``listener(tracker, t)`` on the sampler thread after every reading (errors are logged once)."""
        self._listeners.append(listener)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run in another process (JSON-serialisable, see
        :mod:`wattwatch.run.state`)."""
        from wattwatch.run.state import save_state  # loaded when used (import time is a benchmark figure)

        with self._lock:
            ledger = (
                self._ledger.to_dict()
                if self._ledger is not None
                else (self._resume_state or {}).get("ledger")
            )
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
            self._counters.load_state(saved.counts, saved.counted)
            resume = {"ledger": saved.ledger, "start_time": saved.start_time}
            self._resume_state = resume if saved.ledger else None
            if self._state == "running" and self._ledger is not None and saved.ledger is not None:
                self._ledger.load_dict(saved.ledger)

    # -- context manager and decorator ---------------------------------------------------------------------
    def __enter__(self) -> Tracker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            from wattwatch.run.process import status_for_exception

            self.stop(status_for_exception(exc_type, exc))
        except Exception as error:  # noqa: BLE001 - the user's own exception, if any, must come out unchanged
            _log().warning("wattwatch: could not stop the run: %r", error)
            if exc_type is None:
                raise

    def __call__(self, func: _F) -> _F:
        """Use a tracker instance as a decorator: each call of ``func`` is one run."""

        import functools

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    # -- collaborators (read by tests and benchmarks) ----------------------------------------------------------
    @property
    def _ledger(self) -> Ledger | None:
        return self._session.ledger if self._session is not None else None

    @property
    def _sampler(self) -> Sampler | None:
        return self._session.sampler if self._session is not None else None

    @property
    def _infos(self) -> list[ChannelInfo]:
        return self.channel_infos

    @property
    def _dist(self) -> Aggregator | None:
        return self._session.hardware.aggregator if self._session is not None else None

    @property
    def _exporter(self) -> Exporter | None:
        return self._session.outputs.exporter if self._session is not None else None

    # -- internals -------------------------------------------------------------------------------------------
    def _new_run(self) -> None:
        self.run_id = _new_run_id()
        self._run_id_fixed = False
        self._resume_state = None
        self.final_emissions_data = None
        self._eval_metrics = {}
        self._counters.reset()
        self._warn_once.reset()

    def _check_output_dir(self) -> None:
        from wattwatch.errors import ConfigurationError
        from wattwatch.sinks.csv import check_writable, remove_stale_temp_files
        from wattwatch.sinks.journal import finalize_stale

        try:
            check_writable(self.output_dir)
        except PermissionError as exc:
            raise ConfigurationError(str(exc)) from None
        remove_stale_temp_files(self.output_path)
        finalize_stale(
            self.output_dir, proc_root=self.config.proc_root
        )  # rows of runs whose process died here

    def _on_tick(self, t: float) -> None:
        session = self._session
        if os.getpid() != self._pid or session is None:
            return
        session.outputs.timeseries_tick(session.ledger)
        session.usage.sample(t)
        for listener in list(self._listeners):
            try:
                listener(self, t)
            except Exception as exc:
                self._warn_once(f"listener:{id(listener)}", f"wattwatch: listener failed: {exc!r}")
        if self._flushes.due(t):
            session.outputs.flush_timeseries()
            with self._lock:
                if self._state == "running":
                    self._write_row("running")

    def _aggregate(self, data: EmissionsData, *, final: bool, collective: bool = False) -> EmissionsData:
        """Combine this process's totals with the other ranks' (distributed runs); identity otherwise.

        ``collective`` is true only from ``flush()`` and ``stop()``, which every rank calls (a completed stop
        with torch.distributed initialised exchanges totals); never from ``start()`` or the sampler thread, whose
        periodic flush merges the part files on disk instead."""
        dist = self._dist
        if dist is None:
            return data
        try:
            return self._with_embodied(dist.aggregate(self, data, final=final, collective=collective))
        except Exception as exc:  # noqa: BLE001 - never into user code
            self._warn_once(
                "aggregate", f"wattwatch: cannot combine the ranks' totals ({exc!r}); this rank's only"
            )
            return data

    def _with_embodied(self, data: EmissionsData) -> EmissionsData:
        """``data`` with its embodied CO2 (the run's share of its hardware's manufacturing footprint, from the
        row's own hardware and duration: a combined row of several ranks gets its whole hardware). Cheap: the
        footprint is computed once per hardware. A failure leaves the columns empty, with one warning."""
        from wattwatch.carbon.embodied import with_embodied

        try:
            return with_embodied(
                data,
                lifetime_years=self.config.embodied_lifetime_years,
                use_ratio=self.config.embodied_use_ratio,
            )
        except Exception as exc:  # noqa: BLE001 - never into user code
            self._warn_once(
                "embodied", f"wattwatch: cannot compute the embodied CO2 ({exc!r}); column left empty"
            )
            return data

    def _facts(self) -> RunFacts:
        from wattwatch.run.row import RunFacts  # the row's code: loaded by the first row, at start()
        from wattwatch.util.times import utc_codecarbon

        topology, ownership = self.topology, self.ownership
        return RunFacts(
            project_name=self.project_name,
            experiment_id=self.experiment_id,
            run_id=self.run_id,
            tracking_mode=self.tracking_mode,
            wue=self.wue,
            intensity=self.intensity,
            start_time=self._start_time_iso,
            timestamp=utc_codecarbon(self._wall()),
            infos=self.channel_infos,
            rank_count=topology.world_size if topology is not None else 1,
            ownership=ownership.rule if ownership is not None else "",
        )

    def _emissions_data(self, status: str, *, carried: bool = False) -> EmissionsData:
        """The run's figures: this segment's own (its row), or with a resumed run's earlier segments
        (``carried``, for :meth:`current`)."""
        from wattwatch.run.row import build_emissions_data

        assert self._ledger is not None
        snap = self._ledger.snapshot(carried=carried)
        data = build_emissions_data(
            snap, self._facts(), status, counters=self._counters, usage=self.usage_totals().means_since()
        )
        if self._eval_metrics:
            data.eval_metrics = dict(self._eval_metrics)
        return self._with_embodied(data)

    def _write_row(self, status: str) -> None:
        self._write_data(self._aggregate(self._emissions_data(status), final=False))

    def _should_write(self) -> bool:
        return self.save_to_file and os.getpid() == self._pid

    def _write_data(self, data: EmissionsData) -> SaveOutcome | None:
        """Write the run's figures: its journal while it runs, its row at the end (the returned outcome says
        where it went) -- directly, or (distributed runs) through this rank's part file and, once every rank
        has ended, the one row of the combined run (see :mod:`wattwatch.distributed`)."""
        if not self._should_write() or self._session is None:
            return None
        dist = self._dist
        if dist is not None:
            return dist.write(self, data, self._append_row)
        outputs = self._session.outputs
        if data.status == "running":
            # fsync only explicit flushes: the periodic ones (sampler thread) skip it, most of their cost
            outputs.write_row(data, durable=threading.current_thread() is not self._session.sampler.thread)
            return None
        return outputs.write_final(data)
        # A signal that stops the run while a periodic write is under way (its handler runs inside it) appends
        # the final row first; the journal then refuses the interrupted "running" write (RunJournal.update).

    def _append_row(self, data: EmissionsData) -> SaveOutcome:
        """A distributed run's one combined row, with the embodied CO2 of the whole run's hardware."""
        assert self._session is not None
        return self._session.outputs.append_row(self._with_embodied(data))

    def _after_fork_in_child(self) -> None:
        # The sampler thread does not exist in the child; make sure the child never writes the parent's row.
        # Locks the sampler thread held at the fork stay locked forever in the child: give it fresh ones, or its
        # first flush()/stop()/current() would hang.
        self._lock = threading.RLock()
        if self._session is not None:
            self._session.after_fork_in_child()
        self._state = "stopped"
        self.save_to_file = False
        self._guard.forget()


def track(func: _F | None = None, /, **tracker_kwargs: Any) -> Any:
    """Decorator: each call of the function is one tracked run.

    ``@track`` or ``@track(project_name="x", country_iso_code="FRA")``; the tracker's keyword arguments are
    validated when the decorator is applied, so a typo fails at import time, not after training.
    """

    def decorate(f: _F) -> _F:
        Tracker(**tracker_kwargs)  # validate now

        import functools

        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with Tracker(**tracker_kwargs):
                return f(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    if func is not None:
        return decorate(func)
    return decorate
