"""One column-selective pass over an emissions.csv: each row reduced to the few numbers ``wattwatch report``
sums, stored in flat arrays (about 200 bytes a row), never as an :class:`~wattwatch.result.EmissionsData`.

:func:`scan_table` reads a file with :class:`~wattwatch.sinks.emissions_reader.ColumnScan`. A large file
(:data:`PARALLEL_MIN_BYTES` or more) is split in two at a line break and the second half is read by a forked
worker process while this one reads the first. The split is kept only when the number of ``"`` bytes before it
is even (CSV quote parity: the line break is then outside any quoted cell) and the CSV reader of the first half
ended its last row exactly there (it did not run on across the split, as in a malformed file); otherwise -- or
when ``fork`` is missing or fails, this process runs other threads, or the worker dies -- the file is read in
this process alone. The result is the same either way. The worker hands its rows back through a pipe as data
only (:func:`write_columns`: a JSON header and the arrays' bytes, read back by :func:`read_columns`).

A row whose cells the fast path cannot take as they are (an empty or unreadable number, a non-finite one, no
``embodied_emissions``, a file without a ``status`` column...) is parsed by
:meth:`wattwatch.result.EmissionsData.from_row` from the same cells, so every figure has the reader's exact
semantics. Only the columns in :data:`NAMES` are read: damage in a column the report does not use (say
``cpu_power``) no longer hides a run's energy.

Units: energy kWh (PUE applied), CO2 kg CO2eq, duration s, J per token.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import threading
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from wattwatch.measure.figures import training_energy_kwh
from wattwatch.result import NO_STATUS, EmissionsData
from wattwatch.sinks.emissions_reader import ColumnScan, TableLayout

__all__ = [
    "NAMES",
    "PARALLEL_MIN_BYTES",
    "VALUES",
    "RunColumns",
    "order_key",
    "read_columns",
    "scan_table",
    "values_of",
    "write_columns",
]

NAMES: tuple[str, ...] = (
    "run_id", "resumed_segments", "timestamp", "start_time", "status", "project_name", "duration",
    "gpu_energy", "cpu_energy", "ram_energy", "energy_consumed", "emissions", "water_consumed",
    "embodied_emissions", "energy_low_kwh", "energy_high_kwh", "tokens", "phase_energy_kwh",
    "gpu_model", "gpu_count", "cpu_model", "cpu_count", "ram_total_size", "node_count",
    "overlap_energy_kwh", "overlaps_run_id",
)  # fmt: skip
"""The columns read (``gpu_model`` ... ``node_count`` only for a row whose embodied CO2 is computed at report
time)."""

VALUES: tuple[str, ...] = (
    "duration_s", "gpu_energy_kwh", "cpu_energy_kwh", "ram_energy_kwh", "energy_kwh", "emissions_kg",
    "water_l", "embodied_emissions_kg", "energy_low_kwh", "energy_high_kwh", "joules_per_token", "tokens",
    "train_kwh", "overlap_kwh",
)  # fmt: skip
"""The numbers kept per row, in :attr:`RunColumns.values` order (``nan``: none -- no band, no tokens).
``train_kwh``: the energy J/token divides (:mod:`wattwatch.measure.figures`), so a run's segments can be summed
(``nan`` for a row without tokens: not parsed then; :class:`~wattwatch.report.groups.RunGroups` reads it again);
``overlap_kwh``: the row's energy while another run measured the same machine (0 without one)."""

PARALLEL_MIN_BYTES = 32 << 20
"""Files this large (bytes) are read by two processes; smaller ones in this process alone."""

_NAN = float("nan")
_NOT_A_RUN = "not a run (no run_id, duration, energy_consumed or emissions)"
"""As :data:`wattwatch.report.history.NOT_A_RUN` (kept here: this module loads without history)."""
_FORK: Callable[[], int] | None = getattr(os, "fork", None)


@dataclass
class RunColumns:
    """Rows of one byte range of a file, one entry per row in every array (see :data:`VALUES`)."""

    offsets: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]
    """Byte offset of each row in its file."""
    key_hashes: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]
    """``hash((run_id, resumed_segments))``: the deduplication key, compact (equal keys are checked on disk)."""
    id_hashes: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]
    """``hash(run_id)``: which rows may be segments of one run (equal run ids are checked on the order keys)."""
    overlaps: list[tuple[int, str]] = field(default_factory=list)
    """``(row, run id)`` for rows that measured the same machine as another run (``overlaps_run_id``)."""
    sorted_hashes: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]
    """:attr:`key_hashes` in increasing order (sorted by whoever read the range: a worker sorts its own)."""
    resumed_ids: list[int] = field(default_factory=list)
    """:attr:`id_hashes` of the rows of a resumed run's later segments (``resumed_segments`` > 0): a run has
    several rows only if one of them is such a row (few: no sort of every hash is needed)."""
    flat: array = field(default_factory=lambda: array("d"))  # type: ignore[type-arg]
    """The :data:`VALUES` of each row, one row after another (see :meth:`column`, :meth:`value`)."""
    embodied_computed: bytearray = field(default_factory=bytearray)
    """1 where the row had no ``embodied_emissions`` and it was computed from the row's hardware."""
    statuses: array = field(default_factory=lambda: array("i"))  # type: ignore[type-arg]
    projects: array = field(default_factory=lambda: array("i"))  # type: ignore[type-arg]
    order_blob: bytearray = field(default_factory=bytearray)
    """Each row's order key, one after another: ``start_time`` (or ``timestamp``) + NUL + ``run_id``, UTF-8
    (bytes sort as the strings do: ``wattwatch report``'s order of runs)."""
    order_ends: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]
    """Where each row's order key ends in :attr:`order_blob`."""
    texts: list[str] = field(default_factory=list)
    """The status and project strings :attr:`statuses` and :attr:`projects` index."""
    no_run_id: list[int] = field(default_factory=list)
    """Rows without a run id (each its own run: never deduplicated)."""
    skipped: list[tuple[int, str]] = field(default_factory=list)
    """``(row number in the range, 0-based; why)`` for rows that could not be read."""
    line_notes: list[tuple[int, str]] = field(default_factory=list)
    """``(line number in the range, 1-based; why)`` for damaged lines skipped."""
    recent: list[tuple[bytes, int]] = field(default_factory=list)
    """The ``keep`` rows with the largest order keys, as ``(key, row)`` (a heap), when ``keep`` was given."""
    cheapest: list[tuple[float, int]] = field(default_factory=list)
    """The ``keep`` rows with the lowest J/token, as ``(-J/token, row)`` (a heap), likewise."""
    overflowed: bool = False
    """Rows were left out of :attr:`recent` or :attr:`cheapest` (else they hold every candidate)."""
    tied: bool = False
    """A row left out of :attr:`cheapest` had the J/token of one kept (then the order key decides: not kept)."""
    rows: int = 0
    lines: int = 0
    quotes: int = 0
    stopped_at: int = 0
    """Where reading stopped (see :attr:`wattwatch.sinks.emissions_reader.ColumnScan.stopped_at`)."""

    def __len__(self) -> int:
        return len(self.offsets)

    def column(self, name: str) -> array:  # type: ignore[type-arg]
        """One of :data:`VALUES` for every row, in row order."""
        return self.flat[VALUES.index(name) :: len(VALUES)]

    def value(self, name: str, i: int) -> float:
        """One of :data:`VALUES` of row ``i``."""
        return float(self.flat[i * len(VALUES) + VALUES.index(name)])

    def order_key(self, i: int) -> bytes:
        """Row ``i``'s order key (see :attr:`order_blob`)."""
        return bytes(self.order_blob[self.order_ends[i - 1] if i else 0 : self.order_ends[i]])

    def add_order_key(self, start: str, run_id: str) -> bytes:
        key = order_key(start, run_id)
        self.order_blob += key
        self.order_ends.append(len(self.order_blob))
        return key


def order_key(start: str, run_id: str) -> bytes:
    """``wattwatch report``'s sort key of a run, ``(start_time or timestamp, run_id)``, as bytes."""
    return f"{start}\0{run_id}".encode("utf-8", "surrogatepass")


def values_of(data: EmissionsData) -> tuple[list[float], bool]:
    """The :data:`VALUES` of a parsed row, and whether its embodied CO2 was computed at report time."""
    from wattwatch.report.history import embodied_kg, joules_per_token

    emb, computed = embodied_kg(data)
    jpt = joules_per_token(data)
    low, high = data.energy_low_kwh, data.energy_high_kwh
    overlap = data.overlap_energy_kwh if data.overlaps_run_id and data.overlap_energy_kwh else 0.0
    return [
        data.duration, data.gpu_energy, data.cpu_energy, data.ram_energy, data.energy_consumed,
        data.emissions, data.water_consumed, emb, _NAN if low is None else low, _NAN if high is None else high,
        _NAN if jpt is None else jpt, _NAN if data.tokens is None else float(data.tokens),
        training_energy_kwh(data.phase_energy_kwh, data.energy_consumed) if data.tokens else _NAN, overlap,
    ], computed  # fmt: skip


def _train_kwh(cell: str, energy_kwh: float) -> float:
    """Training's kWh (:func:`wattwatch.measure.figures.training_energy_kwh`) from a ``phase_energy_kwh`` cell,
    as ``EmissionsData.from_row`` reads it; ``ValueError`` where it would refuse the cell."""
    phases = json.loads(cell) if cell else {}
    if not isinstance(phases, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in phases.values()
    ):
        raise ValueError("phase_energy_kwh")
    return training_energy_kwh(phases, energy_kwh)


class _TextIndex(dict[str, int]):
    """Each distinct text's number in ``texts`` (a status, a project): numbered when first seen."""

    def __init__(self, texts: list[str]) -> None:
        super().__init__()
        self.texts = texts

    def __missing__(self, text: str) -> int:
        i = self[text] = len(self.texts)
        self.texts.append(text)
        return i


def extract(
    layout: TableLayout, start: int | None = None, end: int | None = None, *, keep: int | None = None
) -> RunColumns:
    """The rows whose first byte lies in ``[start, end)`` of the file (the whole file by default); ``keep``: also
    note the ``keep`` most recent and the ``keep`` lowest-J/token rows (:attr:`RunColumns.recent`)."""
    out = RunColumns()
    full = "status" in layout.header
    present = [n for n in NAMES if n in layout.header]
    text_index = _TextIndex(out.texts)
    put_values, put_offset, put_hash = out.flat.extend, out.offsets.append, out.key_hashes.append
    put_id = out.id_hashes.append
    put_status, put_project, put_end = out.statuses.append, out.projects.append, out.order_ends.append
    blob, recent = out.order_blob, out.recent
    scan = ColumnScan(layout, NAMES, start=start, end=end)
    for n, (at, c) in enumerate(scan):
        rid, status = c[0], c[4]
        try:
            if not full or not status or not c[13]:
                raise ValueError  # no status (column), or embodied computed here: the exact path
            lo_cell, hi_cell = c[14], c[15]
            lo = float(lo_cell) if lo_cell else 0.0
            hi = float(hi_cell) if hi_cell else 0.0
            v = list(map(float, c[6:14]))  # duration ... embodied_emissions (see NAMES)
            total = sum(v) + lo + hi
            v += (lo if lo_cell else _NAN, hi if hi_cell else _NAN)
            if total - total != 0.0:
                raise ValueError  # inf or nan somewhere (or a sum that overflows): the exact path decides
            segments = int(float(c[1])) if c[1] else 0
            tokens = int(float(c[16])) if c[16] else None
            # training's energy only where J/token needs it (a run's other segments: read again, rarely)
            train = _train_kwh(c[17], v[4]) if tokens and tokens > 0 else _NAN
            jpt = train * 3.6e6 / tokens if tokens and tokens > 0 else _NAN
            overlap = float(c[24]) if c[24] and c[25] else 0.0
            if overlap - overlap != 0.0:
                raise ValueError
            v += (jpt, _NAN if tokens is None else float(tokens), train, overlap)
            computed, project, start_key, over = False, c[5], c[3] or c[2], c[25]
        except (ValueError, OverflowError):
            if not (rid or c[6] or c[10] or c[11]):  # history.RUN_FIGURES: run_id, duration, energy, emissions
                out.skipped.append((n, _NOT_A_RUN))
                continue
            try:
                data = EmissionsData.from_row(dict(zip(NAMES, c, strict=True)) if full else _row(present, c))
            except ValueError as exc:
                out.skipped.append((n, str(exc)))
                continue
            v, computed = values_of(data)
            rid, segments, status, project = data.run_id, data.resumed_segments, data.status, data.project_name
            start_key, over = data.start_time or data.timestamp, data.overlaps_run_id
            status = status if full else NO_STATUS
        put_values(v)
        out.embodied_computed.append(computed)
        if not rid:
            out.no_run_id.append(len(out.offsets))
        if over:
            out.overlaps.append((len(out.offsets), over))
        put_offset(at)
        put_hash(hash((rid, segments)))
        put_id(hash(rid))
        if segments:
            out.resumed_ids.append(hash(rid))
        put_status(text_index[status])
        put_project(text_index[project])
        key = f"{start_key}\0{rid}".encode("utf-8", "surrogatepass")
        blob += key
        put_end(len(blob))
        if keep is not None:
            if len(recent) < keep or (recent and key >= recent[0][0]) or v[10] == v[10]:
                _shortlist(out, keep, key, v[10])
            else:
                out.overflowed = True
    out.sorted_hashes = array("q", sorted(out.key_hashes))
    out.rows, out.lines, out.quotes, out.line_notes = scan.rows, scan.lines, scan.quotes, scan.notes
    out.stopped_at = scan.stopped_at
    return out


def _shortlist(out: RunColumns, keep: int, key: bytes, jpt: float) -> None:
    """Offer the last row of ``out`` to its :attr:`~RunColumns.recent` and :attr:`~RunColumns.cheapest` heaps
    (``jpt``: its J/token, ``nan`` for none)."""
    row = len(out.offsets) - 1
    recent, cheapest = out.recent, out.cheapest
    if len(recent) < keep:
        heapq.heappush(recent, (key, row))
    else:
        out.overflowed = True
        if keep and (key, row) > recent[0]:
            heapq.heapreplace(recent, (key, row))
    if jpt != jpt:  # no J/token
        return
    if len(cheapest) < keep:
        heapq.heappush(cheapest, (-jpt, row))
        return
    out.overflowed = True
    if keep and -jpt > cheapest[0][0]:
        heapq.heapreplace(cheapest, (-jpt, row))
    elif keep and -jpt == cheapest[0][0]:
        out.tied = True


def _row(present: list[str], cells: Sequence[str]) -> dict[str, str]:
    """The cells of the columns the file has, by name (a column the file lacks keeps its default)."""
    return {n: cells[NAMES.index(n)] for n in present}


_TORN = (ValueError, KeyError, TypeError, IndexError, EOFError)
"""What reading a worker's rows raises when the worker died or wrote nothing."""
_ARRAYS = ("offsets", "key_hashes", "id_hashes", "sorted_hashes", "flat", "statuses", "projects", "order_ends")
_BYTES = ("embodied_computed", "order_blob")


def write_columns(cols: RunColumns, fh: BinaryIO) -> None:
    """``cols`` onto ``fh`` (the worker's pipe): a JSON header (sizes, strings, notes, shortlists), then the
    arrays' raw bytes (same machine, same byte order), written from the arrays themselves (no copy). Only data:
    reading it back (:func:`read_columns`) runs no code."""
    arrays = [getattr(cols, name) for name in _ARRAYS]
    blobs = [getattr(cols, name) for name in _BYTES]
    head = {
        "sizes": [len(a) * a.itemsize for a in arrays] + [len(b) for b in blobs],
        "texts": cols.texts,
        "no_run_id": cols.no_run_id,
        "overlaps": cols.overlaps,
        "resumed_ids": cols.resumed_ids,
        "skipped": cols.skipped,
        "line_notes": cols.line_notes,
        "recent": [[key.hex(), row] for key, row in cols.recent],
        "cheapest": cols.cheapest,
        "flags": [cols.overflowed, cols.tied],
        "counts": [cols.rows, cols.lines, cols.quotes, cols.stopped_at],
    }
    header = json.dumps(head, allow_nan=False).encode("utf-8")
    fh.write(len(header).to_bytes(8, "little") + header)
    for arr in arrays:
        arr.tofile(fh)
    for blob in blobs:
        fh.write(memoryview(blob))


def read_columns(fh: BinaryIO) -> RunColumns:
    """The :class:`RunColumns` :func:`write_columns` wrote, read from ``fh`` straight into the arrays (no
    copy of the whole in memory); ``ValueError`` (or ``EOFError``) for anything else, such as a torn pipe."""
    size = int.from_bytes(fh.read(8), "little")
    head = json.loads(fh.read(size).decode("utf-8"))
    cols = RunColumns()
    sizes = head["sizes"]
    if len(sizes) != len(_ARRAYS) + len(_BYTES):
        raise ValueError("not a worker's rows")
    for name, n in zip(_ARRAYS + _BYTES, sizes, strict=True):
        target = getattr(cols, name)
        if name in _BYTES:
            chunk = fh.read(n)
            if len(chunk) != n:
                raise ValueError("truncated")
            target += chunk
        else:
            target.fromfile(fh, n // target.itemsize)
    if fh.read(1):
        raise ValueError("trailing bytes")
    cols.texts = [str(t) for t in head["texts"]]
    cols.no_run_id = [int(i) for i in head["no_run_id"]]
    cols.overlaps = [(int(n), str(rid)) for n, rid in head["overlaps"]]
    cols.resumed_ids = [int(h) for h in head["resumed_ids"]]
    cols.skipped = [(int(n), str(why)) for n, why in head["skipped"]]
    cols.line_notes = [(int(n), str(why)) for n, why in head["line_notes"]]
    cols.recent = [(bytes.fromhex(key), int(row)) for key, row in head["recent"]]
    cols.cheapest = [(float(j), int(row)) for j, row in head["cheapest"]]
    cols.overflowed, cols.tied = bool(head["flags"][0]), bool(head["flags"][1])
    cols.rows, cols.lines, cols.quotes, cols.stopped_at = (int(v) for v in head["counts"])
    return cols


def _split_point(layout: TableLayout) -> int | None:
    """The byte just after the first ``\\n`` at or after the middle of the rows, or ``None``."""
    mid = layout.data_start + (layout.size - layout.data_start) // 2
    with open(layout.path, "rb") as fh:
        fh.seek(mid)
        pos = mid
        while chunk := fh.read(1 << 16):
            i = chunk.find(b"\n")
            if i >= 0:
                split = pos + i + 1
                return split if split < layout.size else None
            pos += len(chunk)
    return None


def scan_table(
    layout: TableLayout,
    *,
    parallel: bool = True,
    keep: int | None = None,
    min_bytes: int = PARALLEL_MIN_BYTES,
    fork: Callable[[], int] | None = _FORK,
    threads: Callable[[], int] = threading.active_count,
) -> list[RunColumns]:
    """The file's rows, as one :class:`RunColumns` per byte range read, in file order (see the module's
    docstring for when two processes read it); ``keep``: see :func:`extract`. ``min_bytes``: the smallest file
    split between two processes; ``fork``: how to start the worker (``os.fork``; ``None`` where there is none);
    ``threads``: how many threads this process runs (more than one: no fork)."""
    split = _split_point(layout) if parallel and layout.size >= min_bytes else None
    if split is None or fork is None or threads() > 1:
        return [extract(layout, keep=keep)]  # (forking a process that runs threads risks a lock held forever)
    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        return [extract(layout, keep=keep)]
    try:
        pid = fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return [extract(layout, keep=keep)]
    if pid == 0:  # pragma: no cover - the worker (coverage does not follow a fork)
        code = 1
        try:
            os.close(read_fd)
            with os.fdopen(write_fd, "wb") as out:
                write_columns(extract(layout, split, keep=keep), out)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    pipe = os.fdopen(read_fd, "rb")
    status = 1
    try:
        first = extract(layout, layout.data_start, split, keep=keep)
        try:
            second: RunColumns | None = read_columns(pipe)
        except _TORN:  # a worker that died: its half is read here
            second = None
    finally:
        pipe.close()  # on an error above, the worker's next write fails and it exits
        _, status = os.waitpid(pid, 0)
    if (layout.header_quotes + first.quotes) % 2 or first.stopped_at != split:
        # the split fell inside a quoted cell, or inside a row: the halves are not two sets of rows
        return [extract(layout, keep=keep)]
    if second is None or status != 0:
        second = extract(layout, split, keep=keep)
    return [first, second]
