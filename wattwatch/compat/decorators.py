"""CodeCarbon's decorators and task context manager: ``track_emissions``, ``track_task_emissions``,
``TaskEmissionsTracker``, with CodeCarbon 3.3.2's signatures (``track_emissions``'s positional order included)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from wattwatch.compat.options import UNSET, given_options
from wattwatch.compat.tracker import EmissionsTracker, OfflineEmissionsTracker
from wattwatch.errors import ConfigurationError

__all__ = ["TaskEmissionsTracker", "track_emissions", "track_task_emissions"]

_F = TypeVar("_F", bound=Callable[..., Any])


class TaskEmissionsTracker:
    """``with TaskEmissionsTracker("name", tracker):`` measures the block as one task of ``tracker`` (a new
    :class:`EmissionsTracker`, stopped at the end, when none is given)."""

    def __init__(self, task_name: str, tracker: EmissionsTracker | None = None) -> None:
        self.is_default_tracker = tracker is None
        self.tracker = tracker if tracker is not None else EmissionsTracker()
        self.task_name = task_name

    def __enter__(self) -> TaskEmissionsTracker:
        self.tracker.start_task(self.task_name)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.tracker.stop_task()
        if self.is_default_tracker:
            self.tracker.stop()


def _run_tracked(tracker: Any, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    tracker.start()
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt | SystemExit)
        tracker.stop("interrupted" if interrupted else "failed")
        raise
    tracker.stop()
    return result


def track_emissions(
    fn: Callable[..., Any] | None = None,
    project_name: Any = UNSET,
    measure_power_secs: Any = UNSET,
    api_call_interval: Any = UNSET,
    api_endpoint: Any = UNSET,
    api_key: Any = UNSET,
    output_dir: Any = UNSET,
    output_file: Any = UNSET,
    output_methods: Any = UNSET,
    save_to_file: Any = UNSET,
    save_to_api: Any = UNSET,
    save_to_logger: Any = UNSET,
    logging_logger: Any = UNSET,
    save_to_prometheus: Any = UNSET,
    save_to_logfire: Any = UNSET,
    prometheus_url: Any = UNSET,
    output_handlers: Any = UNSET,
    gpu_ids: Any = UNSET,
    emissions_endpoint: Any = UNSET,
    experiment_id: Any = UNSET,
    experiment_name: Any = UNSET,
    electricitymaps_api_token: Any = UNSET,
    co2_signal_api_token: Any = UNSET,
    tracking_mode: Any = UNSET,
    log_level: Any = UNSET,
    on_csv_write: Any = UNSET,
    logger_preamble: Any = UNSET,
    offline: Any = UNSET,
    country_iso_code: Any = UNSET,
    region: Any = UNSET,
    cloud_provider: Any = UNSET,
    cloud_region: Any = UNSET,
    country_2letter_iso_code: Any = UNSET,
    force_cpu_power: Any = UNSET,
    force_ram_power: Any = UNSET,
    pue: Any = UNSET,
    wue: Any = UNSET,
    force_carbon_intensity_g_co2e_kwh: Any = UNSET,
    allow_multiple_runs: Any = UNSET,
    rapl_include_dram: Any = UNSET,
    rapl_prefer_psys: Any = UNSET,
) -> Any:
    """CodeCarbon's decorator: each call of the function is one run of an :class:`EmissionsTracker` (an
    :class:`OfflineEmissionsTracker` with ``offline=True``, which needs ``country_iso_code`` or
    ``cloud_provider``: calling without either raises, as CodeCarbon does). Without ``offline``, a place given is
    used too (CodeCarbon would locate the machine by IP instead). Use as ``@track_emissions`` or
    ``@track_emissions(...)``."""
    options = dict(locals())
    del options["fn"]
    options = given_options(options)
    is_offline = bool(options.pop("offline", False))
    if not is_offline and options.get("country_2letter_iso_code") not in (None, ""):
        # CodeCarbon's online tracker locates the machine by IP and ignores the place given; wattwatch never calls
        # the network, so it uses the place given (country_iso_code, cloud_...). The Electricity Maps zone is online.
        logging.getLogger("wattwatch.compat").warning(
            "wattwatch: ignoring CodeCarbon's online-only option country_2letter_iso_code (an Electricity Maps "
            "zone): wattwatch never calls the network"
        )
    if not is_offline:
        options.pop("country_2letter_iso_code", None)

    def make() -> Any:
        cls = OfflineEmissionsTracker if is_offline else EmissionsTracker
        return cls(**options)

    def decorate(f: _F) -> _F:
        @functools.wraps(f)
        def wrapped_fn(*args: Any, **kwargs: Any) -> Any:
            if is_offline and options.get("country_iso_code") is None and options.get("cloud_provider") is None:
                raise ConfigurationError("Needs ISO Code of the Country for Offline mode")
            return _run_tracked(make(), f, args, kwargs)

        return wrapped_fn  # type: ignore[return-value]

    if fn is not None:
        return decorate(fn)  # type: ignore[arg-type]
    return decorate


def track_task_emissions(
    fn: Callable[..., Any] | None = None, tracker: EmissionsTracker | None = None, task_name: str = ""
) -> Any:
    """CodeCarbon's task decorator: each call of the function is one task of ``tracker`` (a new
    :class:`EmissionsTracker`, stopped after each call, when none is given)."""
    is_default = tracker is None
    chosen = tracker if tracker is not None else EmissionsTracker()

    def decorate(f: _F) -> _F:
        @functools.wraps(f)
        def wrapped_fn(*args: Any, **kwargs: Any) -> Any:
            chosen.start_task(task_name=task_name or None)
            try:
                return f(*args, **kwargs)
            finally:
                chosen.stop_task()
                if is_default:
                    chosen.stop()

        return wrapped_fn  # type: ignore[return-value]

    if fn is not None:
        return decorate(fn)  # type: ignore[arg-type]
    return decorate

