"""``wattwatch run``'s live line on a real terminal (issue 25): the command's output and the line never share a
row, and at 80 columns the line keeps the elapsed time and the projection.

The terminal is a pseudo-terminal of 24 x 80 whose output is played into pyte (a VT100 emulator), so the test
sees the screen a person sees, after every chunk the terminal received."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fakenvml import FakeNvml, make_gpus

from wattwatch.cli.live import format_line
from wattwatch.measure.projection import Projection
from wattwatch.result import EmissionsData

pyte = pytest.importorskip("pyte", reason="pyte not installed (a test extra: pip install -e '.[test]')")

ROWS, COLS = 24, 80
ELAPSED = re.compile(r"\b\d+:\d\d:\d\d\b")

# The command: prints a numbered line every 50 ms (its own output, on the same terminal) and its step count.
_CHATTY = """
import os, sys, time
steps = os.environ["WATTWATCH_STEPS_FILE"]
for i in range(16):
    print(f"training line {i:02d} loss {1.0 / (i + 1):.4f}", flush=True)
    open(steps, "w").write(str(i + 1))
    time.sleep(0.08)
"""


def _screen_rows(screen: object) -> list[str]:
    return [row.rstrip() for row in screen.display]  # type: ignore[attr-defined]


def _run_on_terminal(tmp_path: Path, *extra: str) -> tuple[int, list[list[str]], list[str]]:
    """Run ``wattwatch run`` on a 24 x 80 pty, stdout and stderr both on it (as in a shell). Returns the exit
    code, the screen after each chunk received, and the final screen."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "NO_COLOR": "1"}
    cmd = [sys.executable, "-m", "wattwatch", "run", "--output-dir", str(tmp_path), "--refresh-s", "0.05",
           "--country-iso-code", "DEU", "--total-steps", "64", *extra, "--", sys.executable, "-c", _CHATTY]  # fmt: skip
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.ByteStream(screen)
    stream.feed(b"$ wattwatch run ...\r\n")  # the shell's prompt line, as a terminal would show it
    shots: list[list[str]] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: every writer closed
                break
            if not data:
                break
            stream.feed(data)
            shots.append(_screen_rows(screen))
        elif p.poll() is not None:
            break
    os.close(master)
    return p.wait(timeout=30), shots, _screen_rows(screen)


def test_the_commands_output_never_lands_on_the_live_line(tmp_path: Path) -> None:
    rc, shots, final = _run_on_terminal(tmp_path)
    assert rc == 0
    for shot in shots:
        for row in shot:
            assert not ("training line" in row and "kWh" in row), shot  # never one row for both
    with_line = [s for s in shots if "kWh" in s[-1] and s[-1].startswith("wattwatch")]
    assert len(with_line) >= 3, shots[-1]  # the live line, on the last row, redrawn
    # every line the command printed is on the screen, whole and in order, above where the live line was
    printed = [row for row in final if row.startswith("training line")]
    assert printed == [f"training line {i:02d} loss {1.0 / (i + 1):.4f}" for i in range(16)], final
    assert final.index(printed[0]) == 1  # right under the prompt: no line lost, none blanked
    assert any("completed (exit 0)" in row for row in final)
    assert "kWh |" not in final[-1]  # the live line is gone at the end, its row given back


def test_at_80_columns_the_line_keeps_elapsed_time_and_projection(
    tmp_path: Path, fake_nvml: Callable[..., FakeNvml], fake_nvml_library: Path
) -> None:
    fake_nvml(make_gpus(8))  # eight GPUs: the per-device power alone is wider than the terminal
    rc, shots, _ = _run_on_terminal(tmp_path, "--nvml-library", str(fake_nvml_library))
    assert rc == 0
    lines = [s[-1] for s in shots if s[-1].startswith("wattwatch") and "end ~" in s[-1]]
    assert lines, shots[-1]
    for line in lines:
        assert len(line) < COLS and not line.endswith("…"), line
        assert ELAPSED.search(line) and "kWh" in line and "CO2" in line, line
        assert re.search(r"end ~\S+ kWh .*\(\d+ %", line), line
        assert "8 gpu" in line or "gpu:0" not in line  # per-device power gave way first


def _data() -> EmissionsData:
    return EmissionsData(energy_consumed=0.0123, emissions=0.00456, duration=95, intensity_g_per_kwh=400.0)


@pytest.mark.parametrize("width", [240, 120, 100, 80, 68, 60, 50])
def test_format_line_fits_dropping_the_least_useful_first(width: int) -> None:
    powers: dict[str, float | None] = {f"gpu:{i}": 312.4 for i in range(8)} | {"cpu": 45.0, "ram": 6.0}
    line = format_line(_data(), powers, Projection(25, 100, 0.05, 0.02, 300.0), width=width)
    assert len(line) <= width, line
    assert "0.0123 kWh" in line and "0:01:35" in line and "end ~0.05 kWh" in line and "(25 %" in line, line
    if width >= 60:
        assert "4.56 g CO2" in line, line
    if width >= 68:
        assert "end ~0.05 kWh 20 g (25 %" in line, line
    if width >= 240:
        assert "gpu:7 312 W" in line and "1.02 kg/h" in line and "of 100 steps" in line
    elif width >= 100:
        assert "8 gpu 2.50 kW  cpu 45 W  ram 6.0 W" in line
    if width <= 60:
        assert " W" not in line  # the power went before the projection did


def test_format_line_with_no_width_is_whole() -> None:
    line = format_line(_data(), {"gpu:0": 312.4, "cpu": None}, None)
    assert line == "gpu:0 312 W  cpu - W | 0.0123 kWh | 4.56 g CO2 | 125 g/h | 0:01:35"


@pytest.mark.parametrize("width", [240, 120, 100, 80])
def test_the_carbon_policys_words_stay_while_the_line_fits(width: int) -> None:
    """A budget and the projection's range (issue 26) are kept at 80 columns: power and rate give way first."""
    powers: dict[str, float | None] = {f"gpu:{i}": 312.4 for i in range(8)} | {"cpu": 45.0, "ram": 6.0}
    suffix = "range 18–23 g | budget 0.03 kg"
    line = format_line(_data(), powers, Projection(25, 100, 0.05, 0.02, 300.0), suffix, width=width)
    assert len(line) <= width, line
    assert line.endswith(suffix) and "0:01:35" in line and "end ~0.05 kWh" in line, line
