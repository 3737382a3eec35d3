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
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from wattwatch.errors import ConfigurationError
from wattwatch.measure.sampler import COUNTER_INTERVAL_S, POWER_INTERVAL_S, POWER_JITTER
from wattwatch.policy.options import (
    ON_BUDGET,
    PROVIDERS,
    check_budget,
    check_deadline,
    check_on_budget,
    check_pause_above,
    check_provider,
    check_zone,
)
from wattwatch.run.defaults import DEFAULT_FLUSH_EVERY_S
from wattwatch.run.option_checks import (
    MAX_PUE,
    MIN_MEASURE_POWER_SECS,
    check_file_name,
    check_flag,
    check_gpu_ids,
    check_interval_or_none,
    check_ledger_url,
    check_log_level,
    check_non_empty,
    check_path,
    check_port,
    check_positive,
    check_positive_or_none,
    check_pue,
    check_run_id,
    check_sensors,
    check_text,
    check_total_steps,
    check_tracking_mode,
    check_use_ratio,
    check_watts_or_none,
    check_wue,
)
from wattwatch.util.records import record

if TYPE_CHECKING:
    from wattwatch.carbon.intensity import CarbonIntensity
    from wattwatch.sensors.base import Sensor

__all__ = ["DEFAULT_FLUSH_EVERY_S", "MAX_PUE", "MIN_MEASURE_POWER_SECS", "TrackerConfig", "option"]


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


# -- the config ---------------------------------------------------------------------------------------------------


@record(frozen=True, eq=False)  # no generated __eq__/__hash__: import time is a benchmark figure
class TrackerConfig:
    """A tracker's options, validated and normalised (``pue`` a float, ``gpu_ids`` a tuple, paths as ``Path``).

    Build it with :meth:`from_kwargs` (the ``Tracker``'s keyword arguments); fields are in the keyword order.
    """

    project_name: str = option("wattwatch", check=check_non_empty, help="project name written in the run's row")
    experiment_id: str = option("", check=check_text, help="experiment id written in the run's row")
    output_dir: Path = option(
        ".",
        check=check_path,
        help="folder for emissions.csv and the time series (created if needed)",
        cli_type=str,
    )
    output_file: str = option(
        "emissions.csv", check=check_file_name, help="name of the CSV file in --output-dir (default emissions.csv)"
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
    pue: float = option(1.0, check=check_pue, help="data-centre power usage effectiveness (1 to 5)")
    wue: float = option(0.0, check=check_wue, help="water usage effectiveness (litres per kWh)")
    gpu_ids: tuple[int | str, ...] | None = option(
        None,
        check=check_gpu_ids,
        help="comma-separated GPU indices or UUIDs to measure (default: all visible)",
        show_default=False,
    )
    tracking_mode: Literal["machine", "process"] = option(
        "machine",
        check=check_tracking_mode,
        help="machine (whole host) or process (the command's process tree)",
        choices=("machine", "process"),
    )
    measure_power_secs: float | None = option(
        None,
        check=check_interval_or_none,
        help=f"seconds between readings (default {COUNTER_INTERVAL_S:g} when every GPU has an energy counter, "
        f"else {POWER_INTERVAL_S:g}, each tick dithered by up to {POWER_JITTER * 100:.0f} percent; at least 0.001)",
        cli_type=float,
    )
    save_to_file: bool = option(True, check=check_flag, help="write the run's row to the CSV file")
    save_timeseries: bool = option(
        True, check=check_flag, help="write the per-sample time series next to the CSV file"
    )
    timeseries_every_s: float = option(1.0, check=check_positive, help="seconds between rows of the time series")
    flush_every_s: float = option(
        DEFAULT_FLUSH_EVERY_S,
        check=check_positive,
        help="the most a kill -9 may lose, in seconds; younger runs lose less: at most max(2 s, 10 %% of the "
        "time elapsed) (the row is written every 2 s at the start)",
    )
    log_level: str | int | None = option(
        None, check=check_log_level, help="wattwatch log level (debug, info, warning, error)"
    )
    total_steps: int | None = option(
        None,
        check=check_total_steps,
        help="total steps of the run, for the projection of its final energy and CO2",
        cli_type=int,
    )
    run_id: str | None = option(None, check=check_run_id, help="use this run id instead of a fresh UUID")
    handle_signals: bool = option(True)
    include_dram: bool = option(False, help="measure RAM with RAPL dram zones when present")
    tdp_w: float | None = option(
        None,
        check=check_positive_or_none,
        help="watts of the CPUs this machine or VM shows, at full load (overrides the TDP table and VM rules)",
        cli_type=float,
    )
    vcpu_w: float | None = option(
        None,
        check=check_positive_or_none,
        help="on a VM: watts per vCPU at full load (default: Cloud Carbon Footprint's 3.5 W when the host CPU "
        "is hidden)",
        cli_type=float,
    )
    gpu_share: bool = option(
        False,
        check=check_flag,
        help="charge a shared GPU's share, not the board: the process tree's share of its SM time, a MIG "
        "instance's share of its slices (estimates)",
    )
    force_cpu_power: float | None = option(
        None,
        check=check_watts_or_none,
        help="the CPU's full-load power in watts: model the CPU from its load at this power, RAPL skipped "
        "(CodeCarbon's force_cpu_power)",
        cli_type=float,
    )
    force_ram_power: float | None = option(
        None,
        check=check_watts_or_none,
        help="a constant RAM power in watts instead of the RAM model (CodeCarbon's force_ram_power)",
        cli_type=float,
    )
    force_mode_cpu_load: bool = option(
        False, check=check_flag, help="model the CPU from its load even where RAPL is readable"
    )
    prometheus_port: int | None = option(
        None, check=check_port, help="serve Prometheus /metrics on this port (0: any free port)", cli_type=int
    )
    prometheus_host: str = option(
        "127.0.0.1", help="address the /metrics endpoint binds to (default 127.0.0.1)"
    )
    pid: int | None = option(None)
    """Process whose tree ``tracking_mode="process"`` measures (default: this process)."""
    sensors: tuple[Sensor, ...] | None = option(None, check=check_sensors)
    nvml_library: str | os.PathLike[str] | None = option(
        None, help="path to libnvidia-ml.so (default: the system's)"
    )
    powercap_root: Path = option(
        "/sys/class/powercap",
        check=check_path,
        help="powercap sysfs root (default /sys/class/powercap)",
        cli_type=str,
    )
    proc_root: Path = option("/proc", check=check_path, help="proc filesystem root (default /proc)", cli_type=str)
    amd_library: str | os.PathLike[str] | None = option(
        None,
        help="path to ROCm's libamd_smi.so for AMD GPUs (default: amdsmi's search: $ROCM_HOME/lib, "
        "$ROCM_PATH/lib, the linker path, /opt/rocm/lib)",
    )
    hwmon_root: Path = option(
        "/sys/class/hwmon",
        check=check_path,
        help="hwmon sysfs root, for Intel and amdgpu GPUs without a vendor library",
        cli_type=str,
    )
    dmi_root: Path = option(
        "/sys/class/dmi/id", check=check_path, help="DMI sysfs root, read to detect a VM (default /sys/class/dmi/id)",
        cli_type=str,
    )
    cgroup_root: Path = option(
        "/sys/fs/cgroup", check=check_path, help="cgroup filesystem root, read to find a container's limits",
        cli_type=str,
    )
    environ: Mapping[str, str] | None = option(None)
    embodied_lifetime_years: float = option(
        4.0,
        check=check_positive,
        help="service life of the hardware, years, for the run's share of its manufacturing CO2 (Boavizta: 4)",
    )
    embodied_use_ratio: float = option(
        1.0,
        check=check_use_ratio,
        help="share of its life the hardware is busy, in (0, 1]: embodied CO2 is spread over the busy hours",
    )
    ledger_url: str | None = option(
        None,
        check=check_ledger_url,
        help="also push the run's final row to this ledger database at stop() (sqlite:///PATH or "
        "postgresql://USER@HOST:PORT/DB; default: $WATTWATCH_DB when set; '' for none)",
        show_default=False,
    )
    clock: Callable[[], float] = option(time.monotonic)
    wall_clock: Callable[[], float] = option(time.time)
    # -- acting on carbon (wattwatch/policy, docs/acting.md) --
    carbon_budget_kg: float | None = option(
        None, check=check_budget, help="carbon budget of the run, kg CO2eq (what happens past it: --on-budget)",
        cli_type=float,
    )
    energy_budget_kwh: float | None = option(
        None, check=check_budget, help="energy budget of the run, kWh (PUE applied)", cli_type=float
    )
    on_budget: str = option(
        "stop",
        check=check_on_budget,
        help="past a budget: stop (callbacks checkpoint and stop; wattwatch run sends SIGINT, then SIGTERM, then "
        "SIGKILL), raise (BudgetExceeded from step()) or warn",
        choices=ON_BUDGET,
    )
    pause_above_g_per_kwh: float | None = option(
        None,
        check=check_pause_above,
        help="wait at step boundaries while the grid is above this gCO2eq/kWh, if the deadline allows (needs "
        "--deadline, --total-steps and an hourly file or a live provider)",
        cli_type=float,
    )
    deadline: Any = option(
        None,
        check=check_deadline,
        help="when the run must end, for the pause rule: ISO-8601 (2026-12-03T06:00Z), unix seconds, or +8h from "
        "the start",
        cli_type=str,
    )
    intensity_provider: str | None = option(
        None,
        check=check_provider,
        help="live grid intensity (the only network use): electricitymaps (average; $ELECTRICITYMAPS_API_KEY) or "
        "watttime (marginal; $WATTTIME_USER, $WATTTIME_PASSWORD)",
        choices=PROVIDERS,
    )
    intensity_zone: str | None = option(
        None, check=check_zone, help="the provider's zone: FR, DE, US-CAL-CISO (Electricity Maps), CAISO_NORTH (WattTime)"
    )
    sleep: Callable[[float], None] = option(time.sleep)
    """How a paused run waits (seconds); tests pass a fake clock's."""

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
