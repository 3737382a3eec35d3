"""The live view of a running tracker: one refreshed line on a terminal, a plain log line now and then otherwise.

On a TTY the line is redrawn in place (carriage return, rich styling) about once a second::

    wattwatch  gpu:0 312 W  cpu 45 W  ram 6 W | 0.0123 kWh | 4.56 g CO2 | 120 g/h | end ~1.20 kWh 0.46 kg (25 %)

Elsewhere (a log file, CI) the same facts go out as one plain line every ``log_every_s`` seconds (default 60),
so a long run's log does not fill with updates. The view runs on its own daemon thread and only reads the
tracker (``current()`` / ``snapshot()``); it never slows the sampler.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, Protocol

from wattwatch.measure.projection import Projection, Projector
from wattwatch.result import EmissionsData
from wattwatch.util.terminal import printable

if TYPE_CHECKING:
    from wattwatch.measure.ledger import LedgerSnapshot

__all__ = ["LiveSource", "LiveView", "format_line", "format_power", "rate_g_per_h"]


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


def format_line(
    data: EmissionsData, powers: dict[str, float | None], projection: Projection | None = None
) -> str:
    """The live line's text: power per device, energy and emissions so far, rate, and the projection."""
    text = (
        f"{format_power(powers)} | {data.energy_consumed:.4g} kWh | {_mass(data.emissions)} CO2 | "
        f"{rate_g_per_h(data, powers):.3g} g/h | {data.duration:.0f} s"
    )
    if projection is not None:
        text += (
            f" | end ~{projection.energy_kwh:.3g} kWh {_mass(projection.emissions_kg)} "
            f"({projection.fraction_done * 100:.0f} % of {projection.total_steps} steps)"
        )
    return text


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
        self._console: Any = None
        self.lines = 0
        """Lines (log mode) or redraws (TTY mode) written so far."""

    def line(self) -> str:
        """The current line's text (also feeds the projection). The figures are read fresh (``refresh``): the
        sampler reads the CPU and RAM models only every 10 s, and a watched line must move every redraw."""
        data = self.tracker.current(refresh=True)
        projection = None
        if self.projector is not None:
            projection = self.projector.update(
                data.duration, data.steps, data.energy_consumed, data.emissions
            )
        return format_line(data, _powers(self.tracker), projection)

    def start(self) -> LiveView:
        if self.tty:
            try:
                from rich.console import Console

                self._console = Console(file=self.stream, highlight=False, soft_wrap=True)
            except ImportError:  # rich is an optional extra: fall back to plain text
                self._console = None
        self._thread = threading.Thread(target=self._loop, name="wattwatch-live", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._show(self.line())
            except Exception:  # the view never breaks the run
                pass

    def _show(self, text: str) -> None:
        text = printable(text)  # device names come from drivers and files: no control character is shown
        if self.tty:
            width = 0
            if self._console is not None:
                width = self._console.width
            if width and len(text) + 10 > width:
                text = text[: max(0, width - 11)] + "…"
            self.stream.write("\r\x1b[2K")
            if self._console is not None:
                from rich.markup import escape

                self._console.print(f"[bold green]wattwatch[/]  {escape(text)}", end="", markup=True)
            else:
                self.stream.write(f"wattwatch  {text}")
            self.stream.flush()
        else:
            self.stream.write(f"wattwatch: {text}\n")
            self.stream.flush()
        self.lines += 1

    def stop(self, summary: str | None = None) -> None:
        """Stop refreshing; on a TTY end the live line; print ``summary`` (a final line) when given."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        try:
            if self.tty and self.lines:
                self.stream.write("\r\x1b[2K")
            if summary:
                self.stream.write(f"wattwatch: {printable(summary)}\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass
