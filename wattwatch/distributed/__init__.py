"""One total per run, however many processes and nodes measured it.

- :mod:`.topology` -- who this process is (rank, node, launcher run id) and which hardware it owns;
- :mod:`.parts` -- a rank's own totals (a *part*), its JSON format and its files;
- :mod:`.combine` -- the pure function that makes the run's totals from its parts;
- :mod:`.exchange` -- parts through the process group's key-value store;
- :mod:`.merge` -- the run's row, the per-node side file, ``wattwatch merge``;
- :mod:`.aggregator` -- the tracker's helper that ties them together, seeing the run through ``RunView``.
"""
