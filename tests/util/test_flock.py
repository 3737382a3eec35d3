"""The file lock of wattwatch.util.flock: processes and threads exclude each other, a thread re-enters its own
lock, a fork's child holds nothing, the wait times out, and it excludes the ``filelock`` package's lock (older
wattwatch versions) on the same file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from wattwatch.util.flock import FileLock, LockInterrupted, LockTimeout


def _other_process_try(lock_file: Path, code: str = "") -> int:
    """Exit code of a child that tries the lock once: 0 acquired, 3 timed out."""
    script = code or textwrap.dedent(
        f"""
        import sys
        from wattwatch.util.flock import FileLock, LockTimeout
        try:
            FileLock({str(lock_file)!r}, timeout=0).acquire()
        except LockTimeout:
            sys.exit(3)
        """
    )
    return subprocess.run([sys.executable, "-c", script], timeout=60).returncode


def test_another_process_waits_while_held_and_gets_it_after_release(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    lock = FileLock(path, timeout=1)
    with lock:
        assert _other_process_try(path) == 3
    assert _other_process_try(path) == 0
    assert path.exists()  # the lock file stays: waiters share its inode


def test_a_thread_re_enters_its_own_lock_and_the_last_release_unlocks(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    lock = FileLock(path, timeout=0)
    lock.acquire()
    lock.acquire()
    lock.release()
    assert lock.is_locked and _other_process_try(path) == 3
    lock.release()
    assert not lock.is_locked and _other_process_try(path) == 0
    lock.release()  # one release too many does nothing


def test_another_thread_waits_for_the_holder(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "x.lock", timeout=0)
    order: list[str] = []
    holding, go = threading.Event(), threading.Event()

    def holder() -> None:
        with lock:
            holding.set()
            go.wait(10)
            order.append("holder done")

    t = threading.Thread(target=holder)
    t.start()
    holding.wait(10)
    with pytest.raises(LockTimeout):
        lock.acquire(timeout=0)
    waiter_got_it = threading.Event()

    def waiter() -> None:
        with lock.acquire(timeout=30):
            order.append("waiter")
            waiter_got_it.set()
        lock.release()

    w = threading.Thread(target=waiter)
    w.start()
    assert not waiter_got_it.wait(0.2)
    go.set()
    t.join(10)
    w.join(10)
    assert order == ["holder done", "waiter"]


def test_timeout_is_a_timeout_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with FileLock(path):
        other = threading.Thread(target=lambda: errors.append(_try(path)))
        errors: list[BaseException | None] = []
        other.start()
        other.join(10)
    (exc,) = errors
    assert isinstance(exc, LockTimeout) and isinstance(exc, TimeoutError) and isinstance(exc, OSError)
    assert str(path) in str(exc)


def _try(path: Path) -> BaseException | None:
    try:
        FileLock(path).acquire(timeout=0.05)
    except BaseException as exc:  # noqa: BLE001 - returned to the test
        return exc
    return None


def test_missing_folders_are_created_and_an_impossible_path_raises_oserror(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "new" / "folder" / "x.lock", timeout=0)
    lock.acquire()  # as the filelock package did: appending to a file in a new folder relies on it
    assert (tmp_path / "new" / "folder" / "x.lock").exists()
    lock.release()
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OSError):
        FileLock(tmp_path / "a-file" / "x.lock").acquire(timeout=0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_holds_nothing_and_cannot_release_the_parents_lock(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    lock = FileLock(path, timeout=0)
    lock.acquire()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            if lock.is_locked:
                code = 10  # the child must not believe it holds the parent's lock
            lock.release()  # must not unlock the shared open file description
        except BaseException:  # noqa: BLE001
            code = 11
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _other_process_try(path) == 3  # still held by the parent
    lock.release()
    assert _other_process_try(path) == 0


def test_a_signal_handler_inside_this_threads_own_wait_is_told_at_once(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    lock = FileLock(path, timeout=2)
    seen: list[str] = []
    holding, done = threading.Event(), threading.Event()

    def holder() -> None:
        with FileLock(path):
            holding.set()
            done.wait(10)

    def on_signal(signum: int, frame: object) -> None:
        try:
            lock.acquire(timeout=0)
        except LockInterrupted:
            seen.append("interrupted")
        done.set()

    previous = signal.signal(signal.SIGUSR1, on_signal)
    t = threading.Thread(target=holder)
    try:
        t.start()
        holding.wait(10)
        threading.Timer(0.1, lambda: os.kill(os.getpid(), signal.SIGUSR1)).start()
        lock.acquire()  # waits for the holder; the handler runs in the middle of this wait
        lock.release()
    finally:
        signal.signal(signal.SIGUSR1, previous)
        t.join(10)
    assert seen == ["interrupted"]


def test_it_excludes_the_filelock_packages_lock_on_the_same_file(tmp_path: Path) -> None:
    pytest.importorskip(
        "filelock", reason="the filelock package (an older wattwatch's lock) is not installed"
    )
    path = tmp_path / "x.lock"
    theirs = textwrap.dedent(
        f"""
        import sys
        from filelock import FileLock, Timeout
        try:
            FileLock({str(path)!r}, timeout=0).acquire()
        except Timeout:
            sys.exit(3)
        """
    )
    with FileLock(path):
        assert _other_process_try(path, theirs) == 3
    assert _other_process_try(path, theirs) == 0
    held_by_them = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys, time; from filelock import FileLock; l = FileLock({str(path)!r}); l.acquire(); "
            "print('held', flush=True); sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert held_by_them.stdout is not None and held_by_them.stdout.readline().strip() == "held"
        with pytest.raises(LockTimeout):
            FileLock(path).acquire(timeout=0)
    finally:
        assert held_by_them.stdin is not None
        held_by_them.stdin.close()
        held_by_them.wait(30)
    FileLock(path, timeout=0).acquire().release()
