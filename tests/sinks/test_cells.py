"""Cells are inert, valid UTF-8 and bounded, whatever the user named a phase or a project."""

from __future__ import annotations

import csv
import io
import json
import re

from wattwatch.result import EmissionsData
from wattwatch.sinks.cells import (
    MAX_CELL_CHARS,
    MAX_KEY_CHARS,
    MAX_MAP_ENTRIES,
    OTHER_KEY,
    bound_mapping,
    bound_row,
    bound_text,
    clean_text,
)


def test_6000_phases_are_bounded_and_keep_their_totals() -> None:
    energy = {f"phase-{i:05d}": (i + 1) * 1e-6 for i in range(6000)}
    grams = {k: v * 0.05 for k, v in energy.items()}
    row = EmissionsData(run_id="r", phase_energy_kwh=energy, phase_emissions_kg=grams).to_row()
    assert len(row["phase_energy_kwh"]) > 100_000  # what used to be written
    out = bound_row(row)
    e = json.loads(out["phase_energy_kwh"])
    g = json.loads(out["phase_emissions_kg"])
    assert len(e) == MAX_MAP_ENTRIES and set(e) == set(g)
    assert OTHER_KEY in e
    assert abs(sum(e.values()) - sum(energy.values())) < 1e-9 * sum(energy.values())
    assert abs(sum(g.values()) - sum(grams.values())) < 1e-9 * sum(grams.values())
    top = sorted(energy, key=energy.__getitem__)[-(MAX_MAP_ENTRIES - 1) :]
    assert set(e) - {OTHER_KEY} == set(top)  # the largest phases keep their names
    # a stock csv reader (128 KiB field limit) reads the row back
    buf = io.StringIO()
    csv.writer(buf).writerow(out.values())
    assert next(csv.reader(io.StringIO(buf.getvalue())))


def test_few_phases_are_left_alone() -> None:
    row = EmissionsData(run_id="r", phase_energy_kwh={"train": 1.0, "eval": 0.5}).to_row()
    assert bound_row(row)["phase_energy_kwh"] == row["phase_energy_kwh"]


def test_long_phase_names_are_cut_and_merged() -> None:
    long_a = "a" * 5000 + "1"
    long_b = "a" * 5000 + "2"
    (e,) = bound_mapping({long_a: 1.0, long_b: 2.0, "train": 3.0})
    assert all(len(k) <= MAX_KEY_CHARS for k in e)
    assert sum(e.values()) == 6.0 and len(e) == 2  # the two names that differ only after the cut are merged


def test_a_1_mb_project_name_is_cut_with_a_marker() -> None:
    name = "p" * 1_000_000
    out = bound_row(EmissionsData(run_id="r", project_name=name).to_row())
    cell = out["project_name"]
    assert len(cell) <= MAX_CELL_CHARS
    match = re.fullmatch(r"(p+)…\[\+(\d+) chars\]", cell)
    assert match is not None, cell[-40:]
    assert len(match.group(1)) + int(match.group(2)) == 1_000_000  # the marker says how much was dropped
    assert bound_text("short") == "short"


def test_non_utf8_names_become_replacement_characters() -> None:
    name = b"caf\xe9-\xff".decode("utf-8", "surrogateescape")  # what sys.argv / os.environ carry
    out = bound_row(EmissionsData(run_id="r", project_name=name, experiment_id="\ud800x").to_row())
    assert out["project_name"] == "caf\ufffd-\ufffd"
    assert out["experiment_id"] == "\ufffdx"
    for cell in out.values():
        cell.encode("utf-8")  # every cell encodes
    assert clean_text("plain") == "plain"


def test_formulas_are_still_neutralised() -> None:
    out = bound_row({"project_name": "=HYPERLINK(1)", "emissions": "-1.5", "hostname": "+cmd"})
    assert out == {"project_name": "'=HYPERLINK(1)", "emissions": "-1.5", "hostname": "'+cmd"}


def test_bounding_is_idempotent() -> None:
    row = EmissionsData(
        run_id="r",
        project_name="=" + "x" * 10_000,
        phase_energy_kwh={f"p{i}": float(i) for i in range(100)},
    ).to_row()
    once = bound_row(row)
    assert bound_row(once) == once
