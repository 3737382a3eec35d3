"""CodeCarbon's task API: named slices of a run, each measured between a reading at its start and its end.

A task's figures are the difference of the run's totals at its two edges (the tracker takes a reading at each
edge, as it does for phases), so tasks that tile a run add up to the run exactly. Powers are the task's own mean
(its energy over its duration); usage columns are the means over the task's readings.

At each ``flush()`` and at ``stop()`` CodeCarbon writes the tasks to ``emissions_<experiment_name>_<run_id>.csv``
beside ``emissions.csv`` (its ``FileOutput.task_out``): one row per task, ``task_name`` first, then the
``TaskEmissionsData`` columns. :func:`write_task_csv` writes the same file, atomically.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattwatch.result import EmissionsData
from wattwatch.sensors.usage import UsageTotals

__all__ = ["TASK_COLUMNS", "Task", "task_csv_path", "task_delta", "write_task_csv"]

TASK_COLUMNS: tuple[str, ...] = (
    "task_name",
    "timestamp",
    "project_name",
    "run_id",
    "duration",
    "emissions",
    "emissions_rate",
    "cpu_power",
    "gpu_power",
    "ram_power",
    "cpu_energy",
    "gpu_energy",
    "ram_energy",
    "energy_consumed",
    "water_consumed",
    "country_name",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "os",
    "python_version",
    "codecarbon_version",
    "cpu_count",
    "cpu_model",
    "gpu_count",
    "gpu_model",
    "longitude",
    "latitude",
    "ram_total_size",
    "tracking_mode",
    "cpu_utilization_percent",
    "gpu_utilization_percent",
    "ram_utilization_percent",
    "ram_used_gb",
    "on_cloud",
)
"""CodeCarbon 3.3.2's ``TaskEmissionsData`` fields, in its order."""

_DELTA_FIELDS = ("emissions", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed", "water_consumed")


@dataclass
class Task:
    """One task (CodeCarbon's ``codecarbon.external.task.Task``): its name, whether it runs, its result."""

    task_name: str
    start: EmissionsData
    """The run's totals at the task's start (its reading)."""
    start_usage: UsageTotals = field(default_factory=UsageTotals)
    """The usage sums at the task's start (the task's usage columns are the means after it)."""
    is_active: bool = True
    emissions_data: EmissionsData | None = None

    def out(self) -> dict[str, Any]:
        """The task's row (``TASK_COLUMNS``), from its result."""
        data = self.emissions_data
        values = dataclasses.asdict(data) if data is not None else {}
        return {"task_name": self.task_name, **{c: values.get(c) for c in TASK_COLUMNS[1:]}}


def task_delta(start: EmissionsData, end: EmissionsData, duration_s: float) -> EmissionsData:
    """The task's :class:`EmissionsData`: ``end`` with energies and emissions taken from their difference to
    ``start``, ``duration_s`` as duration and mean powers over it (W). Phase and per-GPU breakdowns are dropped
    (they describe the run)."""
    delta = dataclasses.replace(
        end, phase_energy_kwh={}, phase_emissions_kg={}, gpu_energy_by_device_kwh={}, projected_energy_kwh=None,
        projected_emissions_kg=None,
    )
    for name in _DELTA_FIELDS:
        setattr(delta, name, max(0.0, getattr(end, name) - getattr(start, name)))
    delta.duration = duration_s
    per_w = 3.6e6 / duration_s if duration_s > 0 else 0.0
    delta.cpu_power = delta.cpu_energy * per_w
    delta.gpu_power = delta.gpu_energy * per_w
    delta.ram_power = delta.ram_energy * per_w
    delta.emissions_rate = delta.emissions / duration_s if duration_s > 0 else 0.0
    delta.readings = max(0, end.readings - start.readings)
    delta.gaps = max(0, end.gaps - start.gaps)
    delta.gap_seconds = max(0.0, end.gap_seconds - start.gap_seconds)
    return delta


def task_csv_path(output_dir: Path, experiment_name: str, run_id: str) -> Path:
    """``<output_dir>/emissions_<experiment_name>_<run_id>.csv``, CodeCarbon's name for the task file, with the
    name and the run id as safe slugs (:func:`wattwatch.util.names.safe_name`: ``experiment_name="../x"`` never
    leaves ``output_dir``; ordinary names are unchanged)."""
    from wattwatch.util.names import safe_name

    return Path(output_dir) / f"emissions_{safe_name(experiment_name)}_{safe_name(run_id)}.csv"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_task_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write the task rows to ``path`` (replacing it atomically, as CodeCarbon overwrites it each time)."""
    from wattwatch.sinks.cells import csv_line
    from wattwatch.sinks.csv import atomic_write_text, sanitize_cell

    lines = [csv_line(TASK_COLUMNS)]
    lines += [csv_line([sanitize_cell(_cell(row.get(c))) for c in TASK_COLUMNS]) for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(lines))
