"""Sub-commands of the ``wattwatch`` CLI, one module each, with ``HELP``, ``add_arguments(parser)`` and
``run(args) -> exit code`` (see :mod:`wattwatch.cli.main`). They format; the numbers come from the library."""

__all__: list[str] = []
