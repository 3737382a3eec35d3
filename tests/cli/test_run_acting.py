"""``wattwatch run`` acting on carbon (real subprocesses, the fake GPUs through ``LD_LIBRARY_PATH``): past the
budget SIGINT to the command, then SIGTERM after the grace period; the pause rule's SIGSTOP / SIGCONT around a
dirty stretch of an intensity file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import fakenvml
import pytest
from budgethelp import carbon_overshoot
from fakenvml import FakeNvml

from wattwatch.result import EmissionsData
from wattwatch.sinks.csv import read_rows

PY = sys.executable
INTERVAL_S = 1.0  # the default with energy counters


@pytest.fixture
def hot_gpus(fake_nvml: Callable[..., FakeNvml]) -> FakeNvml:
    return fake_nvml(fakenvml.make_gpus(4, (fakenvml.Constant(600.0),)))


def run(rig: FakeNvml, out: Path, *options: str, child: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        PY, "-m", "wattwatch", "run", "--output-dir", str(out), "--nvml-library", str(rig.library_path),
        "--carbon-intensity-g-per-kwh", "1000", "--no-save-timeseries", "--log-every-s", "600", *options,
        "--", PY, "-c", child,
    ]  # fmt: skip
    env = {**os.environ, **rig.env}
    return subprocess.run(cmd, text=True, capture_output=True, env=env, timeout=120)


def row(out: Path) -> EmissionsData:
    (only,) = read_rows(out / "emissions.csv")[1]
    return EmissionsData.from_row(only)


TRAIN = (
    "import os, signal, sys, time\n"
    "marker = sys.argv[1] if len(sys.argv) > 1 else os.environ['MARKER']\n"
    "try:\n"
    "    while True: time.sleep(0.01)\n"
    "except KeyboardInterrupt:\n"
    "    open(marker, 'w').write('SIGINT'); sys.exit(130)\n"
)


def test_budget_stop_interrupts_the_command_within_the_bound(hot_gpus: FakeNvml, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    os.environ["MARKER"] = str(marker)
    try:
        done = run(hot_gpus, tmp_path, "--carbon-budget-kg", "0.0012", child=TRAIN)
    finally:
        del os.environ["MARKER"]
    assert done.returncode == 130, done.stderr
    assert marker.read_text() == "SIGINT"  # the command could clean up (save, close files)
    data = row(tmp_path)
    assert data.status == "budget-stopped" and data.budget_kg == 0.0012
    over, bound = carbon_overshoot(data, 0.0012, INTERVAL_S)
    assert 0 <= over <= bound, (over, bound)
    assert "sending SIGINT to the command" in done.stderr and "budget-stopped (exit 130)" in done.stderr


def test_a_command_that_ignores_sigint_gets_sigterm_after_the_grace(hot_gpus: FakeNvml, tmp_path: Path) -> None:
    stubborn = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: time.sleep(0.01)\n"
    done = run(hot_gpus, tmp_path, "--energy-budget-kwh", "0.0005", "--budget-grace-s", "0.5", child=stubborn)
    assert done.returncode == 143, done.stderr  # ended by SIGTERM
    assert "sending SIGINT" in done.stderr and "sending SIGTERM" in done.stderr and "SIGKILL" not in done.stderr
    data = row(tmp_path)
    assert data.status == "budget-stopped" and data.budget_kwh == 0.0005


def test_pause_suspends_the_command_through_a_dirty_stretch(tmp_path: Path) -> None:
    """An intensity file with one-second rows: dirty for the next 8 s (a busy machine takes seconds to start
    wattwatch and the command), clean after. The command (60 steps of 50 ms, written to $WATTWATCH_STEPS_FILE)
    is stopped with SIGSTOP and resumed with SIGCONT; it sees one long gap, and the row has the pause as a
    phase."""
    now = time.time()
    grid = tmp_path / "grid.csv"
    lines = [f"{now - 10 + i:.3f},{600 if now - 10 + i < now + 8 else 100}" for i in range(200)]
    grid.write_text("timestamp,g_per_kwh\n" + "\n".join(lines) + "\n")
    gaps = tmp_path / "gaps.json"
    child = (
        "import json, os, sys, time\n"
        "last, gaps = time.monotonic(), []\n"
        "for s in range(1, 61):\n"
        "    time.sleep(0.05)\n"
        "    now = time.monotonic(); gaps.append(now - last); last = now\n"
        "    open(os.environ['WATTWATCH_STEPS_FILE'], 'w').write(str(s))\n"
        f"json.dump(gaps, open({str(gaps)!r}, 'w'))\n"
    )
    cmd = [
        PY, "-m", "wattwatch", "run", "--output-dir", str(tmp_path), "--intensity-csv", str(grid),
        "--pause-above", "300", "--deadline", "+60s", "--total-steps", "60", "--measure-power-secs", "0.1",
        "--no-save-timeseries", "--log-every-s", "600", "--", PY, "-c", child,
    ]  # fmt: skip
    done = subprocess.run(cmd, text=True, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert max(json.loads(gaps.read_text())) > 1.0  # stopped, then continued
    data = row(tmp_path)
    assert data.status == "completed" and data.steps == 60
    assert data.phase_energy_kwh.get("paused", 0.0) > 0
    assert "pausing at step" in done.stderr and "resuming after" in done.stderr
