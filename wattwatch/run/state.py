"""The saved state of a run (``Tracker.state_dict()``): what another process needs to continue it.

Format (JSON-serialisable, version 1)::

    {"format": "wattwatch.run.tracker", "version": 1, "run_id": ..., "project_name": ..., "experiment_id": ...,
     "start_time": ISO-8601 UTC, "counts": {"steps": n, ...}, "counted": {"steps": bool, ...},
     "request_phases": [phase, ...], "ledger": Ledger.to_dict() or None}

``request_phases`` (the phases inference requests were counted in) is absent from states saved before it
existed: read as none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wattwatch.measure.ledger import Ledger
from wattwatch.run.counters import Counters

__all__ = ["STATE_FORMAT", "SavedRun", "read_state", "save_state"]

STATE_FORMAT = "wattwatch.run.tracker"


@dataclass(frozen=True)
class SavedRun:
    """A state read back by :func:`read_state`."""

    run_id: str | None
    start_time: str
    counts: Mapping[str, object]
    counted: Mapping[str, object]
    ledger: dict[str, Any] | None
    request_phases: tuple[str, ...] = ()
    """The ledger's totals (``None``: nothing measured yet)."""


def save_state(
    *,
    run_id: str,
    project_name: str,
    experiment_id: str,
    start_time: str,
    counters: Counters,
    ledger: dict[str, Any] | None,
) -> dict[str, Any]:
    """The state dict of a run (see the module docstring)."""
    counts, counted = counters.to_state()
    return {
        "format": STATE_FORMAT,
        "version": 1,
        "run_id": run_id,
        "project_name": project_name,
        "experiment_id": experiment_id,
        "start_time": start_time,
        "counts": counts,
        "counted": counted,
        "request_phases": list(counters.request_phases),
        "ledger": ledger,
    }


def _phases(value: object) -> tuple[str, ...]:
    """The saved request phases: a list of non-empty strings (anything else is none)."""
    if not isinstance(value, list):
        return ()
    return tuple(p for p in value if isinstance(p, str) and p)


def read_state(state: object) -> SavedRun:
    """Check and read a state dict. Raises ``ValueError`` for anything :func:`save_state` did not make (the
    ledger's totals are validated too, before any work starts)."""
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError("not a wattwatch tracker state (expected the dict from Tracker.state_dict())")
    ledger = state.get("ledger")
    if ledger is not None:
        Ledger([]).load_dict(ledger)
    run_id = str(state["run_id"]) if state.get("run_id") else None
    if run_id is not None:
        from wattwatch.util.names import control_characters

        if control_characters(run_id):  # a checkpoint is outside data: its run id reaches cells and terminals
            raise ValueError(f"the state's run_id {run_id[:40]!r} holds control characters: not a wattwatch state")
    return SavedRun(
        run_id=run_id,
        start_time=state.get("start_time", ""),
        counts=state.get("counts") or {},
        counted=state.get("counted") or {},
        ledger=ledger,
        request_phases=_phases(state.get("request_phases")),
    )
