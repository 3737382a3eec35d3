"""The ``wattwatch`` command line: one sub-command per module in :mod:`wattwatch.cli.commands`.

Each command module exposes ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. Modules
keep heavy imports (torch, matplotlib, rich) inside ``run`` so ``wattwatch --help`` stays fast.
Errors the user can fix are raised as :class:`wattwatch.errors.UsageError` (or ``ValueError``) and printed as
one line on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS: dict[str, str] = {
    "run": "wattwatch.cli.commands.run",
    "report": "wattwatch.cli.commands.report",
    "check": "wattwatch.cli.commands.check",
    "plot": "wattwatch.cli.commands.plot",
    "merge": "wattwatch.cli.commands.merge",
    "estimate": "wattwatch.cli.commands.estimate",
    "compare": "wattwatch.cli.commands.compare",
    "regions": "wattwatch.cli.commands.regions",
    "schedule": "wattwatch.cli.commands.schedule",
}
"""Sub-command name -> module implementing it."""


class _OneLineErrors(argparse.ArgumentParser):
    """argparse, but a usage error is ONE stderr line (``wattwatch run: error: ... (see --help)``) and exit 2,
    not the usage block followed by the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available sub-command attached."""
    from wattwatch import __version__

    parser = _OneLineErrors(
        prog="wattwatch", description="Energy and CO2 of machine-learning runs, measured live."
    )
    parser.add_argument("--version", action="version", version=f"wattwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # command not built yet
            raise
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wattwatch`` script; returns the process exit code."""
    from wattwatch.errors import UsageError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except (UsageError, ValueError, FileNotFoundError) as exc:
        print(f"wattwatch {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
