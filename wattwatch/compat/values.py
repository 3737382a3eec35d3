"""How a CodeCarbon option gets its value, as CodeCarbon 3.3.2 does it: an argument, else a config file or a
``CODECARBON_*`` variable, else the default -- and what happens to a value that is not a number.

CodeCarbon (``BaseEmissionsTracker._set_from_conf``) converts a config value to the option's type and, when that
fails, logs ``CONFIG - Value for 'x' must be of type 'float'. Got 'abc' instead. It will be ignored.`` and goes
on without it; ``force_carbon_intensity_g_co2e_kwh`` that is negative or not a number is ignored with a warning,
wherever it comes from. The compatibility classes do the same for every numeric and boolean option, arguments
included (CodeCarbon keeps a bad argument as it is and fails later, or computes with it): the value is named in
one message and the option keeps its default. A number wattwatch's own :class:`~wattwatch.Tracker` would refuse
(a PUE above 5, a negative power) is ignored the same way, with the range in the message. Booleans from files and
variables are CodeCarbon's: ``true`` (any case) is true, anything else false.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BOOL_OPTIONS",
    "CONSTRUCTOR",
    "IGNORED",
    "NUMBER_OPTIONS",
    "Resolved",
    "resolve_values",
]

log = logging.getLogger("wattwatch.compat")

CONSTRUCTOR = "argument"
"""The source of a value passed to the constructor (or the decorator)."""

NUMBER_OPTIONS: dict[str, type] = {
    "measure_power_secs": float,
    "api_call_interval": int,
    "force_cpu_power": float,
    "force_ram_power": float,
    "pue": float,
    "wue": float,
    "force_carbon_intensity_g_co2e_kwh": float,
}
"""The numeric options and the type CodeCarbon converts them to."""

BOOL_OPTIONS = frozenset(
    {
        "save_to_file",
        "save_to_api",
        "save_to_logger",
        "save_to_prometheus",
        "save_to_logfire",
        "force_mode_cpu_load",
        "allow_multiple_runs",
        "rapl_include_dram",
        "rapl_prefer_psys",
    }
)
"""The boolean options (a file's or variable's ``true``, any case, is true; anything else false)."""


class _Ignored:
    def __repr__(self) -> str:
        return "<ignored>"


IGNORED: Any = _Ignored()
"""What :func:`coerce` returns for a value that is ignored (the option keeps its default)."""


def _wattwatch_range(name: str) -> Callable[[str, object], object] | None:
    """The range check wattwatch's own Tracker applies to the option (a PUE of 1-5, watts >= 0, ...)."""
    from wattwatch.run.config import TrackerConfig

    target = {"pue": "pue", "wue": "wue", "force_cpu_power": "force_cpu_power", "force_ram_power": "force_ram_power"}
    if name not in target:
        return None
    import dataclasses

    for f in dataclasses.fields(TrackerConfig):
        if f.name == target[name]:
            check: Callable[[str, object], object] | None = f.metadata.get("check")
            return check
    return None  # pragma: no cover - every target is a TrackerConfig field


def _intensity(value: object, source: str) -> float | None:
    """CodeCarbon's rule for ``force_carbon_intensity_g_co2e_kwh`` (its warnings, word for word), plus
    wattwatch's bound: no grid emits more than 5000 g/kWh."""
    from wattwatch.carbon.intensity import MAX_INTENSITY_G_PER_KWH

    name = "force_carbon_intensity_g_co2e_kwh"
    try:
        number = float(value)  # type: ignore[arg-type]  # any value the user gave: float() is the check
    except (TypeError, ValueError):
        log.warning(
            "Invalid value for %s: '%s'. It must be a numeric value. Using default calculation methods.", name, value
        )
        return None
    if not number >= 0 or math.isinf(number):
        log.warning(
            "Invalid value for %s: '%s'. It must be a non-negative number. Using default calculation methods.",
            name,
            value,
        )
        return None
    if number > MAX_INTENSITY_G_PER_KWH:
        log.warning(
            "Invalid value for %s: '%s' (from %s): no grid emits more than %g gCO2eq/kWh -- check the unit "
            "(g/kWh, not g/MWh). Using default calculation methods.",
            name,
            value,
            source,
            MAX_INTENSITY_G_PER_KWH,
        )
        return None
    return number


def coerce(name: str, value: object, source: str) -> object:
    """``value`` (from ``source``: :data:`CONSTRUCTOR`, a config file's path or a variable's name) as the option's
    type, or :data:`IGNORED` after one message saying so. Options that are neither numbers nor booleans pass
    through unchanged."""
    if value is None:
        return None
    if name == "force_carbon_intensity_g_co2e_kwh":
        return _intensity(value, source)
    if name in BOOL_OPTIONS:
        if isinstance(value, str):
            return value.strip().lower() == "true"
        return bool(value)
    kind = NUMBER_OPTIONS.get(name)
    if kind is None:
        return value
    try:
        if isinstance(value, bool):
            raise TypeError("a boolean is not a number")
        number = kind(value)
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError("not finite")
    except (TypeError, ValueError):
        level = logging.WARNING if source == CONSTRUCTOR else logging.ERROR
        log.log(
            level,
            "CONFIG - Value for '%s' must be of type '%s'. Got '%s' instead (%s). It will be ignored.",
            name,
            kind.__name__,
            value,
            source,
        )
        return IGNORED
    check = _wattwatch_range(name)
    if check is not None:
        from wattwatch.errors import ConfigurationError

        try:
            check(name, number)
        except ConfigurationError as exc:
            log.warning("wattwatch: %s (from %s); it is ignored, the default is used", exc, source)
            return IGNORED
    return number


@dataclass
class Resolved:
    """Every option that has a value (argument, file or variable), converted; where each came from."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    """Options whose value was ignored (they keep their default)."""


def resolve_values(given: Mapping[str, Any], external: Mapping[str, tuple[str, str]]) -> Resolved:
    """CodeCarbon's precedence -- an argument wins, then ``CODECARBON_*``, then ``./.codecarbon.config``, then
    ``~/.codecarbon.config`` (``external`` already holds the winner of those) -- then :func:`coerce`.

    An argument of ``None`` hides the file's value, as in CodeCarbon, and the option keeps its default."""
    out = Resolved()
    for name, (text, source) in external.items():
        if name not in given:
            out.values[name], out.sources[name] = text, source
    for name, value in given.items():
        if value is not None:
            out.values[name], out.sources[name] = value, CONSTRUCTOR
    for name in list(out.values):
        converted = coerce(name, out.values[name], out.sources[name])
        if converted is IGNORED or (converted is None and name == "force_carbon_intensity_g_co2e_kwh"):
            del out.values[name]
            out.ignored.append(name)
        else:
            out.values[name] = converted
    return out
