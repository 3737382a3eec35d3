"""The :class:`~wattwatch.run.tracker.Tracker`'s keyword arguments as kebab-case command-line options.

``add_tracker_options(parser)`` adds ``--project-name``, ``--output-dir``, ``--country-iso-code``, ... one per
option of :class:`~wattwatch.run.config.TrackerConfig` that has help text (its type, choices and default come
from there too), and ``tracker_kwargs(args)`` gives back, as keyword arguments, only the options the user
actually set, so every default stays the Tracker's own. Keywords meant for code, not people (``sensors``,
``clock``, ``pid``, ``handle_signals``, ...) have no help text and are left out.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wattwatch.run.config import TrackerConfig

__all__ = [
    "CLI_TRACKER_OPTIONS",
    "CliSpec",
    "add_tracker_options",
    "cli_specs",
    "option_name",
    "tracker_kwargs",
]


@dataclass(frozen=True)
class CliSpec:
    """One command-line option made from a :class:`TrackerConfig` field."""

    name: str
    """The keyword (``output_dir``); the option is ``--output-dir``."""
    help: str
    kind: type
    """``bool`` (a ``--x/--no-x`` flag), ``int``, ``float`` or ``str``."""
    default: object
    choices: tuple[str, ...] | None = None
    show_default: bool = True

    @property
    def help_text(self) -> str:
        """The help with `` (default X)`` appended when the default is worth showing and the help does not
        already say it."""
        if not self.show_default or self.default in (None, "") or "(default" in self.help:
            return self.help
        return f"{self.help} (default {self.default})"


def cli_specs(config: type[TrackerConfig] = TrackerConfig) -> list[CliSpec]:
    """The options people set on the command line: every field with ``help``, in a stable order (the order of
    the help screen)."""
    specs = {
        f.name: CliSpec(
            name=f.name,
            help=f.metadata["help"],
            kind=f.metadata["cli_type"],
            default=f.default,
            choices=f.metadata["choices"],
            show_default=f.metadata["show_default"],
        )
        for f in dataclasses.fields(config)
        if f.metadata.get("help")
    }
    return [specs[name] for name in _CLI_ORDER if name in specs] + [
        spec for name, spec in specs.items() if name not in _CLI_ORDER
    ]


_CLI_ORDER: Sequence[str] = (
    "project_name",
    "experiment_id",
    "output_dir",
    "output_file",
    "run_id",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "carbon_intensity_g_per_kwh",
    "intensity_csv",
    "pue",
    "wue",
    "gpu_ids",
    "tracking_mode",
    "measure_power_secs",
    "timeseries_every_s",
    "flush_every_s",
    "save_to_file",
    "save_timeseries",
    "log_level",
    "total_steps",
    "include_dram",
    "prometheus_port",
    "prometheus_host",
    "nvml_library",
    "powercap_root",
    "proc_root",
    "amd_library",
    "hwmon_root",
)
"""The help screen's order (the order of the options before the config existed); new options go at the end."""


CLI_TRACKER_OPTIONS: dict[str, str] = {spec.name: spec.help for spec in cli_specs()}
"""Tracker keywords offered on the command line, with their help text."""


def option_name(keyword: str) -> str:
    """``output_dir`` -> ``--output-dir``."""
    return "--" + keyword.replace("_", "-")


def add_tracker_options(parser: argparse.ArgumentParser, *, title: str = "tracker options") -> None:
    """Add one option per command-line option of the config; unset options are absent from ``args``."""
    group = parser.add_argument_group(title)
    for spec in cli_specs():
        common: dict[str, Any] = {"dest": f"tracker_{spec.name}", "default": argparse.SUPPRESS}
        if spec.kind is bool:
            group.add_argument(
                option_name(spec.name), action=argparse.BooleanOptionalAction, help=spec.help_text, **common
            )
            continue
        group.add_argument(
            option_name(spec.name),
            type=spec.kind,
            choices=spec.choices,
            metavar=None if spec.choices else spec.name.upper(),
            help=spec.help_text,
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
