"""AMD GPU packages: the selected dies grouped into what :class:`~wattwatch.sensors.amd.AmdSmiSensor` measures.

A multi-die package (MI250X: two GCDs; MI300X partitions) reports its whole power and energy on one die, its
*primary*; the others are silent. Each package becomes one channel, ``gpu:<primary's amdsmi index>``, read
through its primary's energy counter (cumulative joules, method ``counter``) when it has one, else through the
best power field (watts): ``current_socket_power`` before ``average_socket_power`` when ``prefer_current``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType

from wattwatch.sensors.amd_devices import AmdGpu, primary_of
from wattwatch.sensors.amd_library import (
    AVERAGE,
    CURRENT,
    POWER_FIELDS,
    SOCKET,
    ProcessorHandle,
    as_int,
    as_number,
)
from wattwatch.sensors.gpu_common import EnergyCounter, plausible_limit_w

__all__ = ["COUNTER", "Package", "packages_for", "power_source"]

COUNTER = "counter"
"""``Package.source`` when the package is read through its energy counter."""


@dataclass
class Package:
    """One channel's read state: a primary die, the silent dies measured with it, and how it is read.

    ``source`` is :data:`COUNTER` or a key of :data:`~wattwatch.sensors.amd_library.POWER_FIELDS`; ``limit_w``
    the plausibility bound (W); ``requested`` the selected dies measured here (amdsmi indices).
    """

    primary: AmdGpu
    dies: list[AmdGpu]
    channel: str
    source: str
    limit_w: float
    counter: EnergyCounter | None = None
    requested: list[int] = field(default_factory=list)
    method_changed_from: str | None = None
    still_since: float | None = None
    logged: set[str] = field(default_factory=set)


def packages_for(
    amdsmi: ModuleType,
    chosen: Sequence[AmdGpu],
    devices: Sequence[AmdGpu],
    *,
    measure_shared: bool,
    implausible_factor: float,
    prefer_current: bool,
    log: logging.Logger,
) -> list[Package]:
    """Group the ``chosen`` dies into packages (each measured once through its primary die), by primary index.

    With ``measure_shared=False`` a die whose primary was not chosen is left to the process that owns the
    primary (one INFO line). A package whose primary reports neither energy nor power is left out (INFO).
    """
    packages: dict[int, Package] = {}
    for device in chosen:
        primary = primary_of(device, devices)
        if primary is not device and primary not in chosen and not measure_shared:
            log.info(
                "wattwatch: AMD GPU %d reports through die %d, which another process owns; not counted here",
                device.index,
                primary.index,
            )
            continue
        package = packages.get(primary.index)
        if package is None:
            prepared = _prepare(amdsmi, primary, devices, implausible_factor, prefer_current, log)
            if prepared is None:
                continue
            package = packages[primary.index] = prepared
        package.requested.append(device.index)
    return sorted(packages.values(), key=lambda p: p.primary.index)


def _prepare(
    amdsmi: ModuleType,
    primary: AmdGpu,
    devices: Sequence[AmdGpu],
    factor: float,
    prefer_current: bool,
    log: logging.Logger,
) -> Package | None:
    dies = [primary] + [d for d in devices if d is not primary and primary_of(d, devices) is primary]
    limit = plausible_limit_w(primary.power_cap_w, factor)
    channel = f"gpu:{primary.index}"
    counter = _counter_for(amdsmi, primary, limit)
    if counter is not None:
        return Package(primary, dies, channel, COUNTER, limit, counter)
    source = power_source(amdsmi, primary.handle, prefer_current)
    if source is None:
        log.info(
            "wattwatch: AMD GPU %d (%s) reports neither energy nor power; not measured", primary.index, primary.name
        )
        return None
    return Package(primary, dies, channel, source, limit)


def _counter_for(amdsmi: ModuleType, gpu: AmdGpu, limit_w: float) -> EnergyCounter | None:
    """The die's energy counter (``counter_resolution`` microjoules per unit), or ``None`` when it has none."""
    try:
        info = amdsmi.amdsmi_get_energy_count(gpu.handle)
    except Exception:  # noqa: BLE001 - NOT_SUPPORTED (VM guests, older boards) and friends
        return None
    resolution_uj = as_number(info.get("counter_resolution"))
    raw = as_int(info.get("energy_accumulator", info.get("power")))
    if resolution_uj is None or resolution_uj <= 0 or raw is None:
        return None
    return EnergyCounter(resolution_j=resolution_uj * 1e-6, limit_w=limit_w)


def power_source(amdsmi: ModuleType, handle: ProcessorHandle, prefer_current: bool) -> str | None:
    """The first power field the die reports (a key of ``POWER_FIELDS``), or ``None`` when it reports none."""
    try:
        info = amdsmi.amdsmi_get_power_info(handle)
    except Exception:  # noqa: BLE001
        return None
    order = (CURRENT, AVERAGE, SOCKET) if prefer_current else (AVERAGE, CURRENT, SOCKET)
    return next((s for s in order if as_number(info.get(POWER_FIELDS[s])) is not None), None)
