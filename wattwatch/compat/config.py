"""CodeCarbon's configuration files and variables, read as CodeCarbon 3.3.2 reads them.

Layers, lowest priority first: ``~/.codecarbon.config``, ``./.codecarbon.config`` (section ``[codecarbon]``),
then environment variables ``CODECARBON_<OPTION>`` (any case). Arguments passed to the tracker win over all of
them. Every value is a string; the compatibility layer converts it as it converts arguments. Keys that are not
CodeCarbon tracker options are ignored, as CodeCarbon ignores them.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from pathlib import Path

from wattwatch.compat.options import OPTIONS

__all__ = ["CONFIG_FILE_NAME", "external_options"]

CONFIG_FILE_NAME = ".codecarbon.config"
_SECTION = "codecarbon"
_NOT_FROM_CONFIG = frozenset({"output_handlers", "logging_logger", "offline"})


MAX_CONFIG_BYTES = 1 << 20
"""Largest config file read (1 MiB; a real one is a few lines): a larger one is ignored, as an unreadable one."""


def _read_file(path: Path) -> dict[str, str]:
    """The ``[codecarbon]`` section of ``path`` (``{}`` when there is none or the file cannot be read). The
    file is outside data (``./.codecarbon.config`` may sit in a shared folder): a regular file only (a FIFO is
    never waited on), at most :data:`MAX_CONFIG_BYTES`, undecodable bytes as U+FFFD; a value whose ``%``
    interpolation fails is taken as written."""
    from wattwatch.sinks.files import read_regular

    parser = configparser.ConfigParser()
    try:
        parser.read_string(read_regular(path, MAX_CONFIG_BYTES, follow=True).decode("utf-8", "replace"))
    except (OSError, ValueError, configparser.Error):
        return {}
    if not parser.has_section(_SECTION):
        return {}
    values: dict[str, str] = {}
    for key in parser.options(_SECTION):
        try:
            values[key] = parser.get(_SECTION, key)
        except (configparser.Error, ValueError):
            values[key] = parser.get(_SECTION, key, raw=True)
    return values


def external_options(
    home: Path | None = None, cwd: Path | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, tuple[str, str]]:
    """``option -> (value, where it came from)`` from the config files and ``CODECARBON_*`` variables."""
    env = os.environ if environ is None else environ
    found: dict[str, tuple[str, str]] = {}
    for folder in (home if home is not None else Path.home(), cwd if cwd is not None else Path.cwd()):
        path = Path(folder) / CONFIG_FILE_NAME
        for key, value in _read_file(path).items():
            found[key] = (value, str(path))
    for name, value in env.items():
        if name.lower().startswith("codecarbon_"):
            found[name[len("codecarbon_") :].lower()] = (value, name)
    return {k: v for k, v in found.items() if k in OPTIONS and k not in _NOT_FROM_CONFIG}
