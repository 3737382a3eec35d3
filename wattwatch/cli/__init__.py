"""The ``wattwatch`` command line.

- :mod:`.main` -- the entry point and sub-command dispatch (one line per error, exit code 2 for bad usage);
- :mod:`.options` -- the tracker options, generated from :class:`~wattwatch.run.config.TrackerConfig`;
- :mod:`.live` -- the live view (a refreshed line on a terminal, log lines otherwise);
- :mod:`.commands` -- one module per sub-command (run, report, merge, plot, compare, regions, estimate,
  schedule).
"""

from wattwatch.cli.main import main

__all__ = ["main"]
