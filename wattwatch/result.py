"""The run's result: CodeCarbon's ``EmissionsData`` fields, same names and units, then wattwatch's own.

Units: ``duration`` s; ``emissions`` kg CO2eq; ``emissions_rate`` kg/s; ``*_energy`` and ``energy_consumed`` kWh
(PUE applied, as CodeCarbon); ``*_power`` W (mean over the run, PUE applied); ``ram_total_size`` GB.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import field
from typing import Any

from wattwatch.util.records import record

__all__ = [
    "CODECARBON_COLUMNS",
    "WATTWATCH_COLUMNS",
    "COLUMNS",
    "EVAL_METRICS_MAX",
    "EmissionsData",
    "NO_STATUS",
    "STATUSES",
    "clean_eval_metrics",
]

STATUSES = ("running", "completed", "failed", "interrupted", "budget-stopped")
"""Values of the ``status`` column."""

NO_STATUS = "unknown"
"""The status of a row read from a file without a ``status`` column (CodeCarbon's: it records no way a run ended;
such a row is not a run still going)."""


@record
class EmissionsData:
    """One run's totals. The first 38 fields are CodeCarbon's ``EmissionsData``, in its order."""

    timestamp: str = ""
    project_name: str = ""
    run_id: str = ""
    experiment_id: str = ""
    duration: float = 0.0
    emissions: float = 0.0
    emissions_rate: float = 0.0
    cpu_power: float = 0.0
    gpu_power: float = 0.0
    ram_power: float = 0.0
    cpu_energy: float = 0.0
    gpu_energy: float = 0.0
    ram_energy: float = 0.0
    energy_consumed: float = 0.0
    water_consumed: float = 0.0
    country_name: str | None = ""
    """``None`` (in memory; an empty cell in the CSV) where CodeCarbon has ``None``: the compatibility classes
    without a known place. wattwatch's own Tracker writes ``""``."""
    country_iso_code: str | None = ""
    region: str | None = ""
    cloud_provider: str = ""
    cloud_region: str = ""
    os: str = ""
    python_version: str = ""
    codecarbon_version: str = ""
    cpu_count: int = 0
    cpu_model: str = ""
    gpu_count: int = 0
    gpu_model: str = ""
    longitude: float | None = None
    latitude: float | None = None
    ram_total_size: float = 0.0
    tracking_mode: str = "machine"
    cpu_utilization_percent: float = 0.0
    gpu_utilization_percent: float = 0.0
    ram_utilization_percent: float = 0.0
    ram_used_gb: float = 0.0
    on_cloud: str = "N"
    pue: float = 1.0
    wue: float = 0.0
    # -- wattwatch's own ---------------------------------------------------------------------------------
    status: str = "running"
    wattwatch_version: str = ""
    start_time: str = ""
    """ISO-8601 UTC wall time of the first reading."""
    gpu_method: str = ""
    cpu_method: str = ""
    ram_method: str = ""
    intensity_source: str = ""
    intensity_g_per_kwh: float = 0.0
    """Effective carbon intensity: emissions / energy (g/kWh); for a static source, the source's figure."""
    phase_energy_kwh: dict[str, float] = field(default_factory=dict)
    phase_emissions_kg: dict[str, float] = field(default_factory=dict)
    gpu_energy_by_device_kwh: dict[str, float] = field(default_factory=dict)
    readings: int = 0
    gaps: int = 0
    gap_seconds: float = 0.0
    steps: int | None = None
    samples: int | None = None
    tokens: int | None = None
    hostname: str = ""
    node_count: int = 1
    rank_count: int = 1
    missing_ranks: str = ""
    ownership: str = ""
    resumed_segments: int = 0
    projected_energy_kwh: float | None = None
    projected_emissions_kg: float | None = None
    gpu_method_by_device: dict[str, str] = field(default_factory=dict)
    """How each GPU channel's energy was obtained (``counter``, ``power-integral``, ``counter+power-integral``
    when a counter stopped mid-run), keyed like ``gpu_energy_by_device_kwh``."""
    embodied_emissions: float | None = None
    """The run's share of its hardware's manufacturing footprint, kg CO2eq (Boavizta; see carbon/embodied.py)."""
    embodied_source: str = ""
    """How ``embodied_emissions`` was obtained: method, data version, lifetime and use ratio assumed."""
    eval_metrics: dict[str, float] = field(default_factory=dict)
    """The run's final evaluation metrics (``eval_loss``, ``eval_accuracy``, ...), for quality-versus-carbon."""
    gpu_slice: str = ""
    """Whose share of the hardware is charged: ``whole-gpu``, ``gpu-process-share``, ``mig-slice-share``."""
    cpu_slice: str = ""
    """``machine``, ``<rule>/machine``, ``<rule>/cgroup``, ``<rule>/process`` (rule: ``tdp``, ``vm-vcpu``...)."""
    ram_slice: str = ""
    """``machine``, ``cgroup`` or ``process``."""
    energy_low_kwh: float | None = None
    """Low end of ``energy_consumed``'s error band (kWh, PUE applied); see docs/accuracy.md."""
    energy_high_kwh: float | None = None
    """High end of ``energy_consumed``'s error band (kWh, PUE applied)."""
    energy_band: str = ""
    """The bands used, per component: ``gpu=nvml-counter cpu=vm-vcpu ram=tdp-model``."""
    # -- issue 24: figures that agree with their energy (one block: other issues add theirs after it) ---------
    requests: int | None = None
    """Inference requests counted (``Tracker.count_requests``, ``GenerationMeter``); never training steps."""
    generated_tokens: int | None = None
    """Tokens those requests generated."""
    request_phases: str = ""
    """The phases requests were measured in, ``+``-joined: their energy is inference's (J/request)."""
    overlaps_run_id: str = ""
    """Another run that measured the same machine while this one ran (a second tracker in one process, a
    tracker inside ``wattwatch run``): this run's energy during that time is also in that run's."""
    overlap_energy_kwh: float | None = None
    """This run's energy (kWh, PUE applied) while ``overlaps_run_id`` was running: ``report`` counts it once."""
    # -- acting on carbon (wattwatch/policy, docs/acting.md) ----------------------------------------------
    budget_kg: float | None = None
    """The run's carbon budget (kg CO2eq), when it had one; a run it stopped has status ``budget-stopped``."""
    budget_kwh: float | None = None
    """The run's energy budget (kWh, PUE applied), when it had one."""
    marginal_intensity_g_per_kwh: float | None = None
    """The grid's marginal emissions rate (g/kWh) weighted by the run's energy, beside the average
    ``intensity_g_per_kwh``: from a marginal provider (WattTime), else empty."""
    marginal_intensity_source: str = ""
    """Where ``marginal_intensity_g_per_kwh`` came from, and the share of the energy it covers."""
    # -- job metadata (issue 28; wattwatch/run/job.py): who ran it, in which scheduler job ------------------
    user_name: str = ""
    """The user who ran the process (``$USER``, else the uid's name)."""
    git_commit: str = ""
    """The commit checked out in the working folder at ``start()`` (``""`` outside a git repository)."""
    slurm_job_id: str = ""
    """``SLURM_JOB_ID``: the raw job id (``JobIDRaw``), also for a task of an array job."""
    slurm_array_job_id: str = ""
    slurm_array_task_id: str = ""
    slurm_step_id: str = ""
    """The step as ``sacct`` names it: ``0``, ``1``..., ``batch``, ``extern``; the row joins
    ``sacct -j <slurm_job_id>.<slurm_step_id>``."""
    slurm_node_list: str = ""
    slurm_job_user: str = ""
    slurm_partition: str = ""
    k8s_pod: str = ""
    k8s_namespace: str = ""
    k8s_node: str = ""
    torchrun_world_size: int | None = None
    """``WORLD_SIZE`` of a process torchrun started."""

    @property
    def values(self) -> dict[str, Any]:
        """All fields by name (CodeCarbon has the same property)."""
        return dataclasses.asdict(self)

    def toJSON(self) -> str:  # noqa: N802 - CodeCarbon's name (its notebook example calls it)
        """Every field as JSON, keys sorted, indented by 4: CodeCarbon's ``EmissionsData.toJSON()``."""
        import json

        return json.dumps(self, default=lambda o: o.__dict__, sort_keys=True, indent=4)

    def to_row(self, names: Sequence[str] | None = None) -> dict[str, str]:
        """The CSV row: numbers as ``repr`` floats, ``None`` as empty, dicts as compact JSON; ``names``: only
        these columns (default: all of them)."""
        row: dict[str, str] = {}
        for name in names if names is not None else _field_names(type(self)):
            value = getattr(self, name)
            if value is None:
                row[name] = ""
            elif isinstance(value, dict):
                import json

                row[name] = json.dumps(value, sort_keys=True, separators=(",", ":"))
            elif isinstance(value, float):
                row[name] = repr(value)
            else:
                row[name] = str(value)
        return row

    @classmethod
    def from_row(cls, row: dict[str, str]) -> EmissionsData:
        """Parse a CSV row (ours or CodeCarbon's); unknown columns are ignored, missing ones keep defaults.

        Raises ``ValueError`` naming the column when a value cannot be parsed.
        """
        kwargs: dict[str, Any] = {}
        get = row.get
        for name, parse in _row_parsers(cls):
            raw = get(name)
            if raw is None or raw == "":
                continue
            try:
                kwargs[name] = parse(raw)
            except (ValueError, OverflowError) as exc:
                raise ValueError(f"column {name!r}: cannot read {raw[:40]!r} ({exc})") from None
        if "status" not in row:
            kwargs["status"] = NO_STATUS
        return cls(**kwargs)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """The field names of ``cls``, looked up once (``dataclasses.fields`` builds a tuple at every call)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _parse_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _parse_int(raw: str) -> int:
    return int(float(raw))


def _parse_dict(raw: str) -> dict[str, Any]:
    import json

    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    if not all(_finite(v) for v in value.values()):
        raise ValueError("values must be finite numbers")
    return value


def _parse_text_dict(raw: str) -> dict[str, str]:
    import json

    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    if not all(isinstance(v, str) for v in value.values()):
        raise ValueError("values must be strings")
    return value


def _parse_text(raw: str) -> str:
    return raw


_PARSERS: dict[type, tuple[tuple[str, Callable[[str], Any]], ...]] = {}


def _row_parsers(cls: type) -> tuple[tuple[str, Callable[[str], Any]], ...]:
    """``(column, parser)`` for every field of ``cls``, chosen once per class from the field's annotation
    (``from_row`` used to redo this for every field of every row: most of ``wattwatch report``'s time)."""
    plan = _PARSERS.get(cls)
    if plan is None:
        out: list[tuple[str, Callable[[str], Any]]] = []
        for f in dataclasses.fields(cls):
            kind = str(f.type)
            if kind == "dict[str, str]":
                out.append((f.name, _parse_text_dict))
            elif kind.startswith("dict"):
                out.append((f.name, _parse_dict))
            elif kind.startswith("float"):
                out.append((f.name, _parse_float))
            elif kind.startswith("int"):
                out.append((f.name, _parse_int))
            else:
                out.append((f.name, _parse_text))
        plan = _PARSERS[cls] = tuple(out)
    return plan


EVAL_METRICS_MAX = 16
"""At most this many metrics are kept in ``eval_metrics`` (the row stays small)."""
_NOT_QUALITY = ("runtime", "per_second", "epoch", "flos", "tokens_seen", "wattwatch", "memory", "mem_")


def clean_eval_metrics(metrics: object) -> dict[str, float]:
    """Evaluation metrics as the ``eval_metrics`` column keeps them: finite numbers only, names up to 64
    characters, timing/throughput/memory figures (``eval_runtime``, ``*_per_second``, ``epoch``, wattwatch's own
    logs) dropped, at most :data:`EVAL_METRICS_MAX` (alphabetical), values to 6 significant digits."""
    if not isinstance(metrics, dict):
        return {}
    out: dict[str, float] = {}
    for name in sorted(k for k in metrics if isinstance(k, str)):
        value = metrics[name]
        if len(name) > 64 or any(word in name.lower() for word in _NOT_QUALITY) or not _finite(value):
            continue
        out[name] = float(f"{float(value):.6g}")
        if len(out) >= EVAL_METRICS_MAX:
            break
    return out


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


CODECARBON_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(EmissionsData))[:38]
"""CodeCarbon's emissions.csv columns, in its order."""
WATTWATCH_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(EmissionsData))[38:]
"""wattwatch's own columns, after CodeCarbon's."""
COLUMNS: tuple[str, ...] = CODECARBON_COLUMNS + WATTWATCH_COLUMNS
