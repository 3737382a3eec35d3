"""One tracked run: start, phases, flushes, stop -- as an object, a context manager or a decorator.

>>> with Tracker(project_name="demo", country_iso_code="FRA") as t:   # doctest: +SKIP
...     train()
>>> t.final_emissions_data.energy_consumed                          # doctest: +SKIP

Life cycle
  ``Tracker(...)`` validates every option (bad input raises :class:`~wattwatch.errors.ConfigurationError`, a
  ``ValueError``, before any work). ``start()`` checks that the output folder is writable, opens the sensors,
  takes the first reading, writes the run's row with status ``running`` and starts the sampler thread. The row is
  rewritten atomically every ``flush_every_s`` seconds. ``stop()`` takes the last reading and writes
  ``completed``; an exception inside ``with``/``@track`` writes ``failed`` and re-raises; SIGTERM/SIGINT write
  ``interrupted`` and then hand the signal to the program's previous handler.

  ``start()`` after ``stop()`` begins a *new* run with a new ``run_id`` (fresh totals). To continue a run across
  processes, save :meth:`state_dict` and pass it to :meth:`load_state_dict` before ``start()``.

Never into user code: a sensor fault, a failing disk or a full disk during the run is logged once and recorded;
the run keeps its totals in memory and writes them when it can.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal, TypeVar

from wattwatch import __version__
from wattwatch.errors import ConfigurationError
from wattwatch.measure.ledger import J_PER_KWH, Ledger, LedgerSnapshot
from wattwatch.measure.sampler import Sampler
from wattwatch.result import COLUMNS, EmissionsData
from wattwatch.sensors.base import ChannelInfo, Sensor

__all__ = ["DEFAULT_FLUSH_EVERY_S", "Tracker", "track"]

log = logging.getLogger("wattwatch")

DEFAULT_FLUSH_EVERY_S = 10.0
"""Seconds between atomic rewrites of the run's row (and of the time series' buffer): a ``kill -9`` loses at
most this much. Each rewrite costs about a millisecond of CPU; see benchmarks/RESULTS.md, figure 4."""

_TRACKING_MODES = ("machine", "process")
_F = TypeVar("_F", bound=Callable[..., Any])
_LIVE_TRACKERS: weakref.WeakSet[Tracker] = weakref.WeakSet()


def _utc_iso(wall: float) -> str:
    """ISO-8601 UTC at one-second resolution (``2026-11-29T12:00:00+00:00``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(wall))


def _new_run_id() -> str:
    import uuid  # imported when a run id is made, not with the package (import time is a benchmark figure)

    return str(uuid.uuid4())


def _parse_gpu_ids(gpu_ids: object) -> list[int | str] | None:
    if gpu_ids is None:
        return None
    items: list[object]
    if isinstance(gpu_ids, str):
        items = [s.strip() for s in gpu_ids.split(",") if s.strip()]
    elif isinstance(gpu_ids, int):
        items = [gpu_ids]
    else:
        try:
            items = list(gpu_ids)  # type: ignore[call-overload]
        except TypeError:
            raise ConfigurationError(
                f"gpu_ids must be a list of GPU indices or UUIDs (or a comma-separated string); got {gpu_ids!r}"
            ) from None
    out: list[int | str] = []
    for item in items:
        if isinstance(item, bool):
            raise ConfigurationError(f"gpu_ids entries must be indices or UUIDs, not {item!r}")
        if isinstance(item, int):
            if item < 0:
                raise ConfigurationError(f"gpu_ids entries must be >= 0; got {item}")
            out.append(item)
        elif isinstance(item, str) and item.strip().isdigit():
            out.append(int(item.strip()))
        elif isinstance(item, str) and item.strip().lstrip("-").isdigit():
            raise ConfigurationError(f"gpu_ids entries must be >= 0; got {item.strip()!r}")
        elif isinstance(item, str) and item.strip():
            out.append(item.strip())
        else:
            raise ConfigurationError(f"gpu_ids entries must be indices or UUIDs; got {item!r}")
    return out


def _as_float(value: object) -> float | None:
    """``value`` as a float (a number or a string holding one; not a bool), else ``None``."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


def _as_int(value: object) -> int | None:
    """``value`` as a whole number (an int, or a string / float holding one), else ``None``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _as_float(value)
    return int(number) if number is not None and number.is_integer() else None


def _positive(name: str, value: object, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be a positive number; got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a positive number; got {value!r}") from None
    if not (number > 0 and number < float("inf")):
        raise ConfigurationError(f"{name} must be a positive number; got {value!r}")
    return number


class Tracker:
    """Measure the energy and CO2 of the code run between :meth:`start` and :meth:`stop`.

    Keyword names follow CodeCarbon's ``EmissionsTracker`` where it has them. Units: seconds, watts, kWh, kg
    CO2eq (``carbon_intensity_g_per_kwh`` in grams per kWh).

    Hardware roots are parameters (``nvml_library``, ``powercap_root``, ``proc_root``, ``clock``) and so are the
    sensors themselves (``sensors=``), so tests and unusual hosts can pass their own.
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
        prometheus_port: int | None = None,
        prometheus_host: str = "127.0.0.1",
        pid: int | None = None,
        sensors: Sequence[Sensor] | None = None,
        nvml_library: str | os.PathLike[str] | None = None,
        powercap_root: str | os.PathLike[str] = "/sys/class/powercap",
        proc_root: str | os.PathLike[str] = "/proc",
        environ: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if log_level is not None:
            try:
                log.setLevel(log_level.upper() if isinstance(log_level, str) else log_level)
            except (ValueError, TypeError):
                raise ConfigurationError(
                    f"log_level must be one of debug, info, warning, error, critical; got {log_level!r}"
                ) from None
        if not isinstance(project_name, str) or not project_name.strip():
            raise ConfigurationError(f"project_name must be a non-empty string; got {project_name!r}")
        if tracking_mode not in _TRACKING_MODES:
            raise ConfigurationError(f"tracking_mode must be 'machine' or 'process'; got {tracking_mode!r}")
        pue_f = _positive("pue", pue, allow_none=False)
        assert pue_f is not None
        if pue_f < 1.0:
            raise ConfigurationError(f"pue must be >= 1.0 (1.0 means no overhead); got {pue}")
        wue_f = _as_float(wue)
        if wue_f is None or not 0 <= wue_f < float("inf"):
            raise ConfigurationError(f"wue must be a number >= 0 (litres per kWh); got {wue!r}")
        self._interval = _positive("measure_power_secs", measure_power_secs)
        flush = _positive("flush_every_s", flush_every_s, allow_none=False)
        assert flush is not None
        steps_i = None if total_steps is None else _as_int(total_steps)
        if total_steps is not None and (steps_i is None or steps_i <= 0):
            raise ConfigurationError(f"total_steps must be a positive integer; got {total_steps!r}")
        port_i = None if prometheus_port is None else _as_int(prometheus_port)
        if prometheus_port is not None and (port_i is None or not 0 <= port_i <= 65535):
            raise ConfigurationError(f"prometheus_port must be between 0 and 65535; got {prometheus_port!r}")
        if not isinstance(output_file, str) or not output_file or os.sep in output_file:
            raise ConfigurationError(
                f"output_file must be a file name (put folders in output_dir); got {output_file!r}"
            )

        from wattwatch.carbon.intensity import resolve_intensity

        try:
            self.intensity = resolve_intensity(
                country_iso_code=country_iso_code,
                region=region,
                cloud_provider=cloud_provider,
                cloud_region=cloud_region,
                carbon_intensity_g_per_kwh=carbon_intensity_g_per_kwh,
                intensity_csv=intensity_csv,
            )
        except FileNotFoundError as exc:
            raise ConfigurationError(str(exc)) from None

        self.project_name = project_name
        self.experiment_id = experiment_id
        self.output_dir = Path(output_dir)
        self.output_file = output_file
        self.pue = pue_f
        self.wue = wue_f
        self.gpu_ids = _parse_gpu_ids(gpu_ids)
        self.tracking_mode: Literal["machine", "process"] = "process" if tracking_mode == "process" else "machine"
        self.save_to_file = bool(save_to_file)
        self.save_timeseries = bool(save_timeseries)
        ts_every = _positive("timeseries_every_s", timeseries_every_s, allow_none=False)
        assert ts_every is not None
        self.timeseries_every_s = ts_every
        """Seconds between rows of the per-sample time series (each row: mean power since the previous one)."""
        self.flush_every_s = flush
        self.total_steps = steps_i
        self.handle_signals = handle_signals
        self.include_dram = include_dram
        self.prometheus_port = port_i
        self.prometheus_host = prometheus_host
        self.pid = pid
        """Process whose tree ``tracking_mode="process"`` measures (default: this process)."""
        self._given_sensors = list(sensors) if sensors is not None else None
        self._nvml_library = nvml_library
        self._powercap_root = Path(powercap_root)
        self._proc_root = Path(proc_root)
        self._environ = environ
        self._clock = clock
        self._wall = wall_clock
        self._fixed_run_id = run_id

        self.run_id: str = run_id or _new_run_id()
        self.final_emissions_data: EmissionsData | None = None
        self._lock = threading.RLock()
        self._state = "new"  # new -> running -> stopped
        self._pid = os.getpid()
        self._sensors: list[Sensor] = []
        self._infos: list[ChannelInfo] = []
        self._ledger: Ledger | None = None
        self._sampler: Sampler | None = None
        self._resume_state: dict[str, Any] | None = None
        self._start_wall = 0.0
        self._t0 = 0.0
        self._ts_last: tuple[float, dict[str, float]] = (0.0, {})
        self._projector: Any = None
        self._dist: Any = None
        """The rank aggregator of a distributed run (:class:`wattwatch.distributed.aggregate.Aggregator`), else ``None``."""
        """Projects the end-of-run totals when ``total_steps`` is known (:mod:`wattwatch.measure.projection`)."""
        self._last_flush = 0.0
        self._write_failed = False
        self._warned: set[str] = set()
        self._prev_handlers: dict[int, Any] = {}
        self._counts = {"steps": 0, "samples": 0, "tokens": 0}
        self._counted = {"steps": False, "samples": False, "tokens": False}
        self._timeseries: Any = None
        self._exporter: Any = None
        self._listeners: list[Callable[[Tracker, float], None]] = []
        self.topology: Any = None
        self.ownership: Any = None

    # -- public API ------------------------------------------------------------------------------------------
    @property
    def output_path(self) -> Path:
        """The emissions.csv this run writes to."""
        return self.output_dir / self.output_file

    @property
    def running(self) -> bool:
        return self._state == "running"

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
                from wattwatch.sinks.csv import check_writable, remove_stale_temp_files

                try:
                    check_writable(self.output_dir)
                except PermissionError as exc:
                    raise ConfigurationError(str(exc)) from None
                remove_stale_temp_files(self.output_path)
            self._open_sensors()
            ledger = Ledger(self._infos, intensity=self.intensity.at, pue=self.pue)
            if self._resume_state is not None:
                ledger.load_dict(self._resume_state["ledger"])
            self._ledger = ledger
            self._sampler = Sampler(
                self._sensors,
                ledger,
                self._interval,
                clock=self._clock,
                wall_clock=self._wall,
                on_tick=self._on_tick,
            )
            self._pid = os.getpid()
            self._start_wall = self._wall()
            self._t0 = self._clock()
            self._ts_last = (self._t0, {})
            if self._resume_state is not None and self._resume_state.get("start_time"):
                self._start_time_iso = str(self._resume_state["start_time"])
            else:
                self._start_time_iso = _utc_iso(self._start_wall)
            try:
                self._open_outputs()  # a busy Prometheus port fails here, before any thread is started
            except BaseException:
                self._close_outputs()
                self._close_sensors()
                raise
            if self.total_steps is not None:
                from wattwatch.measure.projection import Projector

                self._projector = Projector(self.total_steps)
            self._last_flush = self._clock()  # before the thread starts: its first tick is not a flush
            self._sampler.start()
            self._state = "running"
            _LIVE_TRACKERS.add(self)
            self._write_row("running")
            self._last_flush = self._clock()
            if self.handle_signals:
                self._install_signal_handlers()
            atexit.register(self._at_exit)
            log.info(
                "wattwatch: run %s started: %d channel(s) (%s), sampling every %.3g s, intensity %s",
                self.run_id,
                len(self._infos),
                ", ".join(f"{i.channel}={i.method}" for i in self._infos) or "none",
                self._sampler.interval_s,
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
            assert self._sampler is not None
            self._sampler.stop()
            self._on_tick_timeseries(final=True)
            self._state = "stopped"
            data = self._emissions_data(status)
            data = self._aggregate(data, final=True, collective=True)
            self.final_emissions_data = data
            self._write_data(data)
            self._close_outputs()
            self._restore_signal_handlers()
            try:
                atexit.unregister(self._at_exit)
            except Exception:  # pragma: no cover - atexit never raises here
                pass
            self._close_sensors()
            log.info(
                "wattwatch: run %s %s: %.6f kWh, %.6f kg CO2eq in %.1f s",
                self.run_id,
                status,
                data.energy_consumed,
                data.emissions,
                data.duration,
            )
            return data

    def flush(self) -> EmissionsData | None:
        """Rewrite the run's row now (status ``running``) and return the totals so far."""
        with self._lock:
            if self._state != "running":
                return self.final_emissions_data
            assert self._sampler is not None
            self._sampler.sample_now()
            data = self._aggregate(self._emissions_data("running"), final=False, collective=True)
            self._write_data(data)
            self._flush_timeseries()
            self._last_flush = self._clock()
            return data

    def current(self, *, refresh: bool = False) -> EmissionsData:
        """A live snapshot of the totals so far (no file I/O, safe from any thread).

        ``refresh=True`` first takes a reading now (a few hundred microseconds; waits at most 0.5 s for a read in
        progress), so figures logged at a training step include the energy up to that step rather than up to the
        last tick of the sampler.
        """
        if self._state == "stopped" and self.final_emissions_data is not None:
            return self.final_emissions_data
        if self._ledger is None:
            return EmissionsData(project_name=self.project_name, run_id=self.run_id, status="new")
        if refresh and self._state == "running" and self._sampler is not None and os.getpid() == self._pid:
            self._sampler.sample_now(lock_timeout_s=0.5)
        return self._emissions_data("running")

    def snapshot(self) -> LedgerSnapshot | None:
        """The raw ledger snapshot (joules per channel and phase), or ``None`` before ``start()``."""
        return None if self._ledger is None else self._ledger.snapshot()

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
            self._counts["steps"] += int(n)
            self._counted["steps"] = True
            if samples is not None:
                self._counts["samples"] += int(samples)
                self._counted["samples"] = True
            if tokens is not None:
                self._counts["tokens"] += int(tokens)
                self._counted["tokens"] = True
            self._feed_projector()

    def _feed_projector(self) -> None:
        """Give the projector its base at the first counted step, so start-up work is not multiplied."""
        projector = self._projector
        if projector is None or projector.latest is not None or self._ledger is None:
            return
        snap = self._ledger.snapshot()
        projector.update(snap.duration_s, self._counts["steps"], snap.energy_kwh, snap.emissions_g / 1000.0)

    def set_counts(self, *, steps: int | None = None, samples: int | None = None, tokens: int | None = None) -> None:
        """Set the step / sample / token counters to absolute values (e.g. from a trainer's own state)."""
        with self._lock:
            for key, value in (("steps", steps), ("samples", samples), ("tokens", tokens)):
                if value is not None:
                    self._counts[key] = int(value)
                    self._counted[key] = True
            self._feed_projector()

    def add_listener(self, listener: Callable[[Tracker, float], None]) -> None:
        """Call ``listener(tracker, t)`` on the sampler thread after every reading (errors are logged once)."""
        self._listeners.append(listener)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run in another process (JSON-serialisable)."""
        with self._lock:
            ledger = self._ledger.to_dict() if self._ledger is not None else (self._resume_state or {}).get("ledger")
            return {
                "format": "wattwatch.run.tracker",
                "version": 1,
                "run_id": self.run_id,
                "project_name": self.project_name,
                "experiment_id": self.experiment_id,
                "start_time": getattr(self, "_start_time_iso", ""),
                "counts": dict(self._counts),
                "counted": dict(self._counted),
                "ledger": ledger,
            }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the run saved by :meth:`state_dict`: same ``run_id``, totals carried over. Call before
        ``start()``. Raises ``ValueError`` for a state that is not a wattwatch tracker state."""
        if not isinstance(state, dict) or state.get("format") != "wattwatch.run.tracker":
            raise ValueError("not a wattwatch tracker state (expected the dict from Tracker.state_dict())")
        ledger = state.get("ledger")
        if ledger is not None:
            Ledger([]).load_dict(ledger)  # validate now, before any work starts
        with self._lock:
            if self._state == "stopped":  # continuing a saved run after an earlier one: start from scratch
                self._new_run()
                self._state = "new"
            self.run_id = str(state.get("run_id") or self.run_id)
            self._fixed_run_id = self.run_id
            counts = state.get("counts") or {}
            counted = state.get("counted") or {}
            for key in self._counts:
                self._counts[key] = int(counts.get(key, 0))
                self._counted[key] = bool(counted.get(key, False))
            self._resume_state = {"ledger": ledger, "start_time": state.get("start_time", "")} if ledger else None
            if self._state == "running" and self._ledger is not None and ledger is not None:
                self._ledger.load_dict(ledger)

    # -- context manager and decorator ---------------------------------------------------------------------
    def __enter__(self) -> Tracker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.stop("completed")
        elif issubclass(exc_type, KeyboardInterrupt | SystemExit):
            self.stop("interrupted")
        else:
            self.stop("failed")

    def __call__(self, func: _F) -> _F:
        """Use a tracker instance as a decorator: each call of ``func`` is one run."""

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    # -- internals -------------------------------------------------------------------------------------------
    def _new_run(self) -> None:
        self.run_id = _new_run_id()
        self._fixed_run_id = None
        self._resume_state = None
        self.final_emissions_data = None
        self._counts = {"steps": 0, "samples": 0, "tokens": 0}
        self._counted = {"steps": False, "samples": False, "tokens": False}
        self._warned = set()
        self._write_failed = False

    def _open_sensors(self) -> None:
        from wattwatch.distributed.aggregate import Aggregator, launcher_run_id
        from wattwatch.distributed.topology import current_cuda_device, detect_topology, resolve_ownership

        self.topology = topology = detect_topology(self._environ)
        cuda_device = current_cuda_device() if topology.is_distributed else None
        visible = None
        if topology.is_distributed and self.gpu_ids is None and cuda_device is None and self._given_sensors is None:
            visible = self._visible_gpu_uuids()
        self.ownership = resolve_ownership(
            topology, self.gpu_ids, self._environ, visible_gpus=visible, cuda_device=cuda_device
        )
        self._dist = None
        if topology.is_distributed:
            # One row per run: parts and the run's row go through the aggregator (see wattwatch.distributed.aggregate).
            self._dist = Aggregator(topology, environ=self._environ)
            if self._fixed_run_id is None:
                self.run_id = self._dist.shared_run_id(self.run_id)
        elif self._fixed_run_id is None:
            self.run_id = launcher_run_id(topology) or self.run_id
        if self._given_sensors is not None:
            sensors = list(self._given_sensors)
        else:
            sensors = self._discover_sensors()
        self._sensors = sensors
        self._infos = [info for s in sensors for info in s.describe()]

    def _discover_sensors(self) -> list[Sensor]:
        from wattwatch.sensors.host import host_sensors
        from wattwatch.sensors.nvml import NvmlSensor

        sensors: list[Sensor] = []
        ownership = self.ownership
        if ownership.gpu_ids is None or ownership.gpu_ids:
            sensors.append(
                NvmlSensor(
                    ownership.gpu_ids,
                    library_path=self._nvml_library,
                    environ=self._environ,
                )
            )
        if ownership.measure_host or self.tracking_mode == "process":  # process mode: each rank its own tree
            sensors.extend(
                host_sensors(
                    mode=self.tracking_mode,
                    pid=self.pid if self.pid is not None else os.getpid(),
                    powercap_root=self._powercap_root,
                    proc_root=self._proc_root,
                    include_dram=self.include_dram,
                )
            )
        return sensors

    def _visible_gpu_uuids(self) -> list[str]:
        """UUIDs of the GPUs this process sees, in CUDA order (for GPU[local rank] ownership)."""
        from wattwatch.sensors.nvml import NvmlSensor

        try:
            probe = NvmlSensor(None, library_path=self._nvml_library, environ=self._environ)
        except Exception:  # noqa: BLE001 - no GPU facts: local rank 0 measures whatever NVML shows
            return []
        try:
            return [str(i.details.get("uuid") or i.channel.split(":")[1]) for i in probe.describe()]
        finally:
            probe.close()

    def _open_outputs(self) -> None:
        if self.save_to_file and self.save_timeseries:
            from wattwatch.sinks.timeseries import TimeseriesWriter, timeseries_path

            self._timeseries = TimeseriesWriter(
                timeseries_path(self.output_dir, self.run_id), [i.channel for i in self._infos]
            )
        if self.prometheus_port is not None:
            try:
                from wattwatch.sinks.prometheus import start_exporter
            except ImportError:
                self._warn_once("prometheus", "wattwatch: prometheus export is not available in this build")
            else:
                self._exporter = start_exporter(self, port=self.prometheus_port, host=self.prometheus_host)

    def _close_sensors(self) -> None:
        for sensor in self._sensors:
            try:
                sensor.close()
            except Exception:
                pass

    def _close_outputs(self) -> None:
        if self._timeseries is not None:
            self._timeseries.close()
            self._timeseries = None
        if self._exporter is not None:
            try:
                self._exporter.close()
            except Exception:
                pass
            self._exporter = None

    def _on_tick(self, t: float) -> None:
        if os.getpid() != self._pid:
            return
        self._on_tick_timeseries()
        for listener in list(self._listeners):
            try:
                listener(self, t)
            except Exception as exc:
                self._warn_once(f"listener:{id(listener)}", f"wattwatch: listener failed: {exc!r}")
        if t - self._last_flush >= self.flush_every_s:
            self._last_flush = t
            self._flush_timeseries()
            with self._lock:
                if self._state == "running":
                    self._write_row("running")

    def _flush_timeseries(self) -> None:
        if self._timeseries is not None:
            try:
                self._timeseries.flush()
            except OSError as exc:
                self._warn_once("timeseries", f"wattwatch: cannot write the time series ({exc}); skipping rows")

    def _on_tick_timeseries(self, final: bool = False) -> None:
        """Append one time-series row when ``timeseries_every_s`` has passed (or at the end): the mean power of
        each channel since the previous row, from energy differences, so no sample is lost between rows."""
        if self._timeseries is None or self._ledger is None:
            return
        last_t, last_e = self._ts_last
        if not final and self._clock() - last_t < self.timeseries_every_s:
            return
        phase, energies, in_gap, grams, read_t = self._ledger.live()
        now = read_t if read_t is not None else self._clock()
        dt = now - last_t
        powers: dict[str, float | None] = {
            n: (None if n in in_gap or dt <= 0 else (e - last_e.get(n, 0.0)) / dt) for n, e in energies.items()
        }
        self._ts_last = (now, energies)
        total_j = sum(energies.values()) + self._ledger.carried_energy_j()
        try:
            self._timeseries.write(
                self._wall(), now - self._t0, phase, powers, total_j * self.pue / J_PER_KWH, grams / 1000.0
            )
        except OSError as exc:
            self._warn_once("timeseries", f"wattwatch: cannot write the time series ({exc}); skipping rows")

    def _aggregate(self, data: EmissionsData, *, final: bool, collective: bool = False) -> EmissionsData:
        """Combine this process's totals with the other ranks' (distributed runs); identity otherwise.

        ``collective`` is true only from ``flush()`` and ``stop()``, which every rank calls (a completed stop
        with torch.distributed initialised exchanges totals); never from ``start()`` or the sampler thread, whose
        periodic flush merges the part files on disk instead."""
        dist = self._dist
        if dist is None:
            return data
        try:
            return dist.aggregate(self, data, final=final, collective=collective)
        except Exception as exc:  # noqa: BLE001 - never into user code
            self._warn_once("aggregate", f"wattwatch: cannot combine the ranks' totals ({exc!r}); this rank's only")
            return data

    def _emissions_data(self, status: str) -> EmissionsData:
        assert self._ledger is not None
        snap = self._ledger.snapshot()
        return build_emissions_data(self, snap, status)

    def _write_row(self, status: str) -> None:
        self._write_data(self._aggregate(self._emissions_data(status), final=False))

    def _should_write(self) -> bool:
        return self.save_to_file and os.getpid() == self._pid

    def _write_data(self, data: EmissionsData) -> None:
        """Write the run's row: directly, or (distributed runs) through this rank's part file and the merge of
        every rank's parts (see :mod:`wattwatch.distributed.aggregate`)."""
        if not self._should_write():
            return
        if self._dist is not None:
            self._dist.write(self, data, self._write_csv_row)
        else:
            self._write_csv_row(data)
        final = self.final_emissions_data
        if data.status == "running" and self._state == "stopped" and final is not None and final is not data:
            # A signal stopped the run while this flush was writing (its handler ran inside us and wrote the
            # final row first): the final row must be the last word, not this "running" one.
            self._write_data(final)

    def _write_csv_row(self, data: EmissionsData) -> None:
        """Upsert the row; ``fsync`` only for final rows and explicit flushes (see ``upsert_row``)."""
        from wattwatch.sinks.csv import upsert_row

        durable = data.status != "running" or threading.current_thread() is not self._sampler_thread()
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            upsert_row(self.output_path, data.to_row(), COLUMNS, durable=durable)
        except Exception as exc:  # disk full, folder deleted, read-only file, lock timeout...
            self._write_failed = True
            self._warn_once(
                "write",
                f"wattwatch: cannot write {self.output_path} ({exc}); totals are kept in memory and written "
                "at the next flush that succeeds",
            )
        else:
            if self._write_failed:
                log.warning("wattwatch: %s is writable again; the run's row is up to date", self.output_path)
            self._write_failed = False

    def _sampler_thread(self) -> threading.Thread | None:
        return None if self._sampler is None else self._sampler.thread

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    # -- signals and exit ------------------------------------------------------------------------------------
    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            log.debug("wattwatch: not in the main thread; SIGTERM/SIGINT will not be recorded as interrupted")
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._prev_handlers[sig] = signal.getsignal(sig)
                signal.signal(sig, self._on_signal)
            except (ValueError, OSError):  # pragma: no cover - exotic embedders
                self._prev_handlers.pop(sig, None)

    def _restore_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, previous in list(self._prev_handlers.items()):
            try:
                if signal.getsignal(sig) == self._on_signal:
                    signal.signal(sig, previous)
            except (ValueError, OSError):  # pragma: no cover
                pass
        self._prev_handlers.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        previous = self._prev_handlers.get(signum, signal.SIG_DFL)
        if os.getpid() == self._pid:
            try:
                self.stop("interrupted")
            except Exception as exc:  # pragma: no cover - stop() already guards its I/O
                log.warning("wattwatch: could not record the interruption: %r", exc)
        self._restore_signal_handlers()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        # SIG_IGN: the program chose to ignore it; so do we.

    def _at_exit(self) -> None:
        if self._state == "running" and os.getpid() == self._pid:
            failed = getattr(sys, "last_value", None) is not None or getattr(sys, "last_exc", None) is not None
            self.stop("failed" if failed else "completed")

    def _after_fork_in_child(self) -> None:
        # The sampler thread does not exist in the child; make sure the child never writes the parent's row.
        # Locks the sampler thread held at the fork stay locked forever in the child: give it fresh ones, or its
        # first flush()/stop()/current() would hang.
        self._lock = threading.RLock()
        if self._ledger is not None:
            self._ledger._lock = threading.Lock()
        if self._sampler is not None:
            self._sampler._lock = threading.Lock()
        self._state = "stopped"
        self.save_to_file = False
        self._timeseries = None
        self._exporter = None
        self._prev_handlers.clear()


def _after_fork_in_child() -> None:
    for tracker in list(_LIVE_TRACKERS):
        tracker._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _component_method(infos: Sequence[ChannelInfo], snap: LedgerSnapshot, component: str) -> str:
    methods = sorted(
        {snap.channels[i.channel].method for i in infos if i.component == component and i.channel in snap.channels}
    )
    return "+".join(methods)


def _gpu_model(infos: Sequence[ChannelInfo]) -> str:
    counts: dict[str, int] = {}
    for i in infos:
        if i.component == "gpu":
            counts[i.model or "unknown GPU"] = counts.get(i.model or "unknown GPU", 0) + 1
    return ", ".join(f"{n} x {m}" for m, n in counts.items())


_HOST_FACTS: dict[str, Any] = {}


def _host_facts() -> dict[str, Any]:
    if not _HOST_FACTS:
        import platform
        import socket

        import psutil

        _HOST_FACTS.update(
            os=platform.platform(),
            python_version=platform.python_version(),
            cpu_count=float(psutil.cpu_count() or 0),
            ram_total_size=psutil.virtual_memory().total / 1024**3,
            hostname=socket.gethostname(),
        )
    return _HOST_FACTS


def build_emissions_data(tracker: Tracker, snap: LedgerSnapshot, status: str) -> EmissionsData:
    """Turn a ledger snapshot into the run's :class:`EmissionsData` (CodeCarbon's units)."""
    infos = tracker._infos
    facts = _host_facts()
    duration = snap.duration_s
    pue = snap.pue
    cpu_kwh = snap.component_kwh("cpu")
    gpu_kwh = snap.component_kwh("gpu")
    ram_kwh = snap.component_kwh("ram")
    energy_kwh = cpu_kwh + gpu_kwh + ram_kwh
    emissions_kg = snap.emissions_g / 1000.0
    src = tracker.intensity.source
    per_w = (J_PER_KWH / duration) if duration > 0 else 0.0
    counts = tracker._counts
    counted = tracker._counted
    steps = counts["steps"] if counted["steps"] else None
    projected_kwh = projected_kg = None
    projector = tracker._projector
    if projector is not None:
        projection = projector.update(duration, steps, energy_kwh, emissions_kg)
        if projection is not None:
            projected_kwh, projected_kg = projection.energy_kwh, projection.emissions_kg
    cpu_model = next((i.model for i in infos if i.component == "cpu" and i.model), "")
    ownership = tracker.ownership
    topology = tracker.topology
    return EmissionsData(
        timestamp=_utc_iso(tracker._wall()),
        project_name=tracker.project_name,
        run_id=tracker.run_id,
        experiment_id=tracker.experiment_id,
        duration=duration,
        emissions=emissions_kg,
        emissions_rate=emissions_kg / duration if duration > 0 else 0.0,
        cpu_power=cpu_kwh * per_w,
        gpu_power=gpu_kwh * per_w,
        ram_power=ram_kwh * per_w,
        cpu_energy=cpu_kwh,
        gpu_energy=gpu_kwh,
        ram_energy=ram_kwh,
        energy_consumed=energy_kwh,
        water_consumed=energy_kwh * tracker.wue,
        country_name=src.country_name,
        country_iso_code=src.country_iso_code,
        region=src.region,
        cloud_provider=src.cloud_provider,
        cloud_region=src.cloud_region,
        os=facts["os"],
        python_version=facts["python_version"],
        codecarbon_version="",
        cpu_count=facts["cpu_count"],
        cpu_model=cpu_model,
        gpu_count=float(sum(1 for i in infos if i.component == "gpu")),
        gpu_model=_gpu_model(infos),
        ram_total_size=facts["ram_total_size"],
        tracking_mode=tracker.tracking_mode,
        on_cloud="Y" if src.cloud_provider else "N",
        pue=pue,
        wue=tracker.wue,
        status=status,
        wattwatch_version=__version__,
        start_time=getattr(tracker, "_start_time_iso", ""),
        gpu_method=_component_method(infos, snap, "gpu"),
        cpu_method=_component_method(infos, snap, "cpu"),
        ram_method=_component_method(infos, snap, "ram"),
        intensity_source=(
            src.description if src.description.startswith(f"{src.kind}:") else f"{src.kind}: {src.description}"
        ),
        intensity_g_per_kwh=(snap.emissions_g / energy_kwh) if energy_kwh > 0 else tracker.intensity.mean_g_per_kwh(),
        phase_energy_kwh={p: e * pue / J_PER_KWH for p, e in snap.phase_energy_j.items()},
        phase_emissions_kg={p: g / 1000.0 for p, g in snap.phase_emissions_g.items()},
        gpu_energy_by_device_kwh={
            n: c.energy_j * pue / J_PER_KWH for n, c in snap.channels.items() if c.component == "gpu"
        },
        readings=snap.samples,
        gaps=snap.gap_count,
        gap_seconds=sum(c.gap_s for c in snap.channels.values()),
        steps=steps,
        samples=counts["samples"] if counted["samples"] else None,
        tokens=counts["tokens"] if counted["tokens"] else None,
        hostname=facts["hostname"],
        node_count=1,
        rank_count=topology.world_size if topology is not None else 1,
        ownership=ownership.rule if ownership is not None else "",
        resumed_segments=snap.resumed_segments,
        projected_energy_kwh=projected_kwh,
        projected_emissions_kg=projected_kg,
    )


def track(
    func: _F | None = None, /, **tracker_kwargs: Any
) -> Any:
    """Decorator: each call of the function is one tracked run.

    ``@track`` or ``@track(project_name="x", country_iso_code="FRA")``; the tracker's keyword arguments are
    validated when the decorator is applied, so a typo fails at import time, not after training.
    """

    def decorate(f: _F) -> _F:
        Tracker(**tracker_kwargs)  # validate now

        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with Tracker(**tracker_kwargs):
                return f(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    if func is not None:
        return decorate(func)
    return decorate
