"""Sub-commands of the ``wattwatch`` CLI, one module each (see :mod:`wattwatch.cli.main`)."""

__all__: list[str] = []
