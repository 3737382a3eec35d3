"""HTML run reports: :func:`load_report` reads runs (rows and time series) into a :class:`Report`,
:func:`write_html` writes it as one self-contained page (``wattwatch report PATH --html FILE``)."""

from wattwatch.report.html import render, write_html
from wattwatch.report.runs import Report, RunSeries, RunSummary, load_report, pareto_front

__all__ = ["Report", "RunSeries", "RunSummary", "load_report", "pareto_front", "render", "write_html"]
