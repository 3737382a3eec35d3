"""The Prometheus exporter inside a training process, under hostile or careless scrapers (issue 23).

Used to be prometheus_client's server: a thread per connection, no timeout -- 400 half-sent requests gave 403
threads and refused a normal scrape, and ~90 scrapes a second slowed the training loop by 18-29 % (a thread and
a render per scrape). Now one thread, bounded connections, per-connection timeouts, one render per sample, and
nothing left after ``stop()``. (Latency and the training slowdown are measured in benchmarks/bench_exporter.py,
figures in benchmarks/RESULTS.md; these tests check the mechanisms, with no timing threshold.)"""

from __future__ import annotations

import os
import resource
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wattwatch import Tracker
from wattwatch.sensors.base import POWER, ChannelInfo, Reading
from wattwatch.sinks.metrics_server import MAX_CONNECTIONS, MetricsServer

pytest.importorskip("prometheus_client")


class _Gpu:
    def channels(self) -> list[str]:
        return ["gpu:0"]

    def describe(self) -> list[ChannelInfo]:
        return [ChannelInfo("gpu:0", "gpu", "power-integral", "Fake GPU")]

    def read(self, t: float) -> dict[str, Reading]:
        return {"gpu:0": Reading(200.0, POWER)}

    def close(self) -> None:
        pass


def _tracker(tmp_path: Path, **kw: Any) -> Tracker:
    return Tracker(output_dir=tmp_path, sensors=[_Gpu()], prometheus_port=0, handle_signals=False,
                   save_timeseries=False, carbon_intensity_g_per_kwh=100, **kw)  # fmt: skip


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return str(resp.read().decode())


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def many_fds() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if want < 2300:
        pytest.skip(f"needs 2300 file descriptors (hard limit {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_1000_half_open_connections_leave_one_thread_and_a_scrape_answers(
    tmp_path: Path, many_fds: None
) -> None:
    """Fault: 1,000 connections that send half a request (or nothing) and wait. Used to: hold a thread each in
    the training process and refuse a normal scrape. User sees: the exporter still at one thread, at most
    64 connections held, and a normal scrape answered with the metrics."""
    t = _tracker(tmp_path, measure_power_secs=0.05).start()
    exporter = t._exporter
    assert exporter is not None
    server = exporter._server
    assert server is not None
    baseline = threading.active_count()
    attackers: list[socket.socket] = []
    try:
        for i in range(1000):
            s = socket.create_connection((exporter.host, exporter.port), timeout=30)
            if i % 2:
                s.sendall(b"GET /metr")  # half a request line, never finished
            attackers.append(s)
        assert "wattwatch_power_watts" in _scrape(exporter.url)
        assert threading.active_count() <= baseline
        assert server.connections <= MAX_CONNECTIONS
    finally:
        for s in attackers:
            s.close()
        t.stop()


def test_after_stop_no_exporter_thread_or_socket_is_left(tmp_path: Path) -> None:
    """After ``stop()``, with a scrape during the run and a client still connected, sending nothing: no thread
    the run started is left (prometheus_client's server left the connection's thread, and its socket, behind),
    no descriptor the exporter opened, nothing listening on its port."""
    threads, before = set(threading.enumerate()), _fds()
    t = _tracker(tmp_path, measure_power_secs=0.05).start()
    exporter = t._exporter
    assert exporter is not None
    _scrape(exporter.url)
    idle = socket.create_connection((exporter.host, exporter.port), timeout=30)
    idle.sendall(b"GET /")
    time.sleep(0.05)  # let the server take the connection (the check below must not depend on it)
    t.stop()
    try:
        assert set(threading.enumerate()) <= threads
        assert _fds() - before == {str(idle.fileno())}  # only the client's own socket is left
        with pytest.raises(OSError):
            socket.create_connection((exporter.host, exporter.port), timeout=5).close()
    finally:
        idle.close()


def _page_server(**kw: Any) -> tuple[MetricsServer, list[int]]:
    calls: list[int] = []

    def page() -> tuple[str, bytes]:
        calls.append(1)
        return "text/plain", b"ok\n"

    return MetricsServer("127.0.0.1", 0, page, **kw), calls


def test_a_slow_connection_is_closed_at_its_deadline() -> None:
    """Fault: a client that sends part of its request then waits for ever (slowloris). User sees: the server
    closes that connection when its time is up (here 0.2 s) and serves others meanwhile."""
    server, _ = _page_server(timeout_s=0.2)
    try:
        slow = socket.create_connection(server.address, timeout=30)
        slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        assert slow.recv(100) == b""  # closed by the server, no answer
        slow.close()
        assert _scrape(f"http://127.0.0.1:{server.address[1]}/metrics") == "ok\n"
    finally:
        server.close()


def test_an_oversized_request_is_refused_and_the_connection_cap_holds() -> None:
    """Fault: a request head of 100 KB, and 100 idle connections. User sees: 431 and the connection closed;
    at most ``max_connections`` held (the oldest unfinished ones are closed first)."""
    server, _ = _page_server(max_connections=16)
    try:
        big = socket.create_connection(server.address, timeout=30)
        big.sendall(b"GET / HTTP/1.1\r\nX: " + b"a" * 100_000)
        assert big.recv(100).startswith(b"HTTP/1.1 431")
        big.close()
        idle = [socket.create_connection(server.address, timeout=30) for _ in range(100)]
        assert _scrape(f"http://127.0.0.1:{server.address[1]}/") == "ok\n"
        assert server.connections <= 16
        for s in idle:
            s.close()
    finally:
        server.close()


class _Source:
    """A MetricsSource whose samples the test makes (the exporter listens to them)."""

    topology = None

    def __init__(self, tracker: Tracker) -> None:
        self._t = tracker
        self.listeners: list[Any] = []
        self.renders = 0

    def current(self) -> Any:
        self.renders += 1
        return self._t.current()

    def snapshot(self) -> Any:
        return self._t.snapshot()

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def remove_listener(self, listener: Any) -> None:
        self.listeners.remove(listener)


def test_the_page_is_rendered_once_per_sample_not_per_scrape(tmp_path: Path) -> None:
    """Fault: 30 scrapes between two samples. Used to: render the page 30 times (the cost that slowed training).
    User sees: one render per sample (and at most 4 a second, here lifted); the next sample's values after it
    comes; the listener removed at close."""
    from wattwatch.sinks.prometheus import start_exporter

    t = Tracker(output_dir=tmp_path, sensors=[_Gpu()], measure_power_secs=3600, handle_signals=False,
                save_timeseries=False)  # fmt: skip
    t.start()
    source = _Source(t)
    exporter = start_exporter(source, port=0, min_render_s=0.0)  # type: ignore[arg-type]
    try:
        pages = {_scrape(exporter.url) for _ in range(30)}
        assert source.renders == 1 and len(pages) == 1
        for listener in source.listeners:
            listener(t, 0.0)  # a sample came
        t.flush()
        _scrape(exporter.url)
        _scrape(exporter.url)
        assert source.renders == 2
    finally:
        exporter.close()
        t.stop()
    assert source.listeners == []
