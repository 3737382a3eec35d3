"""``emissions.csv`` helpers under their historical names (see :mod:`wattwatch.sinks.emissions_file` for the
append-only file, :mod:`wattwatch.sinks.journal` for a running run's live state).

:func:`upsert_row` rewrites a whole (small) side file -- read, replace the row with the same key, write a temporary
file, rename. It costs O(rows) and replaces a symlink by a regular file, so it is only for files wattwatch owns
and keeps small; ``emissions.csv`` itself is only ever appended to.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from wattwatch.sinks.cells import bound_row, sanitize_cell
from wattwatch.sinks.emissions_file import read_rows
from wattwatch.sinks.files import atomic_write_text, check_writable, locked, remove_stale_temp_files

__all__ = ["atomic_write_text", "check_writable", "read_rows", "remove_stale_temp_files", "sanitize_cell", "upsert_row"]


def upsert_row(
    path: str | os.PathLike[str],
    row: Mapping[str, str],
    columns: Sequence[str],
    key: str = "run_id",
    *,
    durable: bool = True,
) -> None:
    """Write ``row`` into the CSV at ``path``, replacing the row with the same ``key`` value, atomically (a
    whole-file rewrite: for small files wattwatch owns). ``columns`` is the preferred header; an existing
    header is kept and extended. ``durable`` also ``fsync``s. ``OSError`` when it cannot."""
    p = Path(path)
    clean = bound_row(row)
    with locked(p):
        header, rows = read_rows(p)
        if header:
            header = header + [c for c in columns if c not in header]
        else:
            header = list(columns)
        header += [c for c in clean if c not in header]
        for i, existing in enumerate(rows):
            if existing.get(key) == clean.get(key):
                rows[i] = dict(clean)
                break
        else:
            rows.append(dict(clean))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=header, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({c: r.get(c, "") for c in header})
        atomic_write_text(p, buf.getvalue(), durable=durable)
