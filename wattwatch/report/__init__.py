"""HTML run reports: :func:`load_report` reads runs (rows and time series) into a :class:`Report`,
:func:`write_html` writes it as one self-contained page (``wattwatch report PATH --html FILE``).

The names are imported on first use, so that ``wattwatch report`` without ``--html`` (which uses
:mod:`wattwatch.report.rollup`) does not load the page's modules."""

from __future__ import annotations

from wattwatch.util.lazy import lazy_names

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


__getattr__, __dir__ = lazy_names(__name__, _HOME, __all__)
