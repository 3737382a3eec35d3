"""Two trackers measuring one machine at once (issue 24, item 8): said once, recorded, counted once.

Both charge the whole machine (or the same process tree and GPUs), so the time they overlap is in both rows.
A tracker learns that another one is measuring when it starts:

- another tracker of this process is running (a second ``Tracker``, a CodeCarbon-compatible tracker beside
  a callback's): found in this module's registry;
- it runs inside ``wattwatch run``, which measures the machine from outside: ``wattwatch run`` gives the
  command :data:`OUTER_RUN_ENV` (its run id). Its trackers get their own run id (``<outer>.inner``, not the
  outer run's, which ``$WATTWATCH_RUN_ID`` still carries), so their rows are visible as their own runs instead
  of being taken for a segment of the outer one;
- a machine-mode tracker of another process on this host is running (of another run: a distributed run's
  ranks share theirs and split the machine by their own rules): found in the host's registry
  (:mod:`wattwatch.run.host_registry`), where every machine-mode tracker lists itself while it runs.
  Process-mode trackers measure their own process tree only: they neither list themselves nor look.

Then it warns once, and its rows carry ``overlaps_run_id`` (the other run) and ``overlap_energy_kwh``: its own
energy (PUE applied) while the other ran -- all of it while the other still runs; frozen when the other stops
(:func:`stopped` in this process; for another process, at the first row after its entry is gone or its
process dead: one flush interval late at most). ``wattwatch report`` takes that energy off its totals when both
runs are in them.
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Protocol

from wattwatch.util.records import record

__all__ = ["OUTER_RUN_ENV", "Overlap", "remove_entries", "started", "stopped"]

OUTER_RUN_ENV = "WATTWATCH_OUTER_RUN_ID"
"""Set by ``wattwatch run`` for its command: the run id of the run measuring from outside."""


class _Roots(Protocol):
    @property
    def proc_root(self) -> Path: ...


class Measuring(Protocol):
    """What the registry reads of a tracker."""

    run_id: str

    @property
    def running(self) -> bool: ...

    @property
    def tracking_mode(self) -> str: ...

    @property
    def config(self) -> _Roots: ...


@record
class Overlap:
    """The run this one overlaps, and this run's energy when that one stopped (``None`` while it runs)."""

    run_id: str
    other: weakref.ref[Measuring] | None = None
    frozen_kwh: float | None = None
    energy_now: Callable[[], float] | None = field(default=None, repr=False)
    """This run's energy so far (kWh, PUE applied): read when the other run stops."""
    still_running: Callable[[], bool] | None = field(default=None, repr=False)
    """Whether the other run (in another process) still runs: asked at each row until it does not."""
    pid: int | None = None
    """The other run's process, when it is another one."""

    def energy_kwh(self, this_kwh: float) -> float:
        """The overlap's energy in a row whose energy is ``this_kwh`` (a row of another process's run that has
        stopped since the last row freezes it at this row's energy)."""
        if self.frozen_kwh is None and self.still_running is not None:
            try:
                if not self.still_running():
                    self.frozen_kwh = this_kwh
            except Exception:  # noqa: BLE001 - never into user code: the overlap stays "all of it"
                pass
        return this_kwh if self.frozen_kwh is None else min(self.frozen_kwh, this_kwh)


_LOCK = threading.Lock()
_RUNNING: list[tuple[weakref.ref[Measuring], int, Overlap | None, Path | None]] = []
"""Running trackers of this process: ``(tracker, pid that started it, its overlap, its host registry entry)``."""
_AT_EXIT: list[bool] = []


def started(
    tracker: Measuring,
    environ: Mapping[str, str] | None,
    energy_now: Callable[[], float],
    warn: Callable[[str, str], None] | None = None,
) -> Overlap | None:
    """Register ``tracker`` as running; returns the run it overlaps, if any (see the module docstring), said
    once through ``warn(key, message)``."""
    overlap = _register(tracker, environ, energy_now)
    if overlap is not None and warn is not None:
        where = (
            "this process" if overlap.other is not None
            else f"process {overlap.pid} on this machine" if overlap.pid is not None
            else "wattwatch run (around this program)"
        )  # fmt: skip
        warn(
            "overlap",
            f"wattwatch: run {overlap.run_id} is already measuring this machine ({where}); the energy of the time "
            f"both run is in both rows: run {tracker.run_id}'s row records overlaps_run_id and "
            "overlap_energy_kwh, and wattwatch report counts that energy once",
        )
    return overlap


def _register(
    tracker: Measuring, environ: Mapping[str, str] | None, energy_now: Callable[[], float]
) -> Overlap | None:
    pid = os.getpid()
    env = os.environ if environ is None else environ
    with _LOCK:
        _RUNNING[:] = [e for e in _RUNNING if e[0]() is not None and e[1] == pid]
        other = next((t for ref, *_ in _RUNNING if (t := ref()) is not None and t is not tracker and t.running), None)
        overlap: Overlap | None = None
        if other is not None:
            overlap = Overlap(other.run_id, weakref.ref(other), energy_now=energy_now)
        elif env.get(OUTER_RUN_ENV) and env[OUTER_RUN_ENV] != tracker.run_id:
            overlap = Overlap(env[OUTER_RUN_ENV], energy_now=energy_now)
        ref = weakref.ref(tracker)
        _RUNNING.append((ref, pid, overlap, None))  # at once: a tracker starting in another thread sees it
    if tracker.tracking_mode == "machine":  # another process's machine-mode tracker (host registry)
        path, found = _host_registry(tracker, env, energy_now, look=overlap is None)
        overlap = overlap or found
        with _LOCK:
            _RUNNING[:] = [(r, p, overlap, path) if r is ref else (r, p, o, q) for r, p, o, q in _RUNNING]
    return overlap


def _host_registry(
    tracker: Measuring, env: Mapping[str, str], energy_now: Callable[[], float], *, look: bool
) -> tuple[Path | None, Overlap | None]:
    """List ``tracker`` in the host's registry; when ``look``, the run of another process it overlaps. Any
    fault: no registry (said at debug level), the run measured as before."""
    from wattwatch.run.host_registry import HostRegistry, registry_dir

    try:
        registry = HostRegistry(registry_dir(env), proc_root=tracker.config.proc_root)
        path = registry.add(tracker.run_id, tracker.tracking_mode)
        if not _AT_EXIT:
            import atexit

            _AT_EXIT.append(True)
            atexit.register(_remove_entries)
        if not look:
            return path, None
        for entry in registry.others(exclude=path):
            if entry.tracking_mode == "machine" and entry.run_id and entry.run_id != tracker.run_id:
                alive = functools.partial(registry.still_running, entry)
                return path, Overlap(entry.run_id, energy_now=energy_now, still_running=alive, pid=entry.owner.pid)
        return path, None
    except Exception as exc:  # noqa: BLE001 - the registry is a help, never a fault of the run
        import logging

        logging.getLogger("wattwatch").debug("wattwatch: no host registry of trackers (%s)", exc)
        return None, None


def _remove_entries() -> None:
    """At exit: the host registry entries of this process's trackers still listed (not of a forked parent's)."""
    from wattwatch.run.host_registry import remove

    pid = os.getpid()
    with _LOCK:
        paths = [e[3] for e in _RUNNING if e[1] == pid and e[3] is not None]
    for path in paths:
        remove(path)


def stopped(tracker: Measuring) -> list[Path]:
    """``tracker`` stopped: forget it, and freeze the overlap of the runs that overlapped it (their energy now).
    Returns its host registry entries, for :func:`remove_entries`: ``stop()`` removes them once its row is
    written (an unlink on the row's file system would join the journal commit the row's ``fsync`` forces)."""
    with _LOCK:
        entries = list(_RUNNING)
        _RUNNING[:] = [e for e in entries if e[0]() is not tracker and e[0]() is not None]
    paths = [path for ref, pid, _, path in entries if ref() is tracker and path is not None and pid == os.getpid()]
    for ref, _, overlap, _ in entries:
        if overlap is None or overlap.other is None or overlap.other() is not tracker or overlap.frozen_kwh is not None:
            continue
        if ref() is not None and overlap.energy_now is not None:
            try:
                overlap.frozen_kwh = overlap.energy_now()
            except Exception:  # noqa: BLE001 - never into user code: the overlap stays "all of it"
                pass
    return paths


def remove_entries(paths: list[Path]) -> None:
    """Remove these host registry entries (gone already: nothing to do)."""
    if paths:
        from wattwatch.run.host_registry import remove

        for path in paths:
            remove(path)
