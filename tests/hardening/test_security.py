"""Security: no socket unless asked, /metrics on loopback by default, the user's umask, no network, no pickle."""

from __future__ import annotations

import os
import re
import socket
import stat
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hardhelp import REPO, run_python

from wattwatch import Tracker

PACKAGE = REPO / "wattwatch"


class _SocketSpy:
    """Replaces socket.socket: records every socket created (and can refuse them)."""

    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse
        self.created: list[tuple[Any, ...]] = []
        self._real = socket.socket

    def __call__(self, *args: Any, **kwargs: Any) -> socket.socket:
        self.created.append(args)
        if self.refuse:
            raise AssertionError(f"wattwatch opened a socket {args}")
        return self._real(*args, **kwargs)


def test_no_socket_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault: a site that forbids network use. User sees: a full start/flush/stop with the real sensor
    discovery (NVML, RAPL, /proc) and no socket at all -- socket.socket raising proves none is created."""
    spy = _SocketSpy(refuse=True)
    monkeypatch.setattr(socket, "socket", spy)
    with Tracker(
        output_dir=tmp_path,
        country_iso_code="FRA",
        flush_every_s=0.01,
        measure_power_secs=0.01,
        handle_signals=False,
    ) as t:
        t.flush()
    assert spy.created == []
    assert t.final_emissions_data is not None and t.final_emissions_data.status == "completed"


def test_socket_only_when_prometheus_is_asked_and_on_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With prometheus_port: sockets are created (asked for), and the listener binds 127.0.0.1 by default."""
    spy = _SocketSpy(refuse=False)
    monkeypatch.setattr(socket, "socket", spy)
    t = Tracker(output_dir=tmp_path, prometheus_port=0, handle_signals=False, save_timeseries=False)
    t.start()
    try:
        exporter = t._exporter
        assert exporter is not None and exporter.host == "127.0.0.1"
        assert spy.created
    finally:
        t.stop()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("umask", "expected"), [(0o077, 0o600), (0o022, 0o644), (0o002, 0o664)])
def test_files_follow_the_users_umask(tmp_path: Path, umask: int, expected: int) -> None:
    """Fault: a user with a private umask (077). User sees: emissions.csv and the time series created with the
    modes their umask gives (0600), not world-readable -- and 0644 with 022."""
    code = textwrap.dedent(
        f"""
        import os, threading, time
        os.umask({umask:#o})
        from fakesensors import ConstantPowerSensor
        from wattwatch import Tracker
        with Tracker(output_dir={str(tmp_path)!r}, sensors=[ConstantPowerSensor()], timeseries_every_s=0.01,
                     measure_power_secs=0.01, flush_every_s=0.01) as t:
            time.sleep(0.1)
        print(t.run_id)
        """
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    assert _mode(tmp_path / "emissions.csv") == expected
    assert _mode(tmp_path / f"{run_id}.timeseries.csv") == expected


def test_umask_is_never_changed_while_threads_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault: reading the umask with os.umask() sets it for a moment, process-wide: another thread creating a
    file then gets the wrong mode. User sees: wattwatch never calls os.umask to set a value during a run."""
    import wattwatch.sinks.csv as sink

    calls: list[int] = []
    real = os.umask

    def spy(mask: int) -> int:
        calls.append(mask)
        return real(mask)

    monkeypatch.setattr(os, "umask", spy)
    monkeypatch.setattr(sink, "_MODE", None, raising=False)
    with Tracker(output_dir=tmp_path, sensors=[], handle_signals=False, save_timeseries=False):
        pass
    assert calls == []


def _sources() -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))]


def test_no_pickle_anywhere_in_wattwatch() -> None:
    """Deserialising pickles runs code: wattwatch neither writes nor reads any (state is JSON, rows are CSV)."""
    for path, text in _sources():
        assert not re.search(r"\b(c?pickle|dill|cloudpickle|marshal|shelve)\b", text), path
        assert "torch.load(" not in text, path


def test_nothing_read_from_the_network() -> None:
    """wattwatch never fetches anything: no HTTP client, no URL opening, no outgoing connection in its source.
    (The Prometheus exporter serves, it does not fetch; CodeCarbon's data is read from the installed package.)"""
    forbidden = (  # the requests *library* (import, calls); the word is a column name (inference requests)
        r"\b(urllib\.request|urlopen|http\.client|(import|from) requests\b|requests\.\w+\(|httpx|aiohttp"
        r"|create_connection|\.connect\()"
    )
    for path, text in _sources():
        assert not re.search(forbidden, text), (path, re.search(forbidden, text))
