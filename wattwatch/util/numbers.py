"""Lenient number parsing for options and files: a number or a string holding one, never a bool."""

from __future__ import annotations

import math

__all__ = ["as_float", "as_int", "finite_float"]


def as_float(value: object) -> float | None:
    """``value`` as a float (a number or a string holding one; not a bool), else ``None``."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


def as_int(value: object) -> int | None:
    """``value`` as a whole number (an int, or a string / float holding one), else ``None``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = as_float(value)
    return int(number) if number is not None and number.is_integer() else None


def finite_float(value: object) -> float | None:
    """``value`` as a finite float (see :func:`as_float`), else ``None`` (NaN and infinities included)."""
    number = as_float(value)
    return number if number is not None and math.isfinite(number) else None
