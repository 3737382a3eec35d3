"""Where a run's numbers go, one module per format, each format with one reader used by every command:

- :mod:`.emissions_file` -- ``emissions.csv``: rows appended in place under a lock (O(1) in its history), in the
  file's own dialect (:mod:`.csv_layout`), after a damaged last row is closed off (:mod:`.csv_tail`), and the
  tolerant streaming reader (:mod:`.emissions_reader`, rows bounded by :mod:`.lines`); :mod:`.journal` -- a
  running run's live state and the rows of runs whose process is gone (the format and its reader:
  :mod:`.journal_file`); :mod:`.cells` -- inert, UTF-8, bounded cells; :mod:`.files` -- replaceable system
  calls, creation without following links, atomic replacement, locks; :mod:`.csv` -- the historical names;
- :mod:`.timeseries` -- the per-sample time series, its writer and its reader;
- :mod:`.prometheus` -- the pull ``/metrics`` endpoint (served by :mod:`.metrics_server`); :mod:`.modelcard` --
  the model-card section.

Every file these read is outside data (``docs/security.md``).
"""

__all__: list[str] = []
