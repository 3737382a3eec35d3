"""Who owns a run's journal: a process told apart from a later one that reuses its pid (:class:`ProcessIdentity`),
and whether it still runs (:func:`process_state`). Read by :mod:`wattwatch.sinks.journal` to tell a live run's
journal from a dead one's."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from wattwatch.util.records import record

__all__ = ["ProcessIdentity", "process_state"]


def _hostname() -> str:
    """``socket.gethostname()``; on POSIX read from ``os.uname()`` (the same value) so a start does not import
    ``socket``."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


@record
class ProcessIdentity:
    """A process, told apart from a later one that reuses its pid: ``host``, ``boot_id`` (Linux's
    ``/proc/sys/kernel/random/boot_id``) and ``start_ticks`` (field 22 of ``/proc/<pid>/stat``; ``None`` where
    there is no ``/proc``)."""

    pid: int
    host: str
    boot_id: str = ""
    start_ticks: int | None = None

    @classmethod
    def of(
        cls, pid: int | None = None, *, proc_root: str | os.PathLike[str] = "/proc", host: str | None = None
    ) -> ProcessIdentity:
        """The identity of ``pid`` (default: this process) as seen through ``proc_root``."""
        pid = os.getpid() if pid is None else pid
        return cls(pid, host or _hostname(), _boot_id(proc_root), _start_ticks(proc_root, pid))

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "host": self.host, "boot_id": self.boot_id, "start_ticks": self.start_ticks}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProcessIdentity:
        """``ValueError`` for anything but the mapping :meth:`to_dict` makes (a pid out of range included): a
        journal is outside data (:mod:`wattwatch.sinks.journal_file`)."""
        if not isinstance(d, Mapping):
            raise ValueError("owner is not an object")
        pid, ticks = _integer(d["pid"], "owner pid"), d.get("start_ticks")
        if not 0 < pid < 2**31:
            raise ValueError(f"owner pid {pid} out of range")
        host, boot = d["host"], d.get("boot_id") or ""
        if not isinstance(host, str) or not isinstance(boot, str) or len(host) > 1024 or len(boot) > 1024:
            raise ValueError("owner host or boot_id is not a short string")
        return cls(pid, host, boot, None if ticks is None else _integer(ticks, "owner start_ticks"))


def _integer(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} is not an integer")
    return value


def _boot_id(proc_root: str | os.PathLike[str]) -> str:
    try:
        return (Path(proc_root) / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


def _start_ticks(proc_root: str | os.PathLike[str], pid: int) -> int | None:
    """Clock ticks after boot at which ``pid`` started, or ``None`` (no such process, or no ``/proc``)."""
    try:
        text = (Path(proc_root) / str(pid) / "stat").read_text()
        return int(text[text.rindex(")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def process_state(
    owner: ProcessIdentity, *, proc_root: str | os.PathLike[str] = "/proc", host: str | None = None
) -> Literal["alive", "gone", "unknown"]:
    """Whether ``owner`` still runs: ``unknown`` when it ran on another host (nothing to check here)."""
    if owner.host != (host or _hostname()):
        return "unknown"
    here_boot = _boot_id(proc_root)
    if owner.boot_id and here_boot and owner.boot_id != here_boot:
        return "gone"  # the machine rebooted since
    if Path(proc_root, "self").exists() or Path(proc_root, str(os.getpid())).exists():
        ticks = _start_ticks(proc_root, owner.pid)
        if ticks is None:
            return "gone"
        return "alive" if owner.start_ticks is None or ticks == owner.start_ticks else "gone"
    try:  # no /proc: the pid alone
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return "gone"
    except OSError:
        return "alive"
    return "alive"
