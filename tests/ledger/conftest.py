"""The ledger's databases for its tests: SQLite in a temp folder, and a real PostgreSQL server (Debian's
``postgresql`` package, started once per session in a temp folder by ``tests/support/pgserver.py``; each test
gets a freshly created database). Without the server binaries the PostgreSQL cases skip with the reason --
except in CI (``CI`` set), where they must run: ``scripts/test`` installs the package there."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pgserver
import pytest
from fakesensors import ConstantPowerSensor
from ledgerruns import make_run

from wattwatch import Tracker

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


def _overlapping_pair(folder: Path) -> None:
    """Two trackers measuring one machine at once (issue 24): the second's row records the overlap."""

    def tracker(watts: float) -> Tracker:
        return Tracker(project_name="shared", output_dir=folder, sensors=[ConstantPowerSensor(watts)],
                       carbon_intensity_g_per_kwh=200.0, handle_signals=False, save_timeseries=False,
                       environ={"USER": "carol"}, ledger_url="")  # fmt: skip

    first = tracker(100.0).start()
    second = tracker(100.0).start()
    time.sleep(0.3)
    second.flush()  # the overlap is measured at the second's readings while the first runs
    second.flush()
    a = first.stop()
    time.sleep(0.3)
    b = second.stop()
    assert a is not None and b is not None and b.overlaps_run_id == a.run_id
    assert b.overlap_energy_kwh is not None and 0 < b.overlap_energy_kwh < b.energy_consumed


def _inference_run(folder: Path) -> None:
    """A run that served requests (issue 24: inference counted apart from training)."""
    t = Tracker(project_name="serve", output_dir=folder, sensors=[ConstantPowerSensor(80.0)],
                carbon_intensity_g_per_kwh=300.0, handle_signals=False, save_timeseries=False,
                environ={"USER": "erin"}, ledger_url="")  # fmt: skip
    t.start()
    with t.phase("inference"):
        time.sleep(0.05)
        t.count_requests(4, generated_tokens=64)
    assert t.stop() is not None


def _segment(folder: Path, state: dict[str, Any] | None, *, tokens: int, loss: float) -> dict[str, Any]:
    """One segment of a run of project ``llm`` (``state``: resumed from it) that evaluated; its state after."""
    t = Tracker(project_name="llm", output_dir=folder, sensors=[ConstantPowerSensor(300.0, n=2)],
                carbon_intensity_g_per_kwh=100.0, handle_signals=False, save_timeseries=False,
                environ={"USER": "alice"}, ledger_url="")  # fmt: skip
    if state is not None:
        t.load_state_dict(state)
    t.start()
    t.step(tokens=tokens)
    t.set_eval_metrics({"loss": loss})
    assert t.stop() is not None
    return t.state_dict()


@pytest.fixture
def team_history(tmp_path: Path) -> Path:
    """A folder as teams have them: four projects, a resumed run (two segments, evaluation metrics in each), a
    failed run, token counts, an inference run, two runs that measured one machine at once."""
    folder = tmp_path / "runs"
    make_run(folder, project="llm", tokens=1000, phases=("train", "eval"))
    state = _segment(folder, None, tokens=500, loss=2.5)
    _segment(folder, state, tokens=700, loss=1.5)  # the same run, resumed from its checkpoint
    make_run(folder / "vision", project="vision", environ={"USER": "bob", "SLURM_JOB_ID": "77", "SLURM_STEP_ID": "0"})
    try:
        with Tracker(
            project_name="vision",
            output_dir=folder / "vision",
            sensors=[ConstantPowerSensor(50.0)],
            carbon_intensity_g_per_kwh=400.0,
            handle_signals=False,
            save_timeseries=False,
            ledger_url="",
            environ={"USER": "dave"},
        ):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    _overlapping_pair(folder / "shared")
    _inference_run(folder / "serve")
    return folder
