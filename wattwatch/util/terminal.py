"""Text printed to a terminal, made inert: the one helper every line the command-line tool prints goes through.

Any file wattwatch reads may have been written by someone else, so a cell (a project name, a run id, a method,
a file name in a note) can hold bytes that a terminal obeys: ESC sequences that retitle the window, clear the
screen or rewrite earlier lines, BEL, backspaces, carriage returns, and the Unicode bidirectional overrides that
make text display in another order than it reads. :func:`printable` drops them (each becomes nothing, a tab a
space); :func:`say` prints one line through it.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

__all__ = ["printable", "say"]

_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` without control characters (C0, DEL, C1) or bidirectional controls; a tab becomes a space.
    Costs one ``str.isprintable`` call for ordinary text."""
    if text.isprintable():
        return text
    return _UNSAFE.sub("", text.replace("\t", " "))


def say(text: str = "", *, file: TextIO | None = None) -> None:
    """Print one line (``text`` made :func:`printable`) to ``file`` (default ``sys.stdout``)."""
    print(printable(text), file=sys.stdout if file is None else file)
