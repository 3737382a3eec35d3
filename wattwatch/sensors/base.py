"""The sensor contract every hardware reader keeps.

A sensor measures one or more *channels* (``gpu:0``, ``cpu:package-0``, ``cpu``, ``ram``). ``read(t)`` returns,
per channel, either the cumulative energy in **joules** since an arbitrary origin (the hardware has a counter) or
the instantaneous power in **watts** (it has not), and says which through :class:`Reading.kind`.

Rules a sensor keeps:

- Cumulative energy is non-decreasing. Wraparound (RAPL) and counter resets (driver reload) are undone inside
  the sensor, which knows the hardware; the ledger still guards against a negative delta.
- A channel that cannot be read this time is simply absent from the returned mapping: the ledger records a gap.
  A sensor may raise from ``read``; the sampler catches it and records a gap for all its channels.
- Configuration problems (a bad ``gpu_ids`` entry, say) raise ``ValueError`` from the constructor. A missing
  library or missing hardware is not a configuration problem: the sensor reports no channels.
- Static facts (model name, UUID, TDP, method) come from ``describe()``, once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from wattwatch.util.records import record

__all__ = [
    "ENERGY",
    "ProcFile",
    "POWER",
    "Component",
    "ChannelInfo",
    "Reading",
    "ReadingKind",
    "Sensor",
]

ReadingKind = Literal["energy_j", "power_w"]
Component = Literal["gpu", "cpu", "ram"]

ENERGY: ReadingKind = "energy_j"
"""Cumulative energy in joules since an arbitrary origin."""
POWER: ReadingKind = "power_w"
"""Instantaneous (or short-average) power in watts."""


@dataclass
class Reading:
    """One channel's value at one instant.

    ``value`` is joules when ``kind == "energy_j"`` (cumulative, non-decreasing) and watts when
    ``kind == "power_w"``. ``t``: when the value was taken, on the clock of the ``t`` given to ``read`` (a sensor
    that reads its channels one after the other stamps each at its own call, so a slow read does not shift the
    others: issue 24); ``None``: the sampler stamps it at the middle of the whole ``read`` call.
    """

    value: float
    kind: ReadingKind
    t: float | None = None


@record
class ChannelInfo:
    """Static description of one channel.

    ``method`` is the provenance of the channel's energy: ``counter`` (hardware energy counter),
    ``power-integral`` (trapezoid over sampled power), ``model:<rule>/<attribution>`` (a power model, e.g.
    ``model:vm-vcpu/machine``) or ``estimate:<rule>`` (a share of a measured board, e.g.
    ``estimate:gpu-process-share``); :mod:`wattwatch.measure.uncertainty` gives each its error band.
    ``details`` holds free-form static facts (``name``, ``uuid``, ``index``, ``power_limit_w``, ``tdp_w``,
    ``mig_parent``, ``slice`` -- whose share is charged -- ``share_of`` -- the method under an estimate...),
    JSON-serialisable.
    """

    channel: str
    component: Component
    method: str
    model: str = ""
    details: dict[str, object] = field(default_factory=dict)


class ProcFile:
    """A ``/proc`` (or sysfs) file kept open and re-read from offset 0 with ``pread``: the kernel regenerates
    the text at every read, and one system call replaces an open/read/close round per tick. ``OSError`` from
    the constructor when the file cannot be opened."""

    def __init__(self, path: str | os.PathLike[str], size: int = 8192) -> None:
        self.path = str(path)
        self._size = size
        self._fd: int | None = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))

    def read(self) -> bytes:
        """The file's current text (its first ``size`` bytes)."""
        if self._fd is None:
            raise OSError(f"{self.path} is closed")
        return os.pread(self._fd, self._size, 0)

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None


@runtime_checkable
class Sensor(Protocol):
    """What the sampler needs from a hardware reader."""

    def channels(self) -> list[str]:
        """Names of the channels this sensor measures (may be empty)."""
        ...

    def describe(self) -> list[ChannelInfo]:
        """Static facts about every channel, in ``channels()`` order."""
        ...

    def read(self, t: float) -> dict[str, Reading]:
        """Read every channel now; ``t`` is the sampler's monotonic time in seconds (for model sensors)."""
        ...

    def close(self) -> None:
        """Release the hardware handle (idempotent)."""
        ...
