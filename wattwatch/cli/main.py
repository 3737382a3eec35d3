"""The ``wattwatch`` command line: one sub-command per module in :mod:`wattwatch.cli.commands`.

Each command module exposes ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. Modules
keep heavy imports (torch, matplotlib, rich) inside ``run`` so ``wattwatch --help`` stays fast.
Errors the user can fix are raised as :class:`wattwatch.errors.UsageError` (or ``ValueError``) and printed as
one line on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

__all__ = ["COMMANDS", "PIPE_CLOSED_EXIT", "build_parser", "main"]

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
    "levers": "wattwatch.cli.commands.levers",
    "ledger": "wattwatch.cli.commands.ledger",
}
"""Sub-command name -> module implementing it."""


class _OneLineErrors(argparse.ArgumentParser):
    """argparse, but a usage error is ONE stderr line (``wattwatch run: error: ... (see --help)``) and exit 2,
    not the usage block followed by the error; a misspelt command or choice gets a "did you mean"."""

    def error(self, message: str) -> NoReturn:
        from wattwatch.util.terminal import printable  # the message quotes what was typed: no control bytes

        self.exit(2, printable(f"{self.prog}: error: {message}{_choice_hint(message)} (see {self.prog} --help)") + "\n")


_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")


def _choice_hint(message: str) -> str:
    """``; did you mean 'report'?`` for argparse's invalid-choice message, when one choice is close."""
    m = _INVALID_CHOICE.search(message)
    if not m:
        return ""
    close = difflib.get_close_matches(m.group(1), re.findall(r"'([^']*)'", m.group(2)), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _unrecognized(parser: argparse.ArgumentParser, extras: list[str]) -> NoReturn:
    """argparse's "unrecognized arguments" error from the parser they were given to, naming the option each
    misspelt ``--option`` most likely meant."""
    options = [o for action in parser._actions for o in action.option_strings if o.startswith("--")]
    hints = []
    for arg in extras:
        name = arg.split("=", 1)[0]
        if name.startswith("--"):
            close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
            if close:
                hints.append((close[0], name))
    if len(hints) == 1:
        hint = f"; did you mean {hints[0][0]}?"
    else:
        hint = f"; did you mean {', '.join(f'{o} (for {n})' for o, n in hints)}?" if hints else ""
    parser.error(f"unrecognized arguments: {' '.join(extras)}{hint}")


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
        p.set_defaults(_run=module.run, _parser=p)
    return parser


PIPE_CLOSED_EXIT = 128 + 13
"""Exit code when the reader of our output went away (``wattwatch report ... | head``): a shell's code for a
process ended by SIGPIPE, without a traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wattwatch`` script; returns the process exit code."""
    try:
        return _main(argv)
    except BrokenPipeError:
        _drop_stdout()
        return PIPE_CLOSED_EXIT


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush does not fail a second time."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _main(argv: Sequence[str] | None) -> int:
    from wattwatch.errors import UsageError

    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        _unrecognized(getattr(args, "_parser", parser), extras)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except BrokenPipeError:
        raise  # the reader of our output is gone (``| head``): main() ends quietly
    except (UsageError, ValueError, OSError) as exc:  # a file that cannot be read or written: one line too
        from wattwatch.util.terminal import say

        say(f"wattwatch {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
