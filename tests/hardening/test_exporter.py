"""The Prometheus exporter inside a training process, under hostile or careless scrapers (issue 23).

Used to be prometheus_client's server: a thread per connection, no timeout -- 400 half-sent requests gave 403
threads and refused a normal scrape, and ~90 scrapes a second slowed the training loop by 18-29 % (a thread and
a render per scrape). Now, on Linux, a child process serves the page the training process pushes to it once
per sample (elsewhere one thread): bounded connections, per-connection timeouts, nothing left after
``stop()``. (Latency and the training slowdown are measured in benchmarks/bench_exporter.py, figures in
benchmarks/RESULTS.md; these tests check the mechanisms, with no timing threshold.)"""

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
from wattwatch.sinks.metrics_server import MAX_CONNECTIONS, MetricsServer, bind_listener

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


def _child_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.parametrize("process", [True, False], ids=["child-process", "thread"])
def test_1000_half_open_connections_leave_no_thread_and_a_scrape_answers(
    tmp_path: Path, many_fds: None, process: bool
) -> None:
    """Fault: 1,000 connections that send half a request (or nothing) and wait. Used to: hold a thread each in
    the training process and refuse a normal scrape. User sees: no thread added to the training process (the
    server is a child process; where it cannot be, its one thread), at most 64 connections held, and a normal
    scrape answered with the metrics."""
    from wattwatch.sinks.prometheus import start_exporter

    t = Tracker(output_dir=tmp_path, sensors=[_Gpu()], measure_power_secs=0.05, handle_signals=False,
                save_timeseries=False, carbon_intensity_g_per_kwh=100).start()  # fmt: skip
    exporter = start_exporter(t, port=0, process=process)
    baseline = threading.active_count()
    attackers: list[socket.socket] = []
    try:
        assert (exporter.server_pid is not None) == process
        for i in range(1000):
            s = socket.create_connection((exporter.host, exporter.port), timeout=30)
            if i % 2:
                s.sendall(b"GET /metr")  # half a request line, never finished
            attackers.append(s)
        assert "wattwatch_power_watts" in _scrape(exporter.url)
        assert threading.active_count() <= baseline
        if process:
            # its descriptors: the connections held, one being taken, stdin/out/err, the listener, the feed,
            # its wake-up pair and the epoll descriptor
            assert exporter.server_pid is not None and _child_fds(exporter.server_pid) <= MAX_CONNECTIONS + 1 + 8
        else:
            server = exporter._server
            assert isinstance(server, MetricsServer) and server.connections <= MAX_CONNECTIONS
    finally:
        for s in attackers:
            s.close()
        exporter.close()
        t.stop()


def test_after_stop_no_exporter_thread_process_or_socket_is_left(tmp_path: Path) -> None:
    """After ``stop()``, with a scrape during the run and a client still connected, sending part of a request:
    no thread the run started is left (prometheus_client's server left the connection's thread, and its socket,
    behind), the server's child process has exited and been reaped, no descriptor the exporter opened is left
    here, nothing listens on its port."""
    threads, before = set(threading.enumerate()), _fds()
    t = _tracker(tmp_path, measure_power_secs=0.05).start()
    exporter = t._exporter
    assert exporter is not None
    pid = exporter.server_pid
    _scrape(exporter.url)
    idle = socket.create_connection((exporter.host, exporter.port), timeout=30)
    idle.sendall(b"GET /")
    time.sleep(0.05)  # let the server take the connection (the check below must not depend on it)
    t.stop()
    sampler = t._session.sampler if t._session is not None else None
    assert sampler is None or sampler.join(30.0)  # stop() does not wait for it: it exits by itself, reading nothing
    try:
        assert set(threading.enumerate()) <= threads
        assert _fds() - before == {str(idle.fileno())}  # only the client's own socket is left
        if pid is not None:
            with pytest.raises(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reaped already: not a child of ours any more
            assert not Path(f"/proc/{pid}").exists() or "zombie" not in Path(f"/proc/{pid}/status").read_text()
        with pytest.raises(OSError):
            socket.create_connection((exporter.host, exporter.port), timeout=5).close()
    finally:
        idle.close()


def _page_server(**kw: Any) -> MetricsServer:
    server = MetricsServer(bind_listener("127.0.0.1", 0), **kw)
    server.publish("text/plain", b"ok\n")
    return server


def test_a_slow_connection_is_closed_at_its_deadline() -> None:
    """Fault: a client that sends part of its request then waits for ever (slowloris). User sees: the server
    closes that connection when its time is up (here 0.2 s) and serves others meanwhile."""
    server = _page_server(timeout_s=0.2)
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
    server = _page_server(max_connections=16)
    try:
        big = socket.create_connection(server.address, timeout=30)
        big.sendall(b"GET / HTTP/1.1\r\nX: " + b"a" * 100_000)
        assert big.recv(100).startswith(b"HTTP/1.1 431")
        big.close()
        idle = [socket.create_connection(server.address, timeout=30) for _ in range(100)]
        for s in idle[::2]:
            s.sendall(b"GET")  # half of them start a request, so the server takes them
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


@pytest.mark.parametrize("process", [True, False], ids=["child-process", "thread"])
def test_the_page_is_rendered_once_per_sample_not_per_scrape(tmp_path: Path, process: bool) -> None:
    """Fault: 30 scrapes between two samples. Used to: render the page 30 times (the cost that slowed training).
    User sees: the page rendered when the endpoint starts and after each sample (at most 4 times a second, here
    lifted), served as it is to every scrape; the listener removed at close."""
    from wattwatch.sinks.prometheus import start_exporter

    t = Tracker(output_dir=tmp_path, sensors=[_Gpu()], measure_power_secs=3600, handle_signals=False,
                save_timeseries=False)  # fmt: skip
    t.start()
    source = _Source(t)
    exporter = start_exporter(source, port=0, min_render_s=0.0, process=process)  # type: ignore[arg-type]
    try:
        pages = {_scrape(exporter.url) for _ in range(30)}
        assert source.renders == 1 and len(pages) == 1 and "wattwatch_energy_joules_total" in pages.pop()
        t.flush()
        for listener in source.listeners:
            listener(t, 0.0)  # a sample came
        assert source.renders == 2
        _scrape(exporter.url)
        assert source.renders == 2
    finally:
        exporter.close()
        t.stop()
    assert source.listeners == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_the_server_process_ends_at_stop_even_when_a_forked_worker_holds_its_feed(tmp_path: Path) -> None:
    """Fault: the training script forks workers after ``start()`` (a DataLoader's), which inherit the feed to the
    server's process. User sees: ``stop()`` still ends the server at once (it exits on its own, code 0, not
    killed after the 5 s grace), whatever the worker holds."""
    t = _tracker(tmp_path, measure_power_secs=0.05).start()
    exporter = t._exporter
    assert exporter is not None
    if exporter.server_pid is None:
        t.stop()
        pytest.skip("the server runs on a thread on this platform")
    worker = os.fork()
    if worker == 0:  # the "data-loader worker": holds every inherited descriptor for a while
        time.sleep(10)
        os._exit(0)
    try:
        server = exporter._server
        t.stop()
        assert server is not None and server._process.returncode == 0  # type: ignore[union-attr]
    finally:
        os.kill(worker, 9)
        os.waitpid(worker, 0)
