"""Every run under some paths, in bounded memory: what ``wattwatch report`` totals, lists and ranks.

:class:`Rollup` reads each emissions file once (:func:`wattwatch.report.scan.scan_table`: a column-selective
pass, two processes for a large file), then the journals of runs not yet in a file and the part files of
distributed runs, exactly as :func:`wattwatch.report.history.collect_runs` does -- the same runs, the same
winner when a segment is found twice -- but keeps per row only a few numbers and where the row is (file, byte
offset), never the row itself. Rows are hashed on ``(run_id, resumed_segments)``; when a hash is seen again, the
rows are re-read from their files (rare: copies, CodeCarbon's columns beside ``emissions.wattwatch.csv``, a
journal and its row, two retries from one checkpoint) and settled exactly as ``collect_runs`` settles them
(:class:`~wattwatch.report.segments.SegmentWinners`: a segment is ``(run_id, resumed_segments, start_time)``; the
fuller row, then the latest ``timestamp``, wins, a later one on a tie). The hash leaves out ``start_time`` on
purpose: a row in CodeCarbon's columns has none and must still meet the full row it copies. Totals are :func:`math.fsum` sums (exactly rounded, whatever the
order). The runs shown are re-read in full (:meth:`Rollup.recent`, :meth:`Rollup.ranking`).

Memory: about 200 bytes per row read (measured: 70.7 MiB peak at 200,000 rows, interpreter included), plus
the runs shown.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wattwatch.report.groups import RunGroups
from wattwatch.report.history import ReportRun, find_files, journal_folders, runs_from_parts
from wattwatch.report.rollup_lists import RunLists, counted_values
from wattwatch.report.scan import NAMES, PARALLEL_MIN_BYTES, VALUES, RunColumns, scan_table, values_of
from wattwatch.report.segments import SegmentWinners, combine_segments, segment_order, segments_training_kwh
from wattwatch.result import EmissionsData
from wattwatch.sinks.emissions_reader import TableLayout, read_row_at, table_layout

__all__ = ["Rollup", "collect_rollup", "hash_twice"]

_REQUIRED = {"run_id", "energy_consumed", "emissions"}
_KEY_NAMES = ("run_id", "resumed_segments", "timestamp", "status", "start_time")


class Rollup:
    """The runs of some files, journals and part files (see the module's docstring). Add sources in
    ``collect_runs``'s order (:func:`collect_rollup` does), then :meth:`keep_project` if wanted, then read.

    Rows are numbered in the order read; they live in the :class:`RunColumns` of the byte range they came
    from (never copied into one table: that would double the peak memory)."""

    def __init__(
        self,
        *,
        parallel: bool = True,
        keep: int | None = None,
        min_parallel_bytes: int = PARALLEL_MIN_BYTES,
        threads: Callable[[], int] = threading.active_count,
    ) -> None:
        self.parallel = parallel
        self.threads = threads
        """How many threads this process runs (:func:`~wattwatch.report.scan.scan_table` forks only when one)."""
        self.min_parallel_bytes = min_parallel_bytes
        """Files this large or larger are split between two processes (when ``parallel``)."""
        self.keep = keep
        """How many runs :meth:`recent` and :meth:`ranking` will be asked for (``None``: any number): the
        readers then note their candidates as they go, and only those are sorted."""
        self.layouts: list[TableLayout] = []
        self.memory: list[tuple[EmissionsData, Path]] = []
        self.parts: list[RunColumns] = []
        """The byte ranges read (two for a file a worker process helped read), journals' runs (one row each)."""
        self.bases: list[int] = []
        """Number of the first row of each part."""
        self.sources: list[int] = []
        """Per part: index in :attr:`layouts`, or ``-1 - i`` for ``memory[i]`` (a journal, a part file)."""
        self.alive = bytearray()
        """1 for the row that counts for its run, 0 for a row another row of the same run won over."""
        self.notes: list[str] = []
        self._finished = True
        self._groups: RunGroups | None = None

    # ------------------------------------------------------------------------------------------ reading

    def add_file(self, path: Path) -> None:
        """Every row of an emissions file (a file without the required columns, or a per-node breakdown, is
        passed over, as ``collect_runs`` does). ``OSError`` when it cannot be read."""
        layout = table_layout(path)
        if layout is None or not _REQUIRED <= set(layout.header) or "run_node" in layout.header:
            return
        chunks = scan_table(
            layout, parallel=self.parallel, keep=self.keep, min_bytes=self.min_parallel_bytes, threads=self.threads
        )
        index = len(self.layouts)
        self.layouts.append(layout)
        rows_before = lines_before = 0
        for chunk in chunks:
            self._add(chunk, index)
            self.notes += [f"skipped {path} line {rows_before + n + 2}: {why}" for n, why in chunk.skipped]
            self.notes += [
                f"{path} line {lines_before + n + 1}: skipped ({why})" for n, why in chunk.line_notes
            ]
            rows_before += chunk.rows
            lines_before += chunk.lines

    def add_data(self, data: EmissionsData, where: Path) -> None:
        """A run not read from a file (a journal, combined part files): it counts as a full row."""
        values, computed = values_of(data)
        one = RunColumns()
        one.flat.extend(values)
        one.embodied_computed.append(computed)
        one.offsets.append(0)
        one.key_hashes.append(hash((data.run_id, data.resumed_segments)))
        one.id_hashes.append(hash(data.run_id))
        one.sorted_hashes.extend(one.key_hashes)
        if data.resumed_segments:
            one.resumed_ids.append(hash(data.run_id))
        if data.overlaps_run_id:
            one.overlaps.append((0, data.overlaps_run_id))
        one.texts += [data.status, data.project_name]
        one.statuses.append(0)
        one.projects.append(1)
        one.add_order_key(data.start_time or data.timestamp, data.run_id)
        if not data.run_id:
            one.no_run_id.append(0)
        self.memory.append((data, where))
        self._add(one, -len(self.memory))

    def _add(self, chunk: RunColumns, source: int) -> None:
        self._finished = False
        self.bases.append(len(self.alive))
        self.parts.append(chunk)
        self.sources.append(source)
        self.alive += b"\x01" * len(chunk)

    def run_ids(self) -> set[str]:
        """The run ids of every row read (winners or not)."""
        return {
            part.order_key(i).rpartition(b"\0")[2].decode("utf-8", "surrogatepass")
            for part in self.parts
            for i in range(len(part))
        }

    def project_counts(self) -> Counter[str]:
        """How many runs each project has (among the runs that count)."""
        self.finish()
        counts: Counter[str] = Counter()
        for base, part in zip(self.bases, self.parts, strict=True):
            for i, p in enumerate(part.projects, start=base):
                if self.alive[i]:
                    counts[part.texts[p]] += 1
        return counts

    def keep_project(self, project: str) -> None:
        """Only the runs of ``project`` count from now on (the row that won for its run decides)."""
        self.finish()
        self._groups = None
        for base, part in zip(self.bases, self.parts, strict=True):
            wanted = part.texts.index(project) if project in part.texts else -1
            for i, p in enumerate(part.projects, start=base):
                if p != wanted:
                    self.alive[i] = 0

    def locate(self, i: int) -> tuple[RunColumns, int, int]:
        """Row ``i``'s part, its number in that part, and its source (see :attr:`sources`)."""
        k = bisect.bisect_right(self.bases, i) - 1
        return self.parts[k], i - self.bases[k], self.sources[k]

    # ---------------------------------------------------------------------------------------- duplicates

    def finish(self) -> None:
        """Settle which row counts for each run seen more than once (done before any figure is read)."""
        if self._finished:
            return
        self._finished = True
        self._groups = None
        self.alive[:] = b"\x01" * len(self.alive)
        if not hash_twice(self.parts, len(self.alive)):
            return  # no key hash twice: no run read twice (the usual case)
        seen: set[int] = set()
        shared: set[int] = set()
        for h in itertools.chain.from_iterable(p.key_hashes for p in self.parts):
            if h in seen:
                shared.add(h)
            seen.add(h)
        del seen
        found: SegmentWinners[int] = SegmentWinners()
        for base, part in zip(self.bases, self.parts, strict=True):
            lone = set(part.no_run_id)
            for n, h in enumerate(part.key_hashes):
                if h not in shared or n in lone:
                    continue
                i = base + n
                data, src = self.key_data(i), self.locate(i)[2]
                full = src < 0 or "status" in self.layouts[src].header
                found.add(i, data.run_id, data.resumed_segments, data.start_time, (full, data.timestamp))
                self.alive[i] = 0
        for i in found.winners():
            self.alive[i] = 1

    # ---------------------------------------------------------------------------------------------- views

    def _alive_of(self, k: int) -> bytearray:
        base = self.bases[k]
        return self.alive[base : base + len(self.parts[k])]

    alive_of = _alive_of

    @property
    def groups(self) -> RunGroups:
        """The counted rows' segments and overlaps (:mod:`wattwatch.report.groups`)."""
        self.finish()
        if self._groups is None:
            self._groups = RunGroups.build(self)
        return self._groups

    @property
    def count(self) -> int:
        """Runs that count (a resumed run's segments: one run)."""
        self.finish()
        return self.alive.count(1) - len(self.groups.member_of)

    def segment_key(self, i: int) -> tuple[int, str, str]:
        """Row ``i``'s place among its run's segments (:func:`~wattwatch.report.segments.segment_order`), read
        again."""
        return segment_order(self.key_data(i))

    def key_data(self, i: int) -> EmissionsData:
        """Row ``i``'s key columns (:data:`_KEY_NAMES`), read again (a journal's: its data)."""
        part, n, src = self.locate(i)
        if src < 0:
            return self.memory[-1 - src][0]
        row = read_row_at(self.layouts[src], part.offsets[n])
        return EmissionsData.from_row({k: row[k] for k in _KEY_NAMES if k in row})

    def row_value(self, i: int, name: str) -> float:
        """One of :data:`VALUES` of row ``i`` alone."""
        return (loc := self.locate(i))[0].value(name, loc[1])

    def value(self, name: str, i: int) -> float:
        """One of :data:`VALUES` of the run whose row ``i`` stands for it (its segments together)."""
        return self.groups.value(self, name, i)

    def totals(self) -> dict[str, Any]:
        """The same dict as :func:`wattwatch.report.history.totals`, over every run that counts."""
        self.finish()
        groups = self.groups
        status: dict[str, int] = {}
        for k, part in enumerate(self.parts):
            for s, n in Counter(itertools.compress(part.statuses, self._alive_of(k))).items():
                status[part.texts[s]] = status.get(part.texts[s], 0) + n
        for i in groups.member_of:  # a run's earlier segments: its status is its last one's
            part, n, _ = self.locate(i)
            status[part.texts[part.statuses[n]]] -= 1
        out: dict[str, Any] = {"runs": self.count, "by_status": {k: v for k, v in status.items() if v}}
        for name in VALUES[:8]:
            out[name] = math.fsum(counted_values(self, name))
        for name in ("energy_low_kwh", "energy_high_kwh"):
            band = math.fsum(counted_values(self, name))  # nan when a run has no band
            out[name] = None if math.isnan(band) else band
        out["overlap_kwh"] = groups.take_off_overlaps(self, out)
        energy, kg = out["energy_kwh"], out["emissions_kg"]
        out["intensity_g_per_kwh"] = kg * 1000.0 / energy if energy > 0 else None
        return out

    @property
    def embodied_computed(self) -> int:
        """Runs that count whose embodied CO2 was computed at report time."""
        self.finish()
        return sum(
            sum(itertools.compress(p.embodied_computed, self._alive_of(k))) for k, p in enumerate(self.parts)
        )

    def run(self, i: int) -> ReportRun:
        """The run row ``i`` stands for, read again, whole: its segments combined when it has several
        (:func:`wattwatch.report.segments.combine_segments`)."""
        rows = self.groups.members.get(i)
        if rows is not None:
            head = self.row(i)
            datas = [self.row(r).data for r in rows]
            return ReportRun(combine_segments(datas), head.path, len(rows), segments_training_kwh(datas))
        return self.row(i)

    def row(self, i: int) -> ReportRun:
        """Row ``i`` read again, whole (only its columns the report reads when another cell is damaged)."""
        part, n, src = self.locate(i)
        if src < 0:
            data, where = self.memory[-1 - src]
            return ReportRun(data, where)
        layout = self.layouts[src]
        row = read_row_at(layout, part.offsets[n])
        try:
            data = EmissionsData.from_row(row)
        except ValueError:
            data = EmissionsData.from_row({k: row[k] for k in NAMES if k in row})
        return ReportRun(data, layout.path)

    # ------------------------------------------------------------------------------------- runs listed
    def recent_rows(self, limit: int | None) -> list[int]:
        """The rows of the ``limit`` most recent runs (all with ``None``), oldest first: ``collect_runs``'s
        order (:mod:`wattwatch.report.rollup_lists`)."""
        return RunLists(self).recent_rows(limit)

    def recent(self, limit: int | None) -> list[ReportRun]:
        """The runs of :meth:`recent_rows`, read again in full."""
        return RunLists(self).recent(limit)

    def ranking_rows(self, limit: int | None) -> tuple[list[int], int]:
        """The rows of the ``limit`` runs with the lowest J/token, lowest first, and how many recorded tokens."""
        return RunLists(self).ranking_rows(limit)

    def ranking(self, limit: int | None) -> tuple[list[tuple[ReportRun, float]], int]:
        """The runs of :meth:`ranking_rows`, read again in full, with their J/token."""
        return RunLists(self).ranking(limit)


def hash_twice(parts: list[RunColumns], rows: int) -> bool:
    """Whether some key hash is in two rows of ``parts`` (``rows`` in all). For a few parts (a large file read in
    two halves), from their sorted hashes, without a set of every hash (that would be the peak of the whole
    report's memory)."""
    if len(parts) > 4:
        seen: set[int] = set()
        for part in parts:
            seen.update(part.key_hashes)
        return len(seen) != rows
    for part in parts:
        ordered = part.sorted_hashes
        if any(map(operator.eq, ordered, itertools.islice(ordered, 1, None))):
            return True
    for a, b in itertools.combinations(parts, 2):
        small, large = sorted((a.sorted_hashes, b.sorted_hashes), key=len)
        end = len(large)
        for h in small:
            j = bisect.bisect_left(large, h)
            if j < end and large[j] == h:
                return True
    return False


def collect_rollup(
    paths: list[str],
    *,
    parallel: bool = True,
    keep: int | None = None,
    min_parallel_bytes: int = PARALLEL_MIN_BYTES,
    threads: Callable[[], int] = threading.active_count,
) -> Rollup:
    """The :class:`Rollup` of ``paths``: folders opened as ``collect_runs`` opens them (stale journals
    finalized first), then every file, the journals of runs not in a file, distributed runs' part files."""
    from wattwatch.sinks.journal import finalize_stale, read_journals

    rollup = Rollup(parallel=parallel, keep=keep, min_parallel_bytes=min_parallel_bytes, threads=threads)
    folders = journal_folders(paths)
    for folder in folders:
        finalize_stale(folder)
    for f in find_files(paths):
        try:
            rollup.add_file(f)
        except OSError as exc:
            rollup.notes.append(f"skipped {f}: {exc}")
    for folder in folders:
        entries, skipped = read_journals(folder)
        rollup.notes.extend(skipped)
        for entry in entries:
            try:
                rollup.add_data(EmissionsData.from_row(entry.row), entry.path)
            except ValueError as exc:
                rollup.notes.append(f"skipped journal {entry.path}: {exc}")
    known: set[str] | None = None
    for raw in paths:
        for data, where in runs_from_parts(Path(raw)):
            known = rollup.run_ids() if known is None else known
            if data.run_id and data.run_id not in known:
                rollup.add_data(data, where)
                known.add(data.run_id)
    return rollup
