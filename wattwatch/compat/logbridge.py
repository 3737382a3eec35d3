"""Messages of the compatibility trackers reach handlers on the ``codecarbon`` logger.

wattwatch logs to the ``wattwatch`` logger tree. CodeCarbon users attach handlers to
``logging.getLogger("codecarbon")`` (CodeCarbon's own examples do). :class:`CodecarbonBridge`, installed on the
``wattwatch`` logger while a compatibility tracker exists, hands each record to the ``codecarbon`` logger's own
handlers, with the ``logger_preamble`` in front, when the ``codecarbon`` logger's level lets it through. It calls
those handlers directly instead of ``codecarbon_logger.handle()`` and skips any handler the record already reaches
through the ``wattwatch`` logger (the root's, say), so no handler sees a message twice.

CodeCarbon prints its messages even when the program configured no logging: importing it puts a stderr handler
on its logger (format ``[codecarbon WARNING @ 14:02:11] message``, level INFO unless ``log_level`` says
otherwise). So does the bridge: a record that no handler would show -- none on ``codecarbon``, none reached by
propagation -- goes to stderr in CodeCarbon's format, at the ``codecarbon`` logger's level. As soon as the
program configures logging (a root handler, a handler on ``codecarbon``), those handlers show it instead.
"""

from __future__ import annotations

import logging
import sys
import threading

__all__ = ["CODECARBON_LOGGER", "CodecarbonBridge", "install_bridge", "set_codecarbon_level"]

CODECARBON_LOGGER = "codecarbon"


CODECARBON_FORMAT = "[codecarbon %(levelname)s @ %(asctime)s] %(message)s"
"""CodeCarbon's own format (``codecarbon/external/logger.py``); a preamble goes in brackets before the message."""


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler on whatever ``sys.stderr`` is at each record (pytest and notebooks replace it)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


class CodecarbonBridge(logging.Handler):
    """A handler on ``wattwatch`` that forwards records to the handlers of ``codecarbon`` (to stderr in
    CodeCarbon's format when nothing else would show them)."""

    def __init__(self, target: logging.Logger | None = None) -> None:
        super().__init__(logging.NOTSET)
        self.target = target or logging.getLogger(CODECARBON_LOGGER)
        self.preamble = ""
        self.fallback = _Stderr()
        """Where a record goes when no handler would show it (CodeCarbon prints its own messages)."""
        self.fallback.setFormatter(logging.Formatter(CODECARBON_FORMAT, datefmt="%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        target = self.target
        if not target.isEnabledFor(record.levelno):
            return
        forwarded = logging.makeLogRecord(record.__dict__)
        forwarded.name = f"{target.name}.{record.name}" if record.name != target.name else record.name
        if self.preamble:
            forwarded.msg = f"{self.preamble}{record.getMessage()}"
            forwarded.args = None
        reached = _handlers_reached(logging.getLogger(record.name))  # they get the record anyway: never twice
        shown = bool(reached - {self})
        logger: logging.Logger | None = target
        while logger is not None and logger is not logging.root:  # codecarbon's handlers and its parents'
            for handler in logger.handlers:
                shown = True
                if handler not in reached and forwarded.levelno >= handler.level:
                    handler.handle(forwarded)
            logger = logger.parent if logger.propagate else None
        if not shown:
            if self.preamble:
                forwarded.msg = f"[{self.preamble}] {record.getMessage()}"
                forwarded.args = None
            self.fallback.handle(forwarded)


def _handlers_reached(logger: logging.Logger) -> set[logging.Handler]:
    """The handlers a record logged on ``logger`` reaches by propagation (the root's included)."""
    reached: set[logging.Handler] = set()
    current: logging.Logger | None = logger
    while current is not None:
        reached.update(current.handlers)
        current = current.parent if current.propagate else None
    return reached


_LOCK = threading.RLock()
_BRIDGE: CodecarbonBridge | None = None


def install_bridge(preamble: str = "") -> CodecarbonBridge:
    """Put the bridge on the ``wattwatch`` logger (once per process) and set its preamble."""
    global _BRIDGE
    with _LOCK:
        if _BRIDGE is None:
            _BRIDGE = CodecarbonBridge()
            logging.getLogger("wattwatch").addHandler(_BRIDGE)
        _BRIDGE.preamble = preamble
        return _BRIDGE


def set_codecarbon_level(level: str | int) -> None:
    """CodeCarbon's ``log_level``: the level of the ``codecarbon`` logger (and of ``wattwatch``, which feeds it).

    ``ValueError`` for a name that is not a logging level."""
    value = level.upper() if isinstance(level, str) else level
    for name in (CODECARBON_LOGGER, "wattwatch"):
        logging.getLogger(name).setLevel(value)
