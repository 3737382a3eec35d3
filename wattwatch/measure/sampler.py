"""One daemon thread that reads every sensor at a fixed interval and feeds the ledger.

Exact windows: the first read happens synchronously in :meth:`Sampler.start`, the last in :meth:`Sampler.stop`
and one at every phase change (:meth:`Sampler.mark_phase`), so the ledger's windows begin and end where the
user's work does. Ticks follow the monotonic clock; a slow read never piles up ticks (missed ticks are skipped,
not replayed). A sensor that raises, or a channel that is missing, becomes a recorded gap; nothing propagates
into the user's program.

Default interval: 1 s when every GPU channel has a hardware energy counter (the counter integrates for us, the
interval only sets the time resolution), :data:`POWER_INTERVAL_S` when some GPU must be integrated from sampled
power. See ``benchmarks/RESULTS.md`` for the accuracy and CPU cost measurements behind these numbers.

Slow sensors: the host models (CPU power from cumulative CPU seconds, RAM power from memory in use) are read
every :data:`SLOW_INTERVAL_S` instead of every tick -- and at every synchronous read (start, stop, phase change,
explicit flush or refresh, :meth:`Sampler.sample_slow_now` at each periodic row), so totals and rows are whole
wherever they are written. The CPU model's energy is exact at any cadence (each reading is the mean since the
previous one over cumulative counters, folded as ``mean * dt``); memory in use is sampled every 10 s instead of
every second. Reading ``/proc/stat`` and ``/proc/meminfo`` was a third of a 1 s tick's CPU time. Live figures
read between two host reads (``current()`` without ``refresh``, ``/metrics``, listeners) hold the host models'
energy as of their latest read, at most :data:`SLOW_INTERVAL_S` old; the GPUs' is at most one tick old.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence

from wattwatch.measure.ledger import Ledger
from wattwatch.sensors.base import ChannelInfo, Sensor
from wattwatch.util.once import WarnOnce

__all__ = [
    "COUNTER_INTERVAL_S",
    "POWER_INTERVAL_S",
    "SLOW_INTERVAL_S",
    "Sampler",
    "default_interval",
    "max_read_interval",
    "slow_sensors",
]

COUNTER_INTERVAL_S = 1.0
"""Default seconds between reads when every GPU has an energy counter (or there is no GPU)."""
POWER_INTERVAL_S = 0.02
"""Default seconds between reads when some GPU is integrated from power."""
SLOW_INTERVAL_S = 10.0
"""Default seconds between the periodic reads of the slow sensors (see the module doc); never shorter than the
interval itself."""
POWER_JITTER = 0.3
"""Default random jitter of each tick (fraction of the interval) when some channel is integrated from power.

A load that switches with a period commensurate with the sampling interval (a 2.3 s square wave sampled every
0.1 s) puts every edge at the same place between two samples, so the trapezoid's per-edge errors add up instead
of cancelling: -2.7 % over 5 s on the fake NVML board. Dithering the tick times makes those errors independent
and their sum shrinks like sqrt(edges) instead of growing like edges."""

log = logging.getLogger("wattwatch")

TickHook = Callable[[float], None]


def _reading_method(info: ChannelInfo) -> str:
    """How the channel is read: its method, or for a share estimate the method under it (``share_of``)."""
    return str(info.details.get("share_of", info.method))


def default_interval(infos: Sequence[ChannelInfo]) -> float:
    """The default sampling interval (s) for these channels."""
    if any(i.component == "gpu" and _reading_method(i) != "counter" for i in infos):
        return POWER_INTERVAL_S
    return COUNTER_INTERVAL_S


def max_read_interval(infos: Sequence[ChannelInfo]) -> float | None:
    """The longest interval (s) at which every channel's counter is still read before it can wrap twice
    (channels state it as ``details["max_read_interval_s"]``); ``None`` when no channel limits it."""
    bounds = []
    for info in infos:
        value = info.details.get("max_read_interval_s") if info.details else None
        if isinstance(value, int | float) and value > 0:
            bounds.append(float(value))
    return min(bounds) if bounds else None


def slow_sensors(sensors: Sequence[Sensor]) -> list[Sensor]:
    """The sensors that can be read on the slow cadence: the host models (every channel a ``cpu`` or ``ram``
    component whose method is a model over counters the kernel keeps, ``model:...``, or a power the user fixed,
    ``user:...``). Hardware counters (RAPL, GPUs) are read every tick: they set the time resolution."""
    out = []
    for sensor in sensors:
        infos = sensor.describe()
        if infos and all(
            i.component in ("cpu", "ram") and i.method.startswith(("model:", "user:")) for i in infos
        ):
            out.append(sensor)
    return out


class Sampler:
    """Reads ``sensors`` every ``interval_s`` seconds on a daemon thread and folds the readings into ``ledger``.

    ``jitter`` dithers each tick by up to that fraction of the interval (see :data:`POWER_JITTER`); the mean
    interval is unchanged.

    ``clock`` is the monotonic clock (s) and ``wall_clock`` the unix clock (s); both are parameters so tests can
    drive time. ``on_tick(t)`` runs on the sampler thread after every read (periodic flushes hang here); it must
    not raise, and if it does the error is logged once and ignored.

    ``slow`` (a subset of ``sensors``) are read by the thread every ``slow_every_s`` seconds only, and by every
    synchronous read; ``on_slow_read(t)`` runs after each read of them, under the read lock (the usage meter
    samples there). Their readings must integrate exactly at that cadence (see the module doc).
    ``on_phase_edge(t)`` runs inside :meth:`mark_phase`, after the edge's reading and before the switch.
    """

    def __init__(
        self,
        sensors: Sequence[Sensor],
        ledger: Ledger,
        interval_s: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        on_tick: TickHook | None = None,
        stop_timeout_s: float = 5.0,
        jitter: float | None = None,
        name: str = "wattwatch-sampler",
        slow: Collection[Sensor] = (),
        slow_every_s: float = SLOW_INTERVAL_S,
        on_slow_read: Callable[[float], object] | None = None,
        on_phase_edge: TickHook | None = None,
    ) -> None:
        self._sensors = list(sensors)
        slow_ids = {id(s) for s in slow}
        if not slow_ids <= {id(s) for s in self._sensors}:
            raise ValueError("every slow sensor must be one of the sampler's sensors")
        read = [(s, s.channels()) for s in self._sensors]
        self._fast = [(s, c) for s, c in read if c and id(s) not in slow_ids]
        self._slow = [(s, c) for s, c in read if c and id(s) in slow_ids]
        self._on_slow_read = on_slow_read
        self.after_read: Callable[[], object] | None = None
        """Runs after every read, under the read lock (the live total of :mod:`wattwatch.measure.live`)."""
        self._on_phase_edge = on_phase_edge
        self._has_slow = bool(self._slow) or on_slow_read is not None
        self._slow_t: float | None = None
        """Monotonic time of the latest read of the slow sensors."""
        self.tick_read_slow = False
        """Whether the thread's latest tick read the slow sensors too."""
        infos = [i for s in self._sensors for i in s.describe()]
        if interval_s is None:
            interval_s = default_interval(infos)
        if not interval_s > 0:
            raise ValueError(f"the sampling interval must be a positive number of seconds; got {interval_s!r}")
        bound = max_read_interval(infos)
        if bound is not None and interval_s > bound:
            log.info(
                "wattwatch: reading every %.3g s instead of %.3g s: a counter can wrap more than once between "
                "slower reads (max_read_interval_s)",
                bound,
                interval_s,
            )
            interval_s = bound
        self.interval_s = float(interval_s)
        if not slow_every_s > 0:
            raise ValueError(f"slow_every_s must be a positive number of seconds; got {slow_every_s!r}")
        self.slow_every_s = max(float(slow_every_s), self.interval_s)
        if jitter is None:
            jitter = POWER_JITTER if any(_reading_method(i) == "power-integral" for i in infos) else 0.0
        if not 0.0 <= jitter < 1.0:
            raise ValueError(f"jitter is a fraction of the interval in [0, 1); got {jitter!r}")
        self.jitter = float(jitter)
        import random  # only a started sampler needs it

        self._random = random.Random()
        self._ledger, self._clock, self._wall = ledger, clock, wall_clock
        self._on_tick = on_tick
        self._stop_timeout_s = stop_timeout_s
        self._name = name
        self._lock = threading.Lock()
        self._reader: int | None = None
        """The thread reading now: a signal handler that interrupts a read and asks for another one on the same
        thread (SIGTERM -> stop()) is told no at once, instead of waiting on a lock its own thread holds."""
        self._wake = threading.Lock()
        """Held while the thread runs; :meth:`stop` releases it, which ends the thread's timed wait at once (one
        C-level ``acquire(timeout)`` per tick, where an ``Event.wait`` runs a dozen lines of Python)."""
        self._wake.acquire()
        # held for a whole tick (see stop(); reentrant: a stop() from on_tick); abandoned: stop() gave up on a tick
        self._tick_lock, self._abandoned = threading.RLock(), False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._warn_once = WarnOnce(log)
        self.ticks = 0
        """Reads done by the thread (not counting the synchronous ones)."""
        self.skipped_ticks = 0
        """Ticks skipped because a read overran its slot."""

    def after_fork_in_child(self) -> None:
        """The sampling thread does not exist in a forked child, and a lock it held at the fork stays locked
        forever there: take a fresh one, so the child's ``sample_now()`` never hangs."""
        self._lock = threading.Lock()
        self._tick_lock = threading.RLock()
        self._reader = None

    @property
    def thread(self) -> threading.Thread | None:
        """The sampling thread (``None`` before ``start()``)."""
        return self._thread

    @property
    def running(self) -> bool:
        """Whether the thread samples: started, not stopped (after :meth:`stop` it may still be alive for a moment,
        on its way out without reading; :meth:`join` waits for that)."""
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called (the thread's ticks end; a hook waiting on the caller of ``stop()``
        should give up)."""
        return self._stopping

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the stopped thread to exit (at most ``timeout_s``); ``True`` when it has (or never ran).
        :meth:`stop` does not wait for it: the thread reads nothing after the final read and exits by itself."""
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return thread is None
        thread.join(timeout_s)
        return not thread.is_alive()

    def start(self) -> None:
        """Read once now (the window's start), then start the sampling thread."""
        if self._thread is not None:
            raise RuntimeError("this sampler was already started; create a new one for a new run")
        self.sample_now()
        self._slow_t = None  # the first tick reads the slow sensors too: the first row has their power
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def mark_phase(self, phase: str) -> None:
        """Read now, so the interval before belongs to the old phase, then switch the ledger to ``phase``
        (``on_phase_edge(t)`` runs in between, the old phase's last moment: the time series takes a row there)."""
        with self._lock:
            self._reader = threading.get_ident()
            try:
                self._read_locked()
                if self._on_phase_edge is not None:
                    try:
                        self._on_phase_edge(self._clock())
                    except Exception as exc:  # never into user code
                        self._warn_once("on_phase_edge", f"wattwatch: phase-edge task failed: {exc!r}")
                self._ledger.set_phase(phase)
            finally:
                self._reader = None

    def sample_now(self, lock_timeout_s: float = -1) -> bool:
        """Read every sensor now (from any thread). Returns ``False`` if the lock was not had in time, or at once
        when this thread is already inside a read (a signal handler that interrupted it: that read stands)."""
        return self._locked_read(self._read_locked, lock_timeout_s)

    def sample_slow_now(self, lock_timeout_s: float = -1, *, hook: bool = True) -> bool:
        """Read the slow sensors now (the tracker does before each periodic row, so the row holds the host's
        energy up to now); ``hook=False`` leaves ``on_slow_read`` out (the usage meter: its means need no
        sample at every row). Returns as :meth:`sample_now`."""
        return self._locked_read(lambda: self._read_slow_locked(hook=hook), lock_timeout_s)

    def _locked_read(self, read: Callable[[], None], lock_timeout_s: float) -> bool:
        if self._reader == threading.get_ident():
            return False
        if not self._lock.acquire(timeout=lock_timeout_s):
            return False
        self._reader = threading.get_ident()
        try:
            read()
        finally:
            self._reader = None
            self._lock.release()
        return True

    def stop(self) -> None:
        """Stop the thread and take the window's last read. Bounded: waits at most ``stop_timeout_s`` for a tick
        in progress (a hung driver call, a slow ``on_tick``), then at most ``stop_timeout_s`` for a read in
        progress, then gives up on the final read rather than stall the caller.

        The bound, for the caller: the tick in flight (if any, at most ``stop_timeout_s``) plus one final read.
        With 2 s NVML calls that is about 4 s; with a call that never returns, ``2 * stop_timeout_s`` (10 s by
        default) and the run ends at the previous read. Ticks missed meanwhile are skipped, never replayed.

        The final read does not wait for the thread to be scheduled (under load its wake-up is a scheduling tail
        of milliseconds): it waits for the tick lock only, which the thread holds for a whole tick (read and
        ``on_tick``). Once ``stop()`` has it no tick starts (the thread sees the stop flag and exits by itself,
        reading nothing), so nothing is read and no ``on_tick`` runs after the final read, and the caller may
        write the run's last rows without the thread writing beside them. The thread is not joined
        (:meth:`join`); a signal handler's ``stop()`` that interrupted a read on its own thread returns at once
        without a read (that read stands)."""
        if not self._stopping:
            self._stopping = True
            self._wake.release()
        if self._reader is not None and self._reader == threading.get_ident():
            # a signal handler interrupted a read on this thread: that read stands as the last; the thread's tick,
            # if one waits for this read's lock, then sees the stop flag and reads nothing
            return
        tick = self._tick_lock
        held = self._thread is not None and tick.acquire(timeout=self._stop_timeout_s)
        if self._thread is not None and not held:
            self._abandoned = True
            self._warn_once("stop-tick", "wattwatch: the sampler's last tick did not end in time; stopping anyway")
        try:
            if not self.sample_now(lock_timeout_s=self._stop_timeout_s):
                self._warn_once("stop", "wattwatch: the final read timed out; the run ends at the previous read")
        finally:
            if held:
                tick.release()

    # -- internals -----------------------------------------------------------------------------------------
    def _loop(self) -> None:
        interval = self.interval_s
        clock, wake = self._clock, self._wake
        next_t = clock() + interval
        tick = self._tick_lock
        while not wake.acquire(timeout=max(0.0, next_t - clock())):
            with tick:
                now = None if self._stopping else self._tick()
            if now is None:  # stopped: stop() takes (or took) the final read, no tick after it
                return
            next_t += interval * (1.0 + self.jitter * (2.0 * self._random.random() - 1.0))
            if next_t <= now:
                missed = int((now - next_t) // interval) + 1
                self.skipped_ticks += missed
                next_t += missed * interval

    def _tick(self) -> float | None:
        """One tick of the thread (under the tick lock): read the fast sensors, and the slow ones when due (the
        tick nearest to ``slow_every_s`` after their last read), then ``on_tick``. Returns the monotonic time
        after the read; ``None`` when the sampler stopped before the read (nothing read, no ``on_tick``)."""
        with self._lock:
            if self._stopping:
                return None
            self._reader = threading.get_ident()
            try:
                slow = self._has_slow and (
                    self._slow_t is None or self._clock() - self._slow_t >= self.slow_every_s - self.interval_s / 2
                )
                self._read_fast_locked()
                if slow:
                    self._read_slow_locked()
                self.tick_read_slow = slow
            finally:
                self._reader = None
        self.ticks += 1
        now = self._clock()
        if self._on_tick is not None and not self._abandoned:  # stop() gave up on this tick: it ran without it
            try:
                self._on_tick(now)
            except Exception as exc:  # never into user code
                self._warn_once("on_tick", f"wattwatch: periodic task failed: {exc!r}")
        return now

    def _read_locked(self) -> None:
        self._read_fast_locked()
        self._read_slow_locked()

    def _read_fast_locked(self) -> None:
        self._read_each(self._fast)

    def _read_slow_locked(self, *, hook: bool = True) -> None:
        if not self._has_slow:
            return
        self._read_each(self._slow)
        t = self._slow_t = self._clock()
        if hook and self._on_slow_read is not None:
            try:
                self._on_slow_read(t)
            except Exception as exc:  # never into user code
                self._warn_once("on_slow_read", f"wattwatch: periodic host sample failed: {exc!r}")

    def _read_each(self, sensors: list[tuple[Sensor, list[str]]]) -> None:
        for sensor, expected in sensors:
            before = self._clock()
            try:
                readings = sensor.read(before)
            except Exception as exc:  # a hardware fault is a gap, never an exception in user code
                self._warn_once(
                    f"read:{type(sensor).__name__}",
                    f"wattwatch: {type(sensor).__name__} read failed ({exc!r}); recording a gap and carrying on",
                )
                readings = {}
            after = self._clock()
            t = (before + after) / 2.0
            wall = self._wall() - (after - t)
            self._ledger.add(t, wall, readings, expected)
        if self.after_read is not None:
            self.after_read()
