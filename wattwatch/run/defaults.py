"""Defaults shared by the Tracker's signature and its config, in a module that imports nothing."""

__all__ = ["DEFAULT_FLUSH_EVERY_S"]

DEFAULT_FLUSH_EVERY_S = 30.0
"""Seconds between atomic rewrites of the run's journal (and of the time series' buffer), on a fixed grid from
the start: a ``kill -9`` loses at most this much plus one sampling interval. Each rewrite costs about a
millisecond of CPU on a 1 s tick's cold caches, whatever the history of emissions.csv (benchmarks/RESULTS.md,
figure H1): at 10 s that was a quarter of the tracker's CPU (figure 4: 1.80 CPU s/h at 10 s, 1.46 at 30 s), for
no gain a training run would see; ``flush_every_s=10`` (or ``--flush-every-s``) brings the shorter bound back. Here (not in
:mod:`.config`) so that ``from wattwatch import Tracker`` does not import the config's dataclasses."""
