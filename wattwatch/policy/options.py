"""Validation of the options that make a run act on its carbon (budgets, the pause policy, live intensity):
the ``check`` functions of their :class:`~wattwatch.run.config.TrackerConfig` fields, and the deadline's parser.

Import-light (``math`` and wattwatch's own error and number helpers): the config imports this module when a
tracker is made. Units: kg CO2eq, kWh, gCO2eq/kWh, unix seconds.
"""

from __future__ import annotations

import math

from wattwatch.errors import ConfigurationError
from wattwatch.util.numbers import as_float

__all__ = [
    "ON_BUDGET",
    "PROVIDERS",
    "check_budget",
    "check_deadline",
    "check_on_budget",
    "check_pause_above",
    "check_provider",
    "check_zone",
    "resolve_deadline",
]

ON_BUDGET = ("stop", "raise", "warn")
"""What a run past its budget does: ``stop`` (integrations end training cleanly, with a checkpoint), ``raise``
(``Tracker.step()`` raises :class:`~wattwatch.errors.BudgetExceeded`), ``warn`` (one warning, training goes on)."""

PROVIDERS = ("electricitymaps", "watttime")
"""Live intensity providers (opt-in; the only network calls wattwatch makes)."""

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def check_budget(name: str, value: object) -> float | None:
    """A budget in kg CO2eq or kWh: a positive finite number, or ``None`` for no budget."""
    if value is None:
        return None
    number = as_float(value)
    if number is None or not (number > 0 and math.isfinite(number)):
        unit = "kg CO2eq" if name.endswith("_kg") else "kWh"
        raise ConfigurationError(f"{name} must be a positive number of {unit}; got {value!r}")
    return number


def check_on_budget(name: str, value: object) -> str:
    if value not in ON_BUDGET:
        raise ConfigurationError(f"on_budget must be one of {', '.join(ON_BUDGET)}; got {value!r}")
    return str(value)


def check_pause_above(name: str, value: object) -> float | None:
    """The intensity (gCO2eq/kWh) above which training waits for a cleaner grid: a number >= 0 or ``None``."""
    if value is None:
        return None
    number = as_float(value)
    if number is None or not (number >= 0 and math.isfinite(number)):
        raise ConfigurationError(f"pause_above_g_per_kwh must be a number of gCO2eq/kWh >= 0; got {value!r}")
    return number


def check_deadline(name: str, value: object) -> object:
    """A time by which the run must end: a ``datetime`` with a zone, unix seconds, ISO-8601 text
    (``2026-12-03T06:00Z``) or a duration from the start of the run (``+8h``, ``+90m``); ``None`` for none. Kept
    as given (relative deadlines are resolved when the run starts); checked here."""
    if value is None:
        return None
    resolve_deadline(value, 0.0)
    return value


def resolve_deadline(value: object, start_wall: float) -> float:
    """The deadline as unix seconds (a relative one counted from ``start_wall``). ``ConfigurationError`` saying
    what to write for anything else."""
    if isinstance(value, bool):
        raise ConfigurationError(f"deadline must be a time; got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value <= 0:
            raise ConfigurationError(f"deadline must be a positive unix time in seconds; got {value!r}")
        return float(value)
    timestamp = getattr(value, "timestamp", None)
    if callable(timestamp):  # a datetime
        if getattr(value, "tzinfo", None) is None:
            raise ConfigurationError(
                "deadline is a datetime without a time zone; give one (datetime(..., tzinfo=timezone.utc))"
            )
        return float(timestamp())
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.startswith("+"):
            return start_wall + _duration(text[1:], value)
        from wattwatch.util.times import parse_utc

        try:
            return parse_utc(text)[0]
        except ValueError as exc:
            raise ConfigurationError(f"deadline {value!r}: {exc}; or a duration such as +8h") from None
    raise ConfigurationError(
        f"deadline must be a datetime, unix seconds, ISO-8601 text or +<duration> (+8h); got {value!r}"
    )


def _duration(text: str, original: object) -> float:
    """``8h``, ``90m``, ``1.5h``, ``3600`` (seconds) -> seconds."""
    unit = _UNITS.get(text[-1:].lower())
    number = as_float(text[:-1] if unit is not None else text)
    if number is None or not (number > 0 and math.isfinite(number)):
        raise ConfigurationError(f"deadline {original!r}: write a duration such as +8h, +90m or +3600s")
    return number * (unit or 1.0)


def check_provider(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().lower() not in PROVIDERS:
        raise ConfigurationError(f"intensity_provider must be one of {', '.join(PROVIDERS)}; got {value!r}")
    return value.strip().lower()


def check_zone(name: str, value: object) -> str | None:
    """A provider's zone (Electricity Maps ``FR``, ``US-CAL-CISO``; WattTime ``CAISO_NORTH``): letters, digits,
    ``-`` and ``_`` only (it becomes part of a URL and of a cache file's name)."""
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > 64 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in text):
        raise ConfigurationError(
            f"intensity_zone must be a zone code such as FR, DE, US-CAL-CISO or CAISO_NORTH; got {value!r}"
        )
    return text
