"""The journal file format: what a journal holds (:class:`JournalEntry`, its owner a :class:`ProcessIdentity`),
where journals live (:func:`journal_dir`, :func:`journal_path`) and the one reader of them (:func:`read_journal`,
:func:`read_journals`). Writing them and turning them into rows is :mod:`wattwatch.sinks.journal`.

A journal is outside data: anyone who can write the output folder can plant one, or a careless script can leave
one half-written. So the reader opens regular files only (never through a link, never waiting on a FIFO), reads
at most :data:`MAX_JOURNAL_BYTES`, and checks every field for what wattwatch writes there; whatever goes wrong
while reading one journal skips it with a note naming it (:func:`read_journals`), so one bad file never blocks
a start, a report or a merge, and nothing in a journal can shape a header or send a row to another file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

from wattwatch.result import CODECARBON_COLUMNS
from wattwatch.sinks.emissions_file import PendingAppend
from wattwatch.sinks.files import private_folder, read_regular
from wattwatch.sinks.owner import ProcessIdentity
from wattwatch.util.records import record

__all__ = [
    "JOURNAL_DIR",
    "MAX_JOURNAL_BYTES",
    "JournalEntry",
    "ProcessIdentity",
    "journal_dir",
    "journal_folder",
    "journal_path",
    "read_journal",
    "read_journals",
]

JOURNAL_DIR = Path(".wattwatch") / "runs"
"""Where, under ``output_dir``, the journals live."""
MAX_JOURNAL_BYTES = 4 << 20
"""Largest journal read (4 MiB). A journal holds records of one row of bounded cells, a few KB each (at most
about 0.5 MB with every cell at its bound), and is compacted to its last record once past 256 KB
(:data:`wattwatch.sinks.journal.COMPACT_BYTES`); anything larger is not one, and is skipped unread."""
_FORMAT = "wattwatch.journal"
_VERSION = 1


def journal_dir(output_dir: str | os.PathLike[str]) -> Path:
    """The folder of the journals under ``output_dir``."""
    return Path(output_dir) / JOURNAL_DIR


def journal_path(output_dir: str | os.PathLike[str], run_id: str, token: str = "") -> Path:
    """The journal of ``run_id`` written by the tracker ``token`` names: ``<run_id>.<token>.json`` (a
    file-name-safe form of the run id, with a hash when characters were replaced). The token keeps apart two
    processes given the same run id (a resumed segment and the crashed one, a run id fixed by the user)."""
    from wattwatch.util.names import safe_name

    safe = safe_name(run_id)
    return journal_dir(output_dir) / (f"{safe}.{token}.json" if token else f"{safe}.json")


@record
class JournalEntry:
    """One journal: the run's current row (``row``, bounded cells) for the CSV ``output_file`` beside it."""

    run_id: str
    output_file: str
    status: str
    row: dict[str, str]
    columns: list[str]
    owner: ProcessIdentity
    written_at: float
    """Unix time (s) of the write."""
    final: bool = False
    """The run has ended: only its row is left to append."""
    pending: PendingAppend | None = None
    csv_offset: int | None = None
    """The CSV's size (bytes) when the run started: its row, if it was appended, lies after it (``None``: a
    journal from before it was recorded). What finds a row whose pending append was not made durable
    (:func:`wattwatch.sinks.emissions_reader.holds_segment`)."""
    path: Path = field(default=Path(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "run_id": self.run_id,
            "output_file": self.output_file,
            "status": self.status,
            "final": self.final,
            "written_at": self.written_at,
            "owner": self.owner.to_dict(),
            "pending": None if self.pending is None else self.pending.to_dict(),
            "csv_offset": self.csv_offset,
            "columns": list(self.columns),
            "row": self.row,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], path: Path = Path()) -> JournalEntry:
        """``ValueError`` for anything that is not a wattwatch journal. The journal is outside data (anyone who
        can write the folder can plant one), so every field is checked for what wattwatch writes there: the
        columns are wattwatch's (CodeCarbon's 38 first, then names of letters, digits and ``_``), the row's
        cells plain values in those columns, the output file a ``.csv`` name in the same folder, the owner a
        process identity -- so nothing in a journal can shape a header or send a row elsewhere."""
        if not isinstance(d, Mapping) or d.get("format") != _FORMAT or d.get("version") != _VERSION:
            raise ValueError("not a wattwatch journal")
        try:
            columns = _columns(d["columns"])
            row = _row(d["row"], columns)
            output_file = d["output_file"]
            if not _is_csv_name(output_file):
                raise ValueError(f"output_file {output_file!r} is not a .csv file name")
            pending, written_at = d.get("pending"), d["written_at"]
            if isinstance(written_at, bool) or not isinstance(written_at, int | float):
                raise ValueError("written_at is not a number")
            csv_offset = d.get("csv_offset")
            if csv_offset is not None and (isinstance(csv_offset, bool) or not isinstance(csv_offset, int) or csv_offset < 0):
                raise ValueError("csv_offset is not a byte offset")
            return cls(
                run_id=_short_text(d["run_id"], "run_id"),
                output_file=output_file,
                status=_short_text(d["status"], "status"),
                row=row,
                columns=columns,
                owner=ProcessIdentity.from_dict(d["owner"]),
                written_at=float(written_at),
                final=d.get("final", False) is True,
                pending=None if pending is None else PendingAppend.from_dict(pending),
                csv_offset=csv_offset,
                path=path,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"corrupt wattwatch journal ({exc!r})") from None


_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_MAX_COLUMNS = 1000


def _columns(value: object) -> list[str]:
    """A journal's ``columns``: a list of distinct column names starting with CodeCarbon's 38 (``ValueError``
    otherwise: a string, as a planted journal had, would have made a header of its letters)."""
    if not isinstance(value, list) or len(value) > _MAX_COLUMNS:
        raise ValueError("columns is not a list of column names")
    if not all(isinstance(c, str) and _COLUMN_NAME.fullmatch(c) for c in value) or len(set(value)) != len(value):
        raise ValueError("columns holds something other than distinct column names")
    if tuple(value[: len(CODECARBON_COLUMNS)]) != CODECARBON_COLUMNS:
        raise ValueError("columns do not start with CodeCarbon's")
    return list(value)


def _row(value: object, columns: Sequence[str]) -> dict[str, str]:
    """A journal's ``row``: cells of ``columns`` only, each a string or a number (``ValueError`` otherwise)."""
    if not isinstance(value, Mapping):
        raise ValueError("row is not an object")
    known = set(columns)
    row: dict[str, str] = {}
    for key, cell in value.items():
        if key not in known:
            raise ValueError(f"row has a cell {str(key)[:40]!r} outside its columns")
        if cell is None:
            cell = ""
        if not isinstance(cell, str | int | float):
            raise ValueError(f"row cell {key!r} is not text or a number")
        row[key] = str(cell)
    return row


def _is_csv_name(value: object) -> bool:
    """A plain ``.csv`` file name: no folder, no control character, nothing a shell or editor would run."""
    return (
        isinstance(value, str)
        and 4 < len(value) <= 255
        and value.lower().endswith(".csv")
        and not any(sep in value for sep in ("/", "\\", "\0"))
        and not any(ch < " " or "\x7f" <= ch <= "\x9f" for ch in value)
    )


def _short_text(value: object, what: str) -> str:
    if not isinstance(value, str) or len(value) > 4096:
        raise ValueError(f"{what} is not a string")
    return value


def read_journal(path: str | os.PathLike[str]) -> JournalEntry:
    """The journal's last whole record (JSON lines, :mod:`wattwatch.sinks.journal`: a write cut short can only
    be the last line, and the one before it stands). ``OSError`` when it cannot be read (a link, a FIFO or a
    device is refused without waiting: :func:`~wattwatch.sinks.files.open_regular`), ``ValueError`` when no
    line is a journal (larger than :data:`MAX_JOURNAL_BYTES`, not JSON, nested too deeply, fields not as
    wattwatch writes them)."""
    p = Path(path)
    try:
        data = read_regular(p, MAX_JOURNAL_BYTES)
    except ValueError as exc:
        raise ValueError(f"{exc}: not a journal") from None
    error: ValueError | None = None
    for line in reversed(data.split(b"\n")):
        if not line.strip():
            continue
        try:
            return JournalEntry.from_dict(json.loads(line.decode("utf-8", "replace")), p)
        except RecursionError:
            error = error or ValueError("JSON nested too deeply: not a journal")
        except ValueError as exc:  # a record cut short (the last line only), or not a journal
            error = error or exc
    raise error or ValueError("not a wattwatch journal (empty)")


def journal_folder(output_dir: str | os.PathLike[str]) -> tuple[Path | None, str]:
    """The journal folder, when it exists and is wattwatch's own (not a link planted to make us read, append
    and delete elsewhere): ``(folder, "")``, or ``(None, why)``."""
    d = journal_dir(output_dir)
    try:
        private_folder(d, len(JOURNAL_DIR.parts), create=False)
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        return None, f"skipped the journals in {d}: {exc.strerror or exc}"
    return d, ""


def read_journals(output_dir: str | os.PathLike[str]) -> tuple[list[JournalEntry], list[str]]:
    """Every readable journal under ``output_dir`` and a note per one skipped (anything that goes wrong while
    reading a journal skips it: one bad file never blocks a start, a report or a merge). Costs one listing of
    the journal folder, which holds only runs not yet in a CSV."""
    entries: list[JournalEntry] = []
    d, why = journal_folder(output_dir)
    notes: list[str] = [why] if why else []
    if d is None:
        return entries, notes
    try:
        paths = sorted(d.glob("*.json"))
    except OSError:
        return entries, notes
    for path in paths:
        try:
            entries.append(read_journal(path))
        except FileNotFoundError:
            continue  # finalised meanwhile
        except OSError as exc:
            notes.append(f"skipped journal {path}: {exc.strerror or exc}")
        except Exception as exc:  # noqa: BLE001 - ValueError, RecursionError, MemoryError...: never blocks
            notes.append(f"skipped journal {path}: {str(exc)[:200] or type(exc).__name__}")
    return entries, notes
