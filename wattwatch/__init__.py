"""wattwatch: live energy and CO2 of machine-learning runs.

``import wattwatch`` is cheap: the public names below are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = [
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
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wattwatch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
