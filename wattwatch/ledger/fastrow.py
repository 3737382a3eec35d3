"""A CSV row's cells straight into the ledger's tables: what ``EmissionsData.from_row`` then
:func:`~wattwatch.ledger.schema.prepare_row` give, in about a third of the time -- most of a push's time.

:func:`prepare_cells` converts each cell the way :meth:`~wattwatch.result.EmissionsData.from_row` parses it (an
empty or missing cell is the field's default; ``int`` cells through ``float``; numbers must be finite; JSON cells
must be objects of finite numbers, or of text for ``gpu_method_by_device``), and lays the values out as
``prepare_row`` does. It gives ``None`` -- and the caller takes the slow path, whose errors say what is wrong
with the row -- for anything it does not take as it is: a cell that does not parse, a row without
``embodied_emissions`` (computed from its hardware there). ``tests/ledger/test_fastrow.py`` checks, with
Hypothesis, that both paths give the same tables' values for any row.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from wattwatch.ledger.schema import (
    _COMPACT,
    _FIELD_TYPES,
    _IN_TABLES,
    DETAIL_NUMBERS,
    DETAIL_TEXT,
    PreparedRow,
    _text,
)
from wattwatch.measure.figures import inference_energy_kwh, training_energy_kwh
from wattwatch.result import NO_STATUS, EmissionsData

__all__ = ["prepare_cells"]

_T = TypeVar("_T")
_D = TypeVar("_D")

_DEFAULTS: dict[str, Any] = {
    f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)  # type: ignore[misc]
    for f in dataclasses.fields(EmissionsData)
}


class _Bad(ValueError):
    """A cell the fast path does not take as it is."""


def _float(raw: str) -> float:
    value = float(raw)
    if value - value != 0.0:  # inf or nan
        raise _Bad(raw)
    return value


def _int(raw: str) -> int:
    return int(_float(raw))


def _numbers(raw: str) -> dict[str, float]:
    value = json.loads(raw)
    if type(value) is not dict:
        raise _Bad(raw)
    for v in value.values():
        kind = type(v)
        if (kind is not float and kind is not int) or v - v != 0:  # bool is not int here; inf - inf is nan
            raise _Bad(raw)
    return value


def _texts(raw: str) -> dict[str, str]:
    value = json.loads(raw)
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _Bad(raw)
    return value


def _parser(name: str) -> Callable[[str], Any]:
    kind = _FIELD_TYPES[name]
    if kind == "dict[str, str]":
        return _texts
    if kind.startswith("dict"):
        return _numbers
    if kind.startswith("float"):
        return _float
    if kind.startswith("int"):
        return _int
    return str


_NUMBER_PLAN = tuple((name, _parser(name), _DEFAULTS[name]) for name in DETAIL_NUMBERS)
_TEXT_PLAN = tuple((name, _DEFAULTS[name]) for name in DETAIL_TEXT)
_EXTRA_PLAN = tuple(
    (name, _parser(name), _DEFAULTS[name]) for name in _FIELD_TYPES if name not in _IN_TABLES
)  # columns of a newer row than this schema: kept as JSON in ``extra``


def _get(row: Mapping[str, str], name: str, parse: Callable[[str], _T], default: _D) -> _T | _D:
    raw = row.get(name)
    return default if raw is None or raw == "" else parse(raw)


def _text_of(row: Mapping[str, str], name: str) -> str:
    raw = row.get(name)
    return raw if raw else _DEFAULTS[name]


def prepare_cells(
    row: Mapping[str, str], *, full_row: bool, source: str, pushed_at: str
) -> PreparedRow | None:
    """The tables' values of the CSV row ``row`` (see the module's docstring), or ``None``: take the slow path."""
    try:
        return _prepare(row, full_row, source, pushed_at)
    except (ValueError, TypeError, OverflowError, RecursionError):
        return None


def _prepare(row: Mapping[str, str], full_row: bool, source: str, pushed_at: str) -> PreparedRow | None:
    embodied_raw = row.get("embodied_emissions")
    if not embodied_raw:
        return None  # the slow path computes it from the row's hardware
    embodied = _float(embodied_raw)
    run_id = _text(_text_of(row, "run_id"))
    if not run_id:
        return None
    segment = _get(row, "resumed_segments", _int, 0)
    status = _text(_text_of(row, "status") if "status" in row else NO_STATUS)
    start_raw, stamp_raw = _text_of(row, "start_time"), _text_of(row, "timestamp")
    start, start_key = start_raw or stamp_raw, _text(start_raw)
    phase_kwh = _get(row, "phase_energy_kwh", _numbers, {})
    phase_kg = _get(row, "phase_emissions_kg", _numbers, {})
    by_device = _get(row, "gpu_energy_by_device_kwh", _numbers, {})
    methods = _get(row, "gpu_method_by_device", _texts, {})
    metrics = _get(row, "eval_metrics", _numbers, {}) if row.get("eval_metrics") != "{}" else {}
    energy = _get(row, "energy_consumed", _float, 0.0)
    get = row.get
    texts = tuple([get(name) or default for name, default in _TEXT_PLAN])
    joined = "".join(texts)
    if not joined.isascii() or "\x00" in joined:
        texts = tuple(map(_text, texts))
    t = dict(zip(DETAIL_TEXT, texts, strict=True))
    project, user = _text(_text_of(row, "project_name")), t["user_name"]
    job = _job_key(t)
    low, high = _get(row, "energy_low_kwh", _float, None), _get(row, "energy_high_kwh", _float, None)
    seg = (
        run_id, segment, status, project, user, _text(_text_of(row, "hostname")), _text(start[:7]), _text(job),
        start_key, _text(stamp_raw), full_row, False,
        _get(row, "duration", _float, 0.0), _get(row, "gpu_energy", _float, 0.0), _get(row, "cpu_energy", _float, 0.0),
        _get(row, "ram_energy", _float, 0.0), energy, _get(row, "emissions", _float, 0.0),
        _get(row, "water_consumed", _float, 0.0), embodied, low, high, training_energy_kwh(phase_kwh, energy),
        _get(row, "steps", _int, None), _get(row, "samples", _int, None), _get(row, "tokens", _int, None),
        _get(row, "requests", _int, None), _get(row, "generated_tokens", _int, None),
        inference_energy_kwh(phase_kwh, _text_of(row, "request_phases")), _text(_text_of(row, "overlaps_run_id")),
        _get(row, "overlap_energy_kwh", _float, None), False, True,
    )  # fmt: skip
    numbers = [parse(raw) if (raw := get(name)) else default for name, parse, default in _NUMBER_PLAN]
    extra = {name: _get(row, name, parse, default) for name, parse, default in _EXTRA_PLAN}
    det = (
        run_id, segment, start_key, *texts, *numbers,
        json.dumps(metrics, sort_keys=True, separators=_COMPACT) if metrics else "{}",
        _text(json.dumps(extra, sort_keys=True, separators=_COMPACT, default=str)) if extra else "{}",
        _text(source), pushed_at,
    )  # fmt: skip
    phase_rows = [
        (run_id, segment, start_key, _text(str(name)), float(kwh), float(phase_kg[name]) if name in phase_kg else None)
        for name, kwh in phase_kwh.items()
    ]
    device_rows = [
        (run_id, segment, start_key, _text(str(name)), float(kwh), _text(str(methods.get(name, ""))))
        for name, kwh in by_device.items()
    ]
    first = _text(start)
    run = (run_id, project, t["experiment_id"], user, first)
    return PreparedRow(run_id, segment, start_key, full_row, stamp_raw, first, seg, det, run, phase_rows, device_rows)


def _job_key(t: Mapping[str, str]) -> str:
    """:func:`wattwatch.ledger.schema.job_key` from the row's (cleaned) text cells."""
    if t["slurm_array_job_id"] and t["slurm_array_task_id"]:
        return f"{t['slurm_array_job_id']}_{t['slurm_array_task_id']}"
    if t["slurm_job_id"]:
        return t["slurm_job_id"]
    if t["k8s_pod"]:
        return f"k8s:{t['k8s_namespace']}/{t['k8s_pod']}" if t["k8s_namespace"] else f"k8s:{t['k8s_pod']}"
    return ""
