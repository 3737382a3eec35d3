"""The /metrics endpoint: scraped over HTTP during a run, counters rise; loopback only by default."""

from __future__ import annotations

import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from wattwatch.errors import ConfigurationError
from wattwatch.run.tracker import Tracker
from wattwatch.sensors.base import POWER, ChannelInfo, Reading
from wattwatch.sinks.prometheus import start_exporter


class ConstantGpus:
    def channels(self) -> list[str]:
        return ["gpu:0", "gpu:1"]

    def describe(self) -> list[ChannelInfo]:
        return [ChannelInfo(c, "gpu", "power-integral", "Fake GPU") for c in self.channels()]

    def read(self, t: float) -> dict[str, Reading]:
        return {"gpu:0": Reading(250.0, POWER), "gpu:1": Reading(150.0, POWER)}

    def close(self) -> None:
        pass


def _tracker(tmp_path: Path, **kw: object) -> Tracker:
    return Tracker(
        project_name="proj",
        run_id="run-1",
        output_dir=tmp_path,
        sensors=[ConstantGpus()],
        measure_power_secs=0.05,
        carbon_intensity_g_per_kwh=400,
        handle_signals=False,
        **kw,  # type: ignore[arg-type]
    )


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


def value(text: str, name: str, device: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and f'device="{device}"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{device={device}}} not in\n{text}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape_until(url: str, ok: Callable[[str], bool], timeout_s: float = 30.0) -> str:
    """The first page that satisfies ``ok`` (scraped every 50 ms; the last one after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    page = scrape(url)
    while not ok(page) and time.monotonic() < deadline:
        time.sleep(0.05)
        page = scrape(url)
    return page


def test_scrape_during_a_run_shows_rising_counters(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path).start()
    exporter = start_exporter(tracker, port=0)
    counter = ("wattwatch_energy_joules_total", "gpu:0")
    try:
        # the page is rendered after samples, at most every 0.25 s: poll (a loaded machine delays the ticks)
        first = _scrape_until(exporter.url, lambda page: value(page, *counter) > 0)
        second = _scrape_until(exporter.url, lambda page: value(page, *counter) > value(first, *counter))
    finally:
        exporter.close()
        tracker.stop()
    assert value(second, "wattwatch_power_watts", "gpu:0") == 250.0
    assert value(second, "wattwatch_power_watts", "gpu:1") == 150.0
    for name, device in (
        ("wattwatch_energy_joules_total", "gpu:0"),
        ("wattwatch_facility_energy_kwh_total", "all"),
        ("wattwatch_emissions_kg_total", "all"),
    ):
        assert value(second, name, device) > value(first, name, device) > 0
    assert "# TYPE wattwatch_energy_joules_total counter" in second
    assert "# TYPE wattwatch_power_watts gauge" in second
    line = next(x for x in second.splitlines() if x.startswith("wattwatch_power_watts{"))
    labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
    assert labels["run"] == "run-1" and labels["project"] == "proj" and labels["node"]
    assert "python_gc_objects_collected_total" not in second  # a private registry, not the process-wide one
    with pytest.raises(urllib.error.URLError):
        scrape(exporter.url)  # closed


def _listening(port: int, *pids: int | None) -> list[object]:
    """The listening sockets on ``port`` of this process and of ``pids`` (the exporter's server process)."""
    found = []
    for pid in (None, *pids):
        try:
            proc = psutil.Process(pid) if pid is not None else psutil.Process()
            found += [
                c.laddr
                for c in proc.net_connections(kind="inet")
                if c.status == psutil.CONN_LISTEN and c.laddr.port == port
            ]
        except psutil.NoSuchProcess:
            pass
    return found


def test_tracker_option_binds_loopback_only(tmp_path: Path) -> None:
    port = free_port()
    tracker = _tracker(tmp_path, prometheus_port=port).start()
    assert tracker._exporter is not None
    server_pid = tracker._exporter.server_pid
    try:
        time.sleep(0.2)
        assert "wattwatch_energy_joules_total" in scrape(f"http://127.0.0.1:{port}/metrics")
        listening = _listening(port, server_pid)
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening)  # type: ignore[attr-defined]
    finally:
        tracker.stop()
    assert not _listening(port, server_pid)  # nothing listens after stop()


def test_port_in_use_is_a_configuration_error(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ConfigurationError, match="prometheus_port"):
            start_exporter(tracker, port=busy.getsockname()[1])
