"""Choose the CPU and RAM sensors for this host: measured (RAPL) when possible, modelled otherwise."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from wattwatch.sensors.base import Sensor
from wattwatch.sensors.cpu import CpuModelSensor
from wattwatch.sensors.cpuinfo import read_cpuinfo
from wattwatch.sensors.ram import WATTS_PER_GIB, FixedRamSensor, RamModelSensor
from wattwatch.sensors.rapl import DEFAULT_POWERCAP_ROOT, RaplSensor

__all__ = ["host_sensors"]


def _read_text(path: Path) -> str:
    return path.read_text()


def host_sensors(
    mode: Literal["machine", "process"] = "machine",
    pid: int | None = None,
    powercap_root: Path = DEFAULT_POWERCAP_ROOT,
    proc_root: Path = Path("/proc"),
    include_dram: bool = False,
    tdp_w: float | None = None,
    logger: logging.Logger | None = None,
    *,
    data_dir: Path | None = None,
    watts_per_gb: float = WATTS_PER_GIB,
    rapl_reader: Callable[[Path], str] = _read_text,
    cpu_model_only: bool = False,
    ram_power_w: float | None = None,
) -> list[Sensor]:
    """The CPU and RAM sensors for one host (one process per node calls this).

    - ``mode="machine"``: RAPL package counters when readable; otherwise :class:`CpuModelSensor`, with the reason
      in an INFO log line (RaplSensor itself warns once, with the fix, when permission is denied).
    - ``mode="process"``: always the model, attributing the tree of ``pid``; RAPL counts the whole package and
      cannot attribute it to one process.
    - RAM: RAPL's ``dram`` zones when ``include_dram`` and present (machine mode), else :class:`RamModelSensor`.

    ``rapl_reader`` reads one sysfs file (tests pass a reader that raises ``PermissionError``).
    ``cpu_model_only`` skips RAPL and models the CPU (CodeCarbon's ``force_cpu_power`` / ``force_mode_cpu_load``;
    ``tdp_w`` is then the full-load power). ``ram_power_w`` replaces the RAM model by a constant power in watts
    (CodeCarbon's ``force_ram_power``; RAPL dram zones are not used then).
    """
    if mode not in ("machine", "process"):
        raise ValueError(f"host_sensors mode must be 'machine' or 'process', not {mode!r}")
    log = logger or logging.getLogger(__name__)
    include_dram = include_dram and ram_power_w is None  # a forced RAM power replaces RAPL's dram zones
    sensors: list[Sensor] = []
    ram_from_rapl = False
    if mode == "machine" and cpu_model_only:
        log.info("CPU energy is modelled from utilisation (%s)", f"full load {tdp_w:g} W" if tdp_w else "as asked")
    elif mode == "machine":
        cpu_model = read_cpuinfo(Path(proc_root)).model_name
        rapl = RaplSensor(powercap_root, include_dram, log, reader=rapl_reader, cpu_model=cpu_model)
        channels = rapl.channels()
        if any(ch.startswith("cpu:") for ch in channels):
            sensors.append(rapl)
            ram_from_rapl = any(ch.startswith("ram:") for ch in channels)
            if include_dram and not ram_from_rapl:
                log.info("no RAPL dram zone under %s; modelling RAM", powercap_root)
        else:
            rapl.close()
            log.info("CPU energy is modelled from utilisation: %s", rapl.unavailable_reason)
    else:
        log.info("CPU energy is modelled from the process tree's utilisation (process mode)")
    if not sensors:
        sensors.append(CpuModelSensor(mode, pid, proc_root, tdp_w, data_dir, logger=log))
    if ram_power_w is not None:
        sensors.append(FixedRamSensor(ram_power_w))
    elif not ram_from_rapl:
        sensors.append(RamModelSensor(mode, pid, watts_per_gb, log, proc_root=Path(proc_root)))
    return sensors
