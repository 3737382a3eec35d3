"""Defaults shared by the Tracker's signature and its config, in a module that imports nothing."""

__all__ = ["DEFAULT_FLUSH_EVERY_S"]

DEFAULT_FLUSH_EVERY_S = 30.0
"""The most a ``kill -9`` may lose (s): the run's journal gets a line often enough that the data on disk is never
older than ``max(2 s, 10 % of the time elapsed)``, and never older than this (issue 24; the grid is
:class:`wattwatch.run.outputs.FlushGrid`): every 2 s for the first 20 s, then 10 % of the elapsed time, every
30 s from 300 s on. A flush appends one line to the journal (no temporary file, no rename: about 0.6 ms of CPU
with the row built, benchmarks/RESULTS.md figure 4), so the dense start costs no more than the fixed 30 s grid
did. Here (not in :mod:`.config`) so that ``from wattwatch import Tracker`` does not import the config's
dataclasses."""
