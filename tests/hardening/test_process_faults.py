"""Process faults: kill -9 at random moments, SIGTERM during a flush, fork, threads, two trackers, exit without
stop(). emissions.csv must always parse, with whole rows only, and no other run's row may be lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor
from hardhelp import child_env, csv_rows, run_python

from wattwatch import Tracker
from wattwatch.sinks.journal import finalize_stale, journal_dir

_FLUSHING_CHILD = """
import sys, time
from fakesensors import ConstantPowerSensor
from wattwatch import Tracker
t = Tracker(output_dir=sys.argv[1], sensors=[ConstantPowerSensor(100.0)], measure_power_secs=0.005,
            flush_every_s=0.005, timeseries_every_s=0.005, project_name="victim " + "x" * 2000)
t.start()
print("started", flush=True)
while True:
    t.flush()  # the main thread rewrites the row too: kills land inside writes most of the time
"""


def _seed(out: Path, n: int) -> list[str]:
    seed = Tracker(
        output_dir=out, sensors=[ConstantPowerSensor()], handle_signals=False, save_timeseries=False
    )
    ids = []
    for _ in range(n):
        seed.start()
        seed.stop()
        ids.append(seed.run_id)
    return ids


def test_sigkill_at_20_random_moments(tmp_path: Path) -> None:
    """Fault: SIGKILL at 20 random moments of processes that rewrite their row every few milliseconds (4 at a
    time, all into one file). User sees: a parseable emissions.csv after every kill. Not lost: any other run's
    row; no partial row ever; each killed run keeps its last flushed row (status interrupted: its process is gone)."""
    seeded = _seed(tmp_path, 5)
    rng = random.Random(1234)
    kills = 0
    while kills < 20:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _FLUSHING_CHILD, str(tmp_path)],
                stdout=subprocess.PIPE,
                text=True,
                env=child_env(),
            )
            for _ in range(4)
        ]
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        for proc in procs:
            time.sleep(rng.uniform(0.0, 0.15))
            proc.kill()
            proc.wait(10)
            kills += 1
            finalize_stale(tmp_path)  # what the next tracker, report or merge in the folder does
            rows = csv_rows(tmp_path / "emissions.csv")
            ids = [r["run_id"] for r in rows]
            assert set(seeded) <= set(ids) and len(ids) == len(set(ids))
    rows = csv_rows(tmp_path / "emissions.csv")
    assert len(rows) == 5 + 20
    assert sorted(r["status"] for r in rows) == ["completed"] * 5 + ["interrupted"] * 20
    assert not list(journal_dir(tmp_path).iterdir())  # every journal became its row; no temporary file left


def test_sigterm_during_a_flush(tmp_path: Path) -> None:
    """Fault: SIGTERM arrives while the main thread is inside a flush (holding the CSV's file lock). User sees:
    the process end promptly with the signal's default action. Not lost: the row, with status interrupted --
    the handler must not deadlock on its own file lock nor be overwritten by the interrupted flush."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _FLUSHING_CHILD, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)  # a handler blocked on its own lock would sit out the lock's 30 s timeout
    assert proc.returncode == -signal.SIGTERM
    (row,) = csv_rows(tmp_path / "emissions.csv")
    assert row["status"] == "interrupted"


def test_fork_after_start(tmp_path: Path) -> None:
    """Fault: the program forks (a DataLoader worker) after start(), 5 times, while the sampler thread flushes
    every few ms (so a fork often lands while it holds the tracker's locks). User sees: the child neither hangs
    nor writes. Not lost: the parent's row; the child runs no sampler, never writes its parent's journal or row
    (neither is written through in it), and its flush()/stop()/current()/exit are no-ops."""
    code = textwrap.dedent(
        f"""
        import faulthandler, os, sys, threading, time
        from fakesensors import ConstantPowerSensor
        import wattwatch.sinks.journal as sink
        from wattwatch import Tracker
        t = Tracker(output_dir={str(tmp_path)!r}, sensors=[ConstantPowerSensor()], measure_power_secs=0.002,
                    flush_every_s=0.002, timeseries_every_s=0.002)
        t.start()
        for _ in range(5):
            time.sleep(0.03)
            pid = os.fork()
            if pid == 0:
                faulthandler.dump_traceback_later(10, exit=True)  # a deadlocked child fails fast
                calls = []
                sink.atomic_write_text = lambda *a, **k: calls.append(a)  # journal updates
                sink.append_row = lambda *a, **k: calls.append(a)  # final rows
                time.sleep(0.1)
                names = [th.name for th in threading.enumerate()]
                ok = "wattwatch-sampler" not in names and not t.running
                ok = ok and t.flush() is None and t.stop() is None and t.current() is not None
                t.step(3)
                ok = ok and not calls
                sys.exit(0 if ok else 7)  # normal exit: atexit handlers run in the child
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, status
        data = t.stop()
        print(data.status, data.steps)
        """
    )
    done = run_python(code, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["completed", "None"]
    (row,) = csv_rows(tmp_path / "emissions.csv")
    assert row["status"] == "completed"


def test_tracker_created_in_a_thread(tmp_path: Path) -> None:
    """Fault: a tracker created, started and stopped in a worker thread (signals can only be handled in the main
    thread). User sees: no exception. Not lost: the run's row."""
    box: dict[str, object] = {}

    def work() -> None:
        try:
            with Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()], measure_power_secs=0.01) as t:
                time.sleep(0.05)
            box["data"] = t.final_emissions_data
        except BaseException as exc:  # noqa: BLE001 - reported below
            box["error"] = exc

    th = threading.Thread(target=work)
    th.start()
    th.join(30)
    assert "error" not in box, box
    (row,) = csv_rows(tmp_path / "emissions.csv")
    assert row["status"] == "completed"


def test_two_trackers_in_one_process(tmp_path: Path) -> None:
    """Fault: two trackers (nested) in one process, one file, then SIGTERM. User sees: both rows, each with its
    own energy; the signal marks both interrupted and still kills the process. Not lost: either row."""
    code = textwrap.dedent(
        f"""
        import time
        from fakesensors import ConstantPowerSensor
        from wattwatch import Tracker
        a = Tracker(output_dir={str(tmp_path)!r}, sensors=[ConstantPowerSensor(100.0)], project_name="a",
                    measure_power_secs=0.01)
        b = Tracker(output_dir={str(tmp_path)!r}, sensors=[ConstantPowerSensor(300.0)], project_name="b",
                    measure_power_secs=0.01)
        a.start(); b.start()
        print("started", flush=True)
        time.sleep(30)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=child_env())
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)
    assert proc.returncode == -signal.SIGTERM
    rows = {r["project_name"]: r for r in csv_rows(tmp_path / "emissions.csv")}
    assert rows["a"]["status"] == rows["b"]["status"] == "interrupted"
    ratio = float(rows["b"]["gpu_power"]) / float(rows["a"]["gpu_power"])
    assert ratio == pytest.approx(3.0, rel=1e-3)


def test_two_trackers_in_one_process_in_process(tmp_path: Path) -> None:
    """Fault: two trackers interleaved in one process and file (start a, start b, stop a, stop b). Not lost:
    either row, either total."""
    a = Tracker(
        output_dir=tmp_path, sensors=[ConstantPowerSensor(100.0)], project_name="a", handle_signals=False
    )
    b = Tracker(
        output_dir=tmp_path, sensors=[ConstantPowerSensor(200.0)], project_name="b", handle_signals=False
    )
    a.start()
    b.start()
    time.sleep(0.05)
    da = a.stop()
    time.sleep(0.05)
    db = b.stop()
    assert da is not None and db is not None
    rows = {r["project_name"]: r for r in csv_rows(tmp_path / "emissions.csv")}
    assert float(rows["a"]["energy_consumed"]) == da.energy_consumed
    assert float(rows["b"]["energy_consumed"]) == db.energy_consumed


@pytest.mark.parametrize("ending", ["return", "exception", "sys.exit(3)"])
def test_interpreter_exit_without_stop(tmp_path: Path, ending: str) -> None:
    """Fault: the program ends without calling stop() (falls off the end, dies of an exception, sys.exit).
    User sees: the program's own exit code. Not lost: the final row (completed, or failed for an uncaught
    exception), with the whole run's energy."""
    last = {"return": "pass", "exception": "raise RuntimeError('boom')", "sys.exit(3)": "sys.exit(3)"}[ending]
    code = textwrap.dedent(
        f"""
        import sys, time
        from fakesensors import ConstantPowerSensor
        from wattwatch import Tracker
        t = Tracker(output_dir={str(tmp_path)!r}, sensors=[ConstantPowerSensor(100.0)], flush_every_s=1000)
        t.start()
        time.sleep(0.3)
        {last}
        """
    )
    done = run_python(code)
    assert done.returncode == {"return": 0, "exception": 1, "sys.exit(3)": 3}[ending]
    (row,) = csv_rows(tmp_path / "emissions.csv")
    assert row["status"] == ("completed" if ending == "return" else "failed")  # a non-zero exit code fails
    assert float(row["duration"]) >= 0.3


def test_signal_handler_interrupting_this_threads_own_lock_wait(tmp_path: Path) -> None:
    """Fault: SIGTERM lands while the main thread is *waiting* for the CSV's file lock (another thread's flush
    holds it); the handler's final write cannot reuse the lock the thread is mid-way acquiring (LockInterrupted:
    it is inside that lock's own wait). User sees: nothing special. Not lost: the handler still writes its row,
    through a fresh lock that waits for the other thread like another process would."""
    import wattwatch.sinks.emissions_file as sink
    from wattwatch.sinks.emissions_reader import read_rows
    from wattwatch.sinks.files import _lock_for

    target = tmp_path / "emissions.csv"
    holder = _lock_for(target)
    held = threading.Event()

    def hold() -> None:
        with holder:
            held.set()
            time.sleep(0.8)

    written: list[str] = []

    def on_signal(signum: int, frame: object) -> None:
        assert sink.append_row(target, {"run_id": "r", "status": "interrupted"}, ["run_id", "status"]).ok
        written.append("handler")

    previous = signal.signal(signal.SIGUSR1, on_signal)
    try:
        threading.Thread(target=hold).start()
        held.wait(5)
        threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGUSR1)).start()
        outcome = sink.append_row(target, {"run_id": "r", "status": "running"}, ["run_id", "status"])  # waits
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert written == ["handler"] and outcome.ok
    _, rows = read_rows(target)
    assert [r["status"] for r in rows] == ["interrupted", "running"]  # the interrupted write resumed afterwards
