"""The checks of a tracker's option values: ``check(name, value)`` returns the value normalised (a float, a
tuple, a ``Path``) or raises :class:`~wattwatch.errors.ConfigurationError` naming the option and what to give
instead. :class:`~wattwatch.run.config.TrackerConfig` names one per field. Units: seconds, watts, kWh, grams per
kWh."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from wattwatch.errors import ConfigurationError
from wattwatch.util.numbers import as_float, as_int

if TYPE_CHECKING:
    from wattwatch.sensors.base import Sensor

__all__ = [
    "MAX_PUE",
    "MIN_MEASURE_POWER_SECS",
    "check_file_name",
    "check_flag",
    "check_gpu_ids",
    "check_interval_or_none",
    "check_ledger_url",
    "check_log_level",
    "check_no_control",
    "check_non_empty",
    "check_path",
    "check_port",
    "check_positive",
    "check_positive_or_none",
    "check_pue",
    "check_run_id",
    "check_sensors",
    "check_text",
    "check_total_steps",
    "check_tracking_mode",
    "check_use_ratio",
    "check_watts_or_none",
    "check_wue",
]

def check_log_level(name: str, value: object) -> object:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str) and isinstance(logging.getLevelName(value.upper()), int):
        return value.upper()
    raise ConfigurationError(f"log_level must be one of debug, info, warning, error, critical; got {value!r}")


def check_no_control(name: str, value: str) -> str:
    """``value`` when it holds no control character; else a ``ConfigurationError`` naming the option (such a
    name would reach file names, CSV cells and terminals)."""
    from wattwatch.util.names import control_characters

    found = control_characters(value)
    if found:
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise ConfigurationError(
            f"{name} must not contain control characters (found {', '.join(found)} in {shown!r}); "
            "use letters, digits, spaces and punctuation"
        )
    return value


def check_non_empty(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{name} must be a non-empty string; got {value!r}")
    return check_no_control(name, value)


def check_text(name: str, value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string; got {value!r}")
    return check_no_control(name, value)


def check_run_id(name: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"run_id must be a string (or None for a fresh UUID); got {value!r}")
    return check_no_control(name, value)


def check_file_name(name: str, value: object) -> str:
    if (
        not isinstance(value, str)
        or value in ("", ".", "..")
        or os.sep in value
        or (os.altsep is not None and os.altsep in value)
    ):
        raise ConfigurationError(f"{name} must be a file name (put folders in output_dir); got {value!r}")
    return check_no_control(name, value)


def check_positive(name: str, value: object) -> float:
    number = as_float(value)
    if number is None or not (number > 0 and number < float("inf")):
        raise ConfigurationError(f"{name} must be a positive number; got {value!r}")
    return number


def check_positive_or_none(name: str, value: object) -> float | None:
    return None if value is None else check_positive(name, value)


MIN_MEASURE_POWER_SECS = 0.001
"""Shortest interval between readings (1 ms): GPU power fields and RAPL counters update no faster, and below
it the sampling thread would spin (``1e-9`` used to burn a whole core)."""


def check_interval_or_none(name: str, value: object) -> float | None:
    number = check_positive_or_none(name, value)
    if number is not None and number < MIN_MEASURE_POWER_SECS:
        raise ConfigurationError(
            f"{name} must be at least {MIN_MEASURE_POWER_SECS:g} s (the hardware's readings update no faster; "
            f"the default is 1 s with energy counters, 0.02 s otherwise); got {value!r}"
        )
    return number


MAX_PUE = 5.0
"""Largest power usage effectiveness accepted. Surveyed data centres average about 1.5 and the worst report
around 2.5-3 (Uptime Institute Global Data Center Survey 2023: average 1.58); 5 leaves room for a server
closet while catching a typo or a value such as ``1e300`` that would overflow every total."""


def check_pue(name: str, value: object) -> float:
    number = check_positive(name, value)
    if number < 1.0:
        raise ConfigurationError(f"pue must be >= 1.0 (1.0 means no overhead); got {value}")
    if number > MAX_PUE:
        raise ConfigurationError(
            f"pue must be at most {MAX_PUE:g} (data centres report 1.1-3); got {value!r}"
        )
    return number


def check_wue(name: str, value: object) -> float:
    number = as_float(value)
    if number is None or not 0 <= number < float("inf"):
        raise ConfigurationError(f"wue must be a number >= 0 (litres per kWh); got {value!r}")
    return number


def check_tracking_mode(name: str, value: object) -> str:
    if value not in ("machine", "process"):
        raise ConfigurationError(f"tracking_mode must be 'machine' or 'process'; got {value!r}")
    return str(value)


def check_total_steps(name: str, value: object) -> int | None:
    if value is None:
        return None
    steps = as_int(value)
    if steps is None or steps <= 0:
        raise ConfigurationError(f"total_steps must be a positive integer; got {value!r}")
    return steps


def check_port(name: str, value: object) -> int | None:
    if value is None:
        return None
    port = as_int(value)
    if port is None or not 0 <= port <= 65535:
        raise ConfigurationError(f"prometheus_port must be between 0 and 65535; got {value!r}")
    return port


def check_watts_or_none(name: str, value: object) -> float | None:
    if value is None:
        return None
    number = as_float(value)
    if number is None or not (0 <= number < float("inf")):
        raise ConfigurationError(f"{name} must be a number of watts >= 0; got {value!r}")
    if name == "force_cpu_power" and number == 0:
        raise ConfigurationError("force_cpu_power must be the CPU's full-load power in watts (> 0); got 0")
    return number


def check_path(name: str, value: object) -> Path:
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise ConfigurationError(f"{name} must be a folder path (a str or os.PathLike); got {value!r}")
    return Path(value)


def check_use_ratio(name: str, value: object) -> float:
    number = as_float(value)
    if number is None or not 0 < number <= 1:
        raise ConfigurationError(
            f"{name} must be in (0, 1]: the share of its life the hardware is busy (1 = always); got {value!r}"
        )
    return number


def check_ledger_url(name: str, value: object) -> str | None:
    """A ledger URL's kind is checked here, before any work (SQLAlchemy is not imported: the URL is parsed by
    :mod:`wattwatch.ledger.urls`, and only whether the ``ledger`` extra is installed is looked up)."""
    if value is None or value == "":
        return None if value is None else ""
    if not isinstance(value, str):
        raise ConfigurationError(f"ledger_url must be a database URL (a str); got {value!r}")
    from wattwatch.ledger.urls import LedgerError, parse_url

    try:
        parse_url(value)
    except LedgerError as exc:
        raise ConfigurationError(f"ledger_url: {exc}") from None
    import importlib.util

    if importlib.util.find_spec("sqlalchemy") is None:
        raise ConfigurationError(
            "ledger_url needs the ledger extra: pip install 'wattwatch[ledger]' (SQLAlchemy, psycopg, platformdirs)"
        )
    return value


def check_flag(name: str, value: object) -> bool:
    return bool(value)


def check_sensors(name: str, value: object) -> tuple[Sensor, ...] | None:
    return None if value is None else tuple(value)  # type: ignore[arg-type, call-overload]


def check_gpu_ids(name: str, value: object) -> tuple[int | str, ...] | None:
    if value is None:
        return None
    items: list[object]
    if isinstance(value, str):
        items = [s.strip() for s in value.split(",") if s.strip()]
    elif isinstance(value, int):
        items = [value]
    else:
        try:
            items = list(value)  # type: ignore[call-overload]
        except TypeError:
            raise ConfigurationError(
                f"gpu_ids must be a list of GPU indices or UUIDs (or a comma-separated string); got {value!r}"
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
    return tuple(out)


