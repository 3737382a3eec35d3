"""Every option of a :class:`~wattwatch.run.tracker.Tracker`, in one frozen dataclass.

:class:`TrackerConfig` is the single source of each option's default, its validation (bad input raises
:class:`~wattwatch.errors.ConfigurationError`, a ``ValueError``, before any work starts) and, for options people
set by hand, its command-line help (``wattwatch run --pue 1.2``, see :mod:`wattwatch.cli.options`).

Adding an option is one change here -- a field made with :func:`option` (default, ``check``, ``help``) -- plus the
keyword of the same name, type and default in ``Tracker.__init__`` (tests/run/test_config.py fails until the
two agree). Units: seconds, watts, kWh, kg CO2eq, grams per kWh.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from wattwatch.errors import ConfigurationError
from wattwatch.run.defaults import DEFAULT_FLUSH_EVERY_S
from wattwatch.util.numbers import as_float, as_int

if TYPE_CHECKING:
    from wattwatch.carbon.intensity import CarbonIntensity
    from wattwatch.sensors.base import Sensor

__all__ = ["DEFAULT_FLUSH_EVERY_S", "MAX_PUE", "TrackerConfig", "option"]


Check = Callable[[str, Any], Any]
"""A validator: ``check(name, value)`` returns the normalised value or raises ``ConfigurationError``."""


def option(
    default: object,
    *,
    check: Check | None = None,
    help: str | None = None,  # noqa: A002 - argparse's word
    cli_type: type | None = None,
    choices: tuple[str, ...] | None = None,
    show_default: bool = True,
) -> Any:
    """A :class:`TrackerConfig` field. ``check`` validates and normalises the value; ``help`` (when given) makes
    it a command-line option of type ``cli_type`` (default: the type of ``default``; ``str`` for ``None``)."""
    kind = cli_type or (type(default) if default is not None else str)
    meta = {"check": check, "help": help, "cli_type": kind, "choices": choices, "show_default": show_default}
    return field(default=default, metadata=meta)


# -- validators --------------------------------------------------------------------------------------------------


def _log_level(name: str, value: object) -> object:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str) and isinstance(logging.getLevelName(value.upper()), int):
        return value.upper()
    raise ConfigurationError(f"log_level must be one of debug, info, warning, error, critical; got {value!r}")


def _non_empty(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{name} must be a non-empty string; got {value!r}")
    return value


def _file_name(name: str, value: object) -> str:
    if not isinstance(value, str) or not value or os.sep in value:
        raise ConfigurationError(f"{name} must be a file name (put folders in output_dir); got {value!r}")
    return value


def _positive(name: str, value: object) -> float:
    number = as_float(value)
    if number is None or not (number > 0 and number < float("inf")):
        raise ConfigurationError(f"{name} must be a positive number; got {value!r}")
    return number


def _positive_or_none(name: str, value: object) -> float | None:
    return None if value is None else _positive(name, value)


MAX_PUE = 5.0
"""Largest power usage effectiveness accepted. Surveyed data centres average about 1.5 and the worst report
around 2.5-3 (Uptime Institute Global Data Center Survey 2023: average 1.58); 5 leaves room for a server
closet while catching a typo or a value such as ``1e300`` that would overflow every total."""


def _pue(name: str, value: object) -> float:
    number = _positive(name, value)
    if number < 1.0:
        raise ConfigurationError(f"pue must be >= 1.0 (1.0 means no overhead); got {value}")
    if number > MAX_PUE:
        raise ConfigurationError(
            f"pue must be at most {MAX_PUE:g} (data centres report 1.1-3); got {value!r}"
        )
    return number


def _wue(name: str, value: object) -> float:
    number = as_float(value)
    if number is None or not 0 <= number < float("inf"):
        raise ConfigurationError(f"wue must be a number >= 0 (litres per kWh); got {value!r}")
    return number


def _tracking_mode(name: str, value: object) -> str:
    if value not in ("machine", "process"):
        raise ConfigurationError(f"tracking_mode must be 'machine' or 'process'; got {value!r}")
    return str(value)


def _total_steps(name: str, value: object) -> int | None:
    if value is None:
        return None
    steps = as_int(value)
    if steps is None or steps <= 0:
        raise ConfigurationError(f"total_steps must be a positive integer; got {value!r}")
    return steps


def _port(name: str, value: object) -> int | None:
    if value is None:
        return None
    port = as_int(value)
    if port is None or not 0 <= port <= 65535:
        raise ConfigurationError(f"prometheus_port must be between 0 and 65535; got {value!r}")
    return port


def _watts_or_none(name: str, value: object) -> float | None:
    if value is None:
        return None
    number = as_float(value)
    if number is None or not (0 <= number < float("inf")):
        raise ConfigurationError(f"{name} must be a number of watts >= 0; got {value!r}")
    if name == "force_cpu_power" and number == 0:
        raise ConfigurationError("force_cpu_power must be the CPU's full-load power in watts (> 0); got 0")
    return number


def _path(name: str, value: object) -> Path:
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise ConfigurationError(f"{name} must be a folder path (a str or os.PathLike); got {value!r}")
    return Path(value)


def _use_ratio(name: str, value: object) -> float:
    number = as_float(value)
    if number is None or not 0 < number <= 1:
        raise ConfigurationError(
            f"{name} must be in (0, 1]: the share of its life the hardware is busy (1 = always); got {value!r}"
        )
    return number


def _flag(name: str, value: object) -> bool:
    return bool(value)


def _sensors(name: str, value: object) -> tuple[Sensor, ...] | None:
    return None if value is None else tuple(value)  # type: ignore[arg-type, call-overload]


def _gpu_ids(name: str, value: object) -> tuple[int | str, ...] | None:
    if value is None:
        return None
    items: list[object]
    if isinstance(value, str):
        items = [s.strip() for s in value.split(",") if s.strip()]
    elif isinstance(value, int):
        items = [value]
    else:
        try:
            items = list(value)  # type: ignore[call-overload]
        except TypeError:
            raise ConfigurationError(
                f"gpu_ids must be a list of GPU indices or UUIDs (or a comma-separated string); got {value!r}"
            ) from None
    out: list[int | str] = []
    for item in items:
        if isinstance(item, bool):
            raise ConfigurationError(f"gpu_ids entries must be indices or UUIDs, not {item!r}")
        if isinstance(item, int):
            if item < 0:
                raise ConfigurationError(f"gpu_ids entries must be >= 0; got {item}")
            out.append(item)
        elif isinstance(item, str) and item.strip().isdigit():
            out.append(int(item.strip()))
        elif isinstance(item, str) and item.strip().lstrip("-").isdigit():
            raise ConfigurationError(f"gpu_ids entries must be >= 0; got {item.strip()!r}")
        elif isinstance(item, str) and item.strip():
            out.append(item.strip())
        else:
            raise ConfigurationError(f"gpu_ids entries must be indices or UUIDs; got {item!r}")
    return tuple(out)


# -- the config ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # no generated __eq__/__hash__: import time is a benchmark figure
class TrackerConfig:
    """A tracker's options, validated and normalised (``pue`` a float, ``gpu_ids`` a tuple, paths as ``Path``).

    Build it with :meth:`from_kwargs` (the ``Tracker``'s keyword arguments); fields are in the keyword order.
    """

    project_name: str = option("wattwatch", check=_non_empty, help="project name written in the run's row")
    experiment_id: str = option("", help="experiment id written in the run's row")
    output_dir: Path = option(
        ".",
        check=_path,
        help="folder for emissions.csv and the time series (created if needed)",
        cli_type=str,
    )
    output_file: str = option(
        "emissions.csv", check=_file_name, help="name of the CSV file in --output-dir (default emissions.csv)"
    )
    country_iso_code: str | None = option(
        None, help="3-letter ISO country code for the grid's carbon intensity, e.g. FRA"
    )
    region: str | None = option(None, help="region within the country (CodeCarbon's names), e.g. california")
    cloud_provider: str | None = option(
        None, help="cloud provider (aws, gcp, azure) for the region's intensity"
    )
    cloud_region: str | None = option(None, help="cloud region, e.g. us-east-1")
    carbon_intensity_g_per_kwh: float | None = option(
        None, help="a fixed carbon intensity (g CO2eq per kWh)", cli_type=float
    )
    intensity_csv: str | os.PathLike[str] | None = option(None, help="hourly carbon intensity CSV")
    pue: float = option(1.0, check=_pue, help="data-centre power usage effectiveness (1 to 5)")
    wue: float = option(0.0, check=_wue, help="water usage effectiveness (litres per kWh)")
    gpu_ids: tuple[int | str, ...] | None = option(
        None,
        check=_gpu_ids,
        help="comma-separated GPU indices or UUIDs to measure (default: all visible)",
        show_default=False,
    )
    tracking_mode: Literal["machine", "process"] = option(
        "machine",
        check=_tracking_mode,
        help="machine (whole host) or process (the command's process tree)",
        choices=("machine", "process"),
    )
    measure_power_secs: float | None = option(
        None,
        check=_positive_or_none,
        help="seconds between readings (default 1 with GPU energy counters, else 0.1)",
        cli_type=float,
    )
    save_to_file: bool = option(True, check=_flag, help="write the run's row to the CSV file")
    save_timeseries: bool = option(
        True, check=_flag, help="write the per-sample time series next to the CSV file"
    )
    timeseries_every_s: float = option(1.0, check=_positive, help="seconds between rows of the time series")
    flush_every_s: float = option(
        DEFAULT_FLUSH_EVERY_S,
        check=_positive,
        help="the most a kill -9 may lose, in seconds; younger runs lose less: at most max(2 s, 10 %% of the "
        "time elapsed) (the row is written every 2 s at the start)",
    )
    log_level: str | int | None = option(
        None, check=_log_level, help="wattwatch log level (debug, info, warning, error)"
    )
    total_steps: int | None = option(
        None,
        check=_total_steps,
        help="total steps of the run, for the projection of its final energy and CO2",
        cli_type=int,
    )
    run_id: str | None = option(None, help="use this run id instead of a fresh UUID")
    handle_signals: bool = option(True)
    include_dram: bool = option(False, help="measure RAM with RAPL dram zones when present")
    tdp_w: float | None = option(
        None,
        check=_positive_or_none,
        help="watts of the CPUs this machine or VM shows, at full load (overrides the TDP table and VM rules)",
        cli_type=float,
    )
    vcpu_w: float | None = option(
        None,
        check=_positive_or_none,
        help="on a VM: watts per vCPU at full load (default: Cloud Carbon Footprint's 3.5 W when the host CPU "
        "is hidden)",
        cli_type=float,
    )
    gpu_share: bool = option(
        False,
        check=_flag,
        help="charge a shared GPU's share, not the board: the process tree's share of its SM time, a MIG "
        "instance's share of its slices (estimates)",
    )
    force_cpu_power: float | None = option(
        None,
        check=_watts_or_none,
        help="the CPU's full-load power in watts: model the CPU from its load at this power, RAPL skipped "
        "(CodeCarbon's force_cpu_power)",
        cli_type=float,
    )
    force_ram_power: float | None = option(
        None,
        check=_watts_or_none,
        help="a constant RAM power in watts instead of the RAM model (CodeCarbon's force_ram_power)",
        cli_type=float,
    )
    force_mode_cpu_load: bool = option(
        False, check=_flag, help="model the CPU from its load even where RAPL is readable"
    )
    prometheus_port: int | None = option(
        None, check=_port, help="serve Prometheus /metrics on this port (0: any free port)", cli_type=int
    )
    prometheus_host: str = option(
        "127.0.0.1", help="address the /metrics endpoint binds to (default 127.0.0.1)"
    )
    pid: int | None = option(None)
    """Process whose tree ``tracking_mode="process"`` measures (default: this process)."""
    sensors: tuple[Sensor, ...] | None = option(None, check=_sensors)
    nvml_library: str | os.PathLike[str] | None = option(
        None, help="path to libnvidia-ml.so (default: the system's)"
    )
    powercap_root: Path = option(
        "/sys/class/powercap",
        check=_path,
        help="powercap sysfs root (default /sys/class/powercap)",
        cli_type=str,
    )
    proc_root: Path = option("/proc", check=_path, help="proc filesystem root (default /proc)", cli_type=str)
    amd_library: str | os.PathLike[str] | None = option(
        None,
        help="path to ROCm's libamd_smi.so for AMD GPUs (default: amdsmi's search: $ROCM_HOME/lib, "
        "$ROCM_PATH/lib, the linker path, /opt/rocm/lib)",
    )
    hwmon_root: Path = option(
        "/sys/class/hwmon",
        check=_path,
        help="hwmon sysfs root, for Intel and amdgpu GPUs without a vendor library",
        cli_type=str,
    )
    dmi_root: Path = option(
        "/sys/class/dmi/id", check=_path, help="DMI sysfs root, read to detect a VM (default /sys/class/dmi/id)",
        cli_type=str,
    )
    cgroup_root: Path = option(
        "/sys/fs/cgroup", check=_path, help="cgroup filesystem root, read to find a container's limits",
        cli_type=str,
    )
    environ: Mapping[str, str] | None = option(None)
    embodied_lifetime_years: float = option(
        4.0,
        check=_positive,
        help="service life of the hardware, years, for the run's share of its manufacturing CO2 (Boavizta: 4)",
    )
    embodied_use_ratio: float = option(
        1.0,
        check=_use_ratio,
        help="share of its life the hardware is busy, in (0, 1]: embodied CO2 is spread over the busy hours",
    )
    clock: Callable[[], float] = option(time.monotonic)
    wall_clock: Callable[[], float] = option(time.time)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> TrackerConfig:
        """Validate and normalise the ``Tracker``'s keyword arguments; raises ``ConfigurationError`` (naming
        the option and what to write instead) for the first bad one, in keyword order."""
        values = dict(kwargs)
        for f in dataclasses.fields(cls):
            check = f.metadata.get("check")
            if check is not None and f.name in values:
                values[f.name] = check(f.name, values[f.name])
        return cls(**values)

    def resolve_intensity(self) -> CarbonIntensity:
        """The grid's carbon intensity for these options (see :mod:`wattwatch.carbon.intensity`); a missing or
        unreadable intensity file, or a figure out of bounds, is a ``ConfigurationError``."""
        from wattwatch.carbon.intensity import resolve_intensity

        try:
            return resolve_intensity(
                country_iso_code=self.country_iso_code,
                region=self.region,
                cloud_provider=self.cloud_provider,
                cloud_region=self.cloud_region,
                carbon_intensity_g_per_kwh=self.carbon_intensity_g_per_kwh,
                intensity_csv=self.intensity_csv,
            )
        except (FileNotFoundError, ValueError) as exc:
            if isinstance(exc, ConfigurationError):
                raise
            raise ConfigurationError(str(exc)) from None
