"""Defaults shared by the Tracker's signature and its config, in a module that imports nothing."""

__all__ = ["DEFAULT_FLUSH_EVERY_S"]

DEFAULT_FLUSH_EVERY_S = 10.0
"""The most a ``kill -9`` may lose (s): the run's journal gets a line often enough that the data on disk is never
older than ``max(2 s, 10 % of the time elapsed)``, and never older than this (issue 24; the grid is
:class:`wattwatch.run.outputs.FlushGrid`): every 2 s for the first 20 s, then 10 % of the elapsed time, every
10 s from 100 s on. A flush appends one line to the journal (no temporary file, no rename: about 0.6 ms of CPU
with the row built, benchmarks/RESULTS.md figure 4), so flushing as often as before the default was moved to
30 s (to meet figure 4 with a costlier flush) still meets figure 4. Here (not in :mod:`.config`) so that ``from wattwatch import Tracker`` does not import the config's
dataclasses."""
