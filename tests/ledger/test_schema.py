"""The ledger's schema: created once, a version recorded, forward migrations applied in order, a newer schema
refused with what to do, URLs of an unsupported kind refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from ledgerruns import make_run

from wattwatch.cli.main import main
from wattwatch.ledger.engine import open_engine
from wattwatch.ledger.migrate import ensure_schema, schema_version
from wattwatch.ledger.schema import SCHEMA_VERSION
from wattwatch.ledger.urls import LedgerError, default_sqlite_path, parse_url, resolve_url


def test_created_once_with_its_version(db_url: str) -> None:
    engine = open_engine(parse_url(db_url))
    try:
        assert ensure_schema(engine) == 0
        assert ensure_schema(engine) == SCHEMA_VERSION
        with engine.connect() as conn:
            assert schema_version(conn) == SCHEMA_VERSION
            names = set(sa.inspect(conn).get_table_names())
            assert {"runs", "segments", "segment_details", "phases", "devices", "wattwatch_schema"} <= names
            assert "ledger_rows" in sa.inspect(conn).get_view_names()
    finally:
        engine.dispose()


def test_forward_migrations_run_once_in_order(db_url: str) -> None:
    """A ledger at this version (V) opened by a wattwatch at version V + 2: both steps run, in order, once."""
    calls: list[int] = []

    def add_column(conn: sa.Connection) -> None:
        calls.append(1)
        conn.execute(sa.text("ALTER TABLE runs ADD COLUMN team TEXT NOT NULL DEFAULT ''"))

    def fill_column(conn: sa.Connection) -> None:
        calls.append(2)
        conn.execute(sa.text("UPDATE runs SET team = 'ml'"))

    engine = open_engine(parse_url(db_url))
    try:
        ensure_schema(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO runs (run_id) VALUES ('r1')"))
        v = SCHEMA_VERSION
        steps = {v: add_column, v + 1: fill_column}
        assert ensure_schema(engine, version=v + 2, migrations=steps) == v
        assert ensure_schema(engine, version=v + 2, migrations=steps) == v + 2
        assert calls == [1, 2]
        with engine.connect() as conn:
            assert schema_version(conn) == v + 2
            assert conn.execute(sa.text("SELECT team FROM runs")).scalar() == "ml"
        with pytest.raises(LedgerError, match=f"no migration from ledger schema version {v + 2} to {v + 3}"):
            ensure_schema(engine, version=v + 3, migrations=steps)
    finally:
        engine.dispose()


def test_a_newer_schema_is_refused_with_what_to_do(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    engine = open_engine(parse_url(db_url))
    try:
        ensure_schema(engine)
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE wattwatch_schema SET version = {SCHEMA_VERSION + 1}"))
        with pytest.raises(LedgerError, match="upgrade wattwatch"):
            ensure_schema(engine)
    finally:
        engine.dispose()
    make_run(tmp_path)
    capsys.readouterr()
    assert main(["ledger", "push", str(tmp_path), "--db", db_url]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"schema version {SCHEMA_VERSION + 1}" in err and "pip install -U" in err
    _, data = make_run(tmp_path / "t", ledger_url=db_url)  # the tracker: one warning, the run unharmed
    assert data.status == "completed"
    warnings = [r.getMessage() for r in caplog.records if "ledger" in r.getMessage()]
    assert len(warnings) == 1 and "upgrade wattwatch" in warnings[0]


@pytest.mark.parametrize(
    ("url", "kind", "where"),
    [
        ("sqlite:////var/lib/ww/ledger.db", "sqlite", "/var/lib/ww/ledger.db"),
        ("sqlite:///rel/ledger.db", "sqlite", "rel/ledger.db"),
        ("postgresql://u:pw@db.example:6543/ledger", "postgresql", "db.example:6543/ledger"),
        ("postgres://u@db/ledger", "postgresql", "db:5432/ledger"),
        ("postgresql+psycopg://u@10.0.0.5/l", "postgresql", "10.0.0.5:5432/l"),
        ("postgresql://u@/ledger?host=/run/postgresql", "postgresql", "socket /run/postgresql/.s.PGSQL.5432 database ledger"),
    ],
)  # fmt: skip
def test_urls(url: str, kind: str, where: str) -> None:
    parsed = parse_url(url)
    assert parsed.kind == kind and parsed.where == where and "pw" not in parsed.where
    if kind == "postgresql":
        assert parsed.sqlalchemy.startswith("postgresql+psycopg://")


@pytest.mark.parametrize("url", ["mysql://u@h/d", "postgresql+psycopg2://u@h/d", "ledger.db", "sqlite:relative", "http://x"])
def test_unsupported_urls_are_one_line(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(LedgerError) as err:
        parse_url(url)
    assert "\n" not in str(err.value)
    assert main(["report", "--db", url]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_default_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_sqlite_path() == str(tmp_path / "data" / "wattwatch" / "ledger.db")
    assert resolve_url(None, {}).database == str(tmp_path / "data" / "wattwatch" / "ledger.db")
    assert resolve_url(None, {"WATTWATCH_DB": "sqlite:////x/y.db"}).database == "/x/y.db"
    assert resolve_url("sqlite:////a.db", {"WATTWATCH_DB": "sqlite:////x/y.db"}).database == "/a.db"
    monkeypatch.delenv("WATTWATCH_DB", raising=False)
    make_run(tmp_path / "runs")
    assert main(["ledger", "push", str(tmp_path / "runs"), "-q"]) == 0  # no --db: the default SQLite file
    assert (tmp_path / "data" / "wattwatch" / "ledger.db").is_file()
    assert main(["report", "--db", "--by", "user"]) == 0


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["report", "--by", "project", str(tmp_path)]) == 2
    assert "--db" in capsys.readouterr().err
    assert main(["report"]) == 2
    assert main(["report", str(tmp_path), "--db", "sqlite:////x.db"]) == 2
    assert main(["ledger", "push", str(tmp_path / "missing"), "--db", f"sqlite:///{tmp_path / 'l.db'}"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
