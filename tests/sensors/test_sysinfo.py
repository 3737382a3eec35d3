"""Host facts for the run's row: the same values as platform/socket/psutil, without them on Linux."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys

import pytest

from wattwatch.sensors.sysinfo import host_facts, platform_string, ram_total_bytes

linux_glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not platform.libc_ver()[0] == "glibc", reason="glibc Linux only"
)


@linux_glibc
def test_same_facts_as_platform_socket_and_psutil() -> None:
    psutil = pytest.importorskip("psutil")
    facts = host_facts()
    assert facts.os == platform.platform()
    assert facts.python_version == platform.python_version()
    assert facts.hostname == socket.gethostname()
    assert facts.cpu_count == psutil.cpu_count()
    assert facts.ram_total_gib == psutil.virtual_memory().total / 1024**3
    assert ram_total_bytes() == psutil.virtual_memory().total


def test_platform_string_cleans_fields_like_platform() -> None:
    uname = os.uname_result(("Linux", "node", "5.15.0-1019-aws (custom)", "#1 SMP", "x86_64"))
    assert platform_string(uname, "glibc 2.35", system_platform="linux") == (
        "Linux-5.15.0-1019-aws_-custom-x86_64-with-glibc2.35"
    )
    unknown = os.uname_result(("Linux", "node", "6.1.0", "#1", "unknown"))
    assert platform_string(unknown, "glibc 2.36", system_platform="linux") == "Linux-6.1.0-with-glibc2.36"


def test_other_c_libraries_and_systems_ask_platform() -> None:
    uname = os.uname_result(("Linux", "node", "6.1.0", "#1", "x86_64"))
    assert platform_string(uname, "", system_platform="linux") == platform.platform()  # musl: no CS_GNU_LIBC
    assert platform_string(uname, "glibc 2.36", system_platform="darwin") == platform.platform()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_reading_them_imports_none_of_the_slow_modules() -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from wattwatch.sensors.sysinfo import host_facts\n"
        "host_facts()\n"
        "print(sorted({'psutil', 'socket', 'platform', 'subprocess'} & (set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
