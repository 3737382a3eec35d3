"""Per-sample power time series, streamed to ``<run_id>.timeseries.csv`` (O(1) memory in run length).

One row per sampler tick: ``timestamp`` (ISO-8601 UTC), ``elapsed_s`` (monotonic seconds since the run's first
reading), ``phase``, then one ``<channel>_w`` column per channel (mean power over the interval that ended at this
tick, W; empty while a channel is in a gap), then ``energy_kwh`` and ``emissions_kg`` so far (PUE applied).
Rows are kept as numbers in a small in-memory buffer that :meth:`TimeseriesWriter.flush` formats and appends to
the file in one ``write`` (the tracker flushes with every periodic rewrite of the run's row, every ``flush_every_s``, so a
``kill -9`` loses no more of the series than of the row, and a 1 Hz series costs no system call per row). The
buffer is pushed on its own every :data:`MAX_PENDING_ROWS` rows (O(1) memory whatever the flush period), and a
failed write drops the rows it held (one warning from the tracker) rather than keep them. The header is written
once. A file deleted under the writer (its folder removed mid-run) is recreated at the next push instead of
feeding an unlinked inode.

The tracker reads the host models (CPU, RAM) every 10 s, at every flush and at every phase change, not every tick
(see :data:`wattwatch.measure.sampler.SLOW_INTERVAL_S`): at a row between two of their reads, their energy is
the point on the line between those reads and their column the mean power over that interval
(:mod:`wattwatch.run.series_rows`), so every row has its own time and energy on every host. A phase change
takes a row at its edge (the old phase's last moment), so phase bands drawn from the rows start and end where
the phases did. ``energy_kwh`` at the last row is the run's row's ``energy_consumed``.

:func:`read_timeseries` is the one reader of the format (``wattwatch plot`` uses it).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import IO

from wattwatch.sinks.cells import bound_text, clean_text, csv_line, sanitize_cell
from wattwatch.sinks.files import open_or_create, open_regular
from wattwatch.sinks.lines import BoundedLines, RowTooLong
from wattwatch.util.records import record
from wattwatch.util.times import utc_iso_ms

__all__ = [
    "MAX_PENDING_ROWS",
    "SEGMENT_MARK",
    "TIMESERIES_SUFFIX",
    "Series",
    "TimeseriesWriter",
    "read_timeseries",
    "timeseries_path",
]

TIMESERIES_SUFFIX = ".timeseries.csv"
MAX_PENDING_ROWS = 64
"""Rows kept in memory before they are appended to the file without waiting for a flush."""
SEGMENT_MARK = "\n#segment\n"
"""Written before the rows of a resumed run's next process segment (issue 24: a short segment's rows could have a
later ``elapsed_s`` than the previous one's last, and the reader did not see the resume). The newline before
it ends a row a killed writer cut short; readers that do not know it skip it (a row with missing cells)."""


def timeseries_path(output_dir: str | os.PathLike[str], run_id: str) -> Path:
    """Where the time series of run ``run_id`` lives: ``<run_id>.timeseries.csv`` in ``output_dir``, the run id
    as a safe slug (:func:`wattwatch.util.names.safe_name`: a UUID is unchanged, ``../x`` never leaves the
    folder)."""
    from wattwatch.util.names import safe_name

    return Path(output_dir) / f"{safe_name(run_id)}{TIMESERIES_SUFFIX}"


class TimeseriesWriter:
    """Appends one row per call to :meth:`write`, to the file at each :meth:`flush` (and every
    :data:`MAX_PENDING_ROWS` rows). Errors are the caller's to catch (the tracker logs them once)."""

    def __init__(self, path: str | os.PathLike[str], channels: Sequence[str]) -> None:
        self.path = Path(path)
        self.channels = list(channels)
        self.header = ["timestamp", "elapsed_s", "phase"] + [f"{c}_w" for c in self.channels] + [
            "energy_kwh",
            "emissions_kg",
        ]
        self._fh: IO[str] | None = None
        self._pending: list[tuple[float, float, str, Sequence[float | None], float, float]] = []
        self._opened = False
        """This writer opened the file before (a reopening after a deletion is not a new segment)."""
        self._phase: tuple[str | None, str] = (None, "")
        """The last phase written and its cell (sanitised and quoted: phases are user text)."""
        self.rows = 0

    def _open(self) -> None:
        """Open the file for appending, or create it: never through a link (one planted under the series' name
        would send the rows elsewhere) and never on a FIFO (:class:`~wattwatch.sinks.files.UnsafeFileError`,
        an ``OSError``, instead)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, _ = open_or_create(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            new = os.fstat(fd).st_size == 0
            self._fh = open(fd, "a", newline="", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except BaseException:
            os.close(fd)
            raise
        if new:
            self._fh.write(_csv_line(self.header))
        elif not self._opened:  # another process segment of the run appends here: say where it begins
            self._fh.write(SEGMENT_MARK)
        self._opened = True

    def write(
        self,
        wall: float,
        elapsed_s: float,
        phase: str,
        powers_w: Mapping[str, float | None] | Sequence[float | None],
        energy_kwh: float,
        emissions_kg: float,
    ) -> None:
        """Add one row; ``wall`` is unix time (s); ``powers_w`` by channel name, or in :attr:`channels` order.
        The row is kept as numbers and formatted at the next push, with the others: formatting ten rows in a
        row costs little more than one alone after a second of sleep (cold caches)."""
        if isinstance(powers_w, Mapping):
            powers_w = [powers_w.get(c) for c in self.channels]
        self._pending.append((wall, elapsed_s, phase, powers_w, energy_kwh, emissions_kg))
        self.rows += 1
        if len(self._pending) >= MAX_PENDING_ROWS:
            self.flush()

    def flush(self) -> None:
        """Append the rows written since the last flush to the file (in one ``write``) and push them to the
        kernel. On an ``OSError`` those rows are dropped (the error propagates)."""
        rows, self._pending = self._pending, []
        if not rows:
            return
        if self._fh is not None and os.fstat(self._fh.fileno()).st_nlink == 0:
            self.close()  # deleted under us: start a new file rather than write into the void
        if self._fh is None:
            self._open()
        assert self._fh is not None
        self._fh.write("".join([self._line(*row) for row in rows]))
        self._fh.flush()

    def _line(
        self,
        wall: float,
        elapsed_s: float,
        phase: str,
        powers_w: Sequence[float | None],
        energy_kwh: float,
        emissions_kg: float,
    ) -> str:
        known, cell = self._phase
        if phase != known:
            # phases are user text: valid UTF-8, inert, bounded (4096 characters), quoted as csv does
            cell = _csv_line([bound_text(sanitize_cell(clean_text(phase)))])[:-1]
            self._phase = (phase, cell)
        stamp = utc_iso_ms(wall)
        watts = ["" if p is None else f"{p:.3f}" for p in powers_w]
        return ",".join([stamp, f"{elapsed_s:.3f}", cell, *watts, f"{energy_kwh:.9g}", f"{emissions_kg:.9g}"]) + "\n"

    def close(self) -> None:
        """Flush the rows still in memory and close the file (closed even when the flush fails)."""
        try:
            self.flush()
        finally:
            if self._fh is not None:
                try:
                    self._fh.close()
                finally:
                    self._fh = None


def _csv_line(cells: Sequence[str]) -> str:
    """``cells`` as one CSV line (:func:`wattwatch.sinks.cells.csv_line`: a cell with any separator quoted),
    newline included."""
    return csv_line(cells)


MAX_SERIES_LINE_BYTES = 1 << 20
"""Longest line of a time series read (1 MiB; a row is under 1 KB even with many GPUs): longer ones are skipped,
so a hostile file cannot make a report or a plot hold gigabytes."""


def _csv_rows(source: BoundedLines) -> Iterator[list[str]]:
    """The rows of ``source`` as lists of cells; a row longer than its bound (or one the ``csv`` module
    refuses) is left out and reading goes on from the next line."""
    reader = csv.reader(source.lines())
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except (RowTooLong, csv.Error):
            source.row_done()
            reader = csv.reader(source.lines())
            continue
        source.row_done()
        yield cells


@record
class Series:
    """A run's time series: seconds since start, phase, watts per channel (``None`` in a gap), kWh and kg CO2eq
    so far."""

    elapsed_s: list[float] = field(default_factory=list)
    phase: list[str] = field(default_factory=list)
    power_w: dict[str, list[float | None]] = field(default_factory=dict)
    energy_kwh: list[float] = field(default_factory=list)
    emissions_kg: list[float] = field(default_factory=list)
    segment_starts: list[float] = field(default_factory=list)
    """Seconds (on the joined time axis) at which a resumed process segment begins; empty for one segment."""

    def phase_spans(self) -> list[tuple[str, float, float]]:
        """Contiguous ``(phase, start_s, end_s)`` stretches."""
        spans: list[tuple[str, float, float]] = []
        for i, (t, p) in enumerate(zip(self.elapsed_s, self.phase, strict=True)):
            start = self.elapsed_s[i - 1] if i else t
            if spans and spans[-1][0] == p:
                spans[-1] = (p, spans[-1][1], t)
            else:
                spans.append((p, start, t))
        return spans


def read_timeseries(path: str | os.PathLike[str]) -> Series:
    """Parse a file written by :class:`TimeseriesWriter` (rows cut short by a crash are skipped). Raises
    ``ValueError`` for a file that is not a wattwatch time series or has no samples yet.

    A run resumed from a checkpoint in another process appends its own segment to the same file: its
    ``elapsed_s`` starts again near 0 and its energy and CO2 count from 0 (each segment counts only its own
    energy); the writer marks where it begins (:data:`SEGMENT_MARK`; files from before: where time goes back).
    Segments are joined end to end: a later segment's seconds, kWh and kg are offset by where the previous one
    ended, so time and the cumulative figures never go backwards, the last elapsed time is the
    tracked time of every segment together, and :attr:`Series.segment_starts` says where each resume is."""
    s = Series()
    t_off = e_off = g_off = 0.0
    last_t = 0.0
    with os.fdopen(open_regular(Path(path), os.O_RDONLY, follow=True), "rb") as raw:
        rows = _csv_rows(BoundedLines(raw, max_row_bytes=MAX_SERIES_LINE_BYTES))
        fieldnames = next(rows, [])
        channels = [c[:-2] for c in fieldnames if c.endswith("_w")]
        if "elapsed_s" not in fieldnames:
            raise ValueError(f"{path} is not a wattwatch time series (no elapsed_s column)")
        s.power_w = {c: [] for c in channels}
        width = len(fieldnames)
        resumed = False
        for cells in rows:
            row = dict(zip(fieldnames, cells, strict=False))
            if str(row.get("timestamp") or "").startswith("#segment"):
                resumed = bool(s.elapsed_s)  # the next row begins a new process segment
                continue
            if len(cells) < width:
                continue  # cut short (the writer was killed mid-row), or a blank line
            try:
                elapsed = float(row["elapsed_s"])
                energy = float(row.get("energy_kwh") or 0.0)
                grams = float(row.get("emissions_kg") or 0.0)
                powers = {c: float(row[f"{c}_w"]) if row.get(f"{c}_w") else None for c in channels}
            except (KeyError, ValueError):
                continue  # a damaged row: skipped whole, so every list stays aligned
            if s.elapsed_s and (resumed or elapsed < last_t):  # a new process segment of a resumed run
                t_off, e_off, g_off = s.elapsed_s[-1], s.energy_kwh[-1], s.emissions_kg[-1]
                s.segment_starts.append(t_off)
            resumed = False
            last_t = elapsed
            s.elapsed_s.append(elapsed + t_off)
            s.energy_kwh.append(energy + e_off)
            s.emissions_kg.append(grams + g_off)
            s.phase.append(row.get("phase") or "")
            for c, w in powers.items():
                s.power_w[c].append(w)
    if not s.elapsed_s:
        raise ValueError(f"{path} has no samples yet")
    return s
