"""``emissions.csv``: one row per run, rewritten atomically so a killed process never leaves a broken file.

Every write takes a ``filelock`` lock beside the file, reads the current rows, replaces (or appends) the row with
this run's ``run_id``, writes everything to a temporary file in the same folder, ``fsync``s it and renames it over
the original. Readers therefore see either the old file or the new one, never a half-written row.

A file whose header differs from ours (CodeCarbon's own file, an older wattwatch) keeps its columns in their
order, gains the missing ones at the end, and keeps every row. Text cells that a spreadsheet would execute
(starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) are prefixed with ``'`` (OWASP's advice on CSV
injection).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

__all__ = ["atomic_write_text", "check_writable", "read_rows", "remove_stale_temp_files", "sanitize_cell", "upsert_row"]

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\n")
_LOCK_TIMEOUT_S = 30.0


def sanitize_cell(value: str) -> str:
    """Neutralise a text cell that a spreadsheet would run as a formula. Numbers are left alone.

    Carriage returns become ``\n``: Python's csv writer quotes a cell only for the characters of its line
    terminator (``\n`` here), so a bare ``\r`` would be written unquoted and split the row when read back."""
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if value and value.startswith(_DANGEROUS):
        try:
            float(value)
            return value  # a negative number, not a formula
        except ValueError:
            return "'" + value
    return value


_INTERRUPTED_LOCK_TIMEOUT_S = 5.0
_LOCKS: dict[str, FileLock] = {}
_LOCKS_GUARD = threading.RLock()  # re-entrant: a signal handler may run while this thread holds it


def _lock_for(path: Path) -> FileLock:
    """One lock object per file and process: re-entrant within a thread (a SIGTERM handler that writes the
    ``interrupted`` row while the same thread is inside a flush must not wait on its own lock for 30 s), while
    other threads and processes still wait their turn (filelock keeps a separate lock per thread)."""
    key = os.path.abspath(str(path) + ".lock")
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = FileLock(key, timeout=_LOCK_TIMEOUT_S)
        return lock


@contextmanager
def _acquire(path: Path) -> Iterator[None]:
    """Hold the file's lock. A signal handler that interrupted this thread's own acquire (or release) of the
    cached lock cannot use it (filelock refuses: "acquired again while this thread's acquire of it waits"), so it
    takes a fresh lock object on the same file: a new descriptor that waits for the thread holding the lock
    like any other process would, with a shorter timeout since the program is being stopped."""
    lock = _lock_for(path)
    try:
        lock.acquire()
    except RuntimeError:
        lock = FileLock(str(lock.lock_file), timeout=_INTERRUPTED_LOCK_TIMEOUT_S)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def read_rows(path: str | os.PathLike[str]) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV file (``([], [])`` when it does not exist or is empty); ``ValueError`` when it
    cannot be parsed."""
    p = Path(path)
    if not p.exists():
        return [], []
    with open(p, newline="", encoding="utf-8") as fh:
        text = fh.read()
    if not text.strip():
        return [], []
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = list(reader.fieldnames or [])
        rows = [{k: (v if v is not None else "") for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as exc:  # e.g. a stray carriage return: a damaged or foreign file
        raise ValueError(f"{p} is not a readable CSV file ({exc})") from None
    return header, rows


def check_writable(directory: str | os.PathLike[str]) -> Path:
    """Create ``directory`` if needed and prove we can create files in it; ``PermissionError``/``OSError`` with
    a message that says what to do otherwise."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".wattwatch-probe-", dir=d)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(
            f"cannot write to output_dir {str(d)!r} ({exc.strerror or exc}); choose a writable folder "
            "with output_dir=... or --output-dir"
        ) from None
    return d


def upsert_row(
    path: str | os.PathLike[str],
    row: Mapping[str, str],
    columns: Sequence[str],
    key: str = "run_id",
    *,
    durable: bool = True,
    occurrence: int = 0,
) -> None:
    """Write ``row`` into the CSV at ``path``, replacing the row with the same ``key`` value, atomically.

    ``occurrence`` picks which of several rows with that key is replaced (0: the first); when there are fewer,
    the row is appended. CodeCarbon's ``on_csv_write="append"`` gives a run one row per explicit flush: the
    tracker then writes occurrence 0, 1, 2... in turn.

    ``columns`` is our preferred header; an existing file's header is kept and extended with what is missing.
    ``durable`` also ``fsync``s the new file before the rename, so the row survives a power loss, not only a
    killed process (the rename alone guarantees the latter); the tracker's periodic flushes skip it, which is
    most of their CPU cost.
    """
    p = Path(path)
    clean = {k: sanitize_cell(v) for k, v in row.items()}
    with _acquire(p):
        header, rows = read_rows(p)
        if header:
            header = header + [c for c in columns if c not in header]
        else:
            header = list(columns)
        header += [c for c in clean if c not in header]
        seen = 0
        for i, existing in enumerate(rows):
            if existing.get(key) == clean.get(key):
                if seen == occurrence:
                    rows[i] = dict(clean)
                    break
                seen += 1
        else:
            rows.append(dict(clean))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=header, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({c: r.get(c, "") for c in header})
        atomic_write_text(p, buf.getvalue(), durable=durable)


def remove_stale_temp_files(path: str | os.PathLike[str]) -> int:
    """Delete the temporary files that writers of ``path`` killed mid-write (``kill -9`` between creating the
    temporary file and renaming it) left beside it; a file whose writer is alive is left alone. Returns how
    many were removed. Never raises."""
    p = Path(path)
    removed = 0
    try:
        candidates = list(p.parent.glob(f".{p.name}.*.tmp"))
    except OSError:
        return 0
    for tmp in candidates:
        pid_text = tmp.name[len(p.name) + 2 :].split(".", 1)[0]
        if not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
            continue  # the writer is alive (or not ours to judge)
        except ProcessLookupError:
            pass
        except OSError:
            continue
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``text`` atomically (temporary file beside it, then rename), with the user's umask;
    ``durable`` also ``fsync``s before the rename.

    The temporary file is created with mode 0o666 and ``O_EXCL``, so the kernel applies the process's current
    umask itself: no umask to read or set (setting it, even for an instant, races with other threads), no chmod.
    Its name carries our pid so :func:`remove_stale_temp_files` can tell a dead writer's leftovers."""
    path = Path(path)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 32 random bits
        raise FileExistsError(f"cannot create a temporary file beside {path}")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
