"""Sub-commands of the ``wattwatch`` CLI, one module each (see :mod:`wattwatch.cli`)."""

__all__: list[str] = []
