"""The ``wattwatch`` command line: the entry point, tracker options generated from the config, the live view and
one module per sub-command."""

from wattwatch.cli.main import main

__all__ = ["main"]
