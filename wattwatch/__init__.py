"""wattwatch: live energy and CO2 of machine-learning runs.

``import wattwatch`` is cheap: the public names below are loaded on first use.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~10 ms on a fresh interpreter: only type checkers read these
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

__all__ = [
    "EmissionsData",
    "EmissionsTracker",
    "OfflineEmissionsTracker",
    "Tracker",
    "__version__",
    "track",
]

_LAZY = {
    "Tracker": "wattwatch.run.tracker",
    "track": "wattwatch.run.tracker",
    "EmissionsTracker": "wattwatch.compat",
    "OfflineEmissionsTracker": "wattwatch.compat",
    "EmissionsData": "wattwatch.result",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wattwatch' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
