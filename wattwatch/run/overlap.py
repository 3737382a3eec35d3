"""Two trackers measuring one machine at once (issue 24, item 8): said once, recorded, counted once.

Both charge the whole machine (or the same process tree and GPUs), so the time they overlap is in both rows.
A tracker learns that another one is measuring when it starts:

- another tracker of this process is running (a second ``Tracker``, a CodeCarbon-compatible tracker beside
  a callback's): found in this module's registry;
- it runs inside ``wattwatch run``, which measures the machine from outside: ``wattwatch run`` gives the
  command :data:`OUTER_RUN_ENV` (its run id). Its trackers get their own run id (``<outer>.inner``, not the
  outer run's, which ``$WATTWATCH_RUN_ID`` still carries), so their rows are visible as their own runs instead
  of being taken for a segment of the outer one.

Then it warns once, and its rows carry ``overlaps_run_id`` (the other run) and ``overlap_energy_kwh``: its own
energy (PUE applied) while the other ran -- all of it while the other still runs; frozen when the other stops
(:func:`stopped`). ``wattwatch report`` takes that energy off its totals when both runs are in them.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["OUTER_RUN_ENV", "Overlap", "started", "stopped"]

OUTER_RUN_ENV = "WATTWATCH_OUTER_RUN_ID"
"""Set by ``wattwatch run`` for its command: the run id of the run measuring from outside."""


class Measuring(Protocol):
    """What the registry reads of a tracker."""

    run_id: str

    @property
    def running(self) -> bool: ...


@dataclass
class Overlap:
    """The run this one overlaps, and this run's energy when that one stopped (``None`` while it runs)."""

    run_id: str
    other: weakref.ref[Measuring] | None = None
    frozen_kwh: float | None = None
    energy_now: Callable[[], float] | None = field(default=None, repr=False)
    """This run's energy so far (kWh, PUE applied): read when the other run stops."""

    def energy_kwh(self, this_kwh: float) -> float:
        """The overlap's energy in a row whose energy is ``this_kwh``."""
        return this_kwh if self.frozen_kwh is None else min(self.frozen_kwh, this_kwh)


_LOCK = threading.Lock()
_RUNNING: list[tuple[weakref.ref[Measuring], int, Overlap | None]] = []
"""Running trackers of this process: ``(tracker, pid that started it, its overlap)``."""


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
        where = "this process" if overlap.other is not None else "wattwatch run (around this program)"
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
        other = next((t for ref, _, _ in _RUNNING if (t := ref()) is not None and t is not tracker and t.running), None)
        overlap: Overlap | None = None
        if other is not None:
            overlap = Overlap(other.run_id, weakref.ref(other), energy_now=energy_now)
        elif env.get(OUTER_RUN_ENV) and env[OUTER_RUN_ENV] != tracker.run_id:
            overlap = Overlap(env[OUTER_RUN_ENV], energy_now=energy_now)
        _RUNNING.append((weakref.ref(tracker), pid, overlap))
    return overlap


def stopped(tracker: Measuring) -> None:
    """``tracker`` stopped: forget it, and freeze the overlap of the runs that overlapped it (their energy now)."""
    with _LOCK:
        entries = list(_RUNNING)
        _RUNNING[:] = [e for e in entries if e[0]() is not tracker and e[0]() is not None]
    for ref, _, overlap in entries:
        if overlap is None or overlap.other is None or overlap.other() is not tracker or overlap.frozen_kwh is not None:
            continue
        if ref() is not None and overlap.energy_now is not None:
            try:
                overlap.frozen_kwh = overlap.energy_now()
            except Exception:  # noqa: BLE001 - never into user code: the overlap stays "all of it"
                pass
