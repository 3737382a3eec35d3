"""The host facts a run's row carries (OS, Python version, logical CPUs, RAM, host name), read without the
modules that make ``start()`` slow.

The row used ``platform.platform()``, ``socket.gethostname()`` and psutil. ``platform.platform()`` runs
``uname -p`` in a subprocess and scans the Python binary for its C library's version (about 20 ms on a busy
2-core machine), and importing ``socket`` and psutil costs another ~25 ms. On Linux the same facts come from
``os.uname()``, ``os.confstr("CS_GNU_LIBC_VERSION")`` and ``os.sysconf``: microseconds. Elsewhere (or when
those are missing) the slow functions are still used.

Units: ``ram_total_gib`` in GiB (2**30 bytes), as CodeCarbon's ``ram_total_size`` column.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache

from wattwatch.util.records import record

__all__ = ["HostFacts", "host_facts", "platform_string", "ram_total_bytes"]


@record(frozen=True)
class HostFacts:
    """What the run's row says about the host."""

    os: str
    """``platform.platform()``'s text, e.g. ``Linux-6.8.0-1015-aws-x86_64-with-glibc2.35``."""
    python_version: str
    cpu_count: int
    """Logical CPUs of the machine (``os.cpu_count()``, as ``psutil.cpu_count()``); 0 when unknown."""
    ram_total_gib: float
    """Physical memory in GiB (``MemTotal``, as ``psutil.virtual_memory().total``)."""
    hostname: str


def _clean(text: str) -> str:
    """``platform._platform``'s clean-up: no spaces or separators inside fields, no ``unknown``."""
    for ch in ' /\\:;"()':
        text = text.replace(ch, "_" if ch == " " else "-")
    text = text.replace("unknown", "")
    while "--" in text:
        text = text.replace("--", "-")
    return text.rstrip("-")


def platform_string(
    uname: os.uname_result | None = None, libc: str | None = None, *, system_platform: str = sys.platform
) -> str:
    """``platform.platform()`` without its subprocess: on glibc Linux ``<system>-<release>-<machine>-with-
    glibc<version>`` from ``uname`` and ``libc`` (``os.confstr("CS_GNU_LIBC_VERSION")``, e.g. ``"glibc 2.36"``).
    The one field left out is ``uname -p``, which GNU coreutils prints as ``unknown`` (dropped by ``platform``
    too) or as the machine name (dropped as a duplicate). Anywhere else: ``platform.platform()`` itself."""
    if system_platform.startswith("linux"):
        u = uname if uname is not None else os.uname()
        if libc is None:
            try:
                libc = os.confstr("CS_GNU_LIBC_VERSION")
            except (ValueError, OSError, AttributeError):
                libc = None
        if libc and libc.startswith("glibc "):
            return _clean("-".join([u.sysname, u.release, u.machine, "with", "glibc" + libc.split()[1]]))
    import platform

    return platform.platform()


def _ram_total_bytes() -> int | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def ram_total_bytes() -> int:
    """Physical memory in bytes: ``os.sysconf`` pages x page size (``MemTotal``), psutil where that is missing."""
    ram = _ram_total_bytes()
    if ram is None:
        import psutil

        ram = int(psutil.virtual_memory().total)
    return ram


@lru_cache(maxsize=1)
def host_facts() -> HostFacts:
    """This host's facts, read once per process (psutil, ``platform`` and ``socket`` only where the ``os``
    module cannot say)."""
    ram = ram_total_bytes()
    try:
        hostname = os.uname().nodename  # what gethostname() returns on POSIX
    except AttributeError:  # pragma: no cover - not POSIX
        import socket

        hostname = socket.gethostname()
    version = sys.version.split()[0]
    if version.count(".") == 1:  # as platform.python_version(): "3.14" -> "3.14.0"
        version += ".0"
    return HostFacts(platform_string(), version, os.cpu_count() or 0, ram / 1024**3, hostname)
