"""Log a warning once per key: a fault that repeats every tick is reported once, not every second."""

from __future__ import annotations

import logging

__all__ = ["WarnOnce"]


class WarnOnce:
    """``warn(key, message)`` logs ``message`` at WARNING the first time ``key`` is seen; later calls are silent.

    ``reset()`` forgets every key (a new run reports its faults again).
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger if logger is not None else logging.getLogger("wattwatch")
        self._seen: set[str] = set()

    def __call__(self, key: str, message: str) -> None:
        if key not in self._seen:
            self._seen.add(key)
            self._log.warning(message)

    warn = __call__

    def reset(self) -> None:
        self._seen = set()

    def seen(self, key: str) -> bool:
        """Whether ``key`` was already reported."""
        return key in self._seen
