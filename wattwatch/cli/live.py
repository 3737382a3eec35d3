"""The live view of a running tracker: one refreshed line on a terminal, a plain log line now and then otherwise.

On a TTY the line lives on the terminal's last row, redrawn about once a second::

    wattwatch  gpu:0 312 W  cpu 45 W  ram 6 W | 0.0123 kWh | 4.56 g CO2 | 120 g/h | 0:01:35 | end ~1.20 kWh ...

The rows above it are a scroll region (``ESC [ top ; bottom r``, as apt's progress bar does): the command's own
output scrolls there and never lands on the line, and the line never lands in it. Each redraw is one
``write`` (save the cursor, go to the last row, clear it, draw, restore the cursor), so it cannot interleave
with the command's writes. The line is fitted to the terminal's width (:func:`format_line`): the least useful
fields give way first (per-device power becomes per-kind, then the rate goes, the projection shortens, the
power goes), never the energy, CO2, elapsed time or projection. At the end the region is given back and the
line cleared. A terminal whose size is unknown (or ``TERM=dumb``) gets the plain lines instead.

Elsewhere (a log file, CI) the same facts go out as one plain line every ``log_every_s`` seconds (default 60),
so a long run's log does not fill with updates. The view runs on its own daemon thread and only reads the
tracker (``current()`` / ``snapshot()``); it never slows the sampler.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Protocol

from wattwatch.measure.projection import Projection, Projector
from wattwatch.result import EmissionsData
from wattwatch.util.terminal import printable

if TYPE_CHECKING:
    from wattwatch.measure.ledger import LedgerSnapshot

__all__ = ["LiveSource", "LiveView", "format_line", "format_power", "rate_g_per_h", "terminal_rows_cols"]


def format_power(powers: dict[str, float | None]) -> str:
    """``{"gpu:0": 312.4, "cpu": 45.0}`` -> ``"gpu:0 312 W  cpu 45 W"`` (channels in a gap show ``-``)."""
    parts = []
    for name, p in sorted(powers.items(), key=lambda kv: (not kv[0].startswith("gpu"), kv[0])):
        parts.append(f"{name} {'-' if p is None else f'{p:.0f}' if p >= 10 else f'{p:.1f}'} W")
    return "  ".join(parts) if parts else "no sensors"


def rate_g_per_h(data: EmissionsData, powers: dict[str, float | None]) -> float:
    """Current emission rate (g CO2eq per hour): present power x PUE x the run's effective intensity; the run's
    mean rate when no power is known yet."""
    watts = sum(p for p in powers.values() if p is not None)
    if watts > 0 and data.intensity_g_per_kwh > 0:
        return watts * data.pue / 1000.0 * data.intensity_g_per_kwh
    return data.emissions_rate * 1000.0 * 3600.0


def _mass(kg: float) -> str:
    return f"{kg:.3g} kg" if kg >= 1 else f"{kg * 1000:.3g} g"


def _watts(w: float) -> str:
    return f"{w / 1000:.2f} kW" if w >= 1000 else f"{w:.0f} W" if w >= 10 else f"{w:.1f} W"


def _power_by_kind(powers: dict[str, float | None]) -> str:
    """``gpu:0..7`` summed as ``8 gpu 2.50 kW``; ``cpu``, ``ram`` as they are (``-`` where all are in a gap)."""
    kinds: dict[str, list[float | None]] = {}
    for name, p in powers.items():
        kinds.setdefault(name.split(":")[0], []).append(p)
    parts = []
    for kind, ps in sorted(kinds.items(), key=lambda kv: (kv[0] != "gpu", kv[0])):
        known = [p for p in ps if p is not None]
        count = f"{len(ps)} " if len(ps) > 1 else ""
        parts.append(f"{count}{kind} {_watts(sum(known)) if known else '- W'}")
    return "  ".join(parts) if parts else "no sensors"


def _elapsed(s: float) -> str:
    h, rem = divmod(int(max(0.0, s)), 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}"


def format_line(
    data: EmissionsData,
    powers: dict[str, float | None],
    projection: Projection | None = None,
    suffix: str = "",
    *,
    width: int | None = None,
) -> str:
    """The live line's text: power, energy and emissions so far, rate, elapsed time (h:mm:ss), projection.

    ``width``: the characters available; the least useful fields give way first until the line fits -- power
    per device becomes power per kind (``8 gpu 2.50 kW``), the rate goes, the projection drops its step count,
    the power becomes one total, then goes, the projection drops its CO2 -- so the energy, CO2, elapsed time
    and projected energy stay (under ~60 columns the CO2 goes too). Cut with ``…`` only when not even those
    fit. ``suffix``: the carbon policy's words (the projection's range, the budget, a pause), kept until only
    the last resort is left."""
    energy, co2 = f"{data.energy_consumed:.4g} kWh", f"{_mass(data.emissions)} CO2"
    g_per_h = rate_g_per_h(data, powers)
    rate = f"{g_per_h / 1000:.3g} kg/h" if g_per_h >= 1000 else f"{g_per_h:.3g} g/h"
    elapsed = _elapsed(data.duration)
    full = short = shortest = ""
    if projection is not None:
        head = f"end ~{projection.energy_kwh:.3g} kWh"
        done = f"{projection.fraction_done * 100:.0f} %"
        full = f"{head} {_mass(projection.emissions_kg)} ({done} of {projection.total_steps} steps)"
        short, shortest = f"{head} {_mass(projection.emissions_kg)} ({done})", f"{head} ({done})"
    known = [p for p in powers.values() if p is not None]
    total = _watts(sum(known)) if known else "- W"
    devices, kinds = format_power(powers), _power_by_kind(powers)
    candidates = (
        (devices, energy, co2, rate, elapsed, full, suffix),
        (kinds, energy, co2, rate, elapsed, full, suffix),
        (kinds, energy, co2, elapsed, full, suffix),
        (kinds, energy, co2, elapsed, short, suffix),
        (total, energy, co2, elapsed, short, suffix),
        (energy, co2, elapsed, short, suffix),
        (energy, co2, elapsed, shortest, suffix),
        (energy, elapsed, shortest, suffix),
        (energy, elapsed, shortest),
    )
    text = ""
    for fields in candidates:
        text = " | ".join(f for f in fields if f)
        if width is None or len(text) <= width:
            return text
    return text[: max(0, (width or 0) - 1)] + "…"


def terminal_rows_cols(stream: IO[str]) -> tuple[int, int]:
    """``(rows, columns)`` of the terminal ``stream`` writes to; ``(0, 0)`` when unknown."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return 0, 0
    return size.lines, size.columns


class LiveSource(Protocol):
    """What the live view reads (a :class:`~wattwatch.run.tracker.Tracker` is one)."""

    total_steps: int | None

    def current(self, *, refresh: bool = False) -> EmissionsData: ...

    def snapshot(self) -> LedgerSnapshot | None: ...


def _powers(tracker: LiveSource) -> dict[str, float | None]:
    snap = tracker.snapshot()
    if snap is None:
        return {}
    return {n: (None if c.in_gap else c.power_w) for n, c in snap.channels.items()}


def _acting(tracker: LiveSource, projection: Projection | None) -> tuple[Projection | None, str]:
    """The carbon policy's projection (its centre replaces the simple one, so the range printed beside it is
    around it) and words, when the tracker has a policy."""
    policy = getattr(tracker, "policy", None)
    if policy is None:
        return projection, ""
    from wattwatch.policy.report import live_suffix

    view = policy.carbon_outlook()
    if view is not None:
        e = view.energy
        projection = Projection(e.steps, e.total_steps, e.energy_kwh, view.emissions_kg, e.remaining_s)
    return projection, live_suffix(view, policy.budget, policy.paused)


class LiveView:
    """Shows ``tracker``'s progress on ``stream`` (default ``sys.stderr``) until :meth:`stop`.

    ``tty`` forces the terminal (``True``) or log (``False``) behaviour; by default ``stream.isatty()`` decides.
    ``refresh_s``: seconds between redraws on a TTY; ``log_every_s``: seconds between log lines otherwise.
    """

    def __init__(
        self,
        tracker: LiveSource,
        stream: IO[str] | None = None,
        *,
        tty: bool | None = None,
        refresh_s: float = 1.0,
        log_every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not refresh_s > 0 or not log_every_s > 0:
            raise ValueError("refresh_s and log_every_s must be positive numbers of seconds")
        self.tracker = tracker
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            try:
                tty = self.stream.isatty()
            except (AttributeError, ValueError):
                tty = False
        self.tty = bool(tty)
        self.interval_s = refresh_s if self.tty else log_every_s
        total = getattr(tracker, "total_steps", None)
        self.projector = Projector(total) if total else None
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rows = 0
        """The terminal's rows when the scroll region was last set (0: not set)."""
        self._label = "wattwatch" if os.environ.get("NO_COLOR") else "\x1b[1;32mwattwatch\x1b[0m"
        if self.tty and (os.environ.get("TERM") == "dumb" or terminal_rows_cols(self.stream)[0] < 3):
            self.tty, self.interval_s = False, log_every_s  # no rows to keep one: plain lines
        self.lines = 0
        """Lines (log mode) or redraws (TTY mode) written so far."""

    def line(self, width: int | None = None) -> str:
        """The current line's text, fitted to ``width`` (also feeds the projection). The figures are read fresh
        (``refresh``): the sampler reads the CPU and RAM models only every 10 s, and a watched line must move
        every redraw."""
        data = self.tracker.current(refresh=True)
        projection = None
        if self.projector is not None:
            projection = self.projector.update(
                data.duration, data.steps, data.energy_consumed, data.emissions
            )
        projection, suffix = _acting(self.tracker, projection)
        return format_line(data, _powers(self.tracker), projection, suffix, width=width)

    def start(self) -> LiveView:
        self._thread = threading.Thread(target=self._loop, name="wattwatch-live", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._show()
            except Exception:  # the view never breaks the run
                pass

    def _show(self) -> None:
        if not self.tty:
            # device names come from drivers and files: no control character is shown
            self.stream.write(f"wattwatch: {printable(self.line())}\n")
            self.stream.flush()
            self.lines += 1
            return
        rows, cols = terminal_rows_cols(self.stream)
        if rows < 3:
            return
        # one column spare: a character in the last column of the last row may scroll the screen
        text = printable(self.line(max(10, cols - len("wattwatch  ") - 1)))
        setup = ""
        if rows != self._rows:  # first draw, or the window was resized
            setup = ("\x1b7\x1b[r\x1b8" if self._rows else "") + _keep_last_row(rows)
            self._rows = rows
        self._write(f"{setup}\x1b7\x1b[{rows};1H\x1b[2K{self._label}  {text}\x1b8")
        self.lines += 1

    def _write(self, text: str) -> None:
        """One write to the terminal (a redraw must not interleave with the command's output)."""
        self.stream.flush()
        try:
            fd = self.stream.fileno()
        except (OSError, ValueError, AttributeError):
            self.stream.write(text)
            self.stream.flush()
            return
        data = text.encode("utf-8", "replace")
        while data:
            data = data[os.write(fd, data) :]

    def stop(self, summary: str | None = None) -> None:
        """Stop refreshing; on a TTY end the live line; print ``summary`` (a final line) when given."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        try:
            if self.tty and self._rows:  # give the row back: reset the region, clear the line, cursor kept
                self._write(f"\x1b7\x1b[r\x1b[{self._rows};1H\x1b[2K\x1b8")
                self._rows = 0
            if summary:
                self.stream.write(f"wattwatch: {printable(summary)}\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass


def _keep_last_row(rows: int) -> str:
    """The rows above the last one become the scroll region, the cursor staying where the output goes on:
    a line feed first (so that text on the last row moves up out of it), save, set the region (which homes the
    cursor), restore, and back up the line the feed added."""
    return f"\n\x1b7\x1b[1;{rows - 1}r\x1b8\x1b[1A"
