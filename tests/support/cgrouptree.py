"""Build fake cgroup trees (v2 unified, v1 per controller) and ``/proc/self/cgroup`` files for the tests.

v2: one hierarchy at the root with ``cgroup.controllers``; the process's cgroup holds ``cpu.max``,
``cpu.stat`` (``usage_usec``), ``memory.max``, ``memory.current`` and ``memory.stat``. v1: a directory per
controller (``cpu,cpuacct`` with ``cpu`` and ``cpuacct`` beside it, as the real mounts' symlinks do; ``memory``;
``cpuset``). Usage counters are set with :meth:`set_cpu_seconds` / :meth:`set_memory`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["FakeCgroup", "UNLIMITED_V1"]

UNLIMITED_V1 = 9223372036854771712
"""What cgroup v1 writes in ``memory.limit_in_bytes`` for no limit."""


@dataclass
class FakeCgroup:
    """A fake cgroup tree under ``root`` and a ``proc_self_cgroup`` file naming ``path``."""

    root: Path
    proc_self_cgroup: Path
    version: int
    path: str
    _visible: bool = True

    @classmethod
    def v2(
        cls,
        tmp: Path,
        path: str = "/kubepods/pod1/ctr",
        *,
        cpu_max: str = "max 100000",
        memory_max: str = "max",
        cpuset: str | None = None,
        parent_cpu_max: str | None = None,
    ) -> FakeCgroup:
        root = tmp / "cgroup"
        root.mkdir(parents=True)
        (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
        d = root / path.lstrip("/")
        d.mkdir(parents=True, exist_ok=True)
        (d / "cpu.max").write_text(cpu_max + "\n")
        (d / "memory.max").write_text(memory_max + "\n")
        if cpuset is not None:
            (d / "cpuset.cpus.effective").write_text(cpuset + "\n")
        if parent_cpu_max is not None:
            (d.parent / "cpu.max").write_text(parent_cpu_max + "\n")
        proc = tmp / "proc_self_cgroup"
        proc.write_text(f"0::{path}\n")
        fake = cls(root, proc, 2, path)
        fake.set_cpu_seconds(0.0)
        fake.set_memory(0, 0)
        return fake

    @classmethod
    def v1(
        cls,
        tmp: Path,
        path: str = "/docker/abc123",
        *,
        quota_us: int = -1,
        period_us: int = 100000,
        memory_limit: int = UNLIMITED_V1,
        cpuset: str | None = None,
        visible: bool = True,
    ) -> FakeCgroup:
        """``visible=False`` plays Docker without a cgroup namespace: ``/proc/self/cgroup`` names ``path`` but
        the mounts are the container's own cgroup, so the files sit at each controller's root."""
        root = tmp / "cgroup"
        for ctrl in ("cpu,cpuacct", "cpu", "cpuacct", "memory", "cpuset"):
            d = root / ctrl / (path.lstrip("/") if visible else "")
            d.mkdir(parents=True, exist_ok=True)
        fake = cls(root, tmp / "proc_self_cgroup", 1, path, visible)
        for ctrl in ("cpu,cpuacct", "cpu"):
            (fake._dir(ctrl) / "cpu.cfs_quota_us").write_text(f"{quota_us}\n")
            (fake._dir(ctrl) / "cpu.cfs_period_us").write_text(f"{period_us}\n")
        (fake._dir("memory") / "memory.limit_in_bytes").write_text(f"{memory_limit}\n")
        if cpuset is not None:
            (fake._dir("cpuset") / "cpuset.effective_cpus").write_text(cpuset + "\n")
        fake.proc_self_cgroup.write_text(
            f"12:memory:{path}\n4:cpu,cpuacct:{path}\n3:cpuset:{path}\n1:name=systemd:{path}\n0::/\n"
        )
        fake.set_cpu_seconds(0.0)
        fake.set_memory(0, 0)
        return fake

    def _dir(self, ctrl: str) -> Path:
        if self.version == 2:
            return self.root / self.path.lstrip("/")
        return self.root / ctrl / (self.path.lstrip("/") if self._visible else "")

    def set_cpu_seconds(self, seconds: float) -> None:
        """The cgroup's cumulative CPU time."""
        if self.version == 2:
            usec = round(seconds * 1e6)
            (self._dir("cpu") / "cpu.stat").write_text(
                f"usage_usec {usec}\nuser_usec {usec // 2}\nsystem_usec {usec - usec // 2}\n"
            )
        else:
            for ctrl in ("cpu,cpuacct", "cpuacct"):
                (self._dir(ctrl) / "cpuacct.usage").write_text(f"{round(seconds * 1e9)}\n")

    def set_memory(self, usage_bytes: int, inactive_file_bytes: int) -> None:
        """The cgroup's memory charge and the inactive page cache inside it."""
        if self.version == 2:
            (self._dir("memory") / "memory.current").write_text(f"{usage_bytes}\n")
            (self._dir("memory") / "memory.stat").write_text(
                f"anon {usage_bytes - inactive_file_bytes}\nfile {inactive_file_bytes}\n"
                f"active_file 0\ninactive_file {inactive_file_bytes}\n"
            )
        else:
            (self._dir("memory") / "memory.usage_in_bytes").write_text(f"{usage_bytes}\n")
            limit = (self._dir("memory") / "memory.limit_in_bytes").read_text().strip()
            (self._dir("memory") / "memory.stat").write_text(
                f"cache {inactive_file_bytes}\nrss {usage_bytes - inactive_file_bytes}\n"
                f"inactive_file {inactive_file_bytes}\nhierarchical_memory_limit {limit}\n"
                f"total_rss {usage_bytes - inactive_file_bytes}\ntotal_inactive_file {inactive_file_bytes}\n"
            )
