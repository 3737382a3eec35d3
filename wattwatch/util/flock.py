"""An inter-process lock on a file (``flock(2)`` on a ``.lock`` file), re-entrant within a thread.

The same protocol as the ``filelock`` package's Unix lock (an exclusive ``flock`` on the lock file, which stays
in place), so this wattwatch and an older one that used ``filelock`` exclude each other on the same lock file. It is written out here because importing ``filelock`` costs 10-15 ms (it pulls in
``secrets``, OpenSSL's hashes, ``decimal`` and ``platform``), most of what a tracker's ``start()`` spent on
imports; this module needs only ``fcntl``.

Semantics:

- other processes, and other threads of this process, wait their turn: each thread opens its own descriptor,
  and the ``flock`` locks of two descriptors conflict even within one process;
- the thread that holds the lock may take it again (a count; it is released when the count returns to 0);
- a thread that is inside this lock's own acquire or release when a signal handler on the same thread asks for
  it gets :class:`LockInterrupted` at once (the caller decides: :func:`wattwatch.sinks.files.locked` then waits
  on a fresh descriptor, as another process would);
- after ``fork()`` the child holds nothing: descriptors inherited from the parent are closed without unlocking
  (unlocking them would release the parent's lock: the open file description is shared).

Times in seconds.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileLock", "LockInterrupted", "LockTimeout"]

_POLL_FIRST_S = 0.001
_POLL_MAX_S = 0.05


class LockTimeout(TimeoutError):
    """The lock was still held by someone else after the timeout (a ``TimeoutError``, so an ``OSError``)."""

    def __init__(self, lock_file: str) -> None:
        super().__init__(f"the lock {lock_file} could not be acquired (held by another process or thread)")
        self.lock_file = lock_file


class LockInterrupted(RuntimeError):
    """A signal handler asked for the lock while its thread was inside this lock's own acquire or release."""


class _Held:
    """One thread's state for one lock: its descriptor, how many times it holds the lock, whether it is inside
    acquire/release right now, and the fork generation the descriptor belongs to."""

    __slots__ = ("busy", "depth", "fd", "generation")

    def __init__(self, generation: int) -> None:
        self.fd: int | None = None
        self.depth = 0
        self.busy = False
        self.generation = generation


_generation = 0


def _after_fork_in_child() -> None:
    global _generation
    _generation += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class FileLock:
    """An exclusive lock on ``lock_file`` (created if missing, with its folders, mode 0o666 less the umask; never
    removed).

    ``timeout`` (s): how long :meth:`acquire` waits by default; 0 tries once; a negative number waits forever.
    Usable as a context manager. Raises :class:`LockTimeout` when the wait runs out, ``OSError`` when the lock
    file cannot be created (a read-only folder, say).
    """

    def __init__(self, lock_file: str | os.PathLike[str], timeout: float = -1.0) -> None:
        self.lock_file = os.fspath(lock_file)
        self.timeout = timeout
        self._local = threading.local()

    def _held(self) -> _Held:
        held: _Held | None = getattr(self._local, "held", None)
        if held is None or held.generation != _generation:
            if held is not None and held.fd is not None:
                _close_quietly(held.fd)  # the parent's descriptor, inherited by fork: close, never unlock
            held = self._local.held = _Held(_generation)
        return held

    @property
    def is_locked(self) -> bool:
        """Whether this thread holds the lock."""
        return self._held().depth > 0

    def acquire(self, timeout: float | None = None) -> FileLock:
        """Take the lock (again, if this thread holds it); waits up to ``timeout`` s (default: the lock's)."""
        held = self._held()
        if held.busy:
            raise LockInterrupted(
                f"{self.lock_file}: asked for inside this thread's own acquire or release of it"
            )
        if held.depth > 0:
            held.depth += 1
            return self
        wait = self.timeout if timeout is None else timeout
        held.busy = True
        try:
            parent = os.path.dirname(self.lock_file)
            if parent:
                os.makedirs(parent, exist_ok=True)  # as the filelock package does: callers rely on it
            fd = _open_lock_file(self.lock_file)
            try:
                _flock_waiting(fd, wait, self.lock_file)
            except BaseException:
                os.close(fd)
                raise
            held.fd, held.depth = fd, 1
        finally:
            held.busy = False
        return self

    def release(self) -> None:
        """Give back one hold; the last one unlocks. Releasing a lock this thread does not hold does nothing."""
        held = self._held()
        if held.busy:
            raise LockInterrupted(
                f"{self.lock_file}: released inside this thread's own acquire or release of it"
            )
        if held.depth == 0:
            return
        held.depth -= 1
        if held.depth or held.fd is None:
            return
        held.busy = True
        try:
            fd, held.fd = held.fd, None
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                _close_quietly(fd)
        finally:
            held.busy = False

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


_FLAGS = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def _open_lock_file(path: str) -> int:
    """The lock file's descriptor: opened or created without following a symbolic link (one planted at
    ``<file>.lock`` would make us create or lock a file elsewhere) and without waiting on a FIFO; a lock file
    another user created and we may only read is locked read-only (``flock`` needs no write access).
    ``OSError`` (``ELOOP`` for a link) when it is none of these."""
    try:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | _FLAGS, 0o666)
        except PermissionError:
            fd = os.open(path, os.O_RDONLY | _FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise OSError(exc.errno, "the lock file is a symbolic link; move it away", path) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.ELOOP, "the lock file is not a regular file; move it away", path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _flock_waiting(fd: int, timeout: float, name: str) -> None:
    """``flock(fd, LOCK_EX)``, polling without blocking until it succeeds or ``timeout`` s pass."""
    if fcntl is None:  # pragma: no cover - not a POSIX system: the descriptor alone (no exclusion)
        return
    deadline = None if timeout < 0 else time.monotonic() + timeout
    pause = _POLL_FIRST_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            raise LockTimeout(name)
        time.sleep(pause if deadline is None else min(pause, max(0.0, deadline - now)))
        pause = min(pause * 2, _POLL_MAX_S)


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
