"""File primitives shared by the sinks: a replaceable set of system calls, atomic replacement, the per-file lock,
the writability probe and the clean-up of temporary files that killed writers left behind.

Every sink writes through a :class:`FileOps` (default :data:`OS_FILE_OPS`, plain ``os`` calls), so tests can
inject a disk that fills up or a folder that refuses new files without patching a module global.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from wattwatch.util.flock import FileLock, LockInterrupted

__all__ = [
    "OS_FILE_OPS",
    "FileOps",
    "OsFileOps",
    "atomic_write_text",
    "check_writable",
    "locked",
    "remove_dead_temp_files",
    "remove_stale_temp_files",
    "write_all",
]

LOCK_TIMEOUT_S = 30.0
"""Seconds a writer waits for another process's lock on the same file before giving up (the write is then
retried at the next flush, or left in the run's journal)."""
_INTERRUPTED_LOCK_TIMEOUT_S = 5.0


class FileOps(Protocol):
    """The system calls the sinks use, so a test can make any of them fail (``OSError`` with an errno)."""

    def open(self, path: str | os.PathLike[str], flags: int, mode: int = 0o666) -> int: ...

    def write(self, fd: int, data: bytes) -> int: ...

    def pread(self, fd: int, length: int, offset: int) -> bytes: ...

    def fstat(self, fd: int) -> os.stat_result: ...

    def fsync(self, fd: int) -> None: ...

    def ftruncate(self, fd: int, length: int) -> None: ...

    def close(self, fd: int) -> None: ...

    def replace(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None: ...

    def unlink(self, path: str | os.PathLike[str]) -> None: ...


class OsFileOps:
    """:class:`FileOps` on the real file system (``os`` functions, nothing added)."""

    def open(self, path: str | os.PathLike[str], flags: int, mode: int = 0o666) -> int:
        return os.open(path, flags | getattr(os, "O_CLOEXEC", 0), mode)

    def write(self, fd: int, data: bytes) -> int:
        return os.write(fd, data)

    def pread(self, fd: int, length: int, offset: int) -> bytes:
        return os.pread(fd, length, offset)

    def fstat(self, fd: int) -> os.stat_result:
        return os.fstat(fd)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def ftruncate(self, fd: int, length: int) -> None:
        os.ftruncate(fd, length)

    def close(self, fd: int) -> None:
        os.close(fd)

    def replace(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        os.replace(src, dst)

    def unlink(self, path: str | os.PathLike[str]) -> None:
        os.unlink(path)


OS_FILE_OPS: FileOps = OsFileOps()
"""The default :class:`FileOps`."""


def write_all(ops: FileOps, fd: int, data: bytes) -> None:
    """Write every byte of ``data`` (``os.write`` may write fewer, e.g. after a signal); ``OSError`` otherwise."""
    view = memoryview(data)
    while view:
        n = ops.write(fd, bytes(view))
        if n <= 0:  # pragma: no cover - a regular file never returns 0 for a non-empty write
            raise OSError(f"write returned {n}")
        view = view[n:]


# ---------------------------------------------------------------------------------------------- locks

_LOCKS: dict[str, FileLock] = {}
_LOCKS_GUARD = threading.RLock()  # re-entrant: a signal handler may run while this thread holds it


def _lock_for(path: Path) -> FileLock:
    """One lock object per file and process: re-entrant within a thread (a SIGTERM handler that writes the
    ``interrupted`` row while the same thread is inside a flush must not wait on its own lock for 30 s), while
    other threads and processes still wait their turn (each thread locks through its own descriptor)."""
    key = os.path.abspath(str(path) + ".lock")
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = FileLock(key, timeout=LOCK_TIMEOUT_S)
        return lock


@contextmanager
def locked(path: str | os.PathLike[str], timeout_s: float | None = None) -> Iterator[None]:
    """Hold ``<path>.lock`` (``flock`` on a file beside ``path``: :mod:`wattwatch.util.flock`, the protocol of
    the ``filelock`` package's, so older wattwatch versions wait for it too);
    :class:`~wattwatch.util.flock.LockTimeout` (a ``TimeoutError``, so an ``OSError``) after ``timeout_s``
    (default 30 s).

    A signal handler that interrupted this thread's own acquire (or release) of the cached lock cannot use it
    (:class:`~wattwatch.util.flock.LockInterrupted`), so it takes a fresh lock object on the same file: a new
    descriptor that waits for the thread holding the lock like any other process would, with a shorter timeout
    since the program is being stopped."""
    lock = _lock_for(Path(path))
    try:
        lock.acquire(timeout=timeout_s)
    except LockInterrupted:
        lock = FileLock(lock.lock_file, timeout=_INTERRUPTED_LOCK_TIMEOUT_S)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


# ---------------------------------------------------------------------------------------------- whole files


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, durable: bool = True, ops: FileOps = OS_FILE_OPS
) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically: a temporary file beside it, then a rename; ``durable``
    also ``fsync``s before the rename (survives a power loss, not only a killed process).

    For files wattwatch owns (journals, part files): the rename replaces a symlink by a regular file, so the
    user's own ``emissions.csv`` is never written this way (see :mod:`wattwatch.sinks.emissions_file`).
    The temporary file is created with mode 0o666 and ``O_EXCL``, so the kernel applies the process's umask
    itself: no umask to read or set (setting it, even for an instant, races with other threads), no chmod. Its
    name carries our pid so :func:`remove_stale_temp_files` can tell a dead writer's leftovers.
    Raises ``OSError`` (the temporary file is removed)."""
    target = Path(path)
    data = text.encode("utf-8", "surrogateescape")
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            fd = ops.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 32 random bits
        raise FileExistsError(f"cannot create a temporary file beside {target}")
    try:
        try:
            write_all(ops, fd, data)
            if durable:
                ops.fsync(fd)
        finally:
            ops.close(fd)
        ops.replace(tmp, target)
    except BaseException:
        try:
            ops.unlink(tmp)
        except OSError:
            pass
        raise


def check_writable(directory: str | os.PathLike[str]) -> Path:
    """Create ``directory`` if needed and prove we can create files in it; ``PermissionError`` with a message
    that says what to do otherwise."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / f".wattwatch-probe-{os.getpid()}-{os.urandom(6).hex()}"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600))
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(
            f"cannot write to output_dir {str(d)!r} ({exc.strerror or exc}); choose a writable folder "
            "with output_dir=... or --output-dir"
        ) from None
    return d


def remove_stale_temp_files(path: str | os.PathLike[str]) -> int:
    """Delete the temporary files that writers of ``path`` killed mid-write (``kill -9`` between creating the
    temporary file and renaming it) left beside it; a file whose writer is alive is left alone. Returns how
    many were removed. Never raises. Costs one listing of ``path``'s folder (not of the file's rows)."""
    p = Path(path)
    return _remove_dead(p.parent, f".{p.name}.*.tmp")


def remove_dead_temp_files(folder: str | os.PathLike[str]) -> int:
    """:func:`remove_stale_temp_files` for every file of ``folder`` (e.g. the journals' folder)."""
    return _remove_dead(Path(folder), ".*.tmp")


def _remove_dead(folder: Path, pattern: str) -> int:
    removed = 0
    try:
        candidates = list(folder.glob(pattern))
    except OSError:
        return 0
    for tmp in candidates:
        parts = tmp.name.rsplit(".", 3)  # .<target name>.<pid>.<random>.tmp
        pid_text = parts[1] if len(parts) == 4 else ""
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
