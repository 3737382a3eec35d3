"""The process around a run: SIGTERM/SIGINT, interpreter exit and ``fork()``.

- Signals: :class:`ProcessGuard` records the run as ``interrupted`` and then hands the signal to the handler
  the program had before (or re-raises it with the default action), so wattwatch never swallows a signal.
- Exit: a run still going at interpreter exit is stopped (``failed`` when an uncaught exception ended it).
- Fork: a child process inherits the parent's trackers but not their sampler threads; every live tracker is
  told (``after_fork_in_child``) so the child never writes the parent's row and never waits on a lock the
  parent's sampler held at the fork.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

__all__ = ["ForkAware", "ProcessGuard", "watch_forks"]

log = logging.getLogger("wattwatch")


class ForkAware(Protocol):
    """What :func:`watch_forks` needs: a hook run in the child after ``fork()``."""

    def _after_fork_in_child(self) -> None: ...


_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()


def watch_forks(owner: ForkAware) -> None:
    """Call ``owner._after_fork_in_child()`` in every child forked while ``owner`` lives."""
    _LIVE.add(owner)


def _after_fork_in_child() -> None:
    for owner in list(_LIVE):
        owner._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class ProcessGuard:
    """Signal handlers and the exit hook of one run.

    ``stop(status)`` ends the run; ``running()`` says whether it is still going; ``owner_pid()`` is the process
    that started it (a forked child never stops its parent's run).
    """

    def __init__(
        self,
        stop: Callable[[str], object],
        running: Callable[[], bool],
        owner_pid: Callable[[], int],
    ) -> None:
        self._stop = stop
        self._running = running
        self._owner_pid = owner_pid
        self._prev_handlers: dict[int, Any] = {}

    def install(self, *, handle_signals: bool) -> None:
        """Take over SIGTERM/SIGINT (when ``handle_signals`` and in the main thread) and register the exit hook."""
        if handle_signals:
            self._install_signal_handlers()
        atexit.register(self.at_exit)

    def remove(self) -> None:
        """Give the signals back to the previous handlers and drop the exit hook."""
        self.restore_signal_handlers()
        try:
            atexit.unregister(self.at_exit)
        except Exception:  # pragma: no cover - atexit never raises here
            pass

    def forget(self) -> None:
        """After a fork: the child keeps whatever handlers it has, and never restores the parent's."""
        self._prev_handlers.clear()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            log.debug("wattwatch: not in the main thread; SIGTERM/SIGINT will not be recorded as interrupted")
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._prev_handlers[sig] = signal.getsignal(sig)
                signal.signal(sig, self.on_signal)
            except (ValueError, OSError):  # pragma: no cover - exotic embedders
                self._prev_handlers.pop(sig, None)

    def restore_signal_handlers(self) -> None:
        """Put back the handlers found at :meth:`install` (only where ours is still the one installed)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, previous in list(self._prev_handlers.items()):
            try:
                if signal.getsignal(sig) == self.on_signal:
                    signal.signal(sig, previous)
            except (ValueError, OSError):  # pragma: no cover
                pass
        self._prev_handlers.clear()

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Record ``interrupted``, then let the program's previous handler (or the default action) have it."""
        previous = self._prev_handlers.get(signum, signal.SIG_DFL)
        if os.getpid() == self._owner_pid():
            try:
                self._stop("interrupted")
            except Exception as exc:  # pragma: no cover - stop() already guards its I/O
                log.warning("wattwatch: could not record the interruption: %r", exc)
        self.restore_signal_handlers()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        # SIG_IGN: the program chose to ignore it; so do we.

    def at_exit(self) -> None:
        """Interpreter exit with the run still going: stop it (``failed`` after an uncaught exception)."""
        if self._running() and os.getpid() == self._owner_pid():
            failed = getattr(sys, "last_value", None) is not None or getattr(sys, "last_exc", None) is not None
            self._stop("failed" if failed else "completed")
