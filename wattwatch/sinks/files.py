"""File primitives shared by the sinks: a replaceable set of system calls, atomic replacement, the per-file lock,
the writability probe and the clean-up of temporary files that killed writers left behind.

Every sink writes through a :class:`FileOps` (default :data:`OS_FILE_OPS`, plain ``os`` calls), so tests can
inject a disk that fills up or a folder that refuses new files without patching a module global.
"""

from __future__ import annotations

import errno
import os
import re
import stat
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
    "UnsafeFileError",
    "atomic_write_text",
    "check_writable",
    "create_new",
    "locked",
    "open_or_create",
    "open_regular",
    "private_folder",
    "read_regular",
    "remove_dead_temp_files",
    "remove_stale_temp_files",
    "write_all",
]

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)

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


# ---------------------------------------------------------------------------------------------- no links


class UnsafeFileError(OSError):
    """A path wattwatch refuses to write or read through: a symbolic link where it creates its own files, or
    something other than a regular file (a FIFO would block, a device never ends). ``errno`` is ``ELOOP``."""

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        super().__init__(errno.ELOOP, f"{what}; wattwatch refuses to use it (move it away)", str(path))


def _nofollow_error(exc: OSError, path: str | os.PathLike[str]) -> OSError:
    if exc.errno in (errno.ELOOP, errno.EMLINK):  # what O_NOFOLLOW gives for a link (EMLINK: the BSDs)
        return UnsafeFileError(path, "it is a symbolic link")
    return exc


def open_regular(
    path: str | os.PathLike[str], flags: int, *, follow: bool = False, ops: FileOps = OS_FILE_OPS
) -> int:
    """Open an existing regular file (``flags`` without ``O_CREAT``). Never blocks (``O_NONBLOCK``: a FIFO or
    a device is refused, not waited on) and, unless ``follow``, never goes through a symbolic link
    (``O_NOFOLLOW``). :class:`UnsafeFileError` for a link or a file that is not regular; ``OSError`` otherwise
    (``FileNotFoundError`` when there is none)."""
    try:
        fd = ops.open(path, flags | O_NONBLOCK | (0 if follow else O_NOFOLLOW))
    except OSError as exc:
        raise _nofollow_error(exc, path) from None
    try:
        if not stat.S_ISREG(ops.fstat(fd).st_mode):
            raise UnsafeFileError(path, "it is not a regular file")
    except BaseException:
        ops.close(fd)
        raise
    return fd


def read_regular(path: str | os.PathLike[str], max_bytes: int, *, follow: bool = False) -> bytes:
    """The whole content of the small regular file ``path`` (:func:`open_regular`: no link unless ``follow``,
    no FIFO or device). ``ValueError`` when it holds more than ``max_bytes`` (nothing more is read);
    ``OSError`` when it cannot be read."""
    fd = open_regular(path, os.O_RDONLY, follow=follow)
    try:
        if os.fstat(fd).st_size > max_bytes:
            raise ValueError(f"larger than {max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:
            chunk = os.read(fd, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes")
    return b"".join(chunks)


def create_new(path: str | os.PathLike[str], flags: int, *, ops: FileOps = OS_FILE_OPS) -> int:
    """Create ``path`` (``O_CREAT | O_EXCL | O_NOFOLLOW``, mode 0o666 less the umask): nothing that already
    exists under that name -- a file, or a link planted to make us write elsewhere -- is opened.
    ``FileExistsError`` when something does."""
    return ops.open(path, flags | os.O_CREAT | os.O_EXCL | O_NOFOLLOW, 0o666)


def open_or_create(
    path: str | os.PathLike[str], flags: int, *, follow: bool = False, ops: FileOps = OS_FILE_OPS
) -> tuple[int, bool]:
    """Open the regular file ``path`` (:func:`open_regular`), or create it (:func:`create_new`) when there is
    none; returns the descriptor and whether it was created. ``follow``: an existing symbolic link is followed
    (the user's own ``emissions.csv`` may be one); a link to nothing is refused, never created through.
    :class:`UnsafeFileError` for what is refused; ``OSError`` otherwise."""
    for _ in range(3):
        try:
            return open_regular(path, flags, follow=follow, ops=ops), False
        except FileNotFoundError:
            pass
        try:
            return create_new(path, flags, ops=ops), True
        except FileExistsError:
            continue  # created meanwhile by another writer, or a link to nothing: look again
    raise UnsafeFileError(path, "it is a symbolic link to a file that does not exist")


def private_folder(path: str | os.PathLike[str], levels: int, *, create: bool = True) -> Path:
    """``path`` after checking that its last ``levels`` components (wattwatch's own folders, such as
    ``.wattwatch/runs``) are real directories, not symbolic links (a link planted there would send our files
    elsewhere); missing ones are created when ``create``. The components above them (the user's output folder)
    may be links (and are made again when missing). :class:`UnsafeFileError` for a link or a non-directory,
    ``OSError`` otherwise. Costs one ``lstat`` per component."""
    folder = Path(path)
    chain = [folder, *folder.parents][:levels][::-1]
    for part in chain:
        try:
            st = os.lstat(part)
        except FileNotFoundError:
            if not create:
                raise
            os.makedirs(part.parent, exist_ok=True)  # the user's folder, removed under us: made again
            try:
                os.mkdir(part)
            except FileExistsError:
                pass
            st = os.lstat(part)
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeFileError(part, "it is a symbolic link")
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeFileError(part, "it is not a folder")
    return folder


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

    For files wattwatch owns (journals, part files, the HTML report, the task CSV): the rename replaces a link
    planted at ``path`` by a regular file (the link's target is never written), so the user's own
    ``emissions.csv`` is never written this way (see :mod:`wattwatch.sinks.emissions_file`).
    The temporary file is created with mode 0o666 and ``O_EXCL | O_NOFOLLOW`` (:func:`create_new`) in the
    target's folder, so nothing planted under its name is opened, and the kernel applies the process's umask
    itself: no umask to read or set (setting it, even for an instant, races with other threads), no chmod. Its
    name carries our pid so :func:`remove_stale_temp_files` can tell a dead writer's leftovers.
    Raises ``OSError`` (the temporary file is removed)."""
    target = Path(path)
    data = text.encode("utf-8", "surrogateescape")
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            fd = create_new(tmp, os.O_WRONLY, ops=ops)
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
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600))
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


_TEMP_NAME = re.compile(r"\..+\.([0-9]{1,10})\.[0-9a-f]{4,16}\.tmp")
"""``.<target name>.<pid>.<hex digits>.tmp``: the names :func:`atomic_write_text` gives its temporary files."""


def _remove_dead(folder: Path, pattern: str) -> int:
    """Delete the temporary files of dead writers in ``folder``: only regular files (never a link, a folder or
    a FIFO), owned by this user, named exactly as :func:`atomic_write_text` names them, whose pid is gone."""
    removed = 0
    try:
        candidates = list(folder.glob(pattern))
    except OSError:
        return 0
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    for tmp in candidates:
        match = _TEMP_NAME.fullmatch(tmp.name)
        if match is None:
            continue
        try:
            os.kill(int(match.group(1)), 0)
            continue  # the writer is alive (or not ours to judge)
        except ProcessLookupError:
            pass
        except (OSError, OverflowError):
            continue
        try:
            st = os.lstat(tmp)
            if not stat.S_ISREG(st.st_mode) or (uid is not None and st.st_uid != uid):
                continue  # a link, a FIFO, someone else's file: not a temporary file of ours
            tmp.unlink()
            removed += 1
        except OSError:
            pass
    return removed
