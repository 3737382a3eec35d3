"""One tracked run: start, phases, flushes, stop -- as an object, a context manager or a decorator.

>>> with Tracker(project_name="demo", country_iso_code="FRA") as t:   # doctest: +SKIP
...     train()
>>> t.final_emissions_data.energy_consumed                          # doctest: +SKIP

Life cycle
  ``Tracker(...)`` validates every option (bad input raises :class:`~wattwatch.errors.ConfigurationError`, a
  ``ValueError``, before any work). ``start()`` checks that the output folder is writable, adds to
  ``emissions.csv`` the rows of runs whose processes died there (their journals), opens the sensors, takes the
  first reading, writes the run's journal (status ``running``) and starts the sampler thread. The journal gets
  the run's totals often enough that a ``kill -9`` loses at most ``max(2 s, 10 %`` of the time elapsed``)``,
  never more than ``flush_every_s`` (every 2 s at the start; the next opener of the folder adds the row the
  journal held). ``stop()`` takes the last
  reading and appends the run's one row to ``emissions.csv`` -- O(1) whatever the file's history, see
  :mod:`wattwatch.sinks.journal`.

  Status: normal end or exit code 0 -> ``completed`` (``sys.exit(0)`` inside ``with`` too); an exception or a
  non-zero exit code -> ``failed``; SIGINT, SIGTERM or ``KeyboardInterrupt`` -> ``interrupted`` (the signal is
  then handed to the program's previous handler); ``kill -9`` -> the last flush's totals, ``interrupted``. When the final row
  cannot be written, ``stop()`` warns once, naming the file and where the numbers still are, and the returned
  status ends in ``-unsaved`` (``completed-unsaved``...); files only ever hold the four statuses, and
  ``budget-stopped`` for a run its budget stopped (docs/acting.md).

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
:mod:`.counters` (steps and projection), :mod:`.recorder` (the run's figures and rows, built by :mod:`.row`),
:mod:`.outputs` (journal and row, time series, Prometheus) and :mod:`.process` (signals, exit, fork). Its bases
:mod:`.settings` and :mod:`.progress` hold the option attributes and the reporting API (steps, phases, live
figures).
"""

from __future__ import annotations

import os
import threading
import time

from wattwatch.run.acting import RunActing
from wattwatch.run.defaults import DEFAULT_FLUSH_EVERY_S
from wattwatch.run.progress import RunProgress
from wattwatch.run.settings import TrackerSettings

TYPE_CHECKING = (
    False  # `from wattwatch import Tracker` loads only this facade: see _log and the local imports
)
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Sequence
    from types import TracebackType
    from typing import Any, TypeVar

    from wattwatch.distributed.aggregator import Aggregator
    from wattwatch.distributed.topology import Ownership, Topology
    from wattwatch.ledger.sink import LedgerSink
    from wattwatch.result import EmissionsData
    from wattwatch.run.config import TrackerConfig
    from wattwatch.run.session import RunSession
    from wattwatch.sensors.base import ChannelInfo, Sensor
    from wattwatch.sinks.prometheus import Exporter
    from wattwatch.util.once import WarnOnce

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


class Tracker(TrackerSettings, RunProgress, RunActing):
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
        ledger_url: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        carbon_budget_kg: float | None = None, energy_budget_kwh: float | None = None, on_budget: str = "stop",
        pause_above_g_per_kwh: float | None = None, deadline: object = None, intensity_provider: str | None = None,
        intensity_zone: str | None = None, sleep: Callable[[float], None] = time.sleep,  # acting: docs/acting.md
    ) -> None:
        options = {k: v for k, v in locals().items() if k != "self"}  # first: before any local name exists
        from wattwatch.run.config import TrackerConfig  # the machinery loads when a tracker is made
        from wattwatch.run.counters import Counters
        from wattwatch.run.outputs import FlushGrid
        from wattwatch.run.process import ProcessGuard
        from wattwatch.run.recorder import RowRecorder
        from wattwatch.util.once import WarnOnce

        TrackerSettings.__init__(self, config := TrackerConfig.from_kwargs(**options))
        self.run_id: str = config.run_id or _new_run_id()
        self._run_id_fixed = config.run_id is not None and config.run_id != ""
        self.final_emissions_data: EmissionsData | None = None
        self.topology: Topology | None = None
        self.ownership: Ownership | None = None
        self._lock, self._state, self._pid = threading.RLock(), "new", os.getpid()  # state: new -> running -> stopped
        self._warn_once = WarnOnce(_log())
        self._counters = Counters()
        self._guard = ProcessGuard(self.stop, lambda: self._state == "running", lambda: self._pid)
        self._session: RunSession | None = None  # the current (or last) run's hardware, ledger, sampler, outputs
        self._resume_state: dict[str, Any] | None = None
        self._start_time_iso = ""
        self._flushes = FlushGrid(self.flush_every_s)
        self._listeners: list[Callable[[Tracker, float], None]] = []
        self.first_phase = "(unphased)"  # wattwatch.measure.figures.UNPHASED (not imported by the facade)
        self._recorder = RowRecorder(self, self._counters, self._warn_once, self._wall)  # figures, journal, rows
        self._init_policy()  # budgets, pause rule, live intensity (docs/acting.md); None when not asked for

    # -- public API ------------------------------------------------------------------------------------------
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
                from wattwatch.run.outputs import prepare_folder

                prepare_folder(self.output_dir, self.output_path, self.config.proc_root)
            from wattwatch.run.session import RunSession  # sensors, sampler, outputs: loaded by start()

            session = RunSession.open(
                self, fixed_run_id=self._run_id_fixed, resume=self._resume_state, warn=self._warn_once,
                on_tick=self._on_tick, on_phase_edge=self._on_phase_edge,
            )
            self._session = session
            self._recorder.attach(session)
            hardware = session.hardware
            self.topology, self.ownership, self.run_id = hardware.topology, hardware.ownership, hardware.run_id
            self._pid = os.getpid()
            self._start_time_iso = session.start_time
            self._attach_policy(session, self.set_phase, lambda: self.current_phase)  # projection + carbon policy
            from wattwatch.run.overlap import started  # another tracker measuring this machine (issue 24)

            self._recorder.overlap = started(self, self.config.environ, session.segment_kwh, self._warn_once)
            sampler = session.sampler  # the first row (below) is the data as of now: the flushes go from here
            self._flushes.start(self._clock(), sampler.interval_s * (1.0 + sampler.jitter))
            session.sampler.start()
            self._state = "running"
            from wattwatch.run.process import watch_forks

            watch_forks(self)
            self._recorder.write_row("running")
            self._recorder.ledger = self._recorder.ledger or _open_ledger(self.config, self._warn_once, self.output_dir)
            self._guard.install(handle_signals=bool(self.handle_signals))
            from wattwatch.run.notices import announce_start

            announce_start(
                self.run_id, self.intensity, hardware.infos, session.sampler.interval_s, self._wall(), self._warn_once
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
            status = self._final_status(status)  # a run a budget stopped ends "budget-stopped"
            session.outputs.timeseries_tick(session.ledger, final=True)
            self._state = "stopped"
            self.first_phase = "(unphased)"  # a later start() is a new run
            from wattwatch.run.overlap import remove_entries, stopped

            entries = stopped(self)  # its host registry entry is removed once the row is written (see stopped)
            try:
                data = self._recorder.combined(self._recorder.figures(status), final=True, collective=True)
                self.final_emissions_data = data  # before writing: a signal handler's stop() returns it
                self.final_emissions_data = data = self._recorder.write_final(data)
            finally:
                remove_entries(entries)
            self._guard.remove()
            session.close()
            from wattwatch.run.notices import announce_stop

            announce_stop(self.run_id, data)
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
            self._flushes.flushed(self._clock())
            data = self._recorder.combined(self._recorder.figures("running"), final=False, collective=True)
            self._recorder.write(data)
            session.outputs.flush_timeseries()
            return data

    # -- context manager and decorator ---------------------------------------------------------------------
    def __enter__(self) -> Tracker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
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
        self._recorder.eval_metrics = {}
        self._counters.reset()
        self._warn_once.reset()

    def _on_tick(self, t: float) -> None:
        session = self._session
        if os.getpid() != self._pid or session is None:
            return
        session.outputs.timeseries_tick(session.ledger, t=t)
        self._policy_tick(t)
        for listener in list(self._listeners) if self._listeners else ():
            try:
                listener(self, t)
            except Exception as exc:
                self._warn_once(f"listener:{id(listener)}", f"wattwatch: listener failed: {exc!r}")
        if self._flushes.due(t):
            if not session.sampler.tick_read_slow:  # the row holds the host's energy up to now
                session.sampler.sample_slow_now(hook=False)  # (usage means: on their own 10 s cadence)
            session.outputs.flush_timeseries()
            while not self._lock.acquire(timeout=0.005):  # stop() holds it while it waits for this tick to end
                if session.sampler.stopping:
                    return  # the final row supersedes this one
            try:
                if self._state == "running":
                    self._recorder.write_row("running")
            finally:
                self._lock.release()

    def _on_phase_edge(self, t: float) -> None:
        session = self._session
        if session is not None and os.getpid() == self._pid:
            session.outputs.timeseries_tick(session.ledger, edge=True)  # the old phase's band ends here

    def _should_write(self) -> bool:
        return self._recorder.should_write()

    def _after_fork_in_child(self) -> None:
        # The sampler thread does not exist in the child; make sure the child never writes the parent's row.
        # Locks the sampler thread held at the fork stay locked forever in the child: give it fresh ones, or its
        # first flush()/stop()/current() would hang.
        self._lock = threading.RLock()
        if self._session is not None:
            self._session.after_fork_in_child()
        self._state = "stopped"
        self.save_to_file = False
        self._recorder.ledger = None  # the parent's thread; the child pushes nothing
        self._guard.forget()


def _open_ledger(config: TrackerConfig, warn: WarnOnce, folder: os.PathLike[str]) -> LedgerSink | None:
    """The ledger's thread, started (it imports SQLAlchemy and connects while the run trains), when the run has
    a ledger: ``ledger_url``, else ``$WATTWATCH_DB`` (``''`` turns it off); ``None`` otherwise."""
    url = config.ledger_url
    if url is None:
        url = (config.environ if config.environ is not None else os.environ).get("WATTWATCH_DB", "")
    if not url:
        return None
    from wattwatch.ledger.sink import open_sink

    return open_sink(url, warn, os.fspath(folder))


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
