"""CodeCarbon's output methods and handlers, as the compatibility trackers use them.

CodeCarbon calls its handlers (``BaseOutput``: ``out``, ``live_out``, ``task_out``, ``exit``) at fixed moments:
``out(total, delta)`` and ``task_out(tasks, experiment_name)`` at each ``flush()`` and at ``stop()``,
``live_out(total, delta)`` every ``api_call_interval`` measurements, ``exit()`` after the last ``out``.
:class:`HandlerSet` makes those calls; a handler that raises is logged once and never reaches user code.

Handler classes: the user's own objects, CodeCarbon's when it is installed (``LoggerOutput``, ``BoAmpsOutput``,
``LogfireOutput``), and :class:`LoggerOutput` here, which behaves like CodeCarbon's, for installs without it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any, Protocol

from wattwatch.errors import ConfigurationError
from wattwatch.result import EmissionsData

__all__ = [
    "SAVE_TO_FLAGS",
    "HandlerSet",
    "LoggerOutput",
    "OutputHandler",
    "OutputMethod",
    "resolve_output_methods",
]

log = logging.getLogger("wattwatch.compat")


class OutputMethod(str, Enum):
    """CodeCarbon's ``OutputMethod`` values (its own members compare equal to these)."""

    CSV = "csv"
    API = "api"
    LOGGER = "logger"
    PROMETHEUS = "prometheus"
    LOGFIRE = "logfire"
    BOAMPS = "boamps"


SAVE_TO_FLAGS = {
    "save_to_file": OutputMethod.CSV,
    "save_to_api": OutputMethod.API,
    "save_to_logger": OutputMethod.LOGGER,
    "save_to_prometheus": OutputMethod.PROMETHEUS,
    "save_to_logfire": OutputMethod.LOGFIRE,
}
"""CodeCarbon's deprecated ``save_to_*`` flags and the method each stands for (only CSV defaults to on)."""


class OutputHandler(Protocol):
    """What CodeCarbon calls on a handler (``codecarbon.output.BaseOutput``); missing methods are skipped."""

    def out(self, total: EmissionsData, delta: EmissionsData | None) -> None: ...


def _as_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigurationError(f"{name} must be True or False; got {value!r}")


def resolve_output_methods(output_methods: object, flags: dict[str, Any]) -> list[OutputMethod]:
    """CodeCarbon 3.3.2's rule: ``output_methods`` (a list, or ``"csv,logger"``) wins over the deprecated
    ``save_to_*`` flags; setting any flag also warns (``DeprecationWarning``); default ``[CSV]``.

    ``ConfigurationError`` for a value that is not a method, listing the valid ones."""
    if flags:
        warnings.warn(
            "The save_to_* parameters are deprecated and will be removed in a future version. "
            "Use output_methods=[OutputMethod.CSV, ...] instead.",
            DeprecationWarning,
            stacklevel=5,
        )
    if output_methods is not None:
        items: Iterable[Any]
        if isinstance(output_methods, str):
            items = [m.strip() for m in output_methods.split(",") if m.strip()]
        elif isinstance(output_methods, Iterable):
            items = list(output_methods)
        else:
            raise ConfigurationError(f"output_methods must be a list of OutputMethod; got {output_methods!r}")
        methods = []
        for item in items:
            try:
                methods.append(OutputMethod(str(getattr(item, "value", item)).strip().lower()))
            except ValueError:
                valid = ", ".join(m.value for m in OutputMethod)
                raise ConfigurationError(f"unknown output method {item!r}; valid: {valid}") from None
        return methods
    chosen = {name: _as_bool(name, value) for name, value in flags.items()}
    return [m for name, m in SAVE_TO_FLAGS.items() if chosen.get(name, name == "save_to_file")]


class LoggerOutput:
    """Send each result to a ``logging.Logger`` as one JSON line, like ``codecarbon.output.LoggerOutput``."""

    def __init__(self, logger: logging.Logger, severity: int = logging.INFO) -> None:
        self.logger = logger
        self.logging_severity = severity

    def out(self, total: EmissionsData, delta: EmissionsData | None) -> None:
        try:
            self.logger.log(self.logging_severity, json.dumps(dataclasses.asdict(total)))
        except Exception as exc:  # noqa: BLE001 - as CodeCarbon: a logging failure is logged, not raised
            log.error("wattwatch: LoggerOutput could not log the result: %r", exc)

    def live_out(self, total: EmissionsData, delta: EmissionsData | None) -> None:
        self.out(total, None)

    def task_out(self, data: Sequence[object], experiment_name: str) -> None:
        pass

    def exit(self) -> None:
        pass


def codecarbon_output_class(name: str, method: OutputMethod) -> Any:
    """CodeCarbon's own output class ``name`` (``BoAmpsOutput``, ``LogfireOutput``); ``ConfigurationError``
    naming the install line when CodeCarbon is not installed."""
    try:
        import codecarbon.output as cc_output
    except ImportError:
        raise ConfigurationError(
            f"OutputMethod.{method.name} uses CodeCarbon's {name}: `pip install codecarbon` (wattwatch's [codecarbon] extra), "
            "or leave it out of output_methods"
        ) from None
    return getattr(cc_output, name)


class HandlerSet:
    """The handlers of one tracker, called as CodeCarbon calls them. Never raises."""

    def __init__(self, handlers: Sequence[Any]) -> None:
        self.handlers: list[Any] = list(handlers)
        self._failed: set[tuple[int, str]] = set()

    def _call(self, method: str, *args: Any) -> None:
        for handler in self.handlers:
            fn = getattr(handler, method, None)
            if fn is None:
                continue
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001 - a user's handler must not break the run
                key = (id(handler), method)
                if key not in self._failed:
                    self._failed.add(key)
                    log.warning("wattwatch: output handler %r failed in %s(): %r", handler, method, exc)

    def out(self, total: EmissionsData, delta: EmissionsData | None) -> None:
        self._call("out", total, delta)

    def live_out(self, total: EmissionsData, delta: EmissionsData | None) -> None:
        self._call("live_out", total, delta)

    def task_out(self, tasks: list[Any], experiment_name: str) -> None:
        if tasks:
            self._call("task_out", tasks, experiment_name)

    def exit(self) -> None:
        self._call("exit")
