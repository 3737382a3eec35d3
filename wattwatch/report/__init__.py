"""HTML run reports: :func:`load_report` reads runs (rows and time series) into a :class:`Report`,
:func:`write_html` writes it as one self-contained page (``wattwatch report PATH --html FILE``).

The names are imported on first use, so that ``wattwatch report`` without ``--html`` (which uses
:mod:`wattwatch.report.rollup`) does not load the page's modules."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Report", "RunSeries", "RunSummary", "load_report", "pareto_front", "render", "write_html"]

_HOME = {
    "render": "wattwatch.report.html",
    "write_html": "wattwatch.report.html",
    "Report": "wattwatch.report.runs",
    "RunSeries": "wattwatch.report.runs",
    "RunSummary": "wattwatch.report.runs",
    "load_report": "wattwatch.report.runs",
    "pareto_front": "wattwatch.report.runs",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'wattwatch.report' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
