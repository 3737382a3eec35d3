"""What goes into one CSV cell: inert (no spreadsheet formula), valid UTF-8, and bounded in size.

A row must never hold a cell so large that a later reader (the ``csv`` module's 128 KiB field limit, pandas, a
spreadsheet) chokes on it, whatever the user named a phase or a project. The bounds:

- **Per-key columns** (``phase_energy_kwh``, ``phase_emissions_kg``, ``gpu_energy_by_device_kwh``: JSON objects)
  keep the :data:`MAX_MAP_ENTRIES` largest entries (ranked by the group's first column: phases by energy) and sum
  the rest under :data:`OTHER_KEY`; keys longer than :data:`MAX_KEY_CHARS` are cut (with :data:`TRUNCATION_MARK`).
  Sums are unchanged: the total of a bounded column equals the total of the unbounded one.
- **Any other cell** longer than :data:`MAX_CELL_CHARS` characters is cut and ends with
  ``…[+N chars]`` saying how many characters were dropped.
- **Text that is not valid Unicode** (a project name decoded from bytes with ``surrogateescape``, as Python does
  for ``sys.argv`` and the environment) has each undecodable byte replaced by U+FFFD, so the row can be encoded.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence

__all__ = [
    "MAP_GROUPS",
    "MAX_CELL_CHARS",
    "MAX_KEY_CHARS",
    "MAX_MAP_ENTRIES",
    "OTHER_KEY",
    "TRUNCATION_MARK",
    "bound_mapping",
    "bound_row",
    "bound_text",
    "clean_text",
    "csv_line",
    "sanitize_cell",
]

MAX_CELL_CHARS = 4096
"""Longest cell written (characters), JSON columns excepted (they are bounded by entry count instead)."""
MAX_MAP_ENTRIES = 32
"""Entries kept in a per-key JSON column; the rest are summed under :data:`OTHER_KEY`."""
MAX_KEY_CHARS = 100
"""Longest key (phase name, device name) kept in a per-key JSON column."""
OTHER_KEY = "(other)"
"""Key holding the sum of the entries beyond :data:`MAX_MAP_ENTRIES`."""
TRUNCATION_MARK = "…"
"""Ends a cut key or cell (followed, for cells, by ``[+N chars]``)."""
MAP_GROUPS: tuple[tuple[str, ...], ...] = (
    ("phase_energy_kwh", "phase_emissions_kg"),
    ("gpu_energy_by_device_kwh",),
)
"""JSON columns bounded together: the first ranks the keys, the others keep the same keys."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\n")


_NEEDS_QUOTES = re.compile(r'[,;\t|"\r\n]')
"""A cell holding any CSV separator a spreadsheet may split on (``,`` ``;`` tab ``|``), a quote or a line break
is quoted, whatever the file's own separator: a ``;``-splitting spreadsheet reading a ``,`` file must not see
``a;=cmd()`` as two cells, the second a formula."""


def csv_line(cells: Sequence[str], delimiter: str = ",", terminator: str = "\n") -> str:
    """``cells`` as one CSV line ending with ``terminator``, as Python's ``csv`` writer would write it except
    that every cell holding a separator of any common dialect (see :data:`_NEEDS_QUOTES`) is quoted (``"``
    doubled inside). Any CSV reader reads it back to the same cells."""
    quote = _NEEDS_QUOTES.search
    out = [
        '"' + c.replace('"', '""') + '"' if quote(c) is not None or (delimiter in c) else c for c in cells
    ]
    if len(out) == 1 and not out[0]:
        out[0] = '""'  # a lone empty cell would read back as a blank line
    return delimiter.join(out) + terminator


_EMBEDDED = re.compile(r"[,;\t|\n][=+\-@]")
"""A formula start right after a separator inside a cell: a spreadsheet that splits on that separator (a
``;`` one reading a ``,`` file, where quotes in the middle of its field mean nothing) sees a cell starting there."""
_SEPARATOR = re.compile(r"[,;\t|\n]")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _neutralise_embedded(value: str) -> str:
    """``'`` inserted after every separator that a formula start follows, unless what follows (up to the next
    separator) is a number: ``a;=cmd()`` -> ``a;'=cmd()``, ``1;-2`` unchanged."""

    def fix(match: re.Match[str]) -> str:
        rest = _SEPARATOR.split(value[match.start() + 1 :], maxsplit=1)[0]
        return match.group() if _is_number(rest) else match.group()[0] + "'" + match.group()[1]

    return _EMBEDDED.sub(fix, value)


def sanitize_cell(value: str) -> str:
    """Neutralise a text cell that a spreadsheet would run as a formula (OWASP's advice on CSV injection:
    prefix ``'``), at its start and after any separator inside it (a spreadsheet splitting on ``;``, ``|`` or
    tab would start a cell there); numbers are left alone.

    Carriage returns become ``\\n``: Python's csv writer quotes a cell only for the characters of its line
    terminator (``\\n`` here), so a bare ``\\r`` would be written unquoted and split the row when read back."""
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if _EMBEDDED.search(value) is not None:
        value = _neutralise_embedded(value)
    if value and value.startswith(_DANGEROUS) and not _is_number(value):
        return "'" + value  # (a negative number is not a formula)
    return value


def clean_text(value: str) -> str:
    """``value`` with every lone surrogate (an undecodable byte carried by ``surrogateescape``) replaced by
    U+FFFD, so it encodes as UTF-8. Valid text is returned as is (the common case costs one ``encode``)."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", value)


def bound_text(value: str, limit: int = MAX_CELL_CHARS) -> str:
    """``value`` cut to at most ``limit`` characters, ending with ``…[+N chars]`` when cut."""
    if len(value) <= limit:
        return value
    dropped = len(value) - limit
    mark = f"{TRUNCATION_MARK}[+{dropped} chars]"
    keep = max(0, limit - len(mark))
    return value[:keep] + f"{TRUNCATION_MARK}[+{len(value) - keep} chars]"


def _short_key(key: str) -> str:
    key = clean_text(key)
    return key if len(key) <= MAX_KEY_CHARS else key[: MAX_KEY_CHARS - 1] + TRUNCATION_MARK


def bound_mapping(
    ranking: Mapping[str, float], *others: Mapping[str, float], limit: int = MAX_MAP_ENTRIES
) -> tuple[dict[str, float], ...]:
    """Bound ``ranking`` and each of ``others`` to the same at most ``limit`` keys: the ``limit - 1`` largest of
    ``ranking`` (by value) kept, everything else summed under :data:`OTHER_KEY`; long keys cut. Returns the
    bounded mappings, ``ranking``'s first. Totals are preserved."""
    items = [(_short_key(k), v) for k, v in ranking.items()]
    merged: dict[str, float] = {}
    renamed: dict[str, str] = {}
    for (k, v), original in zip(items, ranking, strict=True):
        merged[k] = merged.get(k, 0.0) + v
        renamed[original] = k
    if len(merged) <= limit:
        keep = set(merged)
    else:
        ordered = sorted(merged, key=lambda k: (-merged[k], k))
        keep = set(ordered[: limit - 1]) - {OTHER_KEY}
    out: list[dict[str, float]] = []
    for mapping in (ranking, *others):
        bounded: dict[str, float] = {}
        for original, value in mapping.items():
            key = renamed.get(original) or _short_key(original)
            key = key if key in keep else OTHER_KEY
            bounded[key] = bounded.get(key, 0.0) + value
        out.append(bounded)
    return tuple(out)


def _as_mapping(text: str) -> dict[str, float] | None:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value.values()):
        return None
    return {str(k): float(v) for k, v in value.items()}


def _needs_bounding(cells: Sequence[str]) -> bool:
    return any(len(c) > MAX_CELL_CHARS for c in cells) or any(c.count(",") >= MAX_MAP_ENTRIES for c in cells)


def bound_row(row: Mapping[str, str], groups: Sequence[Sequence[str]] = MAP_GROUPS) -> dict[str, str]:
    """A copy of ``row`` whose every cell is inert (:func:`sanitize_cell`), valid UTF-8 (:func:`clean_text`)
    and bounded (see the module's docstring). Cheap when nothing needs cutting (no JSON is parsed)."""
    out = dict(row)
    grouped: set[str] = set()
    for group in groups:
        present = [c for c in group if c in out]
        if not present:
            continue
        grouped.update(present)
        if not _needs_bounding([out[c] for c in present]):
            continue
        maps = [_as_mapping(out[c]) for c in present]
        if any(m is None for m in maps):
            continue  # not our JSON: bounded as text below
        bounded = bound_mapping(*[m for m in maps if m is not None])
        for column, mapping in zip(present, bounded, strict=True):
            out[column] = json.dumps(mapping, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for key, value in out.items():
        text = clean_text(value)
        if key in grouped and len(text) <= MAX_MAP_ENTRIES * (MAX_KEY_CHARS + 40):
            out[key] = sanitize_cell(text)
        else:
            out[key] = bound_text(sanitize_cell(text))  # cut after the ``'`` so a second pass changes nothing
    return out
