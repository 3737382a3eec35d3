"""The CSV helpers every command uses, under their historical names: the tolerant reader
(:func:`read_rows`, streaming: :class:`~wattwatch.sinks.emissions_reader.TableReader`), cell sanitising, atomic
replacement of files wattwatch owns, and the writability probe.

``emissions.csv`` itself is only ever appended to (:mod:`wattwatch.sinks.emissions_file`); a running run's live
state is its journal (:mod:`wattwatch.sinks.journal`).
"""

from __future__ import annotations

from wattwatch.sinks.cells import sanitize_cell
from wattwatch.sinks.emissions_reader import read_rows
from wattwatch.sinks.files import atomic_write_text, check_writable, remove_stale_temp_files

__all__ = ["atomic_write_text", "check_writable", "read_rows", "remove_stale_temp_files", "sanitize_cell"]
