"""wattwatch: live energy and CO2 of machine-learning runs.

``import wattwatch`` is cheap: the public names below are loaded on first use. The packages, in the order a
sample travels (see docs/design.md):

- :mod:`wattwatch.sensors` -- hardware readers (NVML, RAPL, CPU/RAM models) behind the ``Sensor`` contract;
- :mod:`wattwatch.measure` -- the sampler thread, the ledger (joules -> kWh and CO2), the projection;
- :mod:`wattwatch.run` -- the :class:`Tracker` facade and its collaborators (config, hardware, outputs, ...);
- :mod:`wattwatch.distributed` -- one row per run across ranks and nodes;
- :mod:`wattwatch.carbon` -- grid carbon intensity and its data;
- :mod:`wattwatch.sinks` -- emissions.csv, the time series, Prometheus, the model card;
- :mod:`wattwatch.planning` -- estimates before a run; :mod:`wattwatch.cli` -- the ``wattwatch`` command;
- :mod:`wattwatch.util` -- warn-once, number and time helpers; ``result`` (:class:`EmissionsData`, the row),
  ``compat`` (CodeCarbon's names), ``errors``.
"""

from __future__ import annotations

from wattwatch.util.lazy import lazy_names

__version__ = "0.1.0"

__all__ = [
    "BudgetExceeded",
    "EmissionsData",
    "EmissionsTracker",
    "OfflineEmissionsTracker",
    "OutputMethod",
    "TaskEmissionsTracker",
    "Tracker",
    "__version__",
    "track",
    "track_emissions",
    "track_task_emissions",
]

_LAZY = {
    "Tracker": "wattwatch.run.tracker",
    "track": "wattwatch.run.tracker",
    "EmissionsTracker": "wattwatch.compat",
    "OfflineEmissionsTracker": "wattwatch.compat",
    "TaskEmissionsTracker": "wattwatch.compat",
    "track_emissions": "wattwatch.compat",
    "track_task_emissions": "wattwatch.compat",
    "OutputMethod": "wattwatch.compat",
    "EmissionsData": "wattwatch.result",
    "BudgetExceeded": "wattwatch.errors",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, __all__)
