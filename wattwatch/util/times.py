"""UTC time as text, and text as unix seconds. Every time wattwatch writes is UTC; there are three ways to
show one, each for one audience:

- :func:`utc_iso` -- ``2026-11-29T12:00:00+00:00``: ``start_time`` and the other times in wattwatch's files;
- :func:`utc_codecarbon` -- ``2026-11-29T12:00:00``: the ``timestamp`` column, in CodeCarbon's format (which has no
  zone; CodeCarbon writes local time there, wattwatch UTC, like every time it writes);
- :func:`utc_iso_minutes` -- ``2026-11-29T12:00Z``: times in messages and provenance text;
- :func:`utc_display` -- ``2026-11-29 12:00 UTC``: times in a command's report to a person.
"""

from __future__ import annotations

import math
import time
from typing import Any

__all__ = ["iso_unix", "parse_utc", "utc_codecarbon", "utc_display", "utc_iso", "utc_iso_minutes", "utc_iso_ms"]


def utc_iso(wall: float) -> str:
    """Unix seconds as ISO-8601 UTC at one-second resolution (``2026-11-29T12:00:00+00:00``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(wall))


def utc_iso_ms(wall: float) -> str:
    """Unix seconds as ISO-8601 UTC with milliseconds (``2026-11-29T12:00:00.123+00:00``): the text of
    ``datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="milliseconds")`` (microseconds rounded half
    to even, then cut to milliseconds), without importing ``datetime`` on the tracker's start path."""
    frac, whole = math.modf(wall)
    us = round(frac * 1e6)
    if us >= 1_000_000:
        whole, us = whole + 1, us - 1_000_000
    elif us < 0:
        whole, us = whole - 1, us + 1_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{us // 1000:03d}+00:00"


def iso_unix(stamp: str) -> float | None:
    """Unix seconds of an ISO-8601 timestamp (read as UTC when it names no zone); ``None`` when it is not one.
    For the report's pass over every row: no number parsing, no exception raised (see :func:`parse_utc` for
    the user-facing parser that says what to write instead)."""
    if _FROMISO is None:
        _load_iso_parser()
    try:
        t = _FROMISO(stamp)
    except (TypeError, ValueError):
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_UTC)
    return float(t.timestamp())


_FROMISO: Any = None
_UTC: Any = None


def _load_iso_parser() -> None:
    """``datetime.fromisoformat`` and UTC, imported on first use (the tracker's start path imports this module
    and never parses) and kept as globals: an import statement in :func:`iso_unix` cost 4x the parse over
    200,000 rows."""
    global _FROMISO, _UTC
    from datetime import datetime, timezone

    _FROMISO, _UTC = datetime.fromisoformat, timezone.utc


def utc_codecarbon(wall: float) -> str:
    """Unix seconds as UTC in the format of CodeCarbon's ``timestamp`` column (``2026-11-29T12:00:00``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall))


def utc_iso_minutes(wall: float) -> str:
    """Unix seconds as short ISO-8601 UTC (``2026-11-29T12:00Z``)."""
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(wall))


def utc_display(wall: float) -> str:
    """Unix seconds for a person to read (``2026-11-29 12:00 UTC``)."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(wall))


def parse_utc(text: str) -> tuple[float, bool]:
    """Unix seconds from ISO-8601 (``Z`` or an offset; without a zone it is read as UTC) or from a plain number
    of unix seconds, and whether the text carried no zone.

    Raises ``ValueError`` (saying what to write instead) for an empty text, a number that is not finite or
    looks like milliseconds, and anything that is neither ISO-8601 nor a number.
    """
    s = text.strip()
    if not s:
        raise ValueError("empty timestamp; give ISO-8601 (2024-05-01T13:00:00Z) or unix seconds")
    try:
        x = float(s)
    except ValueError:
        pass
    else:
        if not math.isfinite(x):
            raise ValueError(f"timestamp {s!r} is not a finite number of unix seconds")
        if abs(x) > 1e11:
            raise ValueError(f"timestamp {s!r} looks like milliseconds; write unix seconds (divide by 1000)")
        return x, False
    from datetime import datetime, timezone  # only parsers need it (import time is a benchmark figure)

    try:
        when = datetime.fromisoformat(s[:-1] + "+00:00" if s[-1:] in ("Z", "z") else s)
    except ValueError:
        raise ValueError(
            f"timestamp {s!r} is neither ISO-8601 nor unix seconds; write e.g. 2024-05-01T13:00:00Z or 1714568400"
        ) from None
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc).timestamp(), True
    return when.timestamp(), False
