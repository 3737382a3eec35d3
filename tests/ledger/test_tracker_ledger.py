"""``Tracker(ledger_url=...)``, ``--ledger-url`` and ``$WATTWATCH_DB``: the final row also goes to the database
at ``stop()``; the CSV stays the durable record; a database that is down costs one warning and the next
``ledger push`` adds the row; ``stop()`` never waits on the database beyond its bound."""

from __future__ import annotations

import logging
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pgserver
import pytest
import sqlalchemy as sa
from ledgerruns import count_rows, make_run

from wattwatch import Tracker
from wattwatch.cli.main import main
from wattwatch.errors import ConfigurationError
from wattwatch.ledger.engine import open_engine
from wattwatch.ledger.urls import parse_url
from wattwatch.sinks.csv import read_rows

SLURM_K8S = {
    "USER": "alice", "SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "1", "SLURM_ARRAY_JOB_ID": "4240",
    "SLURM_ARRAY_TASK_ID": "2", "SLURM_JOB_NODELIST": "gpu[01-02]", "SLURM_JOB_USER": "alice",
    "SLURM_JOB_PARTITION": "a100", "POD_NAME": "p-0", "POD_NAMESPACE": "ml", "NODE_NAME": "n-7",
}  # fmt: skip


def _rows(url: str, sql: str) -> list[tuple]:
    engine = open_engine(parse_url(url))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def _ledger_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "ledger" in r.getMessage()]


def test_the_final_row_lands_with_its_job_columns_and_joins_sacct(db_url: str, tmp_path: Path) -> None:
    t, data = make_run(tmp_path / "out", environ=SLURM_K8S, ledger_url=db_url)
    (row,) = read_rows(tmp_path / "out" / "emissions.csv")[1]  # the CSV holds the row as before
    assert row["run_id"] == data.run_id and row["slurm_job_id"] == "4242"
    got = _rows(db_url, "SELECT run_id, segment, status, energy_consumed, emissions, slurm_job_id, slurm_step_id, "
                "slurm_array_job_id, slurm_array_task_id, slurm_node_list, slurm_job_user, slurm_partition, "
                "k8s_pod, k8s_namespace, k8s_node, user_name, job_key FROM ledger_rows")  # fmt: skip
    assert got == [
        (data.run_id, 0, "completed", pytest.approx(data.energy_consumed, rel=1e-15),
         pytest.approx(data.emissions, rel=1e-15), "4242", "1", "4240", "2", "gpu[01-02]", "alice", "a100",
         "p-0", "ml", "n-7", "alice", "4240_2")
    ]  # fmt: skip
    assert _rows(db_url, "SELECT count(*) FROM devices")[0][0] == 2
    # sacct --parsable2 --format=JobIDRaw,ElapsedRaw,ConsumedEnergyRaw, loaded into the same database, joins the
    # row on JobIDRaw = <slurm_job_id>.<slurm_step_id> (docs/ledger.md)
    engine = open_engine(parse_url(db_url))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE sacct (jobidraw TEXT, elapsedraw INTEGER, consumedenergyraw BIGINT)"))
            conn.execute(sa.text("INSERT INTO sacct VALUES ('4242', 100, 9000), ('4242.batch', 100, 10), "
                                 "('4242.1', 90, 8000)"))  # fmt: skip
        with engine.connect() as conn:
            joined = conn.execute(
                sa.text(
                    "SELECT r.run_id, a.jobidraw, a.consumedenergyraw FROM ledger_rows r JOIN sacct a "
                    "ON a.jobidraw = r.slurm_job_id || '.' || r.slurm_step_id"
                )
            ).all()
    finally:
        engine.dispose()
    assert [tuple(j) for j in joined] == [(data.run_id, "4242.1", 8000)]


def test_wattwatch_db_in_the_environment_and_off(sqlite_url: str, tmp_path: Path) -> None:
    make_run(tmp_path / "a", environ={"USER": "a", "WATTWATCH_DB": sqlite_url}, ledger_url=None)
    assert count_rows(sqlite_url)["segments"] == 1
    make_run(tmp_path / "b", environ={"USER": "a", "WATTWATCH_DB": sqlite_url}, ledger_url="")  # '' turns it off
    assert count_rows(sqlite_url)["segments"] == 1


def test_bad_urls(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigurationError, match="unsupported database URL kind 'mysql'") as err:
        Tracker(ledger_url="mysql://u:secret@db:3306/x")
    assert "\n" not in str(err.value) and "secret" not in str(err.value)
    # the same in the cluster's environment must not stop a user's run: one warning, the row in the CSV
    _, data = make_run(tmp_path, environ={"USER": "a", "WATTWATCH_DB": "mongodb://db/x"}, ledger_url=None)
    assert data.status == "completed" and len(read_rows(tmp_path / "emissions.csv")[1]) == 1
    assert len(_ledger_warnings(caplog)) == 1 and "mongodb" in _ledger_warnings(caplog)[0]


def test_stop_does_not_wait_for_a_locked_database(sqlite_url: str, tmp_path: Path) -> None:
    """Another writer holds the SQLite write lock through stop(): stop() returns (its wait is bounded), the row is
    in the CSV, and the push lands once the lock is released."""
    from fakesensors import ConstantPowerSensor

    t = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor(100.0)], carbon_intensity_g_per_kwh=100.0,
                handle_signals=False, save_timeseries=False, environ={}, ledger_url=sqlite_url)  # fmt: skip
    t.start()
    sink = t._recorder.ledger
    assert sink is not None and sink.ready.wait(60)
    blocker = sqlite3.connect(parse_url(sqlite_url).database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        data = t.stop()
        assert data is not None and data.status == "completed"
        assert not sink.done.is_set()  # stop() returned while the push still waits for the lock
        assert len(read_rows(tmp_path / "emissions.csv")[1]) == 1
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert sink.done.wait(60) and sink.pushed
    assert count_rows(sqlite_url)["segments"] == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_database_is_one_line_naming_host_and_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    port = _closed_port()
    url = f"postgresql://u:secret@127.0.0.1:{port}/ledger"
    make_run(tmp_path)
    capsys.readouterr()
    assert main(["ledger", "push", str(tmp_path), "--db", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"127.0.0.1:{port}" in err and "secret" not in err, err
    assert main(["report", "--db", url]) == 2
    assert f"127.0.0.1:{port}" in capsys.readouterr().err
    # the tracker: one warning, the run and its CSV row untouched
    _, data = make_run(tmp_path / "t", ledger_url=url)
    assert data.status == "completed" and len(read_rows(tmp_path / "t" / "emissions.csv")[1]) == 1
    warnings = _ledger_warnings(caplog)
    assert len(warnings) == 1 and f"127.0.0.1:{port}" in warnings[0] and "ledger push" in warnings[0]


def test_a_database_outage_mid_run(
    pg_server: pgserver.PostgresServer, pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Connected at start(), PostgreSQL goes down during the run: stop() warns once and the row is in the CSV;
    when the database is back, `ledger push` adds it (and a second push adds nothing)."""
    from fakesensors import ConstantPowerSensor

    t = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor(100.0)], carbon_intensity_g_per_kwh=100.0,
                handle_signals=False, save_timeseries=False, environ={}, ledger_url=pg_url)  # fmt: skip
    t.start()
    sink = t._recorder.ledger
    assert sink is not None and sink.ready.wait(60) and not sink.error
    pg_server.pause()
    try:
        data = t.stop()
        assert data is not None and data.status == "completed"
        assert sink.done.wait(60) and not sink.pushed
    finally:
        pg_server.resume()
    warnings = _ledger_warnings(caplog)
    assert len(warnings) == 1 and f"127.0.0.1:{pg_server.port}" in warnings[0], warnings
    assert len(read_rows(tmp_path / "emissions.csv")[1]) == 1
    assert count_rows(pg_url)["segments"] == 0
    assert main(["ledger", "push", str(tmp_path), "--db", pg_url, "-q"]) == 0
    assert main(["ledger", "push", str(tmp_path), "--db", pg_url, "-q"]) == 0
    assert _rows(pg_url, "SELECT run_id, status FROM segments") == [(data.run_id, "completed")]


def test_a_database_down_at_start_is_tried_again_at_stop(
    pg_server: pgserver.PostgresServer, pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from fakesensors import ConstantPowerSensor

    pg_server.pause()
    try:
        t = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor(100.0)], carbon_intensity_g_per_kwh=100.0,
                    handle_signals=False, save_timeseries=False, environ={}, ledger_url=pg_url)  # fmt: skip
        t.start()
        sink = t._recorder.ledger
        assert sink is not None and sink.ready.wait(60)
    finally:
        pg_server.resume()
    data = t.stop()
    assert sink.done.wait(60) and sink.pushed, sink.error
    assert _ledger_warnings(caplog) == []
    assert _rows(pg_url, "SELECT run_id FROM segments") == [(data.run_id,)]


def test_wattwatch_run_ledger_url(sqlite_url: str, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "wattwatch", "run", "--output-dir", str(tmp_path), "--ledger-url", sqlite_url,
         "--measure-power-secs", "0.1", "--", sys.executable, "-c", "pass"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (row,) = read_rows(tmp_path / "emissions.csv")[1]
    assert _rows(sqlite_url, "SELECT run_id, status FROM segments") == [(row["run_id"], "completed")]


def test_the_callbacks_take_the_ledger_url(sqlite_url: str) -> None:
    pytest.importorskip("lightning", reason="lightning not installed")
    from wattwatch.callbacks.lightning import WattwatchLightningCallback

    assert WattwatchLightningCallback(ledger_url=sqlite_url).tracker_kwargs["ledger_url"] == sqlite_url
    with pytest.raises(ConfigurationError):
        WattwatchLightningCallback(ledger_url="oracle://x")


def _rank(url: str, folder: str, rank: int, barrier: object, out: object) -> None:
    from fakesensors import ConstantPowerSensor

    env = {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
           "TORCHELASTIC_RUN_ID": "dist-ledger", "USER": "alice"}  # fmt: skip
    t = Tracker(output_dir=folder, sensors=[ConstantPowerSensor(100.0)], carbon_intensity_g_per_kwh=100.0,
                handle_signals=False, save_timeseries=False, environ=env, ledger_url=url)  # fmt: skip
    t.start()
    sink = t._recorder.ledger
    barrier.wait(timeout=60)  # type: ignore[attr-defined]
    if rank == 1:
        barrier.wait(timeout=60)  # type: ignore[attr-defined]  # rank 0 has stopped: rank 1 ends the run
    t.stop()
    if rank == 0:
        barrier.wait(timeout=60)  # type: ignore[attr-defined]
    out.put((rank, sink is not None and sink.done.wait(60) and sink.pushed))  # type: ignore[attr-defined]


def test_a_distributed_run_is_pushed_once_by_the_rank_that_writes_its_row(sqlite_url: str, tmp_path: Path) -> None:
    """Two ranks (torchrun's environment, two processes): the run's one combined row is in the CSV once and in
    the ledger once, pushed by the rank that appended it (the one that ended the run)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_rank, args=(sqlite_url, str(tmp_path), r, barrier, out)) for r in range(2)]
    for p in procs:
        p.start()
    pushed = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert pushed == {0: False, 1: True}
    (row,) = read_rows(tmp_path / "emissions.csv")[1]
    got = _rows(sqlite_url, "SELECT run_id, rank_count, torchrun_world_size, energy_consumed FROM ledger_rows")
    assert got == [(row["run_id"], 2, 2, pytest.approx(float(row["energy_consumed"]), rel=1e-12))]


def test_the_codecarbon_style_tracker_follows_wattwatch_db(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wattwatch import OfflineEmissionsTracker

    monkeypatch.setenv("WATTWATCH_DB", sqlite_url)
    tracker = OfflineEmissionsTracker(country_iso_code="FRA", output_dir=str(tmp_path))
    tracker.start()
    sink = tracker._recorder.ledger
    tracker.stop()
    assert sink is not None and sink.done.wait(60) and sink.pushed
    (row,) = read_rows(tmp_path / "emissions.csv")[1]
    assert _rows(sqlite_url, "SELECT run_id FROM segments") == [(row["run_id"],)]


def test_a_script_that_never_calls_stop_still_pushes_at_exit(sqlite_url: str, tmp_path: Path) -> None:
    """The tracker's exit hook stops the run; the ledger's own exit hook (which runs after it) waits for the
    push (up to 5 s), so a script that just ends has its row in the database too."""
    import os

    support = Path(__file__).resolve().parents[1] / "support"
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from fakesensors import ConstantPowerSensor\n"
        "from wattwatch import Tracker\n"
        "Tracker(output_dir=sys.argv[2], sensors=[ConstantPowerSensor(100.0)], carbon_intensity_g_per_kwh=100.0,"
        " save_timeseries=False, environ={}, ledger_url=sys.argv[3]).start()\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(support), str(tmp_path), sqlite_url],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))  # fmt: skip
    assert done.returncode == 0, done.stderr
    (row,) = read_rows(tmp_path / "emissions.csv")[1]
    assert _rows(sqlite_url, "SELECT run_id, status FROM segments") == [(row["run_id"], "completed")]
