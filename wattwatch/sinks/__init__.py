"""Where a run's numbers go, one module per format, each format with one reader used by every command:

- :mod:`.emissions_file` -- ``emissions.csv``: rows appended in place under a lock (O(1) in its history), in the
  file's own dialect (:mod:`.csv_layout`), and the tolerant streaming reader; :mod:`.journal` -- a running run's
  live state and the rows of runs whose process is gone; :mod:`.cells` -- inert, UTF-8, bounded cells;
  :mod:`.files` -- replaceable system calls, atomic replacement, locks; :mod:`.csv` -- the historical names;
- :mod:`.timeseries` -- the per-sample time series, its writer and its reader;
- :mod:`.prometheus` -- the pull ``/metrics`` endpoint; :mod:`.modelcard` -- the model-card section.
"""

__all__: list[str] = []
