"""Defaults shared by the Tracker's signature and its config, in a module that imports nothing."""

__all__ = ["DEFAULT_FLUSH_EVERY_S"]

DEFAULT_FLUSH_EVERY_S = 10.0
"""Seconds between atomic rewrites of the run's journal (and of the time series' buffer), on a fixed grid from
the start: a ``kill -9`` loses at most this much plus one sampling interval. Each rewrite costs a fraction of a
millisecond of CPU, whatever the history of emissions.csv; see benchmarks/RESULTS.md, figure H1. Here (not in
:mod:`.config`) so that ``from wattwatch import Tracker`` does not import the config's dataclasses."""
