"""32 processes stop their runs at the same moment, each pushing its row to one new ledger: 32 runs, none lost or
duplicated, and no writer ever sees "database is locked" (SQLite: WAL, busy timeout, BEGIN IMMEDIATE;
PostgreSQL: the schema created once under an advisory lock). Forked from this process, so that no child pays
for importing SQLAlchemy."""

from __future__ import annotations

import logging
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest
from ledgerruns import count_rows

WRITERS = 32


def _writer(url: str, folder: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue) -> None:
    from fakesensors import ConstantPowerSensor

    from wattwatch import Tracker

    warnings: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            # 32 machine-mode trackers on one machine do overlap, and say so (issue 24); this test is about the
            # ledger's own warnings
            if record.levelno >= logging.WARNING and "is already measuring this machine" not in record.getMessage():
                warnings.append(record.getMessage())

    logging.getLogger("wattwatch").addHandler(Catch())
    try:
        t = Tracker(output_dir=folder, sensors=[ConstantPowerSensor(100.0)], carbon_intensity_g_per_kwh=100.0,
                    handle_signals=False, save_timeseries=False, environ={}, ledger_url=url)  # fmt: skip
        t.start()
        sink = t._recorder.ledger
        assert sink is not None
        barrier.wait(timeout=120)  # every writer's sink is opening the same new database now
        data = t.stop()
        assert data is not None
        done = sink.done.wait(120)
        out.put((os.getpid(), data.run_id, done and sink.pushed, sink.error, warnings))
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        out.put((os.getpid(), "", False, repr(exc), warnings))


def _run_writers(url: str, tmp_path: Path) -> list[tuple]:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(WRITERS)
    out: multiprocessing.Queue = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(url, str(tmp_path / f"w{i}"), barrier, out)) for i in range(WRITERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return results


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_32_writers_at_once(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}" if kind == "sqlite" else str(request.getfixturevalue("pg_url"))
    results = _run_writers(url, tmp_path)
    failures = [r for r in results if not r[2] or r[4]]
    assert not failures, failures[:3]
    assert not any("locked" in str(r) for r in results)
    run_ids = {r[1] for r in results}
    assert len(run_ids) == WRITERS
    counts = count_rows(url)
    assert counts["runs"] == counts["segments"] == counts["segment_details"] == WRITERS
    assert counts["devices"] == WRITERS
    import sqlalchemy as sa

    from wattwatch.ledger.engine import open_engine
    from wattwatch.ledger.urls import parse_url

    engine = open_engine(parse_url(url))
    try:
        with engine.connect() as conn:
            stored = {r for (r,) in conn.execute(sa.text("SELECT run_id FROM segments"))}
            versions = conn.execute(sa.text("SELECT count(*) FROM wattwatch_schema")).scalar()
    finally:
        engine.dispose()
    assert stored == run_ids and versions == 1


SEGMENTS = 8


def _segment_writer(url: str, row: dict, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue) -> None:
    from wattwatch.ledger.engine import open_engine
    from wattwatch.ledger.push import PushItem, push_prepared
    from wattwatch.ledger.sources import prepare
    from wattwatch.ledger.urls import parse_url
    from wattwatch.result import EmissionsData

    try:
        engine = open_engine(parse_url(url))
        item = prepare(EmissionsData.from_row(row), full_row=True, source="test", pushed_at="now")
        with engine.connect():
            pass
        barrier.wait(timeout=120)
        counts = push_prepared(engine, [PushItem(item.row)])
        engine.dispose()
        out.put((os.getpid(), counts.inserted, ""))
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        out.put((os.getpid(), 0, repr(exc)))


def _push_at_once(url: str, rows: list[dict[str, str]]) -> list[Any]:
    """Each row pushed by its own forked process, all released at once by a barrier; their results (none
    failed)."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(rows))
    out: multiprocessing.Queue = ctx.Queue()
    procs = [ctx.Process(target=_segment_writer, args=(url, row, barrier, out)) for row in rows]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert not [r for r in results if r[2]], results
    return results


@pytest.mark.parametrize("first_known", [False, True])
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_segments_of_one_run_pushed_at_once_leave_one_latest(
    kind: str, first_known: bool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """8 processes push 8 later segments of one run at the same moment (the run new to the ledger, or its first
    segment already there): every segment lands, and exactly one -- the highest -- is the run's latest, so
    ``report --db`` counts the run once (PostgreSQL: the run's row is locked, or its insert conflicts, and the
    pushes take turns)."""
    import sqlalchemy as sa
    from ledgerruns import make_run

    from wattwatch.ledger.engine import open_engine
    from wattwatch.ledger.migrate import ensure_schema
    from wattwatch.ledger.urls import parse_url

    url = f"sqlite:///{tmp_path / 'ledger.db'}" if kind == "sqlite" else str(request.getfixturevalue("pg_url"))
    _, data = make_run(tmp_path / "run", ledger_url=url if first_known else "")
    engine = open_engine(parse_url(url))
    ensure_schema(engine)
    engine.dispose()
    rows = [{**data.to_row(), "resumed_segments": str(k)} for k in range(1, SEGMENTS + 1)]
    results = _push_at_once(url, rows)
    assert sum(r[1] for r in results) == SEGMENTS
    engine = open_engine(parse_url(url))
    try:
        with engine.connect() as conn:
            flags = dict(conn.execute(sa.text("SELECT segment, latest FROM segments ORDER BY segment")).all())
    finally:
        engine.dispose()
    expected = {k: k == SEGMENTS for k in range(0 if first_known else 1, SEGMENTS + 1)}
    assert {k: bool(v) for k, v in flags.items()} == expected


@pytest.mark.parametrize("first_known", [False, True])
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_retries_and_copies_without_a_start_pushed_at_once(
    kind: str, first_known: bool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """8 processes push, at the same moment, 5 retries resumed from one checkpoint (``resumed_segments`` 1, each
    its own start) and 3 copies of that segment without a start (CodeCarbon's columns): the 5 retries land, no
    copy stays beside them -- under other keys than the retries', a copy raises no key error, so each push reads
    the run again once it holds the run's lock -- and the latest start is the run's latest segment."""
    import sqlalchemy as sa
    from ledgerruns import make_run

    from wattwatch.ledger.engine import open_engine
    from wattwatch.ledger.migrate import ensure_schema
    from wattwatch.ledger.urls import parse_url

    url = f"sqlite:///{tmp_path / 'ledger.db'}" if kind == "sqlite" else str(request.getfixturevalue("pg_url"))
    _, data = make_run(tmp_path / "run", ledger_url=url if first_known else "")
    engine = open_engine(parse_url(url))
    ensure_schema(engine)
    engine.dispose()
    base = {**data.to_row(), "resumed_segments": "1"}
    starts = [f"2030-01-01T00:00:0{k}.000+00:00" for k in range(5)]
    rows = [{**base, "start_time": start} for start in starts] + [{**base, "start_time": ""} for _ in range(3)]
    _push_at_once(url, rows)
    engine = open_engine(parse_url(url))
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT start_time, latest FROM segments WHERE segment = 1 ORDER BY start_time")
            flags = {t: bool(latest) for t, latest in conn.execute(query)}
            details = conn.execute(sa.text("SELECT count(*) FROM segment_details WHERE segment = 1")).scalar()
    finally:
        engine.dispose()
    assert flags == {t: t == starts[-1] for t in starts} and details == 5
