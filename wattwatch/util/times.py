"""UTC time as text, and text as unix seconds. Every timestamp wattwatch writes is UTC."""

from __future__ import annotations

import time
from datetime import datetime, timezone

__all__ = ["parse_utc", "utc_iso"]


def utc_iso(wall: float) -> str:
    """Unix seconds as ISO-8601 UTC at one-second resolution (``2026-11-29T12:00:00+00:00``): the format of
    every timestamp in ``emissions.csv``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(wall))


def parse_utc(text: str) -> tuple[float, bool]:
    """Unix seconds from ISO-8601 (``Z`` or an offset; without a zone it is read as UTC) or from a plain number
    of unix seconds, and whether the text carried no zone. Raises ``ValueError`` for anything else."""
    s = text.strip()
    try:
        return float(s), False
    except ValueError:
        pass
    when = datetime.fromisoformat(s[:-1] + "+00:00" if s[-1:] in ("Z", "z") else s)
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc).timestamp(), True
    return when.timestamp(), False
