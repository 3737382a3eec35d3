"""Public names of a package loaded on first use (PEP 562), so that importing the package imports none of the
modules behind them: ``import wattwatch`` stays a few milliseconds, ``import wattwatch.callbacks`` loads no
training framework, ``wattwatch report`` without ``--html`` loads no page module.

Usage, at the end of a package's ``__init__.py``::

    __getattr__, __dir__ = lazy_names(__name__, {"Tracker": "wattwatch.run.tracker"}, __all__)

Nothing here imports anything at module level (``import wattwatch`` runs it).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs milliseconds on a fresh interpreter: only type checkers read these
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, homes: Mapping[str, str], public: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: a name of ``homes`` is imported from its home module
    on first use and kept in the package (later lookups are plain attribute reads); any other name raises
    ``AttributeError`` as a module does. ``__dir__`` lists ``public`` (the package's ``__all__``)."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib
        import sys

        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(public)

    return __getattr__, __dir__
