"""Helpers for the CodeCarbon-compatibility tests: a manual clock, a tracker on a fake GPU, a handler recorder."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from fakesensors import ConstantPowerSensor

from wattwatch import OfflineEmissionsTracker

__all__ = ["ManualClock", "Recorder", "make", "rows"]


class ManualClock:
    """A monotonic clock the test moves: energy between two readings is exactly watts x the step."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def make(tmp_path: Path, cls: type = OfflineEmissionsTracker, watts: float = 360.0, **kwargs: Any) -> Any:
    """A compatibility tracker on one fake GPU of ``watts`` W and a manual clock (``tracker.test_clock``)."""
    clock = ManualClock()
    if cls is OfflineEmissionsTracker:
        kwargs.setdefault("country_iso_code", "FRA")
    tracker = cls(
        output_dir=tmp_path,
        sensors=[ConstantPowerSensor(watts, clock=clock)],
        clock=clock,
        handle_signals=False,
        **kwargs,
    )
    tracker.test_clock = clock
    return tracker


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


class Recorder:
    """A CodeCarbon ``BaseOutput``-shaped handler that records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Any]] = []

    def out(self, total: Any, delta: Any) -> None:
        self.calls.append(("out", total, delta))

    def live_out(self, total: Any, delta: Any) -> None:
        self.calls.append(("live_out", total, delta))

    def task_out(self, data: Any, experiment_name: str) -> None:
        self.calls.append(("task_out", data, experiment_name))

    def exit(self) -> None:
        self.calls.append(("exit", None, None))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]
