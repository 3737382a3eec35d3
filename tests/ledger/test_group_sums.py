"""SQLite's ``group_sums`` (:mod:`wattwatch.ledger.group_sums`): the triggers keep each ``--by`` group's sums equal
to grouping the segments after every kind of write, and ``report --db --by`` read from them says what grouping the
segments says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from ledgerruns import make_run

from wattwatch.cli.main import main
from wattwatch.ledger import group_sums
from wattwatch.ledger.engine import open_engine, writer
from wattwatch.ledger.migrate import ensure_schema
from wattwatch.ledger.schema import segments
from wattwatch.ledger.urls import parse_url

_COUNTS = ("segments", "runs", "with_low", "with_high", "embodied_computed")


def _grouped_segments(conn: sa.Connection) -> dict[tuple[str, str], dict[str, Any]]:
    """What ``group_sums`` must hold: the segments grouped under each dimension, computed here from scratch."""
    s = segments.c
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for dim, col in group_sums.BY.items():
        for row in conn.execute(sa.select(s)).mappings():
            entry = out.setdefault((dim, row[col]), dict.fromkeys(group_sums.COLUMNS, 0))
            entry["segments"] += 1
            entry["runs"] += int(bool(row["latest"]))
            for name, column in group_sums.SUMS:
                entry[name] += row[column]
            for band in ("low", "high"):
                value = row[f"energy_{band}_kwh"]
                if value is not None:
                    entry[f"energy_{band}_kwh"] += value
                    entry[f"with_{band}"] += 1
            entry["embodied_computed"] += int(bool(row["embodied_computed"]))
    return out


def _assert_sums_follow(url: str) -> int:
    """``group_sums`` equals grouping the segments (groups emptied by deletes stay, all zero); how many groups."""
    engine = open_engine(parse_url(url))
    try:
        with engine.connect() as conn:
            assert group_sums.present(conn)
            expected = _grouped_segments(conn)
            kept = {(r["dimension"], r["key"]): dict(r) for r in conn.execute(sa.select(group_sums.group_sums)).mappings()}
    finally:
        engine.dispose()
    for key, row in kept.items():
        want = expected.get(key, dict.fromkeys(group_sums.COLUMNS, 0))
        for column in group_sums.COLUMNS:
            if column in _COUNTS:
                assert row[column] == want[column], (key, column)
            else:
                assert row[column] == pytest.approx(want[column], rel=1e-12, abs=1e-12), (key, column)
    assert set(expected) <= set(kept)
    return len(expected)


def _push(url: str, *paths: Path) -> None:
    assert main(["ledger", "push", *map(str, paths), "--db", url, "-q"]) == 0


def _sql(url: str, statement: str) -> None:
    engine = open_engine(parse_url(url))
    try:
        with writer(engine).begin() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def test_the_sums_follow_every_write(sqlite_url: str, team_history: Path, tmp_path: Path) -> None:
    _push(sqlite_url, team_history)  # inserts: a resumed run, a failed run, overlaps, a Slurm job, inference
    assert _assert_sums_follow(sqlite_url) > 5
    more = tmp_path / "more"
    tracker, first = make_run(more, project="llm", tokens=10, environ={"USER": "zoe"})
    _push(sqlite_url, more)
    # a new segment of a pushed run, in another month's and user's group: the old one is no longer its run's
    # latest and moves to its group (the flags a push moves)
    make_run(more, project="llm", tokens=10, environ={"USER": "yann"}, state=tracker.state_dict())
    _push(sqlite_url, more)
    _assert_sums_follow(sqlite_url)
    _push(sqlite_url, team_history, tmp_path / "more")  # pushed again: nothing changes
    _assert_sums_follow(sqlite_url)
    # writes by hand: a run moved to another project, a segment deleted, figures corrected
    _sql(sqlite_url, f"UPDATE segments SET project_name = 'moved', energy_consumed = 2 * energy_consumed WHERE run_id = '{first.run_id}'")
    _assert_sums_follow(sqlite_url)
    _sql(sqlite_url, "DELETE FROM segments WHERE project_name = 'vision'")
    _assert_sums_follow(sqlite_url)
    _sql(sqlite_url, "UPDATE segments SET status = 'failed'")  # no summed column: the sums are left alone
    _assert_sums_follow(sqlite_url)


def test_a_write_rolled_back_leaves_the_sums_as_they_were(sqlite_url: str, team_history: Path) -> None:
    _push(sqlite_url, team_history)
    engine = open_engine(parse_url(sqlite_url))
    try:
        with engine.connect() as conn:
            before = conn.execute(sa.select(group_sums.group_sums).order_by("dimension", "key")).all()
        with pytest.raises(RuntimeError), writer(engine).begin() as conn:
            conn.exec_driver_sql("DELETE FROM segments")
            assert conn.execute(sa.select(sa.func.sum(group_sums.group_sums.c.segments))).scalar() == 0
            raise RuntimeError("the push failed")
        with engine.connect() as conn:
            assert conn.execute(sa.select(group_sums.group_sums).order_by("dimension", "key")).all() == before
    finally:
        engine.dispose()


def _by(capsys: pytest.CaptureFixture[str], url: str, by: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["report", "--db", url, "--by", by, "--all", "--json"]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def _same(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15)
    else:
        assert a == b


@pytest.mark.parametrize("by", list(group_sums.BY))
def test_report_by_from_the_sums_says_what_grouping_the_segments_says(
    by: str, sqlite_url: str, team_history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _push(sqlite_url, team_history)
    kept = _by(capsys, sqlite_url, by)
    for name in group_sums.TRIGGERS:  # a ledger without them (an older file read as it is) groups the segments
        _sql(sqlite_url, f"DROP TRIGGER {name}")
    engine = open_engine(parse_url(sqlite_url))
    try:
        with engine.connect() as conn:
            assert not group_sums.present(conn)
    finally:
        engine.dispose()
    grouped = _by(capsys, sqlite_url, by)
    assert kept["groups"] and kept["totals"]["runs"] == 7
    _same(kept, grouped)


def test_postgresql_groups_the_segments(pg_url: str) -> None:
    engine = open_engine(parse_url(pg_url))
    try:
        ensure_schema(engine)
        with engine.connect() as conn:
            assert not group_sums.present(conn)
            assert not sa.inspect(conn).has_table(group_sums.TABLE)
    finally:
        engine.dispose()
