"""The ledger's tables (SQLAlchemy 2 Core), its schema version, and a row's columns in them.

One row of ``emissions.csv`` is one *segment* of a run (a process's share of it) and lands in five tables, all
keyed by ``(run_id, segment, start_time)``: ``segment`` is the row's ``resumed_segments``, ``start_time`` its
``start_time`` as written (``""`` when the row has none: CodeCarbon's columns). That is ``wattwatch report
PATH``'s segment (:class:`wattwatch.report.segments.SegmentWinners`, issue 28): two retries resumed from one
checkpoint share ``resumed_segments`` and are two segments, each holding energy that was spent; the same row
found twice has the same start and is one. A row without a start is a copy of its run's segment of that
number that has one: the ledger keeps it only while it holds no such segment (:mod:`.push`).

- ``runs``: one row per run id (project, experiment, user, the first segment's start);
- ``segments``: the figures that are summed and grouped (status, project, user, host, month, job, energies
  in kWh, CO2 in kg, water in L, tokens, requests, overlap...), narrow so that ``report --db`` scans a million
  of them in a second. ``latest`` marks each run's latest segment (its highest ``segment``, then the latest
  ``start_time``: :func:`wattwatch.report.segments.segment_order`), kept true by every
  push (:mod:`.push`): ``report --db`` counts a run once by counting latest segments, takes its status, counts
  and group (project, user, month, host, job) from it, and adds its earlier segments' figures to that group
  (issue 24: one run, one line);
- ``segment_details``: every other column of the row (host, methods, intensity, band, job metadata...), and
  ``extra``: JSON of any column this schema version has no place for (a newer wattwatch's), so nothing is lost;
- ``phases``: energy and CO2 per phase; ``devices``: energy and method per GPU.

``wattwatch_schema`` holds the schema version (:data:`SCHEMA_VERSION`); the view ``ledger_rows`` joins
``segments`` and ``segment_details`` into the row as the CSV has it (``docs/ledger.md`` shows the ``sacct``
join on it). Units are the CSV's: kWh (PUE applied), kg CO2eq, W, s, L.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from wattwatch.measure.figures import inference_energy_kwh, training_energy_kwh
from wattwatch.result import EmissionsData

__all__ = [
    "DETAIL_COLUMNS",
    "DETAIL_NUMBERS",
    "DETAIL_TEXT",
    "DETAIL_ORDER",
    "DEVICE_ORDER",
    "LATEST",
    "METADATA",
    "OTHER_GROUP",
    "OVERLAPPING",
    "GROUP_KEYS",
    "KEY_COLUMNS",
    "PHASE_ORDER",
    "RUN_ORDER",
    "SEGMENT_ORDER",
    "SCHEMA_VERSION",
    "SEGMENT_FIGURES",
    "SEGMENT_INDEXES",
    "SEGMENT_KEYS",
    "VIEW_SQL",
    "PreparedRow",
    "detail_row",
    "details",
    "devices",
    "job_key",
    "phases",
    "prepare_row",
    "rank_of",
    "runs",
    "schema_table",
    "segments",
]

SCHEMA_VERSION = 3
"""The schema this wattwatch writes. A database with a newer one is refused (see :mod:`.migrate`). Version 2
(issue 24's figures): ``segments.latest``, ``other_group``, ``requests``, ``generated_tokens``, ``inference_energy_kwh``,
``overlaps_run_id``, ``overlap_energy_kwh``; ``segment_details.request_phases``; ``train_energy_kwh`` by
:func:`wattwatch.measure.figures.training_energy_kwh` (``train``, else ``(unphased)``, else the row's). Version 3
(issue 28): a segment is ``(run_id, segment, start_time)`` in every table keyed by segment (``segments``,
``segment_details``, ``phases``, ``devices``), as ``report PATH`` counts segments."""

METADATA = sa.MetaData()

schema_table = sa.Table(
    "wattwatch_schema",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("wattwatch_version", sa.String, nullable=False, server_default=""),
    sa.Column("updated_at", sa.String, nullable=False, server_default=""),
)

runs = sa.Table(
    "runs",
    METADATA,
    sa.Column("run_id", sa.String, primary_key=True),
    sa.Column("project_name", sa.String, nullable=False, server_default=""),
    sa.Column("experiment_id", sa.String, nullable=False, server_default=""),
    sa.Column("user_name", sa.String, nullable=False, server_default=""),
    sa.Column("first_start_time", sa.String, nullable=False, server_default=""),
)

SEGMENT_KEYS: tuple[str, ...] = (
    "status", "project_name", "user_name", "hostname", "month", "job_key", "start_time", "timestamp",
)  # fmt: skip
"""Text columns of ``segments``: what ``report --db`` groups, filters and orders by; ``start_time`` is also the
last part of the key (:data:`KEY_COLUMNS`)."""

KEY_COLUMNS: tuple[str, ...] = ("run_id", "segment", "start_time")
"""A segment's key in ``segments``, ``segment_details``, ``phases`` and ``devices`` (version 3): the run, its
``resumed_segments``, its ``start_time`` text (``""``: the row has none)."""

SEGMENT_FIGURES: tuple[str, ...] = (
    "duration", "gpu_energy", "cpu_energy", "ram_energy", "energy_consumed", "emissions", "water_consumed",
    "embodied_emissions", "energy_low_kwh", "energy_high_kwh", "train_energy_kwh",
)  # fmt: skip
"""Numbers of ``segments`` (s, kWh, kg, L); ``train_energy_kwh`` is the energy per-step/sample/token figures
divide (:func:`wattwatch.measure.figures.training_energy_kwh`: the ``train`` phase's, else ``(unphased)``'s,
else the row's)."""

_NULLABLE_FIGURES = {"energy_low_kwh", "energy_high_kwh"}

segments = sa.Table(
    "segments",
    METADATA,
    sa.Column("run_id", sa.String, primary_key=True),
    sa.Column("segment", sa.Integer, primary_key=True, autoincrement=False),
    *(sa.Column(name, sa.String, nullable=False, server_default="", primary_key=name == "start_time") for name in SEGMENT_KEYS),
    sa.Column("full_row", sa.Boolean, nullable=False),
    sa.Column("embodied_computed", sa.Boolean, nullable=False),
    *(sa.Column(name, sa.Double, nullable=name in _NULLABLE_FIGURES) for name in SEGMENT_FIGURES),
    sa.Column("steps", sa.BigInteger),
    sa.Column("samples", sa.BigInteger),
    sa.Column("tokens", sa.BigInteger),
    # -- version 2 (issue 24) -------------------------------------------------------------------------------
    sa.Column("requests", sa.BigInteger),
    sa.Column("generated_tokens", sa.BigInteger),
    sa.Column("inference_energy_kwh", sa.Double, nullable=False, server_default="0"),
    sa.Column("overlaps_run_id", sa.String, nullable=False, server_default=""),
    sa.Column("overlap_energy_kwh", sa.Double),
    sa.Column("other_group", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("latest", sa.Boolean, nullable=False, server_default=sa.true()),
)
"""``inference_energy_kwh``: the energy of the phases the segment counted requests in (what J/request divides,
:func:`wattwatch.measure.figures.inference_energy_kwh`); ``overlaps_run_id``, ``overlap_energy_kwh``: the row's
(another run measured the same machine meanwhile); ``latest``: see the module's docstring; ``other_group``: an
earlier segment whose run's latest segment names another project, user, month, host or job (kept by every
push, as ``latest``: ``report --db --by`` moves its figures to its run's group)."""

GROUP_KEYS: tuple[str, ...] = ("project_name", "user_name", "month", "hostname", "job_key")
"""The columns ``report --db --by`` groups by (``other_group`` compares them)."""

LATEST = segments.c.latest == sa.true()
"""A run's latest segment."""
OTHER_GROUP = segments.c.other_group == sa.true()
"""An earlier segment of a run whose group is another (rare: a resumed run that crossed a month, say)."""
OVERLAPPING = segments.c.overlap_energy_kwh > 0
"""A segment that measured the same machine as another run (its overlap is taken off once, when both count)."""

SEGMENT_INDEXES = (
    sa.Index("segments_status", segments.c.status, segments.c.latest),
    sa.Index("segments_start_time", segments.c.start_time),
    sa.Index(
        "segments_overlapping", segments.c.overlaps_run_id, sqlite_where=OVERLAPPING, postgresql_where=OVERLAPPING
    ),
    sa.Index("segments_other_group", segments.c.run_id, sqlite_where=OTHER_GROUP, postgresql_where=OTHER_GROUP),
)
"""``segments``' indexes: by status (of latest segments: ``by_status`` reads the index alone), by start (the
most recent runs), and partial ones, small as what they index is rare: the segments that overlapped another
run, the earlier segments in another group than their run's (the conditions are written as every query writes
them, so that the indexes apply)."""

_DICT_FIELDS = {"phase_energy_kwh", "phase_emissions_kg", "gpu_energy_by_device_kwh", "gpu_method_by_device"}
"""Row columns stored as rows of ``phases`` and ``devices``."""

DETAIL_TEXT: tuple[str, ...] = (
    "experiment_id", "country_name", "country_iso_code", "region", "cloud_provider", "cloud_region", "os",
    "python_version", "codecarbon_version", "cpu_model", "gpu_model", "tracking_mode", "on_cloud",
    "wattwatch_version", "gpu_method", "cpu_method", "ram_method", "intensity_source", "missing_ranks",
    "ownership", "embodied_source", "gpu_slice", "cpu_slice", "ram_slice", "energy_band", "request_phases",
    "user_name", "git_commit", "slurm_job_id", "slurm_array_job_id", "slurm_array_task_id", "slurm_step_id",
    "slurm_node_list", "slurm_job_user", "slurm_partition", "k8s_pod", "k8s_namespace", "k8s_node",
)  # fmt: skip
DETAIL_NUMBERS: tuple[str, ...] = (
    "emissions_rate", "cpu_power", "gpu_power", "ram_power", "cpu_count", "gpu_count", "longitude", "latitude",
    "ram_total_size", "cpu_utilization_percent", "gpu_utilization_percent", "ram_utilization_percent",
    "ram_used_gb", "pue", "wue", "intensity_g_per_kwh", "readings", "gaps", "gap_seconds", "node_count",
    "rank_count", "projected_energy_kwh", "projected_emissions_kg", "torchrun_world_size",
)  # fmt: skip
DETAIL_COLUMNS: tuple[str, ...] = DETAIL_TEXT + DETAIL_NUMBERS + ("eval_metrics",)
"""Row columns of ``segment_details``: text, then numbers, then ``eval_metrics`` (JSON text). A row column in
no table goes into ``extra`` (JSON)."""

_FIELD_TYPES = {f.name: str(f.type) for f in dataclasses.fields(EmissionsData)}


def _detail_type(name: str) -> sa.types.TypeEngine[Any]:
    kind = _FIELD_TYPES.get(name, "str")
    if kind.startswith("float"):
        return sa.Double()
    if kind.startswith("int"):
        return sa.BigInteger()
    return sa.String()


def _nullable(name: str) -> bool:
    return "None" in _FIELD_TYPES.get(name, "")


details = sa.Table(
    "segment_details",
    METADATA,
    sa.Column("run_id", sa.String, primary_key=True),
    sa.Column("segment", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("start_time", sa.String, primary_key=True, server_default=""),
    *(
        sa.Column(
            name,
            _detail_type(name),
            nullable=_nullable(name),
            server_default=None if _nullable(name) or _detail_type(name).__class__ is not sa.String else "",
        )
        for name in DETAIL_COLUMNS
    ),
    sa.Column("extra", sa.String, nullable=False, server_default="{}"),
    sa.Column("source", sa.String, nullable=False, server_default=""),
    sa.Column("pushed_at", sa.String, nullable=False, server_default=""),
    sa.Index("segment_details_slurm_job", "slurm_job_id", "slurm_step_id"),
)

phases = sa.Table(
    "phases",
    METADATA,
    sa.Column("run_id", sa.String, primary_key=True),
    sa.Column("segment", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("start_time", sa.String, primary_key=True, server_default=""),
    sa.Column("phase", sa.String, primary_key=True),
    sa.Column("energy_kwh", sa.Double, nullable=False),
    sa.Column("emissions_kg", sa.Double),
)

devices = sa.Table(
    "devices",
    METADATA,
    sa.Column("run_id", sa.String, primary_key=True),
    sa.Column("segment", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("start_time", sa.String, primary_key=True, server_default=""),
    sa.Column("device", sa.String, primary_key=True),
    sa.Column("energy_kwh", sa.Double, nullable=False),
    sa.Column("method", sa.String, nullable=False, server_default=""),
)

VIEW_SQL = (
    "CREATE VIEW ledger_rows AS SELECT s.*, "
    + ", ".join(f"d.{c}" for c in DETAIL_COLUMNS if c not in SEGMENT_KEYS)
    + ", d.extra, d.source, d.pushed_at FROM segments s JOIN segment_details d"
    " ON d.run_id = s.run_id AND d.segment = s.segment AND d.start_time = s.start_time"
)
"""The view ``ledger_rows``: one row per segment with every column (``segment`` is ``resumed_segments``)."""

_IN_TABLES = (
    {"run_id", "resumed_segments"} | set(SEGMENT_KEYS) | set(SEGMENT_FIGURES) | {"steps", "samples", "tokens"}
    | {"requests", "generated_tokens", "overlaps_run_id", "overlap_energy_kwh"} | set(DETAIL_COLUMNS) | _DICT_FIELDS
)  # fmt: skip


def job_key(data: EmissionsData) -> str:
    """What ``report --db --by job`` groups by: the Slurm job (``12345``, ``12340_7`` for a task of an array
    job), else the Kubernetes pod (``k8s:namespace/pod``), else ``""``."""
    if data.slurm_array_job_id and data.slurm_array_task_id:
        return f"{data.slurm_array_job_id}_{data.slurm_array_task_id}"
    if data.slurm_job_id:
        return data.slurm_job_id
    if data.k8s_pod:
        return f"k8s:{data.k8s_namespace}/{data.k8s_pod}" if data.k8s_namespace else f"k8s:{data.k8s_pod}"
    return ""


def _text(value: str | None) -> str:
    """Text PostgreSQL and SQLite both store: no NUL byte, no lone surrogate (an undecodable byte of a name);
    ``None`` (a place the compatibility classes could not name, as CodeCarbon leaves it) is ``""``."""
    if value is None:
        return ""
    if value.isascii():
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


SEGMENT_ORDER: tuple[str, ...] = tuple(c.name for c in segments.columns)
"""The order of :attr:`PreparedRow.segment_values` (the table's)."""
DETAIL_ORDER: tuple[str, ...] = tuple(c.name for c in details.columns)
RUN_ORDER: tuple[str, ...] = tuple(c.name for c in runs.columns)
PHASE_ORDER: tuple[str, ...] = tuple(c.name for c in phases.columns)
DEVICE_ORDER: tuple[str, ...] = tuple(c.name for c in devices.columns)


@dataclass
class PreparedRow:
    """One row as the ledger's tables hold it: each table's values as a tuple in that table's column order
    (:data:`SEGMENT_ORDER`, :data:`DETAIL_ORDER`, :data:`RUN_ORDER`, :data:`PHASE_ORDER`,
    :data:`DEVICE_ORDER`)."""

    run_id: str
    segment: int
    start_time: str
    """The row's ``start_time`` as stored (``""``: none): the last part of the segment's key."""
    full_row: bool
    timestamp: str
    first_start_time: str
    segment_values: tuple[Any, ...]
    detail_values: tuple[Any, ...]
    run_values: tuple[Any, ...]
    phase_values: list[tuple[Any, ...]]
    device_values: list[tuple[Any, ...]]

    @property
    def key(self) -> tuple[str, int, str]:
        """The segment's key (:data:`KEY_COLUMNS`)."""
        return (self.run_id, self.segment, self.start_time)

    @property
    def rank(self) -> tuple[bool, str, bool]:
        """Which of two rows of the same segment wins: the fuller one (from a file with a ``status`` column),
        then the later ``timestamp`` -- ``wattwatch report``'s rule --, then (timestamps have whole seconds) an
        ended run's row over a ``running`` one."""
        return rank_of(self.full_row, self.timestamp, self.segment_values[2])


def rank_of(full_row: bool, timestamp: str, status: str) -> tuple[bool, str, bool]:
    """:attr:`PreparedRow.rank` from a stored segment's ``full_row``, ``timestamp`` and ``status``."""
    return (bool(full_row), timestamp or "", status != "running")


_get_texts = operator.attrgetter(*DETAIL_TEXT)
_get_numbers = operator.attrgetter(*DETAIL_NUMBERS)
_COMPACT = (",", ":")


def prepare_row(
    data: EmissionsData, *, full_row: bool, source: str, pushed_at: str, embodied: tuple[float, bool]
) -> PreparedRow:
    """``data`` as the tables' values. ``embodied``: the row's embodied kg CO2eq and whether it was computed at
    push time (a row that predates the column: :func:`wattwatch.report.history.embodied_kg`)."""
    run_id, segment, start_key = _text(data.run_id), int(data.resumed_segments), _text(data.start_time)
    start = data.start_time or data.timestamp
    project, user = _text(data.project_name), _text(data.user_name)
    phase_kwh = data.phase_energy_kwh
    seg = (
        run_id, segment, _text(data.status), project, user, _text(data.hostname), _text(start[:7]),
        _text(job_key(data)), start_key, _text(data.timestamp), full_row, embodied[1],
        data.duration, data.gpu_energy, data.cpu_energy, data.ram_energy, data.energy_consumed, data.emissions,
        data.water_consumed, embodied[0], _finite(data.energy_low_kwh), _finite(data.energy_high_kwh),
        training_energy_kwh(phase_kwh, data.energy_consumed), data.steps, data.samples, data.tokens,
        data.requests, data.generated_tokens, inference_energy_kwh(phase_kwh, data.request_phases),
        _text(data.overlaps_run_id), _finite(data.overlap_energy_kwh), False, True,
    )  # fmt: skip
    texts = _get_texts(data)
    try:
        joined = "".join(texts)
    except TypeError:  # a None among them (the compatibility classes' unknown place)
        joined = "\x00"
    if not joined.isascii() or "\x00" in joined:
        texts = tuple(map(_text, texts))
    metrics = data.eval_metrics
    values = data.__dict__
    extra = {k: v for k, v in values.items() if k not in _IN_TABLES} if len(values) > len(_IN_TABLES) else None
    det = (
        run_id, segment, start_key, *texts, *_get_numbers(data),
        json.dumps(metrics, sort_keys=True, separators=_COMPACT) if metrics else "{}",
        _text(json.dumps(extra, sort_keys=True, separators=_COMPACT, default=str)) if extra else "{}",
        _text(source), pushed_at,
    )  # fmt: skip
    emissions = data.phase_emissions_kg
    phase_rows = [
        (run_id, segment, start_key, _text(str(name)), float(kwh),
         _finite(float(emissions[name])) if name in emissions else None)
        for name, kwh in data.phase_energy_kwh.items()
    ]
    methods = data.gpu_method_by_device
    device_rows = [
        (run_id, segment, start_key, _text(str(name)), float(kwh), _text(str(methods.get(name, ""))))
        for name, kwh in data.gpu_energy_by_device_kwh.items()
    ]
    first = _text(start)
    run = (run_id, project, _text(data.experiment_id), user, first)
    return PreparedRow(
        run_id, segment, start_key, full_row, data.timestamp, first, seg, det, run, phase_rows, device_rows
    )


def detail_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """A ``ledger_rows`` row back as :class:`~wattwatch.result.EmissionsData` keyword values (``segment`` ->
    ``resumed_segments``, JSON ``eval_metrics`` parsed, ``extra`` merged), without ``phases``/``devices``."""
    out = {k: v for k, v in values.items() if k in _FIELD_TYPES and v is not None}
    out["resumed_segments"] = int(values.get("segment") or 0)
    try:
        out["eval_metrics"] = json.loads(values.get("eval_metrics") or "{}")
    except ValueError:
        out["eval_metrics"] = {}
    try:
        extra = json.loads(values.get("extra") or "{}")
    except ValueError:
        extra = {}
    if isinstance(extra, dict):
        out.update({k: v for k, v in extra.items() if k in _FIELD_TYPES and k not in out})
    return out
