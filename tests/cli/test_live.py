"""The live view: a redrawn line on a pseudo-terminal, sparse plain lines elsewhere, silence with --quiet."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from wattwatch.cli.live import LiveView, format_line, format_power, rate_g_per_h
from wattwatch.measure.projection import Projection
from wattwatch.result import EmissionsData

PY = sys.executable


def test_format_line_has_power_energy_emissions_rate_and_projection() -> None:
    data = EmissionsData(
        energy_consumed=0.0123, emissions=0.00456, duration=95, intensity_g_per_kwh=400.0, pue=1.0
    )
    powers: dict[str, float | None] = {"cpu": 45.0, "gpu:1": 300.0, "gpu:0": 312.4, "ram": None}
    assert format_power(powers) == "gpu:0 312 W  gpu:1 300 W  cpu 45 W  ram - W"
    assert rate_g_per_h(data, powers) == (312.4 + 300 + 45) / 1000 * 400
    line = format_line(data, powers, Projection(25, 100, 0.05, 0.02, 300.0))
    assert "0.0123 kWh" in line and "4.56 g CO2" in line and "263 g/h" in line
    assert "end ~0.05 kWh 20 g (25 % of 100 steps)" in line


class _FakeTracker:
    total_steps = None

    def __init__(self) -> None:
        self.calls = 0
        self.refreshed = 0

    def current(self, *, refresh: bool = False) -> EmissionsData:
        self.calls += 1
        self.refreshed += refresh
        return EmissionsData(
            energy_consumed=0.001 * self.calls, emissions=0.0004 * self.calls, duration=self.calls
        )

    def snapshot(self) -> None:
        return None


def test_log_mode_does_not_spam() -> None:
    buf = io.StringIO()
    source = _FakeTracker()
    view = LiveView(source, buf, tty=False, log_every_s=0.25).start()
    time.sleep(0.9)
    view.stop("done")
    assert source.calls >= 1 and source.refreshed == source.calls  # fresh figures: host models are read every 10 s
    lines = buf.getvalue().splitlines()
    assert len(lines) <= 4  # at most one line per log_every_s (+ the summary), however slow the machine
    assert lines[-1] == "wattwatch: done"
    assert all(line.startswith("wattwatch: ") and "\r" not in line for line in lines)


def _run_on_pty(tmp_path: Path, *extra: str, seconds: float = 2.5) -> tuple[int, str]:
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))  # a terminal has a size
    cmd = [PY, "-m", "wattwatch", "run", "--output-dir", str(tmp_path), "--measure-power-secs", "0.1",
           "--refresh-s", "0.2", *extra, "--", PY, "-c", f"import time; time.sleep({seconds})"]  # fmt: skip
    env = {**os.environ, "TERM": "xterm-256color"}
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the other side closed
                break
            if not data:
                break
            chunks.append(data)
        elif p.poll() is not None:
            break
    os.close(master)
    return p.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


def test_live_line_on_a_pty_updates(tmp_path: Path) -> None:
    rc, text = _run_on_pty(tmp_path)
    assert rc == 0
    redraws = [r for r in text.split("\x1b[24;1H") if "kWh" in r and "g/h" in r]  # each redraw: to the last row
    assert len(redraws) >= 3, text
    plain = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", r) for r in redraws]
    energies = [re.search(r"\| ([0-9.e+-]+) kWh", r) for r in plain]
    values = [float(m.group(1)) for m in energies if m]
    assert len(set(values)) >= 2 and values == sorted(values), plain  # the numbers move, forward only
    assert "cpu" in plain[0] and " W" in plain[0]
    assert "\x1b[2K" in text  # the line is cleared and redrawn in place, not appended
    assert "\x1b[1;23r" in text and text.count("\x1b[r") == 1  # the rows above it scroll; given back once
    assert "completed (exit 0)" in text


def test_quiet_is_silent(tmp_path: Path) -> None:
    rc, text = _run_on_pty(tmp_path, "--quiet", seconds=0.8)
    assert rc == 0
    assert text == ""


def test_not_a_tty_logs_once_per_interval(tmp_path: Path) -> None:
    cmd = [PY, "-m", "wattwatch", "run", "--output-dir", str(tmp_path), "--",
           PY, "-c", "import time; time.sleep(1.5)"]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 2 and "no location given" in lines[0]  # once at start: the world average is used
    assert "completed (exit 0)" in lines[1]  # default: a line a minute, so only the summary
    assert "\r" not in p.stderr and "\x1b" not in p.stderr
