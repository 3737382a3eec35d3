"""Where a run's numbers go, one module per format, each format with one reader used by every command:

- :mod:`.csv` -- ``emissions.csv`` rows (upsert under a lock, atomic files, CSV-injection guard, ``read_rows``);
- :mod:`.timeseries` -- the per-sample time series, its writer and its reader;
- :mod:`.prometheus` -- the pull ``/metrics`` endpoint; :mod:`.modelcard` -- the model-card section.
"""

__all__: list[str] = []
