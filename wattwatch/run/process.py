"""The process around a run: SIGTERM/SIGINT, interpreter exit and ``fork()``.

- Signals: :class:`ProcessGuard` records the run as ``interrupted`` and then hands the signal to the handler
  the program had before (or re-raises it with the default action), so wattwatch never swallows a signal.
- Exit: a run still going at interpreter exit is stopped with the status the program's end gives
  (:func:`ending_status`).

How a run's status follows from how it ended -- the same rule for ``with Tracker():``, ``start()`` left to
interpreter exit, and ``wattwatch run``: normal end or exit code 0 -> ``completed``; an uncaught exception or a
non-zero exit code -> ``failed``; SIGINT, SIGTERM or ``KeyboardInterrupt`` -> ``interrupted``; ``kill -9`` ->
the totals of the last flush, written ``interrupted`` by the next opener of the folder. At exit, Python tells an ``atexit`` function about an uncaught exception
(``sys.last_value``) but not about the code given to ``sys.exit(n)``, so while a run is going ``sys.exit`` is
wrapped (:func:`watch_exit_code`; main-thread calls only) to remember it. A bare ``raise SystemExit(3)`` at
module level outside any ``with`` (or an ``exit`` bound with ``from sys import exit`` before ``start()``) is
invisible to Python's hooks and counts as ``completed``; inside ``with Tracker():`` it is seen like any other
exception.
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

__all__ = [
    "ForkAware",
    "ProcessGuard",
    "code_of",
    "ending_status",
    "status_for_exception",
    "unwatch_exit_code",
    "watch_exit_code",
    "watch_forks",
]

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


def code_of(status: object) -> int:
    """The process exit code ``sys.exit(status)`` gives: ``None`` -> 0, an int -> itself, anything else -> 1."""
    if status is None:
        return 0
    if isinstance(status, int) and not isinstance(status, bool):
        return status
    return 1


def status_for_exception(exc_type: type[BaseException] | None, exc: BaseException | None) -> str:
    """The status of a run whose ``with`` block (or decorated call) ended with ``exc`` (``None``: normally)."""
    if exc_type is None:
        return "completed"
    if issubclass(exc_type, KeyboardInterrupt):
        return "interrupted"
    if issubclass(exc_type, SystemExit):
        return "completed" if code_of(getattr(exc, "code", None)) == 0 else "failed"
    return "failed"


_EXIT: dict[str, Any] = {"code": None, "original": None, "wrapper": None, "watchers": 0}


def ending_status() -> str:
    """The status of a run still going when the interpreter exits (called from ``atexit``)."""
    last = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if last is not None:
        return status_for_exception(type(last), last)
    code = _EXIT["code"]
    return "completed" if code is None or code == 0 else "failed"


def watch_exit_code() -> None:
    """Wrap ``sys.exit`` so the code the main thread gives it is remembered for :func:`ending_status`. Counted:
    each call needs one :func:`unwatch_exit_code`."""
    _EXIT["watchers"] += 1
    if _EXIT["wrapper"] is not None and sys.exit is _EXIT["wrapper"]:
        return
    original = sys.exit

    def exit(status: object = None, /) -> Any:  # the name users see in tracebacks
        if threading.current_thread() is threading.main_thread():
            _EXIT["code"] = code_of(status)
        return original(status)  # type: ignore[arg-type]

    exit.__doc__ = original.__doc__
    _EXIT.update(original=original, wrapper=exit, code=None)
    sys.exit = exit


def unwatch_exit_code() -> None:
    """Undo one :func:`watch_exit_code`; the last one puts the original ``sys.exit`` back (if ours is still
    the one installed)."""
    _EXIT["watchers"] = max(0, _EXIT["watchers"] - 1)
    if _EXIT["watchers"]:
        return
    if _EXIT["wrapper"] is not None and sys.exit is _EXIT["wrapper"]:
        sys.exit = _EXIT["original"]
    _EXIT.update(original=None, wrapper=None)


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
        self._watching = False

    def install(self, *, handle_signals: bool) -> None:
        """Take over SIGTERM/SIGINT (when ``handle_signals`` and in the main thread) and register the exit hook."""
        if handle_signals:
            self._install_signal_handlers()
        if not self._watching:
            watch_exit_code()
            self._watching = True
        atexit.register(self.at_exit)

    def remove(self) -> None:
        """Give the signals back to the previous handlers and drop the exit hook."""
        self.restore_signal_handlers()
        if self._watching:
            unwatch_exit_code()
            self._watching = False
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
        """Interpreter exit with the run still going: stop it with the status the program's end gives."""
        if self._running() and os.getpid() == self._owner_pid():
            self._stop(ending_status())
