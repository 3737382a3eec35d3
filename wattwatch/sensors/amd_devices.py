"""Which AMD GPU processors amdsmi lists, and which of them a process measures.

:func:`enumerate_gpus` learns each processor's identity, power cap (W) and whether it is *silent* (reads 0 W
and no energy: a multi-die package's second die, or a non-primary partition). :func:`select_gpus` applies
``gpu_ids`` (amdsmi indices, ``GPU-...`` HIP UUIDs, amdsmi UUIDs or unique prefixes, PCI bus ids) or else the
ROCm visibility variables (see :mod:`wattwatch.sensors.amd`). :func:`primary_of` names the die that reports a
silent die's package.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

from wattwatch.sensors.amd_library import (
    POWER_FIELDS,
    ProcessorHandle,
    as_int,
    as_number,
    as_text,
    describe_error,
    info_of,
    optional_call,
)
from wattwatch.sensors.gpu_common import gpu_id_tokens, normalise_bus_id, rocm_visible

__all__ = [
    "AmdGpu",
    "Selection",
    "enumerate_gpus",
    "listing",
    "primary_of",
    "select_gpus",
]

@dataclass
class AmdGpu:
    """What enumeration learns about one amdsmi GPU processor (a die, or a partition)."""

    index: int
    handle: ProcessorHandle
    name: str
    uuid: str
    hip_uuid: str
    serial: str
    bdf: str
    hip_id: int | None
    oam_id: int | None
    partition_id: int | None
    power_cap_w: float | None
    silent: bool = False
    """Reads 0 W (or N/A) and no energy: a package's second die or a non-primary partition."""


@dataclass(frozen=True)
class Selection:
    """The dies a process selected, how (``gpu_ids``, a ROCm variable, or ``all``), and why none when empty."""

    chosen: list[AmdGpu]
    rule: str
    empty_reason: str | None = None


def enumerate_gpus(amdsmi: ModuleType, log: logging.Logger) -> tuple[list[AmdGpu], str]:
    """Every GPU processor amdsmi lists, in amdsmi order, and the driver version (``""`` when unknown).

    A processor whose ASIC info or PCI bus id cannot be read is skipped with a warning on ``log``; a failure to
    list the processors at all propagates.
    """
    devices: list[AmdGpu] = []
    driver_version = ""
    for index, handle in enumerate(amdsmi.amdsmi_get_processor_handles()):
        try:
            asic = amdsmi.amdsmi_get_gpu_asic_info(handle)
            bdf = str(amdsmi.amdsmi_get_gpu_device_bdf(handle))
        except Exception as exc:  # noqa: BLE001
            log.warning("wattwatch: skipping AMD GPU %d: %s", index, describe_error(exc))
            continue
        name = as_text(asic.get("market_name"))
        if not name:
            name = as_text(info_of(amdsmi.amdsmi_get_gpu_board_info, handle).get("product_name")) or "AMD GPU"
        uuid = as_text(optional_call(amdsmi.amdsmi_get_gpu_device_uuid, handle))
        enum_info = info_of(getattr(amdsmi, "amdsmi_get_gpu_enumeration_info", None), handle)
        kfd = info_of(amdsmi.amdsmi_get_gpu_kfd_info, handle)
        if not driver_version:
            driver_version = as_text(info_of(amdsmi.amdsmi_get_gpu_driver_info, handle).get("driver_version"))
        devices.append(
            AmdGpu(
                index=index,
                handle=handle,
                name=name,
                uuid=uuid,
                hip_uuid=as_text(enum_info.get("hip_uuid")),
                serial=as_text(asic.get("asic_serial")),
                bdf=bdf,
                hip_id=as_int(enum_info.get("hip_id")),
                oam_id=as_int(asic.get("oam_id")),
                partition_id=as_int(kfd.get("current_partition_id")),
                power_cap_w=_power_cap_w(amdsmi, handle),
            )
        )
    for device in devices:
        device.silent = _is_silent(amdsmi, device.handle)
    return devices, driver_version


def _power_cap_w(amdsmi: ModuleType, handle: ProcessorHandle) -> float | None:
    """The board's power cap in watts (amdsmi states it in microwatts), else the power info's limit (W)."""
    cap_uw = as_number(info_of(amdsmi.amdsmi_get_power_cap_info, handle).get("power_cap"))
    if cap_uw is not None and cap_uw > 0:
        return cap_uw / 1e6
    limit = as_number(info_of(amdsmi.amdsmi_get_power_info, handle).get("power_limit"))
    return limit if limit is not None and limit > 0 else None


def _is_silent(amdsmi: ModuleType, handle: ProcessorHandle) -> bool:
    """True when the die reports no power (0 W or N/A in every field) and no energy."""
    power = optional_call(amdsmi.amdsmi_get_power_info, handle)
    if not isinstance(power, dict):
        return False
    if any((as_number(power.get(f)) or 0.0) > 0.0 for f in POWER_FIELDS.values()):
        return False
    energy = info_of(amdsmi.amdsmi_get_energy_count, handle)
    return not (as_int(energy.get("energy_accumulator", energy.get("power"))) or 0)


def select_gpus(
    devices: Sequence[AmdGpu], gpu_ids: Sequence[int | str] | str | int | None, environ: Mapping[str, str]
) -> Selection:
    """The dies ``gpu_ids`` names (in its order, without repeats), else those the ROCm variables in ``environ``
    make visible (in HIP order), else every die.

    Raises:
        ValueError: a ``gpu_ids`` entry matches no GPU (the message lists the GPUs there are).
    """
    if gpu_ids is not None:
        chosen: list[AmdGpu] = []
        for token in gpu_id_tokens(gpu_ids):
            device = _by_index(token, devices) or _by_id(token, devices)
            if device is None:
                raise ValueError(
                    f"gpu_ids entry {token!r} matches no AMD GPU. GPUs here: {listing(devices)}. "
                    "Pass amdsmi indices, GPU-... HIP UUIDs, amdsmi UUIDs (or unique prefixes) or PCI bus ids."
                )
            if device not in chosen:
                chosen.append(device)
        return Selection(chosen, "gpu_ids", None if chosen else "gpu_ids is empty")
    hip_order = sorted(devices, key=lambda d: (d.hip_id if d.hip_id is not None else d.index, d.index))
    visible, rule = rocm_visible(hip_order, environ, _by_id)
    if visible is None:
        return Selection(list(devices), "all")
    hidden = (
        f"{rule} hides every AMD GPU this machine has ({len(devices)}: {listing(devices)}); no GPU energy is "
        "measured -- unset it (or pass gpu_ids=) if this run uses them"
    )
    return Selection(visible, rule, None if visible or not devices else hidden)


def primary_of(device: AmdGpu, devices: Sequence[AmdGpu]) -> AmdGpu:
    """The die that reports ``device``'s package: itself unless it is silent and shares its ``oam_id`` with a die
    that reports power (the lowest-index such die)."""
    if not device.silent or device.oam_id is None:
        return device
    return next((d for d in devices if d.oam_id == device.oam_id and not d.silent), device)


def _by_index(token: str, devices: Sequence[AmdGpu]) -> AmdGpu | None:
    if not token.lstrip("+").isdigit():
        return None
    index = int(token)
    return next((d for d in devices if d.index == index), None)


def _by_id(token: str, devices: Sequence[AmdGpu]) -> AmdGpu | None:
    """The device a UUID (HIP ``GPU-...`` / amdsmi, or a unique prefix) or PCI bus id names, else ``None``."""
    low = token.strip().lower()
    if not low:
        return None
    if low.count(":") == 2:
        low = normalise_bus_id(low)

    def ids(d: AmdGpu) -> list[str]:
        keys = [d.uuid.lower(), d.hip_uuid.lower(), normalise_bus_id(d.bdf)]
        if d.serial:
            serial = d.serial.lower().removeprefix("0x")
            keys.append(f"gpu-{serial}")
        return [k for k in keys if k]

    exact = [d for d in devices if low in ids(d)]
    if len(exact) == 1:
        return exact[0]
    prefix = [d for d in devices if any(k.startswith(low) for k in ids(d))] if not exact else []
    return prefix[0] if len(prefix) == 1 else None


def listing(devices: Sequence[AmdGpu]) -> str:
    """``index (uuid, bus id, name)`` per device, for error messages (``none`` when empty)."""
    if not devices:
        return "none"
    return ", ".join(f"{d.index} ({d.hip_uuid or d.uuid}, {d.bdf}, {d.name})" for d in devices)
