"""One tracked run: the public :class:`~wattwatch.run.tracker.Tracker` and the collaborators it is made of.

- :mod:`.tracker` -- the facade and state machine (new -> running -> stopped), ``track``; its bases
  :mod:`.settings` (the user-settable copies of the options) and :mod:`.progress` (steps, phases, evaluation
  metrics, listeners, live figures);
- :mod:`.config` -- :class:`TrackerConfig`, every option's default, validation and CLI help (one place);
- :mod:`.session` -- one started run's resources, opened and closed together:
  :mod:`.hardware` (topology, ownership, run id, sensors), the ledger and sampler (:mod:`wattwatch.measure`)
  and :mod:`.outputs` (the CSV row, the time series, Prometheus);
- :mod:`.recorder` -- the run's figures, combined across ranks, written as its journal and final row;
- :mod:`.row` -- :class:`~wattwatch.result.EmissionsData` from a ledger snapshot and the run's facts;
- :mod:`.counters` -- steps, samples, tokens and the projection; :mod:`.state` -- the ``state_dict`` format;
- :mod:`.process` -- SIGTERM/SIGINT, interpreter exit and ``fork()``; :mod:`.notices` -- what start and stop log.
"""
