"""The :class:`~wattwatch.run.tracker.Tracker`'s keyword arguments as kebab-case command-line options.

``add_tracker_options(parser)`` adds ``--project-name``, ``--output-dir``, ``--country-iso-code``, ... one per
curated keyword of ``Tracker.__init__`` (the option's type comes from the signature's annotation), and
``tracker_kwargs(args)`` gives back, as keyword arguments, only the options the user actually set, so every
default stays the Tracker's own. Keywords meant for code, not people (``sensors``, ``clock``, ``pid``,
``handle_signals``, ...) are left out.
"""

from __future__ import annotations

import argparse
import inspect
from typing import Any

__all__ = ["CLI_TRACKER_OPTIONS", "add_tracker_options", "option_name", "tracker_kwargs"]

CLI_TRACKER_OPTIONS: dict[str, str] = {
    "project_name": "project name written in the run's row",
    "experiment_id": "experiment id written in the run's row",
    "output_dir": "folder for emissions.csv and the time series (created if needed)",
    "output_file": "name of the CSV file in --output-dir (default emissions.csv)",
    "run_id": "use this run id instead of a fresh UUID",
    "country_iso_code": "3-letter ISO country code for the grid's carbon intensity, e.g. FRA",
    "region": "region within the country (CodeCarbon's names), e.g. california",
    "cloud_provider": "cloud provider (aws, gcp, azure) for the region's intensity",
    "cloud_region": "cloud region, e.g. us-east-1",
    "carbon_intensity_g_per_kwh": "a fixed carbon intensity (g CO2eq per kWh)",
    "intensity_csv": "hourly carbon intensity CSV",
    "pue": "data-centre power usage effectiveness (>= 1)",
    "wue": "water usage effectiveness (litres per kWh)",
    "gpu_ids": "comma-separated GPU indices or UUIDs to measure (default: all visible)",
    "tracking_mode": "machine (whole host) or process (the command's process tree)",
    "measure_power_secs": "seconds between readings (default 1 with GPU energy counters, else 0.1)",
    "timeseries_every_s": "seconds between rows of the time series",
    "flush_every_s": "seconds between rewrites of the run's row (a kill -9 loses at most this)",
    "save_to_file": "write the run's row to the CSV file",
    "save_timeseries": "write the per-sample time series next to the CSV file",
    "log_level": "wattwatch log level (debug, info, warning, error)",
    "total_steps": "total steps of the run, for the projection of its final energy and CO2",
    "include_dram": "measure RAM with RAPL dram zones when present",
    "prometheus_port": "serve Prometheus /metrics on this port (0: any free port)",
    "prometheus_host": "address the /metrics endpoint binds to (default 127.0.0.1)",
    "nvml_library": "path to libnvidia-ml.so (default: the system's)",
    "powercap_root": "powercap sysfs root (default /sys/class/powercap)",
    "proc_root": "proc filesystem root (default /proc)",
}
"""Tracker keywords offered on the command line, with their help text."""

_CHOICES: dict[str, tuple[str, ...]] = {"tracking_mode": ("machine", "process")}


def option_name(keyword: str) -> str:
    """``output_dir`` -> ``--output-dir``."""
    return "--" + keyword.replace("_", "-")


def _type_of(annotation: object, default: object) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    if isinstance(default, bool) or text == "bool":
        return "bool"
    if "float" in text:
        return "float"
    if text.startswith("int"):
        return "int"
    return "str"


def add_tracker_options(parser: argparse.ArgumentParser, *, title: str = "tracker options") -> None:
    """Add one option per keyword of :data:`CLI_TRACKER_OPTIONS`; unset options are absent from ``args``."""
    from wattwatch.run.tracker import Tracker

    params = inspect.signature(Tracker.__init__).parameters
    group = parser.add_argument_group(title)
    for name, help_text in CLI_TRACKER_OPTIONS.items():
        param = params.get(name)
        if param is None:  # the Tracker lost a keyword: leave it out rather than break the CLI
            continue
        default = param.default
        kind = _type_of(param.annotation, default)
        shown = "" if default is inspect.Parameter.empty or default in (None, "") else f" (default {default})"
        common: dict[str, Any] = {"dest": f"tracker_{name}", "default": argparse.SUPPRESS}
        if kind == "bool":
            group.add_argument(
                option_name(name), action=argparse.BooleanOptionalAction, help=help_text + shown, **common
            )
            continue
        py_type: Any = {"float": float, "int": int, "str": str}[kind]
        group.add_argument(
            option_name(name),
            type=py_type,
            choices=_CHOICES.get(name),
            metavar=None if name in _CHOICES else name.upper(),
            help=help_text + ("" if name in ("gpu_ids",) else shown),
            **common,
        )


def tracker_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The Tracker keyword arguments the user set on the command line."""
    out: dict[str, Any] = {}
    for name in CLI_TRACKER_OPTIONS:
        dest = f"tracker_{name}"
        if hasattr(args, dest):
            out[name] = getattr(args, dest)
    return out
