"""Drop-in names for CodeCarbon users: change the import line, keep the code.

``EmissionsTracker``, ``OfflineEmissionsTracker`` and ``track_emissions`` take CodeCarbon 3.3.2's arguments in
its order and return what it returns; the task API (``start_task``/``stop_task``, ``TaskEmissionsTracker``,
``track_task_emissions``), output handlers and ``output_methods`` work as CodeCarbon documents them. Options that
only concern CodeCarbon's online services are named in one WARNING; options wattwatch cannot honour are rejected
at construction. The table is :data:`wattwatch.compat.options.OPTIONS` and ``docs/codecarbon.md``.
"""

from __future__ import annotations

from wattwatch.compat.decorators import TaskEmissionsTracker, track_emissions, track_task_emissions
from wattwatch.compat.outputs import LoggerOutput, OutputMethod
from wattwatch.compat.tracker import EmissionsTracker, OfflineEmissionsTracker

__all__ = [
    "EmissionsTracker",
    "LoggerOutput",
    "OfflineEmissionsTracker",
    "OutputMethod",
    "TaskEmissionsTracker",
    "track_emissions",
    "track_task_emissions",
]
