"""Older ledgers with rows in them are migrated in place to this version: version 1 (issue 28 as first merged)
through version 2 (issue 24's figures), version 2 to version 3 (a segment keyed by its start too: two retries
from one checkpoint are two segments). Afterwards each holds exactly what a push into a new ledger holds,
``report --db`` equals ``report PATH`` on the same runs, and pushing the files again adds nothing -- on SQLite
and on PostgreSQL."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from ledgerruns import count_rows, make_run

from wattwatch.cli.main import main
from wattwatch.ledger import group_sums
from wattwatch.ledger.engine import open_engine
from wattwatch.ledger.migrate import ensure_schema, mark_latest, schema_version
from wattwatch.ledger.schema import (
    SCHEMA_VERSION,
    SEGMENT_INDEXES,
    SEGMENT_KEYS,
    details,
    devices,
    phases,
    runs,
    schema_table,
    segments,
)
from wattwatch.ledger.urls import parse_url

_ADDED_TO_SEGMENTS = (
    "requests", "generated_tokens", "inference_energy_kwh", "overlaps_run_id", "overlap_energy_kwh", "other_group",
    "latest",
)  # fmt: skip
_MOVED = ("requests", "generated_tokens", "request_phases", "overlaps_run_id", "overlap_energy_kwh")
"""The row columns version 1 kept in ``extra`` (JSON) and version 2 keeps in their own columns."""


_V2_KEY = ("run_id", "segment")
"""Version 2's key of a segment (version 3 added ``start_time``, and changed nothing else)."""


def _v2_metadata() -> sa.MetaData:
    """Version 2's tables: version 3's keyed by ``(run_id, segment)`` -- ``segments.start_time`` not in the key,
    no ``start_time`` in ``segment_details``, ``phases`` and ``devices`` --, with version 2's indexes."""
    md = sa.MetaData()
    for table in (schema_table, runs, segments, details, phases, devices):
        columns = []
        for c in table.columns:
            if c.name == "start_time" and table is not segments:
                continue
            copy = c._copy()
            copy.primary_key = c.primary_key and c.name != "start_time"
            columns.append(copy)
        sa.Table(table.name, md, *columns)
    s, d = md.tables["segments"], md.tables["segment_details"]
    for index in SEGMENT_INDEXES:
        sa.Index(index.name, *(s.c[c.name] for c in index.columns), **index.dialect_kwargs)
    sa.Index("segment_details_slurm_job", d.c.slurm_job_id, d.c.slurm_step_id)
    assert [c.name for c in s.primary_key] == list(_V2_KEY)
    return md


def _v1_metadata() -> sa.MetaData:
    """Version 1's tables: version 2's without the columns it added, the status index on ``status`` alone."""
    md = sa.MetaData()
    for table in _v2_metadata().sorted_tables:
        drop = _ADDED_TO_SEGMENTS if table.name == "segments" else ("request_phases",) if table.name == "segment_details" else ()
        sa.Table(table.name, md, *(c._copy() for c in table.columns if c.name not in drop))
    s, d = md.tables["segments"], md.tables["segment_details"]
    sa.Index("segments_status", s.c.status)
    sa.Index("segments_start_time", s.c.start_time)
    sa.Index("segment_details_slurm_job", d.c.slurm_job_id, d.c.slurm_step_id)
    return md


def _old_view(md: sa.MetaData) -> str:
    """The view ``ledger_rows`` over version 1's or 2's tables (joined by ``(run_id, segment)``)."""
    names = [c.name for c in md.tables["segment_details"].columns if c.name not in _V2_KEY]
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


def _pushed_into_a_new_ledger(tmp_path: Path, paths: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The tables of a new SQLite ledger that ``paths`` were pushed into: what a migrated ledger must hold."""
    fresh_url = f"sqlite:///{tmp_path / 'fresh' / 'new.db'}"
    assert main(["ledger", "push", *paths, "--db", fresh_url, "-q"]) == 0
    return _read(fresh_url)


def _as_v2(tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Version 3's rows as version 2 wrote the same runs (one segment per run and number): no ``start_time``
    beside the segment's own in ``segments``."""
    out = dict(tables)
    for name in ("segment_details", "phases", "devices"):
        out[name] = [{k: v for k, v in row.items() if k != "start_time"} for row in tables[name]]
    pairs = [(s["run_id"], s["segment"]) for s in tables["segments"]]
    assert len(set(pairs)) == len(pairs)  # what version 2 could hold
    return out


def _as_v1(tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Version 3's rows as version 1 wrote the same runs: the moved columns in ``extra``, J/token's energy the
    ``train`` phase's when above 0, else the row's."""
    tables = _as_v2(tables)
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


def _write_old(url: str, tables: dict[str, list[dict[str, Any]]], version: int) -> None:
    """A ledger at ``version`` (1 or 2) holding ``tables``' rows, as that version's wattwatch made it."""
    md = _v1_metadata() if version == 1 else _v2_metadata()
    engine = open_engine(parse_url(url))
    try:
        with engine.begin() as conn:
            md.create_all(conn)
            conn.exec_driver_sql(_old_view(md))
            stamp = {"id": 1, "version": version, "wattwatch_version": "0.1.0"}
            conn.execute(sa.insert(md.tables["wattwatch_schema"]).values(**stamp))
            for name, rows in tables.items():
                if rows:
                    conn.execute(sa.insert(md.tables[name]), rows)
    finally:
        engine.dispose()


def _same_tables(migrated: dict[str, list[dict[str, Any]]], fresh: dict[str, list[dict[str, Any]]]) -> None:
    """``migrated`` holds what a new push holds (``fresh``), cell by cell."""
    for name, rows in fresh.items():
        assert len(migrated[name]) == len(rows), name
        for new, old in zip(migrated[name], rows, strict=True):
            assert set(new) == set(old), name
            for column, value in old.items():
                if column == "extra":
                    assert json.loads(new[column]) == json.loads(value)
                else:
                    assert _same(new[column], value), (name, column, new[column], value)


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
    fresh = _pushed_into_a_new_ledger(tmp_path, paths)
    assert any(s["overlap_energy_kwh"] for s in fresh["segments"]) and any(s["requests"] for s in fresh["segments"])
    assert [s["latest"] for s in fresh["segments"]].count(False) == 2  # the resumed runs' first segments
    assert [s["other_group"] for s in fresh["segments"]].count(True) == 1  # the one in its first job
    _write_old(db_url, _as_v1(fresh), 1)
    before = count_rows(db_url)

    engine = open_engine(parse_url(db_url))
    try:
        assert ensure_schema(engine) == 1  # migrated, in place
        with engine.connect() as conn:
            assert schema_version(conn) == SCHEMA_VERSION
            names = {i["name"] for i in sa.inspect(conn).get_indexes("segments")}
            assert {"segments_status", "segments_overlapping", "segments_other_group"} <= names
            view = conn.execute(sa.text("SELECT * FROM ledger_rows")).mappings().all()
            assert len(view) == 10 and {"request_phases", "overlap_energy_kwh", "latest"} <= set(view[0])
    finally:
        engine.dispose()
    assert count_rows(db_url) == before
    _same_tables(_read(db_url), fresh)  # what a new push would hold, cell by cell

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


def _codecarbon_run(folder: Path) -> None:
    """A row of CodeCarbon's own file: no ``start_time`` (its segment's key has ``""``), no ``resumed_segments``."""
    folder.mkdir(parents=True)
    (folder / "emissions.csv").write_text(
        "timestamp,project_name,run_id,duration,emissions,energy_consumed,cpu_energy,gpu_energy,ram_energy,"
        "country_iso_code,cpu_count,cpu_model,ram_total_size\n"
        "2026-01-02T10:00:00,cc,cc-run-1,3600,0.05,0.35,0.04,0.3,0.01,FRA,8,Intel Xeon,64\n"
    )


def _flags(url: str) -> dict[tuple[str, int, str], tuple[bool, bool]]:
    engine = open_engine(parse_url(url))
    try:
        with engine.connect() as conn:
            query = sa.select(segments.c.run_id, segments.c.segment, segments.c.start_time, segments.c.latest,
                              segments.c.other_group)  # fmt: skip
            return {(r, g, t): (bool(latest), bool(other)) for r, g, t, latest, other in conn.execute(query)}
    finally:
        engine.dispose()


def test_a_v2_ledger_with_rows_migrates_to_segments_keyed_by_their_start(
    db_url: str, tmp_path: Path, team_history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A version-2 ledger (a resumed run in two jobs, overlapping runs, an inference run, CodeCarbon's row
    without a start, and the first of two retries from one checkpoint) is rebuilt as version 3 in place: every
    row kept, cell by cell what a new push holds, its keys and indexes version 3's; then the second retry --
    which version 2 took for the first one -- is pushed beside it, and ``report --db`` equals ``report PATH``."""
    t, _ = make_run(tmp_path / "requeued", environ={"USER": "ann", "SLURM_JOB_ID": "9"})  # resumed in another job
    make_run(tmp_path / "requeued", state=t.state_dict(), environ={"USER": "ann", "SLURM_JOB_ID": "10"})
    _codecarbon_run(tmp_path / "codecarbon")
    t, _ = make_run(tmp_path / "retried", tokens=100)
    saved = t.state_dict()
    make_run(tmp_path / "retried", state=saved, tokens=200)  # the first retry from the checkpoint
    paths = [str(team_history), str(tmp_path / "requeued"), str(tmp_path / "codecarbon"), str(tmp_path / "retried")]
    fresh = _pushed_into_a_new_ledger(tmp_path, paths)
    assert len(fresh["segments"]) == 13 and [s["start_time"] for s in fresh["segments"]].count("") == 1
    assert [s["other_group"] for s in fresh["segments"]].count(True) == 1  # the requeued run's first job
    _write_old(db_url, _as_v2(fresh), 2)
    before = count_rows(db_url)

    engine = open_engine(parse_url(db_url))
    try:
        assert ensure_schema(engine) == 2  # migrated, in place
        with engine.connect() as conn:
            assert schema_version(conn) == SCHEMA_VERSION == 3
            inspector = sa.inspect(conn)
            for table in ("segments", "segment_details", "phases", "devices"):
                key = inspector.get_pk_constraint(table)["constrained_columns"]
                assert key[:3] == ["run_id", "segment", "start_time"], (table, key)
            assert not [n for n in inspector.get_table_names() if n.endswith("_v2")]
            names = {i["name"] for i in inspector.get_indexes("segments")}
            assert names >= {"segments_status", "segments_start_time", "segments_overlapping", "segments_other_group"}
            assert "segment_details_slurm_job" in {i["name"] for i in inspector.get_indexes("segment_details")}
            view = conn.execute(sa.text("SELECT * FROM ledger_rows")).mappings().all()
            assert len(view) == 13 and {"request_phases", "start_time", "latest", "pushed_at"} <= set(view[0])
    finally:
        engine.dispose()
    assert count_rows(db_url) == before
    _same_tables(_read(db_url), fresh)
    files = _json(capsys, *paths)["totals"]
    db = _json(capsys, "--db", db_url)["totals"]
    assert db["runs"] == files["runs"] == 10 and db["by_status"] == files["by_status"] and db["segments"] == 13
    for key in ("energy_kwh", "emissions_kg", "overlap_kwh", "embodied_emissions_kg", "water_l"):
        assert db[key] == pytest.approx(files[key], rel=1e-12), key
    engine = open_engine(parse_url(db_url))
    try:
        with engine.connect() as conn:  # SQLite: the --by groups' sums are made and filled by the migration
            assert group_sums.present(conn) == (conn.dialect.name == "sqlite")
    finally:
        engine.dispose()
    for by in group_sums.BY:
        grouped = _json(capsys, "--db", db_url, "--by", by, "--all")["totals"]
        assert grouped["runs"] == 10, by
        for key in ("energy_kwh", "emissions_kg", "overlap_kwh", "embodied_emissions_kg", "water_l"):
            assert grouped[key] == pytest.approx(files[key], rel=1e-12), (by, key)

    _, second = make_run(tmp_path / "retried", state=saved, tokens=300)  # the second retry: a segment of its own
    capsys.readouterr()
    assert main(["ledger", "push", *paths, "--db", db_url]) == 0
    assert "1 segments added, 0 updated, 13 already there" in capsys.readouterr().out
    files_doc, db_doc = _json(capsys, *paths, "--all"), _json(capsys, "--db", db_url, "--all")
    files, db = files_doc["totals"], db_doc["totals"]
    assert db["runs"] == files["runs"] == 10 and db["segments"] == 14 and db["by_status"] == files["by_status"]
    for key in ("energy_kwh", "emissions_kg", "overlap_kwh", "embodied_emissions_kg", "water_l", "duration_s"):
        assert db[key] == pytest.approx(files[key], rel=1e-12), key
    (mine,) = [r for r in db_doc["runs"] if r["run_id"] == second.run_id]
    (theirs,) = [r for r in files_doc["runs"] if r["run_id"] == second.run_id]
    assert mine["segments"] == theirs["segments"] == 3 and mine["tokens"] == theirs["tokens"] == 400  # the later retry's count

    flags = _flags(db_url)  # as every push keeps them; mark_latest computes the same from scratch
    latest = [k for k, (is_latest, _) in flags.items() if k[0] == second.run_id and is_latest]
    assert latest == [(second.run_id, 1, second.start_time)]  # the later retry
    engine = open_engine(parse_url(db_url))
    try:
        with engine.begin() as conn:
            conn.execute(sa.update(segments).values(latest=True, other_group=True))
            mark_latest(conn)
    finally:
        engine.dispose()
    assert _flags(db_url) == flags


def test_the_cli_says_it_migrates_before_it_does(
    sqlite_url: str, tmp_path: Path, team_history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A migration rewrites tables (a minute for a million runs): the command that starts it says so first."""
    _write_old(sqlite_url, _as_v2(_pushed_into_a_new_ledger(tmp_path, [str(team_history)])), 2)
    capsys.readouterr()
    assert main(["report", "--db", sqlite_url, "--by", "project"]) == 0
    err = capsys.readouterr().err
    assert "migrating the ledger" in err and "from schema version 2 to 3" in err
    assert main(["report", "--db", sqlite_url]) == 0
    assert "migrating" not in capsys.readouterr().err  # once
