"""Defaults shared by the Tracker's signature and its config, in a module that imports nothing."""

__all__ = ["DEFAULT_FLUSH_EVERY_S"]

DEFAULT_FLUSH_EVERY_S = 10.0
"""Seconds between atomic rewrites of the run's row (and of the time series' buffer): a ``kill -9`` loses at
most this much. Each rewrite costs about a millisecond of CPU; see benchmarks/RESULTS.md, figure 4. Here (not in
:mod:`.config`) so that ``from wattwatch import Tracker`` does not import the config's dataclasses."""
