"""The policy's hand on a command run by ``wattwatch run``: :class:`CommandGovernor`.

- **Budget** (``on_budget`` ``stop`` or ``raise``): once the run is past its budget (the live total, looked at
  every :data:`BUDGET_POLL_S`, or the sampler's tick), SIGINT to the
  command (a Python script gets ``KeyboardInterrupt``: its ``finally`` blocks and checkpoint-on-interrupt code
  run), SIGTERM after ``grace_s`` seconds if it is still there, SIGKILL to it and its descendants after as much
  again. The row's status is ``budget-stopped``.
- **Pause** (``pause_above_g_per_kwh`` + ``deadline`` + ``total_steps`` from the steps file): every
  ``check_every_s`` the pause rule is asked; to wait, the command and every descendant get SIGSTOP (the phase
  becomes ``paused``; the host's idle draw is measured), and SIGCONT when the rule says run, the deadline
  forces it, or the run ends. Caveats (docs/acting.md): a stopped process keeps its GPU memory, and the other
  nodes of a multi-node job are not stopped -- their collectives can time out.

Units: seconds.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from wattwatch.policy.policy import CarbonPolicy

__all__ = ["ChildProcess", "CommandGovernor"]

log = logging.getLogger("wattwatch")

BUDGET_POLL_S = 0.05
"""Seconds between two looks at the live total when the run has a budget (O(1) each; a reading only when the
estimate reaches the budget), so the command is stopped within ~50 ms of the crossing, not at the next tick."""


class ChildProcess(Protocol):
    """What the governor needs of the command (a ``subprocess.Popen``)."""

    pid: int

    def poll(self) -> int | None: ...
    def send_signal(self, sig: int) -> None: ...


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (parents first), as far as they can be seen."""
    try:
        import psutil

        return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except Exception:  # noqa: BLE001 - gone, or psutil missing: the command alone
        return [pid]


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


class CommandGovernor:
    """Applies ``policy`` to ``child`` on a daemon thread (see the module doc); :meth:`close` when the command
    has ended (resumes a stopped tree first)."""

    def __init__(
        self, policy: CarbonPolicy, child: ChildProcess, *, grace_s: float = 30.0, check_every_s: float = 0.5
    ) -> None:
        self.policy = policy
        self.child = child
        self.grace_s = grace_s
        self.check_every_s = check_every_s
        self.signals: list[int] = []
        """Signals sent to the command because of the budget, in order."""
        self.pauses = 0
        self._over = threading.Event()
        self._done = threading.Event()
        self._paused: list[int] = []
        self._thread = threading.Thread(target=self._loop, name="wattwatch-governor", daemon=True)

    def start(self) -> CommandGovernor:
        self.policy.add_budget_listener(self._on_budget)
        self._thread.start()
        return self

    def _on_budget(self) -> None:
        if self.policy.should_stop:  # on_budget="warn": the command goes on
            self._over.set()

    def close(self) -> None:
        self._done.set()
        self._over.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5.0)
        self._resume()

    def _loop(self) -> None:
        stage = 0  # signals sent: 0 none, 1 SIGINT, 2 SIGTERM, 3 SIGKILL
        due = next_pause_check = 0.0
        while not self._done.is_set():
            now = time.monotonic()
            if stage == 0 and self._over.is_set():
                self._resume()
                stage, due = self._send(signal.SIGINT), now + self.grace_s
            elif stage in (1, 2) and now >= due and self.child.poll() is None:
                stage, due = self._send(signal.SIGTERM if stage == 1 else signal.SIGKILL), now + self.grace_s
            if stage == 0:
                if now >= next_pause_check:
                    self._pause_or_resume()
                    next_pause_check = now + self.check_every_s
                if self.policy.guard is not None and self.policy.over_budget:  # the live total, between ticks
                    self._on_budget()
                self._over.wait(BUDGET_POLL_S if self.policy.guard is not None else self.check_every_s)
            else:
                self._done.wait(min(0.2, max(0.01, due - time.monotonic())))

    def _send(self, sig: int) -> int:
        """Send ``sig`` (SIGKILL: to the whole tree); returns the escalation stage it makes."""
        stage = 1 if sig == signal.SIGINT else 2 if sig == signal.SIGTERM else 3
        if self.child.poll() is not None:
            return stage
        self.signals.append(sig)
        name = signal.Signals(sig).name
        log.warning("wattwatch: sending %s to the command (pid %d): past its budget", name, self.child.pid)
        if sig == signal.SIGKILL:
            _signal_all(_tree(self.child.pid), sig)
        else:
            try:
                self.child.send_signal(sig)
            except OSError:
                pass
        return stage

    def _pause_or_resume(self) -> None:
        decision = self.policy.decide_pause()
        if decision.pause and not self._paused and self.child.poll() is None:
            self._paused = _tree(self.child.pid)
            _signal_all(self._paused, signal.SIGSTOP)
            self.pauses += 1
            self.policy.begin_pause(decision)
        elif not decision.pause and self._paused:
            self._resume()

    def _resume(self) -> None:
        if self._paused:
            _signal_all(list(reversed(self._paused)), signal.SIGCONT)
            self._paused = []
            self.policy.end_pause()
