"""The :class:`~wattwatch.run.tracker.Tracker`'s keyword arguments as kebab-case command-line options.

``add_tracker_options(parser)`` adds ``--project-name``, ``--output-dir``, ``--country-iso-code``, ... one per
option of :class:`~wattwatch.run.config.TrackerConfig` that has help text (its type, choices and default come
from there too), and ``tracker_kwargs(args)`` gives back, as keyword arguments, only the options the user
actually set, so every default stays the Tracker's own. Keywords meant for code, not people (``sensors``,
``clock``, ``pid``, ``handle_signals``, ...) have no help text and are left out.
"""

from __future__ import annotations

import argparse
from typing import Any

from wattwatch.run.config import cli_specs

__all__ = ["CLI_TRACKER_OPTIONS", "add_tracker_options", "option_name", "tracker_kwargs"]

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
