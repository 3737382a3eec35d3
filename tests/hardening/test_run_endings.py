"""Every way a run can end, library and CLI alike, and the status its row gets (issue 13's table):

normal end or exit code 0 -> completed; an exception or a non-zero exit -> failed; SIGINT, SIGTERM or
KeyboardInterrupt -> interrupted; kill -9 -> the last write stands (the next opener of the folder adds the row
the journal held, status running, with the totals of the last flush).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hardhelp import child_env, run_python

from wattwatch.sinks.emissions_reader import read_table
from wattwatch.sinks.journal import finalize_stale, journal_dir

ENDINGS = {
    # name: (last statement, exit code, status)
    "return": ("pass", 0, "completed"),
    "sys.exit(0)": ("sys.exit(0)", 0, "completed"),
    "sys.exit(None)": ("sys.exit()", 0, "completed"),
    "sys.exit(3)": ("sys.exit(3)", 3, "failed"),
    "sys.exit('message')": ("sys.exit('bye')", 1, "failed"),
    "exception": ("raise RuntimeError('boom')", 1, "failed"),
    "KeyboardInterrupt": ("raise KeyboardInterrupt", -signal.SIGINT, "interrupted"),
}


def final_rows(folder: Path) -> list[dict[str, str]]:
    """The rows as the next opener of the folder sees them (journals of dead processes added first)."""
    finalize_stale(folder)
    return read_table(folder / "emissions.csv").rows


def _program(folder: Path, last: str, *, use_with: bool, handle_signals: bool = True) -> str:
    body = textwrap.indent(f"time.sleep(0.3)\n{last}\n", "    " if use_with else "")
    opening = "with t:\n" if use_with else "t.start()\n"
    return (
        textwrap.dedent(
            f"""
            import sys, time
            from fakesensors import ConstantPowerSensor
            from wattwatch import Tracker
            t = Tracker(output_dir={str(folder)!r}, sensors=[ConstantPowerSensor(100.0)], flush_every_s=1000,
                        measure_power_secs=0.05, handle_signals={handle_signals})
            """
        )
        + opening
        + body
    )


@pytest.mark.parametrize("use_with", [True, False], ids=["with", "start-only"])
@pytest.mark.parametrize("ending", list(ENDINGS))
def test_library_status_table(tmp_path: Path, ending: str, use_with: bool) -> None:
    last, code, status = ENDINGS[ending]
    done = run_python(_program(tmp_path, last, use_with=use_with))
    assert done.returncode == code, done.stderr
    (row,) = final_rows(tmp_path)
    assert row["status"] == status, done.stderr
    assert float(row["duration"]) >= 0.3 and float(row["energy_consumed"]) > 0
    assert "Traceback" not in done.stderr or ending in ("exception", "KeyboardInterrupt")
    assert not list(journal_dir(tmp_path).glob("*.json"))  # the run wrote its own row


_WAITING = """
import sys, time
from fakesensors import ConstantPowerSensor
from wattwatch import Tracker
t = Tracker(output_dir=sys.argv[1], sensors=[ConstantPowerSensor(100.0)], flush_every_s=0.1, measure_power_secs=0.02)
{opening}
{indent}print("ready", flush=True)
{indent}time.sleep(60)
"""


@pytest.mark.parametrize("use_with", [True, False], ids=["with", "start-only"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_library_signals_are_interrupted(tmp_path: Path, sig: int, use_with: bool) -> None:
    code = _WAITING.format(opening="with t:" if use_with else "t.start()", indent="    " if use_with else "")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env(),
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    proc.send_signal(sig)
    proc.communicate(timeout=30)
    assert proc.returncode in (-sig, 128 + sig, 1)  # the program's own fate: killed by it, or KeyboardInterrupt
    (row,) = final_rows(tmp_path)
    assert row["status"] == "interrupted"
    assert float(row["duration"]) >= 0.3


def test_library_kill_9_the_last_write_stands(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WAITING.format(opening="t.start()", indent=""), str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.6)  # a few flushes
    proc.kill()
    proc.communicate(timeout=30)
    assert not (tmp_path / "emissions.csv").exists()  # nothing appended while it ran
    (row,) = final_rows(tmp_path)
    assert row["status"] == "interrupted"  # its process is gone: no longer "running" (issue 25)
    assert float(row["duration"]) >= 0.3 and float(row["energy_consumed"]) > 0
    assert final_rows(tmp_path) == [row]  # added once


# ------------------------------------------------------------------------------------------------- the CLI


def _cli(folder: Path, script: str) -> subprocess.Popen[str]:
    cmd = [
        sys.executable, "-m", "wattwatch", "run", "--output-dir", str(folder), "--measure-power-secs", "0.05",
        "--flush-every-s", "0.1", "--quiet", "--", sys.executable, "-c", script,
    ]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_cli_status_table(tmp_path: Path, ending: str) -> None:
    last, code, status = ENDINGS[ending]
    proc = _cli(tmp_path, f"import sys, time\ntime.sleep(0.3)\n{last}\n")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (128 + signal.SIGINT if code == -signal.SIGINT else code), err
    (row,) = final_rows(tmp_path)
    assert row["status"] == status, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("target", ["wattwatch", "command"])
def test_cli_signals_are_interrupted(tmp_path: Path, sig: int, target: str) -> None:
    ready = tmp_path / "ready"
    script = f"import os, time\nopen({str(ready)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
    proc = _cli(tmp_path, script)
    deadline = time.monotonic() + 30
    while not (ready.exists() and ready.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    if target == "wattwatch":
        proc.send_signal(sig)
    else:
        import os

        os.kill(int(ready.read_text()), sig)  # someone signals the command itself
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    (row,) = final_rows(tmp_path)
    assert row["status"] == "interrupted", err
