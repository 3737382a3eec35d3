"""``wattwatch run``: exit codes, statuses, signals, stdin/stdout pass-through, rows on disk (real subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wattwatch.cli.commands.run import exit_code, status_for
from wattwatch.sinks.csv import read_rows
from wattwatch.sinks.journal import finalize_stale, read_journals

PY = sys.executable


def wrapper(out: Path, *child: str, extra: tuple[str, ...] = (), **kw: object) -> subprocess.Popen[str]:
    cmd = [
        PY, "-m", "wattwatch", "run", "--output-dir", str(out), "--measure-power-secs", "0.1",
        "--flush-every-s", "0.2", "--log-every-s", "600", *extra, "--", *child,
    ]  # fmt: skip
    return subprocess.Popen(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload, no-any-return]


def rows(out: Path) -> list[dict[str, str]]:
    return read_rows(out / "emissions.csv")[1]


def wait_for(path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_status_and_exit_code_rules() -> None:
    assert status_for(0, None) == "completed"
    assert status_for(3, None) == "failed"
    assert status_for(-9, None) == "failed"  # killed by someone else (OOM killer)
    assert status_for(-15, signal.SIGTERM) == "interrupted"
    assert status_for(0, signal.SIGTERM) == "interrupted"  # asked to stop, stopped cleanly
    assert exit_code(0) == 0 and exit_code(3) == 3 and exit_code(-15) == 143 and exit_code(-9) == 137


@pytest.mark.parametrize(("code", "status"), [(0, "completed"), (3, "failed")])
def test_exit_code_and_row(tmp_path: Path, code: int, status: str) -> None:
    p = wrapper(tmp_path, PY, "-c", f"import sys, time; time.sleep(0.5); print('out'); sys.exit({code})")
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == code, stderr
    assert stdout == "out\n"  # the command's stdout passes through untouched
    (row,) = rows(tmp_path)
    assert row["status"] == status
    assert float(row["duration"]) > 0.3
    assert float(row["energy_consumed"]) > 0
    assert row["tracking_mode"] == "machine"
    assert f"{status} (exit {code})" in stderr  # one summary line on stderr


def test_stdin_passes_through(tmp_path: Path) -> None:
    p = wrapper(tmp_path, PY, "-c", "print(input()[::-1])", stdin=subprocess.PIPE)
    stdout, _ = p.communicate("olleh\n", timeout=60)
    assert p.returncode == 0 and stdout == "hello\n"


def test_sigterm_is_forwarded_and_recorded_as_interrupted(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    p = wrapper(
        tmp_path,
        PY,
        "-c",
        f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)",
    )
    child = int(wait_for(pidfile))
    time.sleep(0.3)
    p.send_signal(signal.SIGTERM)
    _, stderr = p.communicate(timeout=60)
    assert p.returncode == 128 + signal.SIGTERM, stderr
    (row,) = rows(tmp_path)
    assert row["status"] == "interrupted"
    assert float(row["energy_consumed"]) > 0
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # the command is gone, not orphaned


def test_child_handling_sigterm_gracefully(tmp_path: Path) -> None:
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
        f"open({str(tmp_path / 'ready')!r}, 'w').write('1')\n"
        "time.sleep(60)\n"
    )
    p = wrapper(tmp_path, PY, "-c", script)
    wait_for(tmp_path / "ready")
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)
    assert p.returncode == 0
    assert rows(tmp_path)[0]["status"] == "interrupted"


def test_sigkill_leaves_the_last_flush_written_interrupted(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    p = wrapper(
        tmp_path,
        PY,
        "-c",
        f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)",
    )
    child = int(wait_for(pidfile))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait for a periodic flush (of the journal) with energy in it
            r = [e.row for e in read_journals(tmp_path)[0]]
            if r and float(r[0]["energy_consumed"] or 0) > 0 and float(r[0]["duration"]) > 0.5:
                break
            time.sleep(0.1)
        p.kill()
        p.wait(timeout=30)  # not communicate(): the orphaned command still holds the pipes
        assert p.returncode == -signal.SIGKILL
        assert rows(tmp_path) == []  # emissions.csv gets a run's row when it ends...
        finalize_stale(tmp_path)  # ...or, killed, from the next opener of the folder (start, report, merge)
        (row,) = rows(tmp_path)
        assert row["status"] == "interrupted"  # its process is gone: not "running" for ever
        assert float(row["energy_consumed"]) > 0 and float(row["duration"]) > 0.5
        assert row["timestamp"]  # the last flush time the report shows
    finally:
        os.kill(child, signal.SIGKILL)  # the orphan, as a shell would leave it
        p.communicate(timeout=30)


def test_killed_by_other_signal_is_failed_with_shell_code(tmp_path: Path) -> None:
    p = wrapper(tmp_path, PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    p.communicate(timeout=60)
    assert p.returncode == 137
    assert rows(tmp_path)[0]["status"] == "failed"


def test_process_mode_and_steps_file(tmp_path: Path) -> None:
    script = (
        "import os, time\n"
        "for s in range(1, 6):\n"
        "    open(os.environ['WATTWATCH_STEPS_FILE'], 'w').write(str(s)); time.sleep(0.15)\n"
    )
    p = wrapper(tmp_path, PY, "-c", script, extra=("--tracking-mode", "process", "--total-steps", "10",
                                                  "--project-name", "demo"))  # fmt: skip
    _, stderr = p.communicate(timeout=60)
    assert p.returncode == 0, stderr
    (row,) = rows(tmp_path)
    assert row["tracking_mode"] == "process" and row["project_name"] == "demo"
    assert row["steps"] == "5"
    assert float(row["projected_energy_kwh"]) >= float(row["energy_consumed"])


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    out = ["--output-dir", str(tmp_path)]
    for args in (
        ["run", *out],
        ["run", *out, "--pue", "0.5", "--", PY, "-c", "0"],
        ["run", *out, "--", "/no/such/x"],
    ):
        p = subprocess.run([PY, "-m", "wattwatch", *args], capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr, p.stderr
        assert p.stderr.startswith("wattwatch run: error:")
    assert not (tmp_path / "emissions.csv").exists()  # nothing ran, so no run is recorded


def test_report_on_three_real_runs(tmp_path: Path) -> None:
    for code in (0, 3):
        wrapper(tmp_path, PY, "-c", f"import sys, time; time.sleep(0.3); sys.exit({code})").communicate(
            timeout=60
        )
    pidfile = tmp_path / "child.pid"
    p = wrapper(
        tmp_path,
        PY,
        "-c",
        f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)",
    )
    child = int(wait_for(pidfile))
    time.sleep(0.8)
    p.kill()
    p.wait(timeout=30)
    os.kill(child, signal.SIGKILL)
    p.communicate(timeout=30)
    assert len(rows(tmp_path)) == 2  # the killed run is still in its journal
    rep = subprocess.run([PY, "-m", "wattwatch", "report", str(tmp_path), "--json"], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert rep.returncode == 0, rep.stderr
    all_rows = rows(tmp_path)  # report opened the folder: the killed run's journal became its row
    assert len(all_rows) == 3
    doc = json.loads(rep.stdout)
    assert doc["totals"]["runs"] == 3
    assert doc["totals"]["by_status"] == {"completed": 1, "failed": 1, "interrupted": 1}
    assert doc["totals"]["energy_kwh"] == pytest.approx(sum(float(r["energy_consumed"]) for r in all_rows))
    assert doc["totals"]["emissions_kg"] == pytest.approx(sum(float(r["emissions"]) for r in all_rows))


def test_sigint_by_kill_is_forwarded(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = f"import time; open({str(ready)!r}, 'w').write('1'); time.sleep(60)"
    p = wrapper(
        tmp_path, PY, "-c", script, stdin=subprocess.DEVNULL
    )  # no terminal: wattwatch must forward it
    wait_for(ready)
    p.send_signal(signal.SIGINT)
    _, stderr = p.communicate(timeout=60)
    assert p.returncode == 128 + signal.SIGINT, stderr
    assert rows(tmp_path)[0]["status"] == "interrupted"


def test_every_cli_option_is_a_tracker_keyword() -> None:
    import argparse
    import inspect

    from wattwatch.cli.options import CLI_TRACKER_OPTIONS, add_tracker_options, tracker_kwargs
    from wattwatch.run.tracker import Tracker

    params = inspect.signature(Tracker.__init__).parameters
    assert set(CLI_TRACKER_OPTIONS) <= set(params)
    parser = argparse.ArgumentParser()
    add_tracker_options(parser)
    args = parser.parse_args(
        ["--gpu-ids", "0,1", "--pue", "1.2", "--no-save-timeseries", "--total-steps", "9"]
    )
    kwargs = tracker_kwargs(args)
    assert kwargs == {"gpu_ids": "0,1", "pue": 1.2, "save_timeseries": False, "total_steps": 9}
    Tracker(**kwargs)  # accepted as they are
