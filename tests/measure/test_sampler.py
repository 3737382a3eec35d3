"""Sampler behaviour with in-process fake sensors (real threads, short intervals)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from wattwatch.measure.ledger import Ledger
from wattwatch.measure.sampler import COUNTER_INTERVAL_S, POWER_INTERVAL_S, Sampler, default_interval
from wattwatch.sensors.base import ENERGY, POWER, ChannelInfo, Reading


class RampSensor:
    """Power P(t) = a + b t (t monotonic): the trapezoid rule is exact for it."""

    def __init__(self, a: float = 100.0, b: float = 20.0, delay_s: float = 0.0, fail: bool = False) -> None:
        self.a, self.b, self.delay_s, self.fail = a, b, delay_s, fail
        self.calls = 0

    def channels(self) -> list[str]:
        return ["gpu:0"]

    def describe(self) -> list[ChannelInfo]:
        return [ChannelInfo("gpu:0", "gpu", "power-integral")]

    def read(self, t: float) -> dict[str, Reading]:
        self.calls += 1
        if self.fail:
            raise OSError("device fell off the bus")
        if self.delay_s:
            time.sleep(self.delay_s)
        now = time.monotonic()
        return {"gpu:0": Reading(self.a + self.b * now, POWER)}

    def close(self) -> None:
        pass


class CounterSensor:
    def __init__(self) -> None:
        self.value = 0.0

    def channels(self) -> list[str]:
        return ["cpu:package-0"]

    def describe(self) -> list[ChannelInfo]:
        return [ChannelInfo("cpu:package-0", "cpu", "counter")]

    def read(self, t: float) -> dict[str, Reading]:
        self.value += 10.0
        return {"cpu:package-0": Reading(self.value, ENERGY)}

    def close(self) -> None:
        pass


def test_default_interval_depends_on_gpu_method() -> None:
    assert default_interval([ChannelInfo("gpu:0", "gpu", "counter")]) == COUNTER_INTERVAL_S
    assert default_interval([ChannelInfo("gpu:0", "gpu", "power-integral")]) == POWER_INTERVAL_S
    assert default_interval([ChannelInfo("cpu", "cpu", "model:x")]) == COUNTER_INTERVAL_S


def test_start_and_stop_read_synchronously_and_window_is_exact() -> None:
    sensor = RampSensor(b=0.0)  # constant 100 W
    sampler_sensors = [sensor]
    led = Ledger([i for s in sampler_sensors for i in s.describe()])
    sampler = Sampler(sampler_sensors, led, interval_s=0.02)
    sampler.start()
    assert sensor.calls == 1  # the first read happened inside start()
    time.sleep(0.25)
    sampler.stop()
    snap = led.snapshot()
    ch = snap.channels["gpu:0"]
    assert ch.first_t is not None and ch.last_t is not None
    assert ch.energy_j == pytest.approx(100.0 * (ch.last_t - ch.first_t), rel=1e-6)
    assert ch.samples >= 5
    assert not sampler.running


def test_ramp_integral_matches_closed_form() -> None:
    sensor = RampSensor(a=50.0, b=30.0)
    led = Ledger(sensor.describe())
    sampler = Sampler([sensor], led, interval_s=0.01)
    sampler.start()
    time.sleep(0.3)
    sampler.stop()
    ch = led.snapshot().channels["gpu:0"]
    assert ch.first_t is not None and ch.last_t is not None
    t0, t1 = ch.first_t, ch.last_t
    exact = 50.0 * (t1 - t0) + 15.0 * (t1**2 - t0**2)
    # Readings are taken at the midpoint of each read call; a few microseconds of skew at most.
    assert ch.energy_j == pytest.approx(exact, rel=1e-3)


def test_phase_marks_read_at_the_edge() -> None:
    counter = CounterSensor()
    led = Ledger(counter.describe())
    sampler = Sampler([counter], led, interval_s=10.0)  # the thread never ticks during the test
    sampler.start()
    sampler.mark_phase("eval")  # +10 J to the unphased time
    sampler.mark_phase("save")  # +10 J to eval
    sampler.stop()  # +10 J to save
    snap = led.snapshot()
    assert snap.phase_energy_j == {"(unphased)": 10.0, "eval": 10.0, "save": 10.0}


def test_failing_sensor_is_a_gap_not_an_exception(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="wattwatch")  # an earlier Tracker(log_level=...) may have raised it
    bad = RampSensor(fail=True)
    good = CounterSensor()
    led = Ledger(bad.describe() + good.describe())
    sampler = Sampler([bad, good], led, interval_s=0.01)
    sampler.start()
    time.sleep(0.1)
    sampler.stop()
    snap = led.snapshot()
    assert snap.channels["gpu:0"].energy_j == 0.0
    assert snap.channels["gpu:0"].in_gap
    assert snap.channels["cpu:package-0"].energy_j > 0
    warnings = [r for r in caplog.records if "read failed" in r.getMessage()]
    assert len(warnings) == 1  # logged once, not once per tick


def test_slow_reads_skip_ticks_instead_of_piling_up() -> None:
    slow = RampSensor(delay_s=0.05)
    led = Ledger(slow.describe())
    sampler = Sampler([slow], led, interval_s=0.01)
    sampler.start()
    time.sleep(0.5)
    sampler.stop()
    # Each read takes 50 ms; with 10 ms ticks at most ~10 reads fit in 0.5 s, and the missed ticks were skipped.
    assert slow.calls <= 14
    assert sampler.skipped_ticks > 0


def test_stop_does_not_hang_on_a_stuck_read() -> None:
    release = threading.Event()

    class Stuck(CounterSensor):
        def read(self, t: float) -> dict[str, Reading]:
            if threading.current_thread().name == "wattwatch-sampler":
                release.wait(10)
            return super().read(t)

    stuck = Stuck()
    led = Ledger(stuck.describe())
    sampler = Sampler([stuck], led, interval_s=0.01, stop_timeout_s=0.2)
    sampler.start()
    time.sleep(0.05)
    began = time.monotonic()
    sampler.stop()
    took = time.monotonic() - began
    release.set()
    assert took < 5.0  # bounded by stop_timeout_s (twice), not by the stuck call


def test_on_tick_errors_do_not_escape() -> None:
    counter = CounterSensor()
    led = Ledger(counter.describe())
    ticks: list[float] = []

    def boom(t: float) -> None:
        ticks.append(t)
        raise RuntimeError("flush failed")

    sampler = Sampler([counter], led, interval_s=0.01, on_tick=boom)
    sampler.start()
    time.sleep(0.1)
    sampler.stop()
    assert len(ticks) >= 2


def test_bad_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        Sampler([CounterSensor()], Ledger([]), interval_s=0)


def test_start_twice_is_refused() -> None:
    s = Sampler([CounterSensor()], Ledger([]), interval_s=1.0)
    s.start()
    try:
        with pytest.raises(RuntimeError):
            s.start()
    finally:
        s.stop()


def test_default_interval_reads_a_share_estimate_by_the_method_under_it() -> None:
    on_counter = ChannelInfo("gpu:0", "gpu", "estimate:gpu-process-share", details={"share_of": "counter"})
    on_power = ChannelInfo("gpu:0", "gpu", "estimate:gpu-process-share", details={"share_of": "power-integral"})
    assert default_interval([on_counter]) == COUNTER_INTERVAL_S
    assert default_interval([on_power]) == POWER_INTERVAL_S


def test_a_read_asked_for_inside_a_read_on_the_same_thread_is_refused_at_once() -> None:
    """SIGTERM's handler (stop() -> a last read) can run on the thread it interrupted while that thread is inside a
    read, holding the sampler's lock. The nested read is refused at once (the interrupted read stands) instead of
    waiting on a lock its own thread holds -- before, stop() sat out its whole timeout or hung."""
    sensor = CounterSensor()
    ledger = Ledger(sensor.describe())
    sampler = Sampler([sensor], ledger, 60.0, stop_timeout_s=30.0)
    nested: list[bool] = []
    original = sensor.read

    def read(t: float) -> dict[str, Reading]:
        if not nested and sampler.running:
            nested.append(sampler.sample_now())  # what the handler's stop() does
        return original(t)

    sensor.read = read  # type: ignore[method-assign]
    sampler.start()
    worker = threading.Thread(target=sampler.sample_now, daemon=True)
    worker.start()
    worker.join(10.0)
    assert not worker.is_alive(), "a nested read waited on its own thread's lock"
    assert nested == [False]
    assert sampler.sample_now() is True  # the lock was released: reads go on
    sampler.stop()


class _Recorder(CounterSensor):
    """A counter sensor that logs each read as ``("read", thread name)`` into a shared event list."""

    def __init__(self, events: list[tuple[str, str]]) -> None:
        super().__init__()
        self.events = events

    def read(self, t: float) -> dict[str, Reading]:
        self.events.append(("read", threading.current_thread().name))
        return super().read(t)


def test_stop_takes_the_final_read_without_waiting_for_the_thread_to_be_scheduled() -> None:
    """Under load the sampler thread's wake-up is a scheduling tail of milliseconds; stop() used to join it before
    the final read. Here the thread, between two ticks, cannot run until stop() has returned (its clock blocks on
    that): stop() still takes the final read and returns, and the thread then exits without reading again."""
    events: list[tuple[str, str]] = []
    sensor = _Recorder(events)
    ledger = Ledger(sensor.describe())
    ticked, stopped, blocked = threading.Event(), threading.Event(), []

    def clock() -> float:
        if threading.current_thread().name == "wattwatch-sampler" and ticked.is_set() and not blocked:
            blocked.append(True)
            blocked.append(stopped.wait(30.0))  # not scheduled until stop() returns (30 s: a deadlock, not a bound)
        return time.monotonic()

    def on_tick(t: float) -> None:
        events.append(("on_tick", threading.current_thread().name))
        ticked.set()

    sampler = Sampler([sensor], ledger, interval_s=0.001, clock=clock, on_tick=on_tick, stop_timeout_s=60.0)
    sampler.start()
    assert ticked.wait(30.0)
    while not blocked:  # the thread is now stuck in its wait between ticks
        time.sleep(0.001)
    worker = threading.Thread(target=lambda: (sampler.stop(), stopped.set()), name="user")
    worker.start()
    worker.join(30.0)
    assert not worker.is_alive(), "stop() waited for the sampler thread"
    assert sampler.join(30.0)
    assert blocked == [True, True], "stop() returned only after the thread ran again"
    assert events[-1] == ("read", "user")  # the final read, and nothing read or ticked after it
    assert not sampler.running
    assert ledger.snapshot().channels["cpu:package-0"].samples == sum(1 for e in events if e[0] == "read")


def test_stop_waits_for_a_tick_in_flight_and_nothing_ticks_after_the_final_read() -> None:
    """A tick in flight (its on_tick writing the time series or the journal) ends before the final read is taken:
    the caller of stop() never writes its last rows beside the thread's, and no tick follows the final read."""
    events: list[tuple[str, str]] = []
    sensor = _Recorder(events)
    ledger = Ledger(sensor.describe())
    inside, release = threading.Event(), threading.Event()

    def on_tick(t: float) -> None:
        events.append(("on_tick", "begin"))
        if not inside.is_set():
            inside.set()
            release.wait(30.0)
        events.append(("on_tick", "end"))

    sampler = Sampler([sensor], ledger, interval_s=0.001, on_tick=on_tick, stop_timeout_s=60.0)
    sampler.start()
    assert inside.wait(30.0)
    worker = threading.Thread(target=sampler.stop, name="user")
    worker.start()
    while not sampler.stopping:
        time.sleep(0.001)
    assert ("read", "user") not in events  # the tick in flight has the tick lock: no final read beside it
    release.set()
    worker.join(30.0)
    assert not worker.is_alive()
    assert sampler.join(30.0)
    final = events.index(("read", "user"))
    assert events[final - 1] == ("on_tick", "end")  # the tick ended first
    assert events[final:] == [("read", "user")]  # nothing read, no on_tick after the final read


def test_a_stop_from_on_tick_itself_takes_the_final_read() -> None:
    """A listener that stops the run runs on the sampler thread, inside a tick: stop() must not wait for the tick
    lock that thread holds."""
    events: list[tuple[str, str]] = []
    sensor = _Recorder(events)
    ledger = Ledger(sensor.describe())
    done = threading.Event()
    holder: list[Sampler] = []

    def on_tick(t: float) -> None:
        if not done.is_set():
            holder[0].stop()
            done.set()

    sampler = Sampler([sensor], ledger, interval_s=0.001, on_tick=on_tick, stop_timeout_s=60.0)
    holder.append(sampler)
    sampler.start()
    assert done.wait(30.0)
    assert sampler.join(30.0)
    assert events[-1] == ("read", "wattwatch-sampler")
    assert events.count(("read", "wattwatch-sampler")) == 2  # its tick's read, then the final one
