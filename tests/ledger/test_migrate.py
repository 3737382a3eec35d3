"""A version-1 ledger (issue 28 as first merged) with rows in it is migrated in place to version 2 (issue 24's
figures): afterwards it holds exactly what a push into a new version-2 ledger holds, ``report --db`` equals
``report PATH`` on the same runs, and pushing the files again adds nothing -- on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from ledgerruns import count_rows, make_run

from wattwatch.cli.main import main
from wattwatch.ledger.engine import open_engine
from wattwatch.ledger.migrate import ensure_schema, schema_version
from wattwatch.ledger.schema import SEGMENT_KEYS, details, devices, phases, runs, schema_table, segments
from wattwatch.ledger.urls import parse_url

_ADDED_TO_SEGMENTS = (
    "requests", "generated_tokens", "inference_energy_kwh", "overlaps_run_id", "overlap_energy_kwh", "other_group",
    "latest",
)  # fmt: skip
_MOVED = ("requests", "generated_tokens", "request_phases", "overlaps_run_id", "overlap_energy_kwh")
"""The row columns version 1 kept in ``extra`` (JSON) and version 2 keeps in their own columns."""


def _v1_metadata() -> sa.MetaData:
    """Version 1's tables: version 2's without the columns it added, the status index on ``status`` alone."""
    md = sa.MetaData()
    for table in (schema_table, runs, segments, details, phases, devices):
        drop = _ADDED_TO_SEGMENTS if table is segments else ("request_phases",) if table is details else ()
        sa.Table(table.name, md, *(c._copy() for c in table.columns if c.name not in drop))
    s, d = md.tables["segments"], md.tables["segment_details"]
    sa.Index("segments_status", s.c.status)
    sa.Index("segments_start_time", s.c.start_time)
    sa.Index("segment_details_slurm_job", d.c.slurm_job_id, d.c.slurm_step_id)
    return md


def _v1_view(md: sa.MetaData) -> str:
    names = [c.name for c in md.tables["segment_details"].columns if c.name not in ("run_id", "segment")]
    picked = ", ".join(f"d.{n}" for n in names if n not in SEGMENT_KEYS)
    return (
        f"CREATE VIEW ledger_rows AS SELECT s.*, {picked} FROM segments s JOIN segment_details d"
        " ON d.run_id = s.run_id AND d.segment = s.segment"
    )


def _read(url: str) -> dict[str, list[dict[str, Any]]]:
    engine = open_engine(parse_url(url))
    try:
        with engine.connect() as conn:
            return {
                t.name: [dict(r._mapping) for r in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
                for t in (runs, segments, details, phases, devices)
            }
    finally:
        engine.dispose()


def _as_v1(tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Version 2's rows as version 1 wrote the same runs: the moved columns in ``extra``, J/token's energy the
    ``train`` phase's when above 0, else the row's."""
    train = {(p["run_id"], p["segment"]): p["energy_kwh"] for p in tables["phases"] if p["phase"] == "train"}
    seg = {(s["run_id"], s["segment"]): s for s in tables["segments"]}
    out = dict(tables)
    out["segments"] = []
    for s in tables["segments"]:
        kwh = train.get((s["run_id"], s["segment"]))
        row = {k: v for k, v in s.items() if k not in _ADDED_TO_SEGMENTS}
        row["train_energy_kwh"] = kwh if kwh is not None and kwh > 0 else s["energy_consumed"]
        out["segments"].append(row)
    out["segment_details"] = []
    for d in tables["segment_details"]:
        s = seg[(d["run_id"], d["segment"])]
        extra = {**json.loads(d["extra"]), **{k: s[k] for k in _MOVED if k in s}, "request_phases": d["request_phases"]}
        row = {k: v for k, v in d.items() if k != "request_phases"}
        row["extra"] = json.dumps(extra, sort_keys=True, separators=(",", ":"), default=str)
        out["segment_details"].append(row)
    return out


def _write_v1(url: str, tables: dict[str, list[dict[str, Any]]]) -> None:
    md = _v1_metadata()
    engine = open_engine(parse_url(url))
    try:
        with engine.begin() as conn:
            md.create_all(conn)
            conn.exec_driver_sql(_v1_view(md))
            conn.execute(sa.insert(md.tables["wattwatch_schema"]).values(id=1, version=1, wattwatch_version="0.1.0"))
            for name, rows in tables.items():
                if rows:
                    conn.execute(sa.insert(md.tables[name]), rows)
    finally:
        engine.dispose()


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-18)
    return a == b


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["report", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_a_v1_ledger_with_rows_migrates_in_place(
    db_url: str, tmp_path: Path, team_history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t, _ = make_run(tmp_path / "requeued", environ={"USER": "ann", "SLURM_JOB_ID": "9"})  # resumed in another job
    make_run(tmp_path / "requeued", state=t.state_dict(), environ={"USER": "ann", "SLURM_JOB_ID": "10"})
    paths = [str(team_history), str(tmp_path / "requeued")]
    fresh_url = f"sqlite:///{tmp_path / 'fresh' / 'v2.db'}"  # the same runs pushed into a new version-2 ledger
    assert main(["ledger", "push", *paths, "--db", fresh_url, "-q"]) == 0
    fresh = _read(fresh_url)
    assert any(s["overlap_energy_kwh"] for s in fresh["segments"]) and any(s["requests"] for s in fresh["segments"])
    assert [s["latest"] for s in fresh["segments"]].count(False) == 2  # the resumed runs' first segments
    assert [s["other_group"] for s in fresh["segments"]].count(True) == 1  # the one in its first job
    _write_v1(db_url, _as_v1(fresh))
    before = count_rows(db_url)

    engine = open_engine(parse_url(db_url))
    try:
        assert ensure_schema(engine) == 1  # migrated, in place
        with engine.connect() as conn:
            assert schema_version(conn) == 2
            names = {i["name"] for i in sa.inspect(conn).get_indexes("segments")}
            assert {"segments_status", "segments_overlapping", "segments_other_group"} <= names
            view = conn.execute(sa.text("SELECT * FROM ledger_rows")).mappings().all()
            assert len(view) == 10 and {"request_phases", "overlap_energy_kwh", "latest"} <= set(view[0])
    finally:
        engine.dispose()
    assert count_rows(db_url) == before
    migrated = _read(db_url)
    for name, rows in fresh.items():  # what a new push would hold, cell by cell
        assert len(migrated[name]) == len(rows), name
        for new, old in zip(migrated[name], rows, strict=True):
            for column, value in old.items():
                if column == "extra":
                    assert json.loads(new[column]) == json.loads(value)
                else:
                    assert _same(new[column], value), (name, column, new[column], value)

    files = _json(capsys, *paths)["totals"]
    for argv in ((), ("--by", "job"), ("--by", "month", "--all")):
        db = _json(capsys, "--db", db_url, *argv)["totals"]
        assert db["runs"] == files["runs"] == 8 and db["by_status"] == files["by_status"]
        for key in ("energy_kwh", "emissions_kg", "overlap_kwh", "embodied_emissions_kg", "water_l"):
            assert db[key] == pytest.approx(files[key], rel=1e-12), key
    jobs = {g["key"]: (g["runs"], g["segments"]) for g in _json(capsys, "--db", db_url, "--by", "job")["groups"]}
    assert jobs["10"] == (1, 2) and "9" not in jobs
    capsys.readouterr()
    assert main(["ledger", "push", *paths, "--db", db_url]) == 0
    assert "0 segments added, 0 updated, 10 already there" in capsys.readouterr().out
