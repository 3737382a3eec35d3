"""The ledger's databases for its tests: SQLite in a temp folder, and a real PostgreSQL server (Debian's
``postgresql`` package, started once per session in a temp folder by ``tests/support/pgserver.py``; each test
gets a freshly created database). Without the server binaries the PostgreSQL cases skip with the reason --
except in CI (``CI`` set), where they must run: ``scripts/test`` installs the package there."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pgserver
import pytest

pytest.importorskip("sqlalchemy", reason="the ledger extra is not installed (pip install -e '.[ledger]')")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pgserver.PostgresServer]:
    binaries = pgserver.find_binaries()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail(pgserver.missing_reason() + "; CI must run the PostgreSQL tests")
        pytest.skip(pgserver.missing_reason())
    server = pgserver.PostgresServer(binaries)
    try:
        server.start()
    except RuntimeError as exc:
        server.stop()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL could not start here: {exc}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: pgserver.PostgresServer) -> str:
    """A fresh, empty PostgreSQL database."""
    pg_server.reset()
    return pg_server.url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger' / 'ledger.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test with this fixture runs on both databases."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger' / 'ledger.db'}"
    return str(request.getfixturevalue("pg_url"))
