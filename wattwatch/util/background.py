"""Run one call in a daemon thread while the caller does something else, then take its result.

Used to open NVML (``nvmlInit`` takes from milliseconds to seconds on a real node, inside the driver with the GIL
released) while the CPU and RAM sensors open in the calling thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Background"]

T = TypeVar("T")


class Background(Generic[T]):
    """``fn()`` started in a daemon thread named ``name``; :meth:`result` waits for it and returns its value or
    raises what it raised. Where no thread can be started, ``fn()`` runs at once in the calling thread."""

    def __init__(self, fn: Callable[[], T], *, name: str) -> None:
        self._fn = fn
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = threading.Thread(target=self._run, name=name, daemon=True)
        try:
            self._thread.start()
        except RuntimeError:  # "can't start new thread": a process at its thread limit
            self._thread = None
            self._run()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self._error = exc

    def result(self) -> T:
        """The call's return value (waits for it); re-raises its exception in the calling thread."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
