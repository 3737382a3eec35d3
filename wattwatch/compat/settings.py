"""Turn CodeCarbon 3.3.2 options into a wattwatch tracker's options plus the compatibility layer's settings.

:func:`plan` is pure (no tracker is built, nothing is started): it takes the values
:func:`wattwatch.compat.values.resolve_values` found and converted (a bad number already ignored with a message,
as CodeCarbon does), applies CodeCarbon's defaults, rejects what wattwatch cannot honour (``ConfigurationError``,
saying what to use) and lists the online-only options that get one WARNING. See :mod:`wattwatch.compat.options`
for the table.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wattwatch.compat.options import CODECARBON_DEFAULTS, CODECARBON_VERSION, OPTIONS
from wattwatch.compat.outputs import (
    SAVE_TO_FLAGS,
    LoggerOutput,
    OutputMethod,
    codecarbon_output_class,
    resolve_output_methods,
)
from wattwatch.errors import ConfigurationError

__all__ = ["CompatPlan", "plan"]

log = logging.getLogger("wattwatch.compat")


@dataclass
class CompatPlan:
    """What the compatibility tracker needs: the wattwatch tracker's keyword arguments and its own settings."""

    tracker_kwargs: dict[str, Any]
    output_methods: list[OutputMethod]
    handlers: list[Any]
    measure_power_secs: float
    api_call_interval: int
    on_csv_write: str
    experiment_name: str
    allow_multiple_runs: bool
    log_level: str | int
    logger_preamble: str
    force_carbon_intensity: float | None = None
    """``force_carbon_intensity_g_co2e_kwh`` after CodeCarbon's checks (``None``: ignored or not given)."""
    gpu_ids: list[int | str] | None = None
    """CodeCarbon's ``_gpu_ids``: the option, else ``CUDA_VISIBLE_DEVICES``, else ``ROCR_VISIBLE_DEVICES``."""
    conf: dict[str, Any] = field(default_factory=dict)
    """CodeCarbon's ``_conf``: every option's final value (given, from a file or variable, or the default)."""
    online_ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """WARNING lines to log at construction (besides the online one)."""

    def save_flags(self) -> dict[str, bool]:
        """CodeCarbon's ``save_to_*`` flags as the output methods set them (``save_to_file``: CSV on, ...)."""
        return {flag: method in self.output_methods for flag, method in SAVE_TO_FLAGS.items()}


def _flag(value: object) -> bool:
    return value.strip().lower() == "true" if isinstance(value, str) else bool(value)


def _split_output_file(output_dir: str | os.PathLike[str], output_file: str | os.PathLike[str]) -> tuple[str, str]:
    """CodeCarbon joins ``output_dir`` and ``output_file`` (so ``output_file`` may be a path); wattwatch keeps
    folders in ``output_dir``."""
    joined = os.path.join(os.fspath(output_dir), os.fspath(output_file))
    folder, name = os.path.split(joined)
    if not name:
        raise ConfigurationError(f"output_file must name a file; got {output_file!r}")
    return folder or ".", name


def _prometheus_address(url: object) -> tuple[str, int]:
    text = str(url).strip()
    for prefix in ("http://", "https://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = text.split("/", 1)[0]
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(f"prometheus_url must be host:port (e.g. localhost:9091); got {url!r}")
    return ("127.0.0.1" if host == "localhost" else host), int(port)


def _online(given: dict[str, Any], methods: list[OutputMethod]) -> list[str]:
    names = [
        name
        for name, value in given.items()
        if OPTIONS[name].handling == "online" and value not in (None, False, "")
    ]
    if OutputMethod.API in methods and "save_to_api" not in names:
        names.append("output_methods=[OutputMethod.API]")
    return names


def _handlers(given: dict[str, Any], methods: list[OutputMethod]) -> list[Any]:
    handlers = list(given.get("output_handlers") or [])
    if OutputMethod.LOGGER in methods:
        logger_output = given.get("logging_logger")
        if logger_output is None:  # CodeCarbon would append None and fail silently at each write
            logger_output = LoggerOutput(logging.getLogger("codecarbon"), logging.INFO)
        handlers.append(logger_output)
    if OutputMethod.LOGFIRE in methods:
        handlers.append(codecarbon_output_class("LogfireOutput", OutputMethod.LOGFIRE)())
    if OutputMethod.BOAMPS in methods:
        handlers.append(_boamps(given))
    return handlers


def _boamps(given: dict[str, Any]) -> Any:
    """CodeCarbon's ``_build_boamps_output``: the ``boamps`` section of ``metadata`` (a dict, or a JSON file's
    path), or the whole dict; a file that cannot be read is logged and the output built without it."""
    cls = codecarbon_output_class("BoAmpsOutput", OutputMethod.BOAMPS)
    output_dir = given.get("output_dir", CODECARBON_DEFAULTS["output_dir"])
    metadata = given.get("metadata")
    if isinstance(metadata, str | os.PathLike) and os.fspath(metadata):
        import json

        try:
            with open(metadata, encoding="utf-8") as fh:
                metadata = json.load(fh)
        except (OSError, ValueError) as exc:  # CodeCarbon: FileNotFoundError and JSONDecodeError, logged
            log.error("Invalid metadata file '%s' for the BoAmps output (%s); continuing without it", metadata, exc)
            metadata = None
    if isinstance(metadata, dict):
        context = metadata.get("boamps", metadata)
        if isinstance(context, dict) and context:
            return cls.from_dict(context, output_dir=output_dir)
    return cls(output_dir=output_dir)


def _gpu_ids(value: object, environ: Mapping[str, str]) -> list[int | str] | None:
    """CodeCarbon's ``gpu_ids``: the option, else ``CUDA_VISIBLE_DEVICES``, else ``ROCR_VISIBLE_DEVICES``,
    normalised as its ``normalize_gpu_ids`` does (a string: its comma-separated ids, sanitised; a list: ints kept,
    strings split)."""
    if value is None:
        value = environ.get("CUDA_VISIBLE_DEVICES") or environ.get("ROCR_VISIBLE_DEVICES") or None
    if value is None:
        return None
    items: list[object] = [value] if isinstance(value, str | int) else list(value)  # type: ignore[call-overload]
    out: list[int | str] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            out.append(item)
        elif isinstance(item, str):
            clean = "".join(c for c in item if c.isalnum() or c in "-,")
            out.extend(part for part in clean.split(",") if part)
        else:
            log.warning("Ignoring invalid gpu_id entry of type %s; expected int or str.", type(item).__name__)
    return out


def _log_level(value: object) -> str | int | None:
    """CodeCarbon's ``set_logger_level``: a known level name or number, else one error and the level is left as
    it is (``None``). An empty value (``CODECARBON_LOG_LEVEL=``) counts as not given: the default."""
    if isinstance(value, str) and not value.strip():
        return str(CODECARBON_DEFAULTS["log_level"])
    if isinstance(value, int) and not isinstance(value, bool):
        if value in (0, 10, 20, 30, 40, 50):
            return value
        log.error("Unknown int log level: %s. Doing nothing.", value)
        return None
    if isinstance(value, str) and value.strip().upper() in _KNOWN_LEVELS:
        return value.strip().upper()
    log.error("Unknown str log level: %s. Doing nothing.", value)
    return None


_KNOWN_LEVELS = frozenset({"CRITICAL", "FATAL", "ERROR", "WARN", "WARNING", "INFO", "DEBUG", "NOTSET"})


def _experiment_name(value: object) -> str:
    """CodeCarbon's ``experiment_name`` (it names the task file): ``ConfigurationError`` for a control
    character, which would otherwise reach a file name and the task CSV."""
    from wattwatch.util.names import control_characters

    text = str(value)
    found = control_characters(text)
    if found:
        raise ConfigurationError(
            f"experiment_name must not contain control characters (found {', '.join(found)}); use letters, "
            "digits, spaces and punctuation"
        )
    return text


def plan(given: dict[str, Any], environ: Mapping[str, str] | None = None) -> CompatPlan:
    """Map CodeCarbon options (their values converted, see :mod:`wattwatch.compat.values`) to a tracker's;
    ``ConfigurationError`` when one cannot be honoured. ``environ`` is read for the GPU ids (default
    ``os.environ``)."""
    for name in given:
        if name not in OPTIONS:  # pragma: no cover - the signatures only let known names through
            raise TypeError(f"unexpected CodeCarbon option {name!r}")
    env = os.environ if environ is None else environ
    o = {**CODECARBON_DEFAULTS, **{k: v for k, v in given.items() if v is not None}}
    flags = {k: _flag(v) for k, v in given.items() if k in SAVE_TO_FLAGS and v is not None}
    methods = resolve_output_methods(given.get("output_methods"), flags)
    if _flag(o["rapl_prefer_psys"]):
        raise ConfigurationError(
            "rapl_prefer_psys=True is not supported: wattwatch reads the RAPL package domains (psys would count "
            "the package twice); leave rapl_prefer_psys unset"
        )
    on_csv_write = str(o["on_csv_write"]).strip().lower()
    if on_csv_write not in ("append", "update"):
        raise ConfigurationError(f"on_csv_write must be 'append' or 'update'; got {o['on_csv_write']!r}")
    interval = float(o["measure_power_secs"])
    if not interval > 0 or interval == float("inf"):
        interval = float(CODECARBON_DEFAULTS["measure_power_secs"])
    output_dir, output_file = _split_output_file(o["output_dir"], o["output_file"])
    kwargs: dict[str, Any] = {
        "project_name": str(o["project_name"]),
        "experiment_id": str(o["experiment_id"]),
        "output_dir": output_dir,
        "output_file": output_file,
        "save_to_file": OutputMethod.CSV in methods,
        "save_timeseries": False,  # CodeCarbon writes no time series; pass save_timeseries=True for ours
        "tracking_mode": o["tracking_mode"],
        "pue": o["pue"],
        "wue": o["wue"],
        "include_dram": _flag(o["rapl_include_dram"]),
    }
    if given.get("gpu_ids") is not None:
        kwargs["gpu_ids"] = given["gpu_ids"]
    for name in ("force_cpu_power", "force_ram_power"):
        if given.get(name) is not None:
            kwargs[name] = given[name]
    if _flag(o["force_mode_cpu_load"]):
        kwargs["force_mode_cpu_load"] = True
    notes = []
    if OutputMethod.PROMETHEUS in methods:
        host, port = _prometheus_address(o["prometheus_url"])
        kwargs["prometheus_host"], kwargs["prometheus_port"] = host, port
        notes.append(
            f"wattwatch: Prometheus output serves the run's metrics at http://{host}:{port}/metrics for Prometheus "
            "to scrape; nothing is pushed to a Pushgateway (wattwatch never calls the network)"
        )
    intensity = given.get("force_carbon_intensity_g_co2e_kwh")
    conf = {"codecarbon_version": CODECARBON_VERSION, **o, "output_methods": methods,
            "force_carbon_intensity_g_co2e_kwh": intensity}
    return CompatPlan(
        tracker_kwargs=kwargs,
        output_methods=methods,
        handlers=_handlers(given, methods),
        measure_power_secs=interval,
        api_call_interval=int(o["api_call_interval"]),
        on_csv_write=on_csv_write,
        experiment_name=_experiment_name(o["experiment_name"]),
        allow_multiple_runs=_flag(o["allow_multiple_runs"]),
        log_level=_log_level(o["log_level"]) or "",
        logger_preamble=str(o["logger_preamble"] or ""),
        force_carbon_intensity=intensity,
        gpu_ids=_gpu_ids(given.get("gpu_ids"), env),
        conf=conf,
        online_ignored=_online(given, methods),
        notes=notes,
    )
