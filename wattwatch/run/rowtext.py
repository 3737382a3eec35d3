"""A running row's text for the journal, cheaply: the columns that hold steady during a process segment are
converted and bounded once, the others at every flush (issue 24: a flush is cheaper, so the flush grid can be
dense at the start without costing the tracker's CPU figure).

The text is the same as ``bound_row(data.to_row())`` (:func:`wattwatch.sinks.cells.bound_row` treats every cell
alone, but for the JSON columns it bounds together, which are all moving ones): the steady columns' values are
compared at every row, and their text is made again when one changed.
"""

from __future__ import annotations

import dataclasses

from wattwatch.result import COLUMNS, EmissionsData
from wattwatch.sinks.cells import bound_row

__all__ = ["STEADY_COLUMNS", "RowText"]

STEADY_COLUMNS: tuple[str, ...] = (
    "project_name", "run_id", "experiment_id", "country_name", "country_iso_code", "region", "cloud_provider",
    "cloud_region", "os", "python_version", "codecarbon_version", "cpu_count", "cpu_model", "gpu_count",
    "gpu_model", "longitude", "latitude", "ram_total_size", "tracking_mode", "on_cloud", "pue", "wue",
    "wattwatch_version", "start_time", "intensity_source", "hostname", "node_count", "rank_count",
    "missing_ranks", "ownership", "resumed_segments", "gpu_slice", "cpu_slice", "ram_slice",
)  # fmt: skip
"""Columns whose value a running segment's rows share (checked at each row all the same)."""
_MOVING: tuple[str, ...] = tuple(c for c in COLUMNS if c not in STEADY_COLUMNS)
_KINDS = {f.name: str(f.type) for f in dataclasses.fields(EmissionsData)}
_NUMBERS: tuple[str, ...] = tuple(c for c in _MOVING if _KINDS[c].startswith(("float", "int")))
"""Moving columns that hold numbers: their text (``repr``, ``str``, empty) is inert and short by construction,
so it skips :func:`~wattwatch.sinks.cells.bound_row` (a negative number stays a number there too)."""
_TEXTS: tuple[str, ...] = tuple(c for c in _MOVING if c not in _NUMBERS)


class RowText:
    """Call with a row: its bounded CSV text (see the module docstring)."""

    def __init__(self) -> None:
        self._values: tuple[object, ...] | None = None
        self._steady: dict[str, str] = {}

    def __call__(self, data: EmissionsData) -> dict[str, str]:
        values = tuple(getattr(data, n) for n in STEADY_COLUMNS)
        if values != self._values:
            self._steady = bound_row(data.to_row(STEADY_COLUMNS))
            self._values = values
        numbers = {}
        for name in _NUMBERS:
            value = getattr(data, name)
            numbers[name] = "" if value is None else repr(value) if type(value) is float else str(value)
        return {**self._steady, **numbers, **bound_row(data.to_row(_TEXTS))}
