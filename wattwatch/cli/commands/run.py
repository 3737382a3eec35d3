"""``wattwatch run [tracker options] -- CMD ARGS...``: run a command under a tracker.

The command inherits stdin, stdout and stderr. SIGTERM (and SIGINT sent with ``kill``) given to wattwatch is
forwarded to the command; a Ctrl-C typed at the terminal already reaches the command (same process group), so it
is not sent twice. wattwatch exits with the command's exit code (a command killed by signal N: 128 + N, as a
shell does) and writes the run's row with the status the command's fate gives:

- exit 0 -> ``completed``; any other exit code, or killed by another signal (SIGKILL from the OOM killer,
  SIGSEGV...) -> ``failed``;
- the command ended after wattwatch forwarded SIGTERM/SIGINT to it, or was itself ended by SIGINT/SIGTERM (a
  Python command's uncaught ``KeyboardInterrupt`` ends it by SIGINT) or exited 130/143 (a shell's code for
  those) -> ``interrupted``. The same rule as the library's (see ``wattwatch.Tracker``).

If wattwatch itself is killed with SIGKILL, the run keeps the totals of its last flush (``--flush-every-s``),
shown ``running`` until the next wattwatch process in the folder finds wattwatch gone and writes the row
``interrupted``; the command goes on as an orphan, as under a shell.

Machine mode (default) measures the whole host from before the command starts; ``--tracking-mode process``
measures the command's process tree (the tracker starts right after the command is spawned).

Acting on carbon (docs/acting.md): ``--carbon-budget-kg`` / ``--energy-budget-kwh`` stop the command past its
budget (SIGINT, then SIGTERM and SIGKILL after ``--budget-grace-s``; status ``budget-stopped``);
``--pause-above G --deadline T`` with ``--total-steps`` suspends it (SIGSTOP/SIGCONT) while the grid is dirty
and the deadline allows.

Progress: the command finds in ``$WATTWATCH_STEPS_FILE`` a file where it may write its current step number (the
whole file, e.g. ``open(p, "w").write(str(step))``); with ``--total-steps`` the live view projects the run's
final energy and CO2 from it, and the row records the step count.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from wattwatch.cli.options import add_tracker_options, tracker_kwargs
from wattwatch.errors import UsageError

if TYPE_CHECKING:
    from wattwatch.result import EmissionsData
    from wattwatch.run.tracker import Tracker

__all__ = ["HELP", "STEPS_FILE_ENV", "add_arguments", "exit_code", "run", "status_for"]

HELP = "Run a command under a tracker: wattwatch run [options] -- python train.py"

STEPS_FILE_ENV = "WATTWATCH_STEPS_FILE"
"""Environment variable naming the file where the command may write its current step number."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Tracker options (kebab case), live-view options, then the command after ``--``."""
    view = parser.add_argument_group("live view")
    view.add_argument("--quiet", "-q", action="store_true", help="no live view and no summary line")
    view.add_argument(
        "--log-every-s",
        type=float,
        default=60.0,
        metavar="S",
        help="when stderr is not a terminal: seconds between progress lines (default 60)",
    )
    view.add_argument(
        "--refresh-s", type=float, default=1.0, metavar="S", help="on a terminal: seconds between redraws"
    )
    add_tracker_options(parser)
    acting = parser.add_argument_group("acting on carbon (docs/acting.md)")
    acting.add_argument(
        "--pause-above",
        dest="tracker_pause_above_g_per_kwh",
        type=float,
        default=argparse.SUPPRESS,
        metavar="G_PER_KWH",
        help="same as --pause-above-g-per-kwh: SIGSTOP the command while the grid is above this, SIGCONT after",
    )
    acting.add_argument(
        "--budget-grace-s",
        type=float,
        default=30.0,
        metavar="S",
        help="past a budget: seconds between SIGINT and SIGTERM, and between SIGTERM and SIGKILL (default 30)",
    )
    parser.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ARGS", help="the command to run")


def status_for(returncode: int, forwarded: int | None) -> str:
    """The run's status from the command's ``returncode`` (negative: killed by that signal, as Popen reports)
    and the signal wattwatch forwarded to it, if any."""
    if forwarded is not None:
        return "interrupted"
    if returncode in _INTERRUPTED_CODES:
        return "interrupted"
    return "completed" if returncode == 0 else "failed"


_INTERRUPTED_CODES = frozenset(
    {-signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGINT, 128 + signal.SIGTERM}
)
"""Return codes of a command ended by SIGINT/SIGTERM: killed by it (negative, as Popen reports) or a shell's
128 + N."""


def exit_code(returncode: int) -> int:
    """wattwatch's exit code for a Popen ``returncode``: itself, or 128 + N for a command killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


class _StepsFile:
    """Reads the step number the command writes to ``path`` (at most every ``every_s`` seconds)."""

    def __init__(self, path: Path, every_s: float = 0.5) -> None:
        self.path = path
        self.every_s = every_s
        self._next = 0.0
        self._mtime = 0.0

    def __call__(self, tracker: Tracker, t: float) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every_s
        self.poll(tracker)

    def poll(self, tracker: Tracker) -> None:
        try:
            st = self.path.stat()
            if st.st_mtime == self._mtime or st.st_size == 0:
                return
            text = self.path.read_text().strip()
            self._mtime = st.st_mtime
            steps = int(float(text.split()[-1]))
        except (OSError, ValueError, IndexError):
            return
        if steps >= 0:
            tracker.set_counts(steps=steps)

    def remove(self) -> None:
        try:
            self.path.unlink()
        except OSError:
            pass


def _terminal_delivers_sigint() -> bool:
    """True when we and the command are the terminal's foreground group: a typed Ctrl-C reaches both."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def _command(args: argparse.Namespace) -> list[str]:
    """The command to run (after ``--``), checked before anything starts: ``UsageError`` saying what to fix."""
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("give the command to run after --, e.g. wattwatch run -- python train.py")
    if not args.log_every_s > 0 or not args.refresh_s > 0:
        raise UsageError("--log-every-s and --refresh-s must be positive numbers of seconds")
    if not getattr(args, "budget_grace_s", 30.0) >= 0:
        raise UsageError("--budget-grace-s must be a number of seconds >= 0")
    if shutil.which(cmd[0]) is None:
        raise UsageError(f"cannot run {cmd[0]!r}: no such program (not on PATH, or not executable)")
    return cmd


class _Forwarder:
    """SIGINT/SIGTERM handler that passes signals on to the command (held until it exists) and remembers them
    (the first one decides the run's status)."""

    def __init__(self) -> None:
        self.forwarded: list[int] = []
        self._child: subprocess.Popen[bytes] | None = None
        self._pending: list[int] = []

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and _terminal_delivers_sigint():
            self.forwarded.append(signum)  # the terminal sent it to the command too
            return
        self.forwarded.append(signum)
        child = self._child
        if child is None:
            self._pending.append(signum)
            return
        try:
            child.send_signal(signum)
        except (ProcessLookupError, OSError):
            pass

    def attach(self, child: subprocess.Popen[bytes]) -> None:
        """Forward to ``child`` from now on, starting with the signals that came before it existed."""
        self._child = child
        for signum in self._pending:
            child.send_signal(signum)


def _summary(tracker: Tracker, data: EmissionsData | None, status: str, returncode: int) -> str | None:
    """The live view's last line: status, exit code, energy and CO2eq (in units that read at a glance: 12.4 J,
    3.2 kWh; 1.3 mg, 2.1 kg), seconds, run id and the CSV written."""
    if data is None:
        return None
    from wattwatch.report.history import energy_text, mass_text

    return (
        f"{status} (exit {exit_code(returncode)}): {energy_text(data.energy_consumed)}, "
        f"{mass_text(data.emissions)} CO2eq in {data.duration:.1f} s; run {data.run_id}"
        + (f" -> {tracker.output_path}" if tracker.save_to_file else "")
    )


def run(args: argparse.Namespace) -> int:
    """Run the command, track it, write its row; return its exit code."""
    from wattwatch.run.tracker import Tracker

    cmd = _command(args)
    kwargs = tracker_kwargs(args)
    if kwargs.get("on_budget") == "raise":  # a command cannot be raised into: stopping it is the nearest thing
        kwargs["on_budget"] = "stop"
    process_mode = kwargs.get("tracking_mode") == "process"
    if args.quiet:  # --quiet: not even the advice to set a location (real faults still print)
        logging.getLogger("wattwatch.location").setLevel(logging.ERROR)
    tracker = Tracker(**kwargs, handle_signals=False)

    fd, steps_name = tempfile.mkstemp(prefix="wattwatch-steps-", suffix=".txt")
    os.close(fd)
    steps = _StepsFile(Path(steps_name))
    env = dict(os.environ)
    env[STEPS_FILE_ENV] = steps_name
    env["WATTWATCH_RUN_ID"] = tracker.run_id
    env["WATTWATCH_OUTER_RUN_ID"] = tracker.run_id  # a Tracker in the command: its own run, its overlap said

    signals = _Forwarder()
    previous = {s: signal.signal(s, signals.on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    view = None
    governor = None
    try:
        if not process_mode:
            tracker.start()
        try:
            child = subprocess.Popen(cmd, env=env)
        except OSError as exc:
            if tracker.running:
                tracker.stop("failed")
            raise UsageError(f"cannot run {cmd[0]!r}: {exc.strerror or exc}") from None
        signals.attach(child)
        if process_mode:
            tracker.pid = child.pid
            try:
                tracker.start()
            except BaseException:
                child.terminate()
                child.wait()
                raise
        tracker.add_listener(steps)
        if tracker.policy is not None:  # budgets and the pause rule act on the command (policy/command.py)
            from wattwatch.policy.command import CommandGovernor

            governor = CommandGovernor(tracker.policy, child, grace_s=getattr(args, "budget_grace_s", 30.0)).start()
        if not args.quiet:
            from wattwatch.cli.live import LiveView

            view = LiveView(
                tracker, sys.stderr, refresh_s=args.refresh_s, log_every_s=args.log_every_s
            ).start()
        returncode = child.wait()
        if governor is not None:
            governor.close()
        steps.poll(tracker)
        status = status_for(returncode, signals.forwarded[0] if signals.forwarded else None)
        data = tracker.stop(status)
        if view is not None:
            view.stop(_summary(tracker, data, data.status if data is not None else status, returncode))
        return exit_code(returncode)
    finally:
        if governor is not None:
            governor.close()
        if view is not None:
            view.stop()
        if tracker.running:  # an error of ours after the command started
            tracker.stop("failed")
        for s, h in previous.items():
            signal.signal(s, h)
        steps.remove()
