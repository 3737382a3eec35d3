"""ProcessGuard: a signal is recorded as interrupted and then handed to the program's previous handler."""

from __future__ import annotations

import os
import signal

from wattwatch.run.process import ProcessGuard


def test_signal_stops_the_run_then_calls_the_previous_handler() -> None:
    calls: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(f"program:{signum}"))
    try:
        guard = ProcessGuard(lambda status: calls.append(f"stop:{status}"), lambda: True, os.getpid)
        guard.install(handle_signals=True)
        assert signal.getsignal(signal.SIGTERM) == guard.on_signal
        os.kill(os.getpid(), signal.SIGTERM)
        assert calls == ["stop:interrupted", f"program:{int(signal.SIGTERM)}"]
        assert signal.getsignal(signal.SIGTERM) != guard.on_signal  # given back
        guard.remove()
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_remove_restores_the_handlers_and_at_exit_respects_the_owner() -> None:
    stops: list[str] = []
    before = signal.getsignal(signal.SIGINT)
    guard = ProcessGuard(stops.append, lambda: True, lambda: -1)  # started by another process
    guard.install(handle_signals=True)
    guard.remove()
    assert signal.getsignal(signal.SIGINT) == before
    guard.at_exit()
    assert stops == []  # a forked child never stops its parent's run
    ProcessGuard(stops.append, lambda: True, os.getpid).at_exit()
    assert stops == ["completed"]


def test_without_handle_signals_nothing_is_taken_over() -> None:
    before = signal.getsignal(signal.SIGTERM)
    guard = ProcessGuard(lambda status: None, lambda: False, os.getpid)
    guard.install(handle_signals=False)
    assert signal.getsignal(signal.SIGTERM) == before
    guard.remove()
