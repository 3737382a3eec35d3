"""``EmissionsTracker`` and ``OfflineEmissionsTracker`` with CodeCarbon 3.3.2's signatures (the decorators are in
:mod:`wattwatch.compat.decorators`).

Change ``from codecarbon import EmissionsTracker`` to ``from wattwatch import EmissionsTracker`` and the rest
stays as it is: the same positional order, defaults, return values (``stop()`` and ``flush()`` return kg CO2eq as
a float), attributes (``final_emissions``, ``final_emissions_data``), task API, output handlers and CSV rows.
What differs, option by option, is in ``docs/codecarbon.md``. These classes are wattwatch :class:`Tracker`\\ s,
so everything else (phases, ``step()``, callbacks, durable rows) works on them too.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from wattwatch.compat.attributes import CodeCarbonAttributes
from wattwatch.compat.logbridge import install_bridge, set_codecarbon_level
from wattwatch.compat.options import UNSET, given_options
from wattwatch.compat.outputs import HandlerSet, OutputHandler, OutputMethod
from wattwatch.compat.place import take_place
from wattwatch.compat.settings import CompatPlan, plan
from wattwatch.compat.tasks import Task, task_csv_path, task_delta, write_task_csv
from wattwatch.result import EmissionsData
from wattwatch.run.tracker import Tracker

__all__ = ["EmissionsTracker", "OfflineEmissionsTracker"]

log = logging.getLogger("wattwatch.compat")
_LOCK_PATH = Path(tempfile.gettempdir()) / ".wattwatch-codecarbon.lock"
OFFLINE_PLACE = ("country_iso_code", "region", "cloud_provider", "cloud_region", "country_2letter_iso_code")
"""OfflineEmissionsTracker's own options (the first four are the place; the last is online-only)."""


class EmissionsTracker(CodeCarbonAttributes, Tracker):
    """CodeCarbon's ``EmissionsTracker``: same arguments in the same order, same results.

    Keyword arguments beyond CodeCarbon's (``country_iso_code=``, ``sensors=``, ``save_timeseries=``, ...) go to
    :class:`wattwatch.Tracker`. CodeCarbon's ``EmissionsTracker`` locates the machine by IP address; wattwatch
    never calls the network, so without a location it uses the world average and says so once.
    """

    def __init__(
        self,
        project_name: str | None = UNSET,
        measure_power_secs: float | None = UNSET,
        api_call_interval: int | None = UNSET,
        api_endpoint: str | None = UNSET,
        api_key: str | None = UNSET,
        output_dir: str | os.PathLike[str] | None = UNSET,
        output_file: str | None = UNSET,
        output_methods: Sequence[OutputMethod | str] | str | None = UNSET,
        save_to_file: bool | None = UNSET,
        save_to_api: bool | None = UNSET,
        save_to_logger: bool | None = UNSET,
        logging_logger: OutputHandler | None = UNSET,
        save_to_prometheus: bool | None = UNSET,
        save_to_logfire: bool | None = UNSET,
        prometheus_url: str | None = UNSET,
        output_handlers: Sequence[OutputHandler] | None = UNSET,
        gpu_ids: Sequence[int | str] | str | None = UNSET,
        emissions_endpoint: str | None = UNSET,
        experiment_id: str | None = UNSET,
        experiment_name: str | None = UNSET,
        electricitymaps_api_token: str | None = UNSET,
        co2_signal_api_token: str | None = UNSET,
        tracking_mode: str | None = UNSET,
        log_level: int | str | None = UNSET,
        on_csv_write: str | None = UNSET,
        logger_preamble: str | None = UNSET,
        force_cpu_power: float | None = UNSET,
        force_ram_power: float | None = UNSET,
        pue: float | None = UNSET,
        wue: float | None = UNSET,
        force_carbon_intensity_g_co2e_kwh: float | None = UNSET,
        force_mode_cpu_load: bool | None = UNSET,
        allow_multiple_runs: bool | None = UNSET,
        rapl_include_dram: bool | None = UNSET,
        rapl_prefer_psys: bool | None = UNSET,
        metadata: dict[str, object] | str | None = UNSET,
        **wattwatch_options: Any,
    ) -> None:
        options = dict(locals())
        del options["self"], options["wattwatch_options"]
        self._compat_setup(given_options(options), wattwatch_options)

    # -- construction ----------------------------------------------------------------------------------------
    def _compat_setup(self, given: dict[str, Any], extra: dict[str, Any]) -> None:
        from wattwatch.compat.config import external_options
        from wattwatch.compat.values import resolve_values

        install_bridge()  # first: the messages about the options below reach the user as CodeCarbon's do
        environ = extra.get("environ")
        external = external_options(environ=environ)
        for name, (_, source) in external.items():
            log.debug("wattwatch: CodeCarbon option %s from %s", name, source)  # names, never values
        place_from_files = {n: v for n, (v, _) in external.items() if n in OFFLINE_PLACE[:4]}
        external = {n: vs for n, vs in external.items() if n not in OFFLINE_PLACE}
        if isinstance(self, OfflineEmissionsTracker):  # CodeCarbon's online tracker has no place options
            for name, value in place_from_files.items():
                extra.setdefault(name, value.lower() if name == "region" else value)
        resolved = resolve_values(given, external)
        settings: CompatPlan = plan(resolved.values, environ)
        lock_path = Path(extra.pop("run_lock_path", _LOCK_PATH))
        install_bridge(settings.logger_preamble)
        if settings.log_level:
            set_codecarbon_level(settings.log_level)
        intensity = take_place(extra, settings.force_carbon_intensity)
        Tracker.__init__(self, **{**settings.tracker_kwargs, **extra})
        if intensity is not None:
            self.intensity = intensity
        self.cpu_power_curve = "codecarbon"  # force_cpu_power as CodeCarbon charges it
        from wattwatch.compat.row import CodeCarbonRowRecorder

        self._recorder = CodeCarbonRowRecorder(self, self._counters, self._warn_once, self._wall)
        self._plan = settings
        self._output_methods: list[OutputMethod] = settings.output_methods
        self._output_handlers: list[Any] = settings.handlers
        for flag, on in settings.save_flags().items():  # CodeCarbon's _save_to_file, _save_to_api, ...
            setattr(self, f"_{flag}", on)
        self._handlers = HandlerSet(self._output_handlers)
        self._experiment_name = settings.experiment_name
        self._tasks: dict[str, Task] = {}
        self._active_task: str | None = None
        self._previous_emissions: EmissionsData | None = None
        self._measure_occurrence = 0
        self._last_measure_t = 0.0
        self._out_lock = threading.RLock()
        """Serialises the handlers' calls and the delta state (the sampler thread calls ``live_out`` too)."""
        self.final_emissions: float | None = None
        self._run_lock: Any = None
        self._blocked = False
        if not settings.allow_multiple_runs:
            self._take_run_lock(lock_path)
        for note in settings.notes:
            log.warning(note)
        if settings.online_ignored:
            log.warning(
                "wattwatch: ignoring CodeCarbon's online-only option(s) %s: wattwatch never calls the network "
                "(the run is measured and written locally as usual)",
                ", ".join(settings.online_ignored),
            )
        self.add_listener(_on_tick)

    def _take_run_lock(self, path: Path) -> None:
        """``allow_multiple_runs=False``: like CodeCarbon, a second tracker on the machine does nothing
        (``run_lock_path=`` chooses the lock file; default in the temporary folder)."""
        from wattwatch.util.flock import FileLock, LockTimeout

        lock = FileLock(str(path), timeout=0)
        try:
            lock.acquire()
        except LockTimeout:
            self._blocked = True
            log.error(
                "wattwatch: another tracker with allow_multiple_runs=False is running (lock %s); this one will not "
                "track. Stop the other one, or use allow_multiple_runs=True",
                path,
            )
            return
        self._run_lock = lock

    def _release_run_lock(self) -> None:
        if self._run_lock is not None:
            self._run_lock.release()
            self._run_lock = None

    # -- CodeCarbon's life cycle -----------------------------------------------------------------------------
    def start(self) -> None:  # type: ignore[override]
        """Start measuring (CodeCarbon returns ``None``)."""
        if self._blocked:
            log.warning("wattwatch: another instance is already running; not tracking")
            return
        if self.running:
            log.warning("wattwatch: already started tracking")
            return
        Tracker.start(self)
        self._previous_emissions = None
        self._measure_occurrence = 0
        self._measured(self._clock(), None)  # CodeCarbon measures once at start

    def __enter__(self) -> EmissionsTracker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        Tracker.__exit__(self, exc_type, exc, tb)

    def flush(self) -> float | None:  # type: ignore[override]
        """Write the totals so far (a row; one more row with ``on_csv_write="append"``), call the handlers'
        ``out``, and return the emissions so far (kg CO2eq)."""
        if self._blocked:
            return None
        if not self.running:
            log.error("wattwatch: you first need to start the tracker")
            return None
        data = Tracker.flush(self)
        if data is None:
            return None
        if self._plan.on_csv_write == "append" and self._session is not None:
            self._session.outputs.append_row(data)  # CodeCarbon's default: each flush leaves a row, the run goes on
        self._measured(self._clock(), data)
        self._hand_out(data)
        return data.emissions

    def stop(self, status: str = "completed") -> float | None:  # type: ignore[override]
        """Stop measuring; returns the run's emissions in kg CO2eq (also in :attr:`final_emissions`). A second
        call warns and returns the same figure."""
        if self._blocked:
            return None
        if not self.running:
            log.warning("wattwatch: tracker already stopped or never started")
            return self.final_emissions
        for name, task in list(self._tasks.items()):
            if task.is_active:
                self.stop_task(name)
        data = Tracker.stop(self, status)
        if data is None:  # a forked child: not ours to finish
            return None
        self._measured(self._clock(), data)
        self._hand_out(data)
        self._handlers.exit()
        self.final_emissions = data.emissions
        self._release_run_lock()
        return data.emissions

    # -- tasks -----------------------------------------------------------------------------------------------
    def start_task(self, task_name: str | None = None) -> None:
        """Begin the task ``task_name`` (a new id when ``None``; a used name gets ``_<uuid>`` appended), with a
        reading at its start. Starts the tracker when it is not running (CodeCarbon's task-only use)."""
        if self._blocked:
            return
        if not self.running:
            self.start()
        if self._active_task:
            log.warning("wattwatch: a task is already under measure (%s)", self._active_task)
            return
        name = str(task_name) if task_name else str(uuid.uuid4())
        if name in self._tasks:
            name += "_" + str(uuid.uuid4())
        self._tasks[name] = Task(name, self._reading_now(), self.usage_totals())
        self._active_task = name

    def stop_task(self, task_name: str | None = None) -> EmissionsData | None:
        """End the running task (or ``task_name``) with a reading at its end; returns its own
        :class:`EmissionsData` (energy, emissions, duration of the task alone), ``None`` when there is none."""
        name = task_name or self._active_task
        task = self._tasks.get(name) if name else None
        if task is None or not task.is_active:
            log.warning("wattwatch: stop_task: no active task to stop")
            return None
        end = self._reading_now()
        data = task_delta(task.start, end, max(0.0, end.duration - task.start.duration))
        usage = self.usage_totals().means_since(task.start_usage)  # the task's own window, as CodeCarbon's
        data.cpu_utilization_percent = usage.cpu_utilization_percent
        data.gpu_utilization_percent = usage.gpu_utilization_percent
        data.ram_utilization_percent = usage.ram_utilization_percent
        data.ram_used_gb = usage.ram_used_gb
        task.emissions_data = data
        task.is_active = False
        if self._active_task == name:
            self._active_task = None
        self._measured(self._clock(), end)
        return data

    # -- CodeCarbon's other public-ish methods -------------------------------------------------------------
    def _prepare_emissions_data(self) -> EmissionsData:
        """The run's totals now (a reading is taken); after ``stop()`` the final totals, so code that calls it
        after stopping (as the textbook's W&B fragment does) keeps working."""
        if self.running:
            return self.current(refresh=True)
        if self.final_emissions_data is not None:
            return self.final_emissions_data
        return self.current()

    def get_detected_hardware(self) -> dict[str, Any]:
        """CodeCarbon's hardware summary: ``ram_total_size`` (GB), ``cpu_count``, ``cpu_physical_count``,
        ``cpu_model``, ``gpu_count``, ``gpu_model``, ``gpu_ids`` (CodeCarbon's: the option, else
        ``CUDA_VISIBLE_DEVICES`` / ``ROCR_VISIBLE_DEVICES``)."""
        from wattwatch.compat.hardware import detected_hardware

        return {**detected_hardware(self), "gpu_ids": self._gpu_ids}

    # -- internals -------------------------------------------------------------------------------------------
    def _reading_now(self) -> EmissionsData:
        return self.current(refresh=True)

    def _delta(self, total: EmissionsData) -> EmissionsData:
        """CodeCarbon's ``_compute_emissions_delta``: the change since the previous call (the total the first
        time)."""
        previous, self._previous_emissions = self._previous_emissions, total
        if previous is None:
            return total
        return task_delta(previous, total, max(0.0, total.duration - previous.duration))

    def _measured(self, t: float, data: EmissionsData | None) -> None:
        """Count one of CodeCarbon's measurements; every ``api_call_interval`` of them the handlers'
        ``live_out(total, delta)`` is called."""
        with self._out_lock:
            self._measured_locked(t, data)

    def _measured_locked(self, t: float, data: EmissionsData | None) -> None:
        self._last_measure_t = t
        self._measure_occurrence += 1
        interval = self._plan.api_call_interval
        if interval < 1 or self._measure_occurrence < interval:
            return
        self._measure_occurrence = 0
        if not self._handlers.handlers:
            return
        total = data if data is not None else self.current()
        self._handlers.live_out(total, self._delta(total))

    def _hand_out(self, total: EmissionsData) -> None:
        """What CodeCarbon's ``_persist_data`` does: ``out`` and ``task_out`` on every handler, and the task CSV
        when the CSV output is on."""
        with self._out_lock:
            self._handlers.out(total, self._delta(total))
        tasks = [t.out() for t in self._tasks.values() if t.emissions_data is not None]
        if not tasks:
            return
        self._handlers.task_out(tasks, self._experiment_name)
        if OutputMethod.CSV in self._output_methods and self._should_write():
            path = task_csv_path(self.output_dir, self._experiment_name, str(self.run_id))
            try:
                write_task_csv(path, tasks)
            except OSError as exc:
                self._warn_once("task-csv", f"wattwatch: cannot write {path} ({exc})")


def _on_tick(tracker: Tracker, t: float) -> None:
    """Sampler listener: one CodeCarbon measurement every ``measure_power_secs``."""
    if not isinstance(tracker, EmissionsTracker) or not tracker.running:
        return
    if t - tracker._last_measure_t >= tracker._plan.measure_power_secs:
        tracker._measured(t, None)


class OfflineEmissionsTracker(EmissionsTracker):
    """CodeCarbon's ``OfflineEmissionsTracker``: the grid is given by ``country_iso_code`` (3 letters, e.g.
    ``"FRA"``), optionally ``region``, or by ``cloud_provider`` + ``cloud_region``. wattwatch is always offline;
    the emission factors are CodeCarbon's, shipped inside wattwatch."""

    def __init__(
        self,
        *args: Any,
        country_iso_code: str | None = UNSET,
        region: str | None = UNSET,
        cloud_provider: str | None = UNSET,
        cloud_region: str | None = UNSET,
        country_2letter_iso_code: str | None = UNSET,
        **kwargs: Any,
    ) -> None:
        place = given_options(
            {
                "country_iso_code": country_iso_code,
                "region": region,
                "cloud_provider": cloud_provider,
                "cloud_region": cloud_region,
            }
        )
        if country_2letter_iso_code not in (UNSET, None, ""):
            log.warning(
                "wattwatch: ignoring CodeCarbon's online-only option country_2letter_iso_code (an Electricity Maps "
                "zone): wattwatch never calls the network"
            )
        if isinstance(place.get("region"), str):
            place["region"] = place["region"].lower()
        for key, value in place.items():
            if value is not None:
                kwargs.setdefault(key, value)
        EmissionsTracker.__init__(self, *args, **kwargs)
