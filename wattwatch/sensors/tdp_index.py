"""Look up one CPU model's TDP in CodeCarbon's ``cpu_power.csv`` without normalising its ~4,900 names.

:func:`~wattwatch.sensors.cpuinfo.load_tdp_table` normalises every row (seven regular expressions each: about
40 ms per process, paid by every ``Tracker.start()`` before this module existed). :func:`find_tdp` gives the same
answer as ``lookup_tdp(model_name, load_tdp_table(data_dir))`` from a targeted scan instead:

1. Normalise the one model name (``"Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz"`` -> ``"intel xeon platinum
   8375c"``).
2. Keep only the table lines that could match, found with ``str.find`` on the lower-cased file text:

   - an exact match has exactly the model's words, so its line contains every one of them;
   - a partial match (see :func:`~wattwatch.sensors.cpuinfo.lookup_tdp`) has only words found in the model name
     and at least one of them holds a digit, so its line contains one of the model's words with a digit.

   Every word of a normalised name is a piece of the lower-cased raw line (normalising only lower-cases and
   replaces marks with spaces), so no line that could match is left out.
3. Parse and normalise those few lines (tens, not thousands) in file order, and run the unchanged
   :func:`~wattwatch.sensors.cpuinfo.lookup_tdp` on that small table.

No cache is written anywhere: the scan reads the 120 kB file once per call (about a millisecond).
"""

from __future__ import annotations

import csv
from pathlib import Path

from wattwatch.sensors.cpuinfo import (
    DEFAULT_TDP_W,
    TdpMatch,
    lookup_tdp,
    normalize_cpu_name,
    tdp_csv_path,
)

__all__ = ["candidate_lines", "find_tdp", "small_table"]


def _is_word(ch: str) -> bool:
    """Whether ``ch`` is a regular-expression word character (``\\w``)."""
    return ch.isalnum() or ch == "_"


def candidate_lines(text: str, normalized_model: str) -> list[str]:
    """The data lines of ``text`` (a ``Name,TDP`` CSV, header first) that could match ``normalized_model``
    exactly or partially, in file order; the header is never returned."""
    words = [w for w in normalized_model.split() if w]
    if not words:
        return []
    lower = text.lower()
    header_end = lower.find("\n")
    if header_end < 0:
        return []
    starts: set[int] = set()

    def lines_with(needle: str) -> list[tuple[int, int]]:
        """(start, end) of the lines where ``needle`` could be a whole word of the normalised name."""
        found: list[tuple[int, int]] = []
        open_start, open_end = not _is_word(needle[0]), not _is_word(needle[-1])
        pos = lower.find(needle, header_end + 1)
        while pos >= 0:
            start = lower.rfind("\n", 0, pos) + 1
            end = lower.find("\n", pos)
            end = len(lower) if end < 0 else end
            after = pos + len(needle)
            if (open_start or pos == start or not _is_word(lower[pos - 1])) and (
                open_end or after == end or not _is_word(lower[after])
            ):
                found.append((start, end))
                pos = lower.find(needle, end + 1) if end < len(lower) else -1
            else:
                pos = lower.find(needle, pos + 1)
        return found

    # Exact: the line holds every word; scan for the rarest one and check the others on that line.
    rarest = min(words, key=lower.count)
    for start, end in lines_with(rarest):
        line = lower[start:end]
        if all(w in line for w in words):
            starts.add(start)
    # Partial: the line holds one of the model's words that has a digit.
    for word in {w for w in words if any(ch.isdigit() for ch in w)}:
        starts.update(start for start, _ in lines_with(word))
    out = []
    for start in sorted(starts):
        end = text.find("\n", start)
        out.append(text[start : end if end >= 0 else len(text)])
    return out


def small_table(header: str, lines: list[str]) -> dict[str, tuple[str, float]]:
    """``normalized name -> (table name, TDP W per socket)`` for ``lines`` (rows of a CSV whose first line is
    ``header``), with :func:`~wattwatch.sensors.cpuinfo.load_tdp_table`'s rules: the first row of a name wins,
    rows without a positive TDP are skipped."""
    columns = next(csv.reader([header]), [])
    try:
        i_name, i_tdp = columns.index("Name"), columns.index("TDP")
    except ValueError:
        return {}
    table: dict[str, tuple[str, float]] = {}
    for row in csv.reader(lines):
        if len(row) <= max(i_name, i_tdp):
            continue
        try:
            name, tdp = row[i_name].strip(), float(row[i_tdp])
        except ValueError:
            continue
        if tdp > 0:
            table.setdefault(normalize_cpu_name(name), (name, tdp))
    return table


def find_tdp(model_name: str, data_dir: Path | None = None) -> TdpMatch:
    """Per-socket TDP of ``model_name`` (raw ``/proc/cpuinfo`` text or a table name) from CodeCarbon's
    ``cpu_power.csv`` in ``data_dir`` (default: the installed CodeCarbon's data folder).

    Same result as ``lookup_tdp(model_name, load_tdp_table(data_dir))``; the default (:data:`DEFAULT_TDP_W`,
    source ``default``) when the model is unknown or the file is missing or unreadable.
    """
    default = TdpMatch(DEFAULT_TDP_W, "", "default")
    path = tdp_csv_path(data_dir)
    if path is None:
        return default
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return default
    header = text.split("\n", 1)[0]
    lines = candidate_lines(text, normalize_cpu_name(model_name))
    return lookup_tdp(model_name, small_table(header, lines))
