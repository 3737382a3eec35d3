"""The live state of a running run: a small journal, ``<output_dir>/.wattwatch/runs/<run_id>.<token>.json``.

Why a journal
  ``emissions.csv`` only ever gets rows appended (:mod:`wattwatch.sinks.emissions_file`), once per run, when
  the run ends. Until then the run's numbers live here: the journal is written at ``start()`` and at every
  flush (a few KB, whatever the CSV's history), so a ``kill -9`` loses at most one flush period.

Format
  JSON lines: each flush *appends* the run's current state as one line (one ``write`` on a descriptor kept
  open), and a reader takes the last line that is a whole journal record -- a write cut short can only be the
  last line, and the one before it stands. Appending costs about 30 us of CPU where replacing the file (a
  temporary file, then a rename) cost about 1 ms: on ext4 a rename over an existing file starts the new file's
  block allocation and write-back at once (``auto_da_alloc``), in the flushing thread. When the file passes
  :data:`COMPACT_BYTES` it is replaced atomically by its last record (about one flush in twenty), so it stays
  small. A journal from before (one JSON document) is one line of this format. It names its owner process
  (pid, host, boot id and the process's start time, so a pid reused after a reboot or a wrap-around is not
  taken for the owner).

Who turns it into a row
  - the owner, at ``stop()`` (:meth:`RunJournal.finish`): under the CSV's lock it records in the journal where
    the row is about to go (offset, length, digest), appends the row and ``fsync``s it, then deletes the
    journal. The record is not ``fsync``ed (issue 25: ``stop()`` waits for one ``fsync``, the row's): a killed
    process leaves it in the page cache for whoever finalises the journal, and after a power loss that lost it
    while the row reached the disk, the finaliser finds the row by its segment (run id, ``resumed_segments``,
    ``start_time``) after the CSV's size when the run started, which every record of the journal carries
    (:func:`wattwatch.sinks.emissions_reader.holds_segment`; only for an owner of another boot or host: this
    kernel never loses what a killed process wrote);
  - when the owner is gone (``kill -9``, out of memory, a lost node) or its final append failed (disk full):
    whoever next opens the folder -- a tracker's ``start()``, ``wattwatch report``, ``wattwatch merge`` --
    calls :func:`finalize_stale`, which appends the journal's row as it was -- the figures and duration of its
    last flush -- with a killed run's ``running`` made ``interrupted`` (:data:`ENDED_UNSEEN_STATUS`: it is no
    longer going), and deletes it. Under the lock, and with the recorded offset checked (else the CSV searched
    for the segment's row), a journal becomes a row exactly once, however many openers race.

A journal whose owner runs on another host cannot be checked; it is finalised once it has not been rewritten
for ``foreign_stale_s`` (default :data:`DEFAULT_FOREIGN_STALE_S`).

The file format and its reader (journals are outside data: checked field by field, never read through a link)
are :mod:`wattwatch.sinks.journal_file`; its names are re-exported here.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from wattwatch.sinks.cells import bound_row
from wattwatch.sinks.emissions_file import PendingAppend, WriteOutcome, append_row, was_appended
from wattwatch.sinks.files import (
    OS_FILE_OPS,
    FileOps,
    atomic_write_text,
    locked,
    private_folder,
    remove_dead_temp_files,
    write_all,
)
from wattwatch.sinks.journal_file import (
    JOURNAL_DIR,
    MAX_JOURNAL_BYTES,
    JournalEntry,
    journal_dir,
    journal_folder,
    journal_path,
    read_journal,
    read_journals,
)
from wattwatch.sinks.owner import ProcessIdentity, process_state
from wattwatch.util.records import record

__all__ = [
    "COMPACT_BYTES",
    "DEFAULT_FOREIGN_STALE_S",
    "ENDED_UNSEEN_STATUS",
    "JOURNAL_DIR",
    "JournalEntry",
    "MAX_JOURNAL_BYTES",
    "ProcessIdentity",
    "RunJournal",
    "SaveOutcome",
    "finalize_stale",
    "journal_dir",
    "journal_path",
    "process_state",
    "read_journal",
    "read_journals",
]

log = logging.getLogger("wattwatch")

DEFAULT_FOREIGN_STALE_S = 6 * 3600.0
"""Seconds without a rewrite after which another host's journal is taken for a dead run's (6 h)."""
_ENDED: set[Path] = set()
"""Journals of runs that ended in this process (their owner is alive, but will not write them again)."""


COMPACT_BYTES = 256 * 1024
"""A journal larger than this is replaced by its last record at the next flush (bytes)."""


def _record(entry: JournalEntry) -> str:
    """``entry`` as one line of the journal (JSON, newline-terminated; ``\\n`` inside strings is escaped)."""
    return json.dumps(entry.to_dict(), separators=(",", ":")) + "\n"


def _write(entry: JournalEntry, *, durable: bool, ops: FileOps) -> None:
    """Replace the journal atomically by ``entry`` alone (its first write, a compaction, the final record); its
    folder is made when missing (removed under us) and refused when a link was planted in its place
    (:class:`~wattwatch.sinks.files.UnsafeFileError`, an ``OSError``)."""
    private_folder(entry.path.parent, len(JOURNAL_DIR.parts))
    atomic_write_text(entry.path, _record(entry), durable=durable, ops=ops)


@record
class SaveOutcome:
    """Where a run's final numbers ended up. ``saved_in``: the CSV file holding the final row (``None`` when
    the append failed); ``journal``: the journal still holding them when they are in no CSV (``None`` when that
    write failed too: then they exist only in memory)."""

    run_id: str
    csv_path: Path
    saved_in: Path | None
    journal: Path | None = None
    error: str = ""
    stale_journal: Path | None = None
    """The journal as of the run's last flush, when the final one could not be written either (the next opener
    adds that older state, status ``running``)."""

    @property
    def saved(self) -> bool:
        return self.saved_in is not None

    def warning(self) -> str:
        """One line for the user when the row is in no CSV (``""`` when it is)."""
        if self.saved:
            return ""
        if self.journal is not None:
            return (
                f"wattwatch: could not write the final row of run {self.run_id} to {self.csv_path} "
                f"({self.error}); its numbers are kept in {self.journal} and will be added to "
                f"{self.csv_path.name} by the next wattwatch start, report or merge in that folder"
            )
        older = (
            f" ({self.stale_journal} holds them as of the last flush)" if self.stale_journal is not None else ""
        )
        return (
            f"wattwatch: could not write the final row of run {self.run_id} to {self.csv_path} nor its journal "
            f"({self.error}); its final numbers exist only in what stop() returned{older}"
        )


def _finalise_locked(
    entry: JournalEntry,
    csv_path: Path,
    *,
    durable: bool,
    ops: FileOps,
    write: Callable[[JournalEntry], None] | None = None,
    bounded: bool = False,
    search: bool = False,
) -> tuple[WriteOutcome | None, bool]:
    """Append ``entry``'s row (we hold the CSV's lock) unless it already was, then delete the journal. Returns
    the append's outcome (``None`` when it was already appended) and whether the journal records the pending
    append. ``write`` records ``entry`` in the journal (default: replace it atomically); ``bounded``: the row's
    cells are bounded already (the owner's own row; one read from a journal file is bounded again). ``search``
    (a journal its owner left): when no pending append is recorded, or not where it says, the CSV is searched
    for a whole row of the run's segment after the offset the journal recorded at start -- the owner's pending
    record is not ``fsync``ed (issue 25: one ``fsync`` at ``stop()``, the row's), so after a power loss the
    journal may lack it while the row is on disk."""
    appended = entry.pending is not None and was_appended(csv_path, entry.pending, ops=ops)
    if not appended and search:
        from wattwatch.sinks.emissions_reader import holds_segment

        appended = holds_segment(csv_path, entry.row, entry.csv_offset, ops=ops)
    if appended:
        # The row is in the main file; when that file's header lacks columns, the full row may still be due in
        # the companion (its write failed, or the writer died in between): never count it as saved before.
        done = append_row(
            csv_path, entry.row, entry.columns, durable=durable, ops=ops, main_done=True, bounded=bounded
        )
        if done.saved_in is not None:
            _unlink(entry.path, ops)
        return (None if done.saved_in == csv_path else done), True
    recorded = [False]

    def record(pending: PendingAppend) -> None:
        entry.pending = pending
        entry.final = True
        try:
            (write or (lambda e: _write(e, durable=durable, ops=ops)))(entry)
            recorded[0] = True
        except OSError:
            pass

    outcome = append_row(
        csv_path, entry.row, entry.columns, durable=durable, ops=ops, on_prepared=record, bounded=bounded
    )
    if outcome.saved_in is not None:
        _unlink(entry.path, ops)
    return outcome, recorded[0]


def _may_have_lost(entry: JournalEntry, me: ProcessIdentity) -> bool:
    """Whether ``entry`` may lack what its owner wrote last: the owner's pending-append record is not
    ``fsync``ed, so only a kernel that stopped since (a power loss, a crash: another boot) or another host's
    cache can have lost it -- a killed process's writes are in this kernel's page cache. Only then is the CSV
    searched for the row (:func:`_finalise_locked`), so the first start after a ``kill -9`` reads nothing
    more."""
    owner = entry.owner
    return not (owner.host == me.host and owner.boot_id and owner.boot_id == me.boot_id)


def _size_of(path: Path) -> int:
    """``path``'s size in bytes (0 when it does not exist yet or cannot be read)."""
    try:
        return os.stat(path).st_size
    except (OSError, ValueError):
        return 0


def _unlink(path: Path, ops: FileOps) -> None:
    try:
        ops.unlink(path)
    except OSError:
        pass


class RunJournal:
    """The journal of one run, written by the process that measures it (never raises for I/O).

    ``ops`` replaces the system calls (tests inject a full disk); ``proc_root`` is where the owner's identity
    is read."""

    def __init__(
        self,
        output_dir: str | os.PathLike[str],
        output_file: str,
        run_id: str,
        *,
        owner: ProcessIdentity | None = None,
        proc_root: str | os.PathLike[str] = "/proc",
        ops: FileOps = OS_FILE_OPS,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.csv_path = self.output_dir / output_file
        self.path = journal_path(output_dir, run_id, f"{os.getpid()}-{os.urandom(4).hex()}")
        self.run_id = run_id
        self._output_file = output_file
        self._csv_offset = _size_of(self.csv_path)
        """The CSV's size now (the run starts): its row will lie after it (:attr:`JournalEntry.csv_offset`)."""
        self._owner = owner or ProcessIdentity.of(proc_root=proc_root)
        self._ops = ops
        self._finished: SaveOutcome | None = None
        self.last_error = ""
        """Why the last :meth:`update` failed (``""`` after one that worked)."""
        self._fd: int | None = None
        """The journal opened for appending (after its first atomic write), or ``None``."""
        self._size = 0
        self._writing = False
        """An :meth:`update` is under way (a signal handler's :meth:`finish` must not close its descriptor)."""

    def _entry(
        self, row: Mapping[str, str], columns: Sequence[str], status: str, final: bool, bounded: bool = False
    ) -> JournalEntry:
        return JournalEntry(
            run_id=self.run_id,
            output_file=self._output_file,
            status=status,
            row=dict(row) if bounded else bound_row(row),
            columns=list(columns),
            owner=self._owner,
            written_at=time.time(),
            final=final,
            csv_offset=self._csv_offset,
            path=self.path,
        )

    def update(
        self, row: Mapping[str, str], columns: Sequence[str], *, durable: bool = False, bounded: bool = False
    ) -> bool:
        """Record the run's current ``row`` (status ``row["status"]``); ``durable`` also ``fsync``s; ``bounded``:
        its cells are already bounded (:func:`~wattwatch.sinks.cells.bound_row`). Returns whether it worked (see
        :attr:`last_error`)."""
        if self._finished is not None:
            return True  # the run has ended: its final row is the last word
        entry = self._entry(row, columns, row.get("status", "running"), final=False, bounded=bounded)
        self._writing = True
        try:
            self._append(entry, durable=durable)
        except OSError as exc:
            self.last_error = exc.strerror or str(exc)
            self._close_fd()  # the next update replaces the file whole: no line is written after a torn one
            return False
        finally:
            self._writing = False
            if self._finished is not None:
                self._close_fd()
        if self._finished is not None and self._finished.journal is None:
            # A signal handler ended the run (appending its row) while this write was under way: a journal
            # this write renamed into place is stale, and must not become a second row (an appended line went
            # to the file the handler had already replaced or deleted).
            _unlink(self.path, self._ops)
        self.last_error = ""
        return True

    def _append(self, entry: JournalEntry, *, durable: bool) -> None:
        """One more line on the open journal; the whole file replaced atomically by ``entry`` when there is
        none open yet, when it has grown past :data:`COMPACT_BYTES`, or when it was deleted under us."""
        line = _record(entry).encode("utf-8", "surrogateescape")
        ops, fd = self._ops, self._fd
        if fd is not None and (self._size + len(line) > COMPACT_BYTES or ops.fstat(fd).st_nlink == 0):
            self._close_fd()
            fd = None
        if fd is None:
            _write(entry, durable=durable, ops=ops)
            self._fd = ops.open(self.path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
            self._size = len(line)
            return
        write_all(ops, fd, line)
        self._size += len(line)
        if durable:
            ops.fsync(fd)

    def _write_final(self, entry: JournalEntry, *, durable: bool = True) -> None:
        """Record the run's final state (``fsync``ed unless ``durable`` is false): as the last line of the journal open for appending (one
        ``write``: a reader takes the last whole line, and every line this writer wrote ended whole, or the
        descriptor was closed); else -- none open, an update under way, the file deleted under us or not the
        size this writer left it (someone else wrote to it), or the append failed -- by replacing the journal
        atomically. ``OSError`` when neither works.

        Appending is ``stop()``'s cheaper way (issue 25): no temporary file to create, ``fsync`` and rename
        before the row is appended. ``durable=False`` (the pending append that ``stop()`` records just before
        its row): not ``fsync``ed -- a process killed after it leaves the line for whoever finalises the journal,
        and after a power loss the row is found in the CSV by its segment instead (:func:`_finalise_locked`'s
        ``search``); the row's own ``fsync`` is the one ``stop()`` waits for."""
        fd = self._fd
        if fd is not None and not self._writing:
            ops = self._ops
            try:
                stat = ops.fstat(fd)
                if stat.st_nlink > 0 and stat.st_size == self._size:
                    line = _record(entry).encode("utf-8", "surrogateescape")
                    write_all(ops, fd, line)
                    self._size += len(line)
                    if durable:
                        ops.fsync(fd)
                    return
            except OSError:
                self._close_fd()  # a line cut short may end the file: the next record replaces it whole
        _write(entry, durable=durable, ops=self._ops)

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                self._ops.close(fd)
            except OSError:
                pass

    def finish(self, row: Mapping[str, str], columns: Sequence[str], *, durable: bool = True) -> SaveOutcome:
        """The run has ended: append its final ``row`` to the CSV and delete the journal. When the append fails,
        the journal keeps the final row (for :func:`finalize_stale`) and the outcome says where. A second call
        returns the first one's outcome (the row is appended once)."""
        if self._finished is not None:
            return self._finished
        try:
            outcome = self._finish(row, columns, durable=durable)
        finally:
            if not self._writing:  # else the interrupted update closes it when it returns
                self._close_fd()
        self._finished = outcome
        if not outcome.saved:
            _ENDED.add(self.path)  # whatever the journal still holds, no process will update it again
        return outcome

    def _finish(self, row: Mapping[str, str], columns: Sequence[str], *, durable: bool) -> SaveOutcome:
        entry = self._entry(row, columns, row.get("status", "completed"), final=True)
        try:
            with locked(self.csv_path):
                outcome, recorded = _finalise_locked(
                    entry, self.csv_path, durable=durable, ops=self._ops, bounded=True,
                    write=lambda e: self._write_final(e, durable=False),
                )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - lock timeout or a lock file we cannot create
            outcome, recorded = WriteOutcome(self.csv_path, None, error=str(exc) or type(exc).__name__), False
        if outcome is None or outcome.saved_in is not None:
            return SaveOutcome(self.run_id, self.csv_path, self.csv_path if outcome is None else outcome.saved_in)
        if not recorded:  # the journal may still hold the last periodic flush: give it the final row
            entry.pending = None
            try:
                self._write_final(entry)
                recorded = True
            except OSError:
                pass
        stale = self.path if not recorded and self.path.exists() else None
        return SaveOutcome(
            self.run_id,
            self.csv_path,
            None,
            journal=self.path if recorded else None,
            error=outcome.error,
            stale_journal=stale,
        )

    def discard(self) -> None:
        """Delete the journal (a run that must leave no row, e.g. a forked child's copy)."""
        if not self._writing:
            self._close_fd()
        _unlink(self.path, self._ops)


ENDED_UNSEEN_STATUS = "interrupted"
"""The status a run gets when its process is gone without writing its end (``kill -9``, the OOM killer, a lost
node): it did not complete, and nothing saw it fail, so it was interrupted -- never left ``running``, which would
say it is still going. Its figures are those of its last flush."""


def _mark_ended_unseen(entry: JournalEntry) -> None:
    entry.status = ENDED_UNSEEN_STATUS
    if entry.row.get("status", "running") == "running":
        entry.row["status"] = ENDED_UNSEEN_STATUS


_NOTED: set[str] = set()


def _note_once(note: str) -> None:
    """A skipped journal is logged once per process (every start in the folder meets it again)."""
    if note not in _NOTED:
        _NOTED.add(note)
        log.warning("wattwatch: %s", note)


def finalize_stale(
    output_dir: str | os.PathLike[str],
    *,
    proc_root: str | os.PathLike[str] = "/proc",
    host: str | None = None,
    now: float | None = None,
    foreign_stale_s: float = DEFAULT_FOREIGN_STALE_S,
    ops: FileOps = OS_FILE_OPS,
) -> list[SaveOutcome]:
    """Turn every journal under ``output_dir`` whose run can no longer write it -- final ones, and those of a
    process that is gone (another host's: not rewritten for ``foreign_stale_s``) -- into its row, exactly once.
    Returns what happened to each; never raises."""
    outcomes: list[SaveOutcome] = []
    folder, _ = journal_folder(output_dir)
    if folder is None:
        return outcomes  # no journals, or a folder that is not ours (read_journals notes it)
    remove_dead_temp_files(folder)  # left by writers killed mid-write
    me = ProcessIdentity.of(proc_root=proc_root, host=host)
    wall = time.time() if now is None else now
    entries, notes = read_journals(output_dir)
    for note in notes:
        _note_once(note)
    for entry in entries:
        if not entry.final and entry.path not in _ENDED:
            if entry.owner == me:
                continue
            state = process_state(entry.owner, proc_root=proc_root, host=host)
            if state == "alive" or (state == "unknown" and wall - entry.written_at < foreign_stale_s):
                continue
        csv_path = Path(output_dir) / entry.output_file
        try:
            with locked(csv_path):
                try:
                    fresh = read_journal(entry.path)  # another opener may have finalised it meanwhile
                except (OSError, ValueError):
                    continue
                if fresh.written_at != entry.written_at and not fresh.final and entry.path not in _ENDED:
                    continue  # rewritten since we looked: its owner is alive after all
                if not fresh.final and fresh.status == "running" and entry.path not in _ENDED:
                    _mark_ended_unseen(fresh)  # its process is gone (one that ended here keeps its last word)
                outcome, _ = _finalise_locked(fresh, csv_path, durable=True, ops=ops, search=_may_have_lost(fresh, me))
        except Exception as exc:  # noqa: BLE001 - never raises: the journal stays for the next opener
            log.debug("wattwatch: cannot finalise %s (%s)", entry.path, exc)
            outcomes.append(SaveOutcome(entry.run_id, csv_path, None, journal=entry.path, error=str(exc)))
            continue
        saved_in = csv_path if outcome is None else outcome.saved_in
        if saved_in is not None:
            _ENDED.discard(entry.path)
        error = "" if outcome is None else outcome.error
        outcomes.append(SaveOutcome(entry.run_id, csv_path, saved_in, None if saved_in else entry.path, error))
        if saved_in is not None:
            log.info("wattwatch: run %s (%s, left by its process) added to %s", entry.run_id, entry.status, saved_in)
    return outcomes
