"""The container this process runs in, as the kernel's cgroups see it (v2 and v1).

A container limited to 4 CPUs and 16 GiB on a 64-core, 1 TiB host must be charged for its 4 CPUs and the memory
it uses, not for the host. :func:`find_cgroup` reads ``/proc/self/cgroup`` and the cgroup filesystem (both
parameters) and returns a :class:`CgroupSlice` when the process's cgroup *limits* CPU or memory:

- CPU limit, in CPUs: cgroup v2 ``cpu.max`` (``"<quota> <period>"`` or ``"max ..."``), v1
  ``cpu.cfs_quota_us / cpu.cfs_period_us`` (-1: none); the smaller of that and the cgroup's cpuset
  (``cpuset.cpus.effective`` / ``cpuset.effective_cpus``). The tightest limit of the cgroup and its ancestors.
- CPU time used: v2 ``cpu.stat`` ``usage_usec``; v1 ``cpuacct.usage`` (nanoseconds).
- memory limit: v2 ``memory.max`` (tightest of the ancestors), v1 ``hierarchical_memory_limit`` from
  ``memory.stat`` (else ``memory.limit_in_bytes``); a limit at or above the machine's memory is no limit.
- memory in use: v2 ``memory.current``, v1 ``memory.usage_in_bytes``, each less the ``inactive_file`` page
  cache of ``memory.stat`` (``total_inactive_file`` on v1): the same "in use" as ``MemTotal - MemAvailable``
  on a machine, since inactive file pages are reclaimed first. This is what ``docker stats`` reports.

A cgroup that limits nothing (a systemd session scope, a container started without limits) is the whole
machine: :func:`find_cgroup` returns ``None`` and the run is charged as a machine. Each controller is judged on
its own: a memory-only limit slices RAM and leaves the CPU charged as the machine.

Paths: ``/proc/self/cgroup`` names the cgroup relative to the hierarchy's root. Inside a cgroup namespace the
path is ``/`` and the mount is the container's own cgroup; without one (Docker on cgroup v1) the path names a
directory the container cannot see, and the controller's mount root is used, which is then the container's.
"""

from __future__ import annotations

from pathlib import Path

from wattwatch.sensors.base import ProcFile
from wattwatch.util.records import record

__all__ = [
    "DEFAULT_CGROUP_ROOT",
    "CgroupSlice",
    "count_cpuset",
    "find_cgroup",
    "parse_cpu_max",
    "parse_proc_cgroup",
]

DEFAULT_CGROUP_ROOT = Path("/sys/fs/cgroup")
_UNLIMITED_V1 = 2**62  # v1 writes PAGE_COUNTER_MAX (9223372036854771712) for "no limit"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``controller -> path`` from ``/proc/self/cgroup`` (``hierarchy-id:controllers:path`` lines); the v2
    unified hierarchy (``0::/path``) is under the key ``""``; ``name=systemd`` style entries are kept as named."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        _hid, controllers, path = parts
        if controllers == "":
            out[""] = path
            continue
        for ctrl in controllers.split(","):
            out.setdefault(ctrl, path)
    return out


def parse_cpu_max(text: str) -> float | None:
    """CPUs allowed by a v2 ``cpu.max`` value (``"400000 100000"`` -> 4.0; ``"max 100000"`` -> ``None``)."""
    fields = text.split()
    if not fields or fields[0] == "max":
        return None
    quota = int(fields[0])
    period = int(fields[1]) if len(fields) > 1 else 100_000
    return quota / period if quota > 0 and period > 0 else None


def count_cpuset(text: str) -> int:
    """Number of CPUs in a cpuset list (``"0-3,8,10-11"`` -> 7; ``""`` -> 0)."""
    total = 0
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        total += (int(hi) - int(lo) + 1) if sep else 1
    return total


def _stat_value(text: str | bytes | None, key: str) -> int | None:
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


def _ancestors(directory: Path, root: Path) -> list[Path]:
    """``directory`` and its parents up to and including ``root`` (just ``directory`` if it is not under root)."""
    out = [directory]
    try:
        rel = directory.relative_to(root)
    except ValueError:
        return out
    for parent in rel.parents:
        out.append(root / parent)
    return list(dict.fromkeys(out))


def _controller_dir(mount: Path, path: str) -> Path:
    candidate = mount / path.lstrip("/")
    return candidate if candidate.is_dir() else mount


def _first_dir(root: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (root / name).is_dir():
            return root / name
    return None


@record
class CgroupSlice:
    """The limits of this process's cgroup, and where to read its usage.

    ``cpu_limit`` (CPUs, may be fractional) and ``cpu_dir`` are ``None`` when CPU is not limited;
    ``memory_limit_bytes`` and ``memory_dir`` when memory is not. ``version`` is 1 or 2, ``path`` the cgroup
    path ``/proc/self/cgroup`` gave (for the CPU controller if limited, else memory).
    """

    version: int
    path: str
    cpu_dir: Path | None = None
    cpu_limit: float | None = None
    memory_dir: Path | None = None
    memory_limit_bytes: int | None = None

    def cpu_usage_reader(self) -> CgroupCpuUsage:
        """A reader of the cgroup's cumulative CPU seconds (keeps the file open). ``OSError`` when unreadable;
        ``ValueError`` when CPU is not limited."""
        if self.cpu_dir is None:
            raise ValueError("this cgroup does not limit CPU")
        return CgroupCpuUsage(self.cpu_dir, self.version)

    def memory_reader(self) -> CgroupMemory:
        """A reader of the cgroup's memory in use (bytes). ``OSError`` when unreadable; ``ValueError`` when
        memory is not limited."""
        if self.memory_dir is None:
            raise ValueError("this cgroup does not limit memory")
        return CgroupMemory(self.memory_dir, self.version)

    def describe(self) -> dict[str, object]:
        """The slice's facts, JSON-serialisable."""
        return {
            "cgroup_version": self.version,
            "cgroup_path": self.path,
            "cpu_limit": self.cpu_limit,
            "memory_limit_bytes": self.memory_limit_bytes,
        }


class CgroupCpuUsage:
    """Cumulative CPU seconds of a cgroup (v2 ``cpu.stat`` ``usage_usec``, v1 ``cpuacct.usage``); one pread a
    call. ``OSError`` from the constructor when the file cannot be opened, ``ValueError`` from a call when it
    cannot be parsed."""

    def __init__(self, directory: Path, version: int) -> None:
        self._v2 = version == 2
        self._file = ProcFile(directory / ("cpu.stat" if self._v2 else "cpuacct.usage"))
        self()  # fail now, not in the sampler

    def __call__(self) -> float:
        data = self._file.read()
        if self._v2:
            usec = _stat_value(data, "usage_usec")
            if usec is None:
                raise ValueError(f"no usage_usec in {self._file.path}")
            return usec / 1e6
        return int(data.strip()) / 1e9

    def close(self) -> None:
        self._file.close()


class CgroupMemory:
    """Bytes in use by a cgroup: ``memory.current`` (v2) or ``memory.usage_in_bytes`` (v1) less the inactive
    page cache from ``memory.stat``. Two preads a call."""

    def __init__(self, directory: Path, version: int) -> None:
        self._v2 = version == 2
        self._usage = ProcFile(directory / ("memory.current" if self._v2 else "memory.usage_in_bytes"))
        try:
            self._stat: ProcFile | None = ProcFile(directory / "memory.stat", size=16384)
        except OSError:
            self._stat = None
        self()

    def __call__(self) -> int:
        usage = int(self._usage.read().strip())
        inactive = 0
        if self._stat is not None:
            key = "inactive_file" if self._v2 else "total_inactive_file"
            inactive = _stat_value(self._stat.read(), key) or 0
        return max(0, usage - inactive)

    def close(self) -> None:
        self._usage.close()
        if self._stat is not None:
            self._stat.close()


def _v2_cpu_limit(directory: Path, root: Path) -> float | None:
    limits: list[float] = []
    for d in _ancestors(directory, root):
        text = _read(d / "cpu.max")
        if text:
            try:
                value = parse_cpu_max(text)
            except ValueError:
                value = None
            if value is not None:
                limits.append(value)
    cpuset = _read(directory / "cpuset.cpus.effective")
    if cpuset:
        limits.append(float(count_cpuset(cpuset)))
    return min(limits) if limits else None


def _v2_memory_limit(directory: Path, root: Path) -> int | None:
    limits = []
    for d in _ancestors(directory, root):
        text = _read(d / "memory.max")
        if text and text != "max":
            try:
                limits.append(int(text))
            except ValueError:
                continue
    return min(limits) if limits else None


def _v1_cpu_limit(cpu_dir: Path | None, cpuset_dir: Path | None) -> float | None:
    limits: list[float] = []
    if cpu_dir is not None:
        quota, period = _read(cpu_dir / "cpu.cfs_quota_us"), _read(cpu_dir / "cpu.cfs_period_us")
        try:
            q, p = int(quota or "-1"), int(period or "100000")
        except ValueError:
            q, p = -1, 100000
        if q > 0 and p > 0:
            limits.append(q / p)
    if cpuset_dir is not None:
        text = _read(cpuset_dir / "cpuset.effective_cpus") or _read(cpuset_dir / "cpuset.cpus")
        if text:
            limits.append(float(count_cpuset(text)))
    return min(limits) if limits else None


def _v1_memory_limit(memory_dir: Path) -> int | None:
    limit = _stat_value(_read(memory_dir / "memory.stat"), "hierarchical_memory_limit")
    if limit is None:
        text = _read(memory_dir / "memory.limit_in_bytes")
        try:
            limit = int(text) if text else None
        except ValueError:
            limit = None
    if limit is None or limit >= _UNLIMITED_V1:
        return None
    return limit


def _readable(reader: type[CgroupCpuUsage] | type[CgroupMemory], directory: Path, version: int) -> bool:
    """Whether ``reader`` can read the usage in ``directory`` now (a slice whose usage cannot be read is not
    used: the machine is charged instead, rather than a sensor failing at every read)."""
    try:
        reader(directory, version).close()
    except (OSError, ValueError):
        return False
    return True


def find_cgroup(
    cgroup_root: Path = DEFAULT_CGROUP_ROOT,
    proc_self_cgroup: Path = Path("/proc/self/cgroup"),
    *,
    machine_cpus: int,
    machine_memory_bytes: int,
) -> CgroupSlice | None:
    """This process's cgroup slice, or ``None`` when no cgroup limits CPU below ``machine_cpus`` nor memory below
    ``machine_memory_bytes`` (or cgroups cannot be read). Never raises for a missing or odd tree."""
    text = _read(Path(proc_self_cgroup))
    root = Path(cgroup_root)
    if text is None or not root.is_dir():
        return None
    paths = parse_proc_cgroup(text)
    cpu_dir = mem_dir = None
    cpu_limit: float | None = None
    mem_limit: int | None = None
    if (root / "cgroup.controllers").is_file() and "" in paths:  # pure v2: one hierarchy at the root
        version, path = 2, paths[""]
        directory = _controller_dir(root, path)
        cpu_limit = _v2_cpu_limit(directory, root)
        mem_limit = _v2_memory_limit(directory, root)
        cpu_dir = mem_dir = directory
        cpu_path = mem_path = path
    else:
        version = 1
        cpu_path, mem_path = paths.get("cpuacct", paths.get("cpu", "/")), paths.get("memory", "/")
        cpu_mount = _first_dir(root, ("cpu,cpuacct", "cpu"))
        acct_mount = _first_dir(root, ("cpu,cpuacct", "cpuacct"))
        cpuset_mount = _first_dir(root, ("cpuset",))
        mem_mount = _first_dir(root, ("memory",))
        quota_dir = _controller_dir(cpu_mount, paths.get("cpu", "/")) if cpu_mount else None
        cpuset_dir = _controller_dir(cpuset_mount, paths.get("cpuset", "/")) if cpuset_mount else None
        cpu_limit = _v1_cpu_limit(quota_dir, cpuset_dir)
        cpu_dir = _controller_dir(acct_mount, cpu_path) if acct_mount else None
        if mem_mount is not None:
            mem_dir = _controller_dir(mem_mount, mem_path)
            mem_limit = _v1_memory_limit(mem_dir)
    if (
        cpu_limit is None
        or cpu_limit >= machine_cpus
        or cpu_dir is None
        or not _readable(CgroupCpuUsage, cpu_dir, version)
    ):
        cpu_dir, cpu_limit = None, None
    if (
        mem_limit is None
        or mem_limit >= machine_memory_bytes
        or mem_dir is None
        or not _readable(CgroupMemory, mem_dir, version)
    ):
        mem_dir, mem_limit = None, None
    if cpu_dir is None and mem_dir is None:
        return None
    return CgroupSlice(
        version=version,
        path=cpu_path if cpu_dir is not None else mem_path,
        cpu_dir=cpu_dir,
        cpu_limit=cpu_limit,
        memory_dir=mem_dir,
        memory_limit_bytes=mem_limit,
    )
