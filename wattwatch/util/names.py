"""Names that come from users or other programs (run ids, experiment and project names) made safe to use.

Two rules, one per place a name can do harm:

- **In a file name** (:func:`safe_name`): a name never becomes a path. ``run_id="../../x"``, an absolute id, a
  NUL byte, a name starting with ``.``: the file name is a slug of letters, digits, ``-``, ``_`` and ``.``
  (never a leading ``.``, at most :data:`MAX_NAME_CHARS` characters), followed by ``-`` and a short hash of the
  original whenever anything had to change, so two different names never share a file. A UUID (the default run
  id) is its own slug, so files keep the names earlier versions gave them.
- **In an option** (:func:`control_characters`): a control character (C0, DEL, C1: ESC, BEL, NUL, newline...)
  in a run id or a project name is refused when the tracker is built (``ConfigurationError`` naming the option),
  never met half-way through ``stop()``.
"""

from __future__ import annotations

import re

__all__ = ["MAX_NAME_CHARS", "control_characters", "safe_name"]

MAX_NAME_CHARS = 100
"""Longest slug kept from a name (the hash comes after it)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _short_hash(text: str) -> str:
    """12 hex digits of SHA-256 over ``text`` (lone surrogates included). hashlib is imported here only: it
    loads OpenSSL (~2 ms), and the default run id (a UUID) never needs a hash."""
    import hashlib

    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def safe_name(text: str, *, max_chars: int = MAX_NAME_CHARS) -> str:
    """``text`` as one safe file-name component (see the module's docstring): unchanged when it is already a
    slug of at most ``max_chars`` characters that does not start with ``.``; otherwise the slug plus
    ``-<hash>``. Never empty, never ``.`` or ``..``, never holds ``/``, ``\\`` or a control character."""
    slug = _UNSAFE.sub("_", text).lstrip(".")[:max_chars]
    if slug and slug == text:
        return slug
    return f"{slug or '_'}-{_short_hash(text)}"


def control_characters(text: str) -> list[str]:
    """The distinct control characters (C0, DEL, C1) in ``text``, in order of appearance, as ``repr`` escapes
    (``['\\\\x1b', '\\\\x00']``); empty when there is none."""
    found: list[str] = []
    for ch in _CONTROL.findall(text):
        shown = repr(ch)[1:-1]
        if shown not in found:
            found.append(shown)
    return found
