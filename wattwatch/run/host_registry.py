"""Machine-mode trackers running on this host, across processes (issue 24, item 8): one small file each.

Two machine-mode trackers started by hand in two processes both charge the whole machine; neither could see
the other (:mod:`wattwatch.run.overlap` knew only its own process and ``wattwatch run``). Each running
machine-mode tracker now lists itself in a per-user, per-boot folder -- ``$XDG_RUNTIME_DIR/wattwatch/trackers``,
else ``<temp dir>/wattwatch-<uid>/trackers`` (``$TMPDIR``, ``$TEMP``, ``$TMP`` or ``/tmp``, as
``tempfile.gettempdir`` picks, without importing it on the start path); :data:`REGISTRY_ENV` overrides it --
with one JSON file: its pid, its process identity (:class:`~wattwatch.sinks.owner.ProcessIdentity`: a reused
pid is not taken for it), its run id and tracking mode. A start lists the folder once (one ``listdir``, a
small read per entry): a live owner's entry is another tracker measuring this machine; a dead owner's entry
(``kill -9``) is removed. Its own file goes at ``stop()`` (and at exit).

The folder is private: created ``0700``; a folder that is a symbolic link, not ours, or open to others is
refused (no registry: nothing is said or recorded, the run is measured as before). Entries are outside data:
read without following links, at most :data:`MAX_ENTRY_BYTES`, checked field by field; anything else is
skipped. Costs: well under a millisecond for a start with a few entries (no module beyond ``json``).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from wattwatch.sinks.files import (
    OS_FILE_OPS,
    UnsafeFileError,
    create_new,
    private_folder,
    read_regular,
    write_all,
)
from wattwatch.sinks.owner import ProcessIdentity, process_state
from wattwatch.util.records import record

__all__ = ["MAX_ENTRY_BYTES", "REGISTRY_ENV", "Entry", "HostRegistry", "registry_dir"]

REGISTRY_ENV = "WATTWATCH_REGISTRY_DIR"
"""Where the registry lives instead of the default (tests give each test its own)."""
MAX_ENTRY_BYTES = 4096
"""Largest entry read (an entry is ~200 bytes; a bigger file is not ours)."""
_SUFFIX = ".json"


@record(frozen=True)
class Entry:
    """A running machine-mode tracker listed in the registry."""

    path: Path
    run_id: str
    owner: ProcessIdentity
    tracking_mode: str


def registry_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The registry folder (see the module docstring). ``environ``: the tracker's (default ``os.environ``);
    :data:`REGISTRY_ENV` is taken from it, else from the process's environment."""
    env = os.environ if environ is None else environ
    override = env.get(REGISTRY_ENV) or os.environ.get(REGISTRY_ENV)
    if override:
        return Path(override)
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return Path(runtime, "wattwatch", "trackers")
    tmp = next((d for d in (env.get(n) for n in ("TMPDIR", "TEMP", "TMP")) if d and os.path.isdir(d)), "/tmp")
    return Path(tmp, f"wattwatch-{os.getuid() if hasattr(os, 'getuid') else 0}", "trackers")


_IDENTITY: dict[tuple[int, str], ProcessIdentity] = {}
"""This process's identity per ``(pid, proc root)``: read once (a forked child reads its own)."""


class HostRegistry:
    """The registry in ``folder`` as seen by this process (``proc_root``: where liveness is read)."""

    def __init__(self, folder: str | os.PathLike[str], *, proc_root: str | os.PathLike[str] = "/proc") -> None:
        self.folder = Path(folder)
        self.proc_root = os.fspath(proc_root)

    def _identity(self) -> ProcessIdentity:
        key = (os.getpid(), self.proc_root)
        me = _IDENTITY.get(key)
        if me is None:
            me = _IDENTITY[key] = ProcessIdentity.of(proc_root=self.proc_root)
        return me

    def open_folder(self) -> Path:
        """The folder, made private if missing. :class:`UnsafeFileError` for a link, a non-folder, or a folder
        another user owns or others may write; ``OSError`` otherwise."""
        folder = self.folder
        for part in (folder.parent, folder):  # the per-user folder and ``trackers``: ours, 0700
            try:
                st = os.lstat(part)
            except FileNotFoundError:
                os.makedirs(part.parent, exist_ok=True)
                try:
                    os.mkdir(part, 0o700)
                except FileExistsError:
                    pass  # made meanwhile by another tracker: checked below
                st = os.lstat(part)
            if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
                private_folder(part, 1, create=False)  # raises the error that says which
            if hasattr(os, "getuid") and st.st_uid != os.getuid():
                raise UnsafeFileError(part, "it belongs to another user")
            if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise UnsafeFileError(part, "others may write to it")
        return folder

    def add(self, run_id: str, tracking_mode: str) -> Path:
        """List this process's tracker (run ``run_id``); returns its entry's path. ``OSError`` when it cannot."""
        folder = self.open_folder()
        me = self._identity()
        body = json.dumps({"owner": me.to_dict(), "run_id": run_id, "tracking_mode": tracking_mode}).encode()
        for n in range(100):
            path = folder / f"{me.pid}-{n}{_SUFFIX}"
            try:
                fd = create_new(path, os.O_WRONLY)
            except FileExistsError:
                continue  # this process's other tracker, or a dead process's entry with our pid
            try:
                write_all(OS_FILE_OPS, fd, body)
            finally:
                os.close(fd)
            return path
        raise FileExistsError(f"no free entry name in {folder}")

    def others(self, *, exclude: Path | None = None) -> list[Entry]:
        """The live entries of other processes (oldest name first); dead owners' entries are removed."""
        try:
            names = sorted(n for n in os.listdir(self.folder) if n.endswith(_SUFFIX) and not n.startswith("."))
        except OSError:
            return []
        me = self._identity()
        out: list[Entry] = []
        for name in names:
            path = self.folder / name
            if exclude is not None and path == exclude:
                continue
            entry = _read_entry(path)
            if entry is None:
                _remove_if_dead(path, name, self.proc_root, me.host)
                continue
            if entry.owner.pid == me.pid and entry.owner.start_ticks == me.start_ticks:
                continue  # this process's trackers: the in-process registry sees them
            state = self._state(entry.owner)
            if state == "gone":
                remove(path)
            elif state == "alive":
                out.append(entry)
        return out

    def still_running(self, entry: Entry) -> bool:
        """Whether ``entry``'s tracker still runs: its file is there and its owner alive (a row's check: one
        ``stat``, one small read of ``/proc``)."""
        if not os.path.lexists(entry.path):
            return False
        return self._state(entry.owner) != "gone"

    def _state(self, owner: ProcessIdentity) -> str:
        """:func:`~wattwatch.sinks.owner.process_state` with this process's host and boot read once: one
        ``kill(pid, 0)`` and one small read of ``/proc/<pid>/stat`` (a reused pid is another process)."""
        me = self._identity()
        if owner.host != me.host:
            return "unknown"
        if owner.boot_id and me.boot_id and owner.boot_id != me.boot_id:
            return "gone"  # listed before the machine rebooted (a registry that outlived the boot)
        try:
            os.kill(owner.pid, 0)
        except ProcessLookupError:
            return "gone"
        except OSError:
            pass  # another user's process: it exists
        if owner.start_ticks is None or me.start_ticks is None:
            return "alive"  # no /proc here to tell a reused pid apart
        return "alive" if _start_ticks(self.proc_root, owner.pid) == owner.start_ticks else "gone"


def remove(path: Path) -> None:
    """Remove an entry (gone already: nothing to do)."""
    try:
        os.unlink(path)
    except OSError:
        pass


def _read_entry(path: Path) -> Entry | None:
    """The entry in ``path``, or ``None`` for anything that is not one (a link, a FIFO, too large, half written,
    not the fields an entry has)."""
    try:
        raw = json.loads(read_regular(path, MAX_ENTRY_BYTES))
        if not isinstance(raw, dict):
            return None
        owner = ProcessIdentity.from_dict(raw["owner"])
        run_id, mode = raw["run_id"], raw["tracking_mode"]
        if not isinstance(run_id, str) or not isinstance(mode, str) or len(run_id) > 1024 or len(mode) > 32:
            return None
        return Entry(path, run_id, owner, mode)
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def _start_ticks(proc_root: str, pid: int) -> int | None:
    """Field 22 of ``<proc_root>/<pid>/stat`` (when the process started), or ``None``."""
    try:
        fd = os.open(f"{proc_root}/{pid}/stat", os.O_RDONLY)
        try:
            text = os.read(fd, 4096)
        finally:
            os.close(fd)
        return int(text[text.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _remove_if_dead(path: Path, name: str, proc_root: str | os.PathLike[str], host: str) -> None:
    """An entry that cannot be read: removed when the pid its name starts with is gone and it is a regular
    file (a half-written entry of a live process stays; a planted link is left alone, never followed)."""
    try:
        pid = int(name.split("-", 1)[0])
        if not 0 < pid < 2**31 or not stat.S_ISREG(os.lstat(path).st_mode):
            return
    except (ValueError, OSError):
        return
    if process_state(ProcessIdentity(pid, host), proc_root=proc_root, host=host) == "gone":
        remove(path)
