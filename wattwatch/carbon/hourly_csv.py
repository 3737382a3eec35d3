"""The hourly carbon-intensity CSV reader behind :func:`wattwatch.carbon.intensity.read_hourly_csv`.

Three layouts are recognised by their header: plain ``timestamp,g_per_kwh``, an Electricity Maps export
(``Datetime (UTC)`` + ``Carbon Intensity gCO2eq/kWh (LCA)`` or ``(direct)``) and a WattTime export (``point_time``,
``value`` in lbs/MWh, converted to gCO2eq/kWh). Every fault is a ``ValueError`` naming the file and line.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from wattwatch.carbon import intensity_data as _data
from wattwatch.carbon.intensity import MAX_INTENSITY_G_PER_KWH, HourlyIntensity, IntensitySource
from wattwatch.util.times import parse_utc, utc_iso_minutes

__all__ = ["read_hourly_csv"]

_LB_PER_MWH_TO_G_PER_KWH = _data.G_PER_LB / 1000.0


_EXPECTED = (
    "expected a header `timestamp,g_per_kwh`, an Electricity Maps export (`Datetime (UTC)` + "
    "`Carbon Intensity gCO2eq/kWh (LCA)` or `(direct)`) or a WattTime export (`point_time`, `value` in lbs/MWh)"
)


@dataclass(frozen=True)
class _Layout:
    time_col: int
    value_col: int
    scale: float  # multiply the file's value by this to get g/kWh
    label: str
    country_col: int | None = None


def _norm(header: str) -> str:
    return " ".join(header.replace("₂", "2").strip().lower().split())


def _layout(header: list[str], where: str) -> _Layout:
    cols = [_norm(h) for h in header]
    ci = [i for i, c in enumerate(cols) if c.startswith("carbon intensity")]
    dt = [i for i, c in enumerate(cols) if c.startswith("datetime")]
    if ci and dt:
        lca = [i for i in ci if "(lca)" in cols[i]]
        direct = [i for i in ci if "(direct)" in cols[i]]
        col, kind = (lca[0], "LCA") if lca else (direct[0], "direct") if direct else (ci[0], "")
        country = cols.index("country") if "country" in cols else None
        label = f"Electricity Maps export, {header[col].strip()}" if kind else "Electricity Maps export"
        return _Layout(dt[0], col, 1.0, label, country)
    if "point_time" in cols and "value" in cols:
        return _Layout(
            cols.index("point_time"),
            cols.index("value"),
            _LB_PER_MWH_TO_G_PER_KWH,
            "WattTime export, value in lbs/MWh x 0.45359237 = g/kWh",
        )
    if "timestamp" in cols and "g_per_kwh" in cols:
        return _Layout(cols.index("timestamp"), cols.index("g_per_kwh"), 1.0, "timestamp,g_per_kwh")
    raise ValueError(f"{where}: header {','.join(header)!r} not recognised; {_EXPECTED}")


def _parse_time(text: str, where: str) -> tuple[float, bool]:
    """Unix seconds and whether the text had no zone (then read as UTC)."""
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _parse_value(text: str, scale: float, where: str) -> float:
    s = text.strip()
    try:
        g = float(s)
    except ValueError:
        raise ValueError(
            f"{where}: intensity {s!r} is not a number; give gCO2eq/kWh as a plain number"
        ) from None
    if not math.isfinite(g):
        raise ValueError(f"{where}: intensity {s!r} is not a finite number; fill in or drop that row")
    if g < 0:
        raise ValueError(f"{where}: intensity {s} is negative; carbon intensity must be >= 0")
    if g * scale > MAX_INTENSITY_G_PER_KWH:
        raise ValueError(
            f"{where}: intensity {s} is above {MAX_INTENSITY_G_PER_KWH:g} gCO2eq/kWh, more than any grid emits; "
            "check the unit (g/kWh expected)"
        )
    return g * scale


def read_hourly_csv(path: str | os.PathLike[str]) -> HourlyIntensity:
    """Read an intensity time series from a CSV file.

    Accepted layouts (by header, case-insensitive): plain ``timestamp,g_per_kwh``; an Electricity Maps export
    (``Datetime (UTC)`` and ``Carbon Intensity gCO₂eq/kWh (LCA)`` -- preferred -- or ``(direct)``); a WattTime
    export (``point_time``, ``value`` in lbs CO2/MWh, converted with 1 lb = 453.59237 g). Timestamps are ISO-8601
    with or without a zone (without one they are read as UTC) or unix seconds; each row starts an interval.

    Raises ``ValueError`` (one line, with the file and line number and what to fix) for an empty file, an unknown
    header, an unparseable timestamp, a non-numeric or negative intensity, or rows out of order or duplicated.
    """
    p = Path(path)
    name = str(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ValueError(f"{name}: cannot read intensity CSV ({e.strerror}); check the path") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", "replace")  # a spreadsheet's Latin-1 / Windows-1252 export: read it as such
    rows: list[tuple[float, float, int]] = []
    naive = False
    country = ""
    with io.StringIO(text, newline="") as f:
        reader = csv.reader(f)
        layout: _Layout | None = None
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            where = f"{name}:{reader.line_num}"
            if layout is None:
                layout = _layout(row, where)
                continue
            if len(row) <= max(layout.time_col, layout.value_col):
                raise ValueError(f"{where}: row has {len(row)} fields, the header more; fix that row")
            t, was_naive = _parse_time(row[layout.time_col], where)
            naive = naive or was_naive
            rows.append((t, _parse_value(row[layout.value_col], layout.scale, where), reader.line_num))
            if layout.country_col is not None and not country and len(row) > layout.country_col:
                country = row[layout.country_col].strip()
    if layout is None:
        raise ValueError(f"{name}: the intensity CSV is empty; {_EXPECTED}")
    if not rows:
        raise ValueError(f"{name}: the intensity CSV has a header but no data rows; add one row per hour")
    for (t0, _, l0), (t1, _, l1) in pairwise(rows):
        if t1 == t0:
            raise ValueError(
                f"{name}:{l1}: duplicate time {utc_iso_minutes(t1)} (also on line {l0}); keep one row per hour"
            )
        if t1 < t0:
            raise ValueError(
                f"{name}:{l1}: time {utc_iso_minutes(t1)} comes before line {l0} ({utc_iso_minutes(t0)}); sort the rows by time"
            )
    steps = [b[0] - a[0] for a, b in pairwise(rows)]
    from statistics import median  # hourly files only: statistics pulls in fractions and decimal (~4 ms)

    step = float(median(steps)) if steps else 3600.0
    desc = f"hourly CSV {p.name} ({layout.label}; {len(rows)} rows, {utc_iso_minutes(rows[0][0])} to {utc_iso_minutes(rows[-1][0] + step)}"
    desc += ", timestamps without a zone read as UTC)" if naive else ")"
    return HourlyIntensity(
        hours=tuple((t, g) for t, g, _ in rows),
        source=IntensitySource(kind="hourly-csv", description=desc, country_name=country),
        step_s=step,
    )
