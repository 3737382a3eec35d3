"""Containers: cgroup v2 and v1 trees in temp dirs -- limits, CPU time, memory in use, and the sensors that
charge the container its slice."""

from __future__ import annotations

from pathlib import Path

import pytest
from cgrouptree import FakeCgroup

from wattwatch.sensors.cgroup import count_cpuset, find_cgroup, parse_cpu_max, parse_proc_cgroup
from wattwatch.sensors.cpu import IDLE_FRACTION, CpuModelSensor
from wattwatch.sensors.ram import GIB, RamModelSensor
from wattwatch.sensors.vm import CpuScale

HOST_CPUS = 64
HOST_MEMORY = 1024 * GIB  # a 64-core, 1 TiB host


def _find(fake: FakeCgroup) -> object:
    return find_cgroup(
        fake.root, fake.proc_self_cgroup, machine_cpus=HOST_CPUS, machine_memory_bytes=HOST_MEMORY
    )


def test_parsers() -> None:
    assert parse_cpu_max("400000 100000") == 4.0
    assert parse_cpu_max("150000 100000") == 1.5
    assert parse_cpu_max("max 100000") is None
    assert count_cpuset("0-3,8,10-11") == 7 and count_cpuset("") == 0
    paths = parse_proc_cgroup("12:memory:/a\n4:cpu,cpuacct:/b\n1:name=systemd:/c\n0::/d\n")
    assert paths["memory"] == "/a" and paths["cpu"] == "/b" and paths["cpuacct"] == "/b" and paths[""] == "/d"


def test_v2_quota_and_memory_limit(tmp_path: Path) -> None:
    fake = FakeCgroup.v2(tmp_path, cpu_max="400000 100000", memory_max=str(16 * GIB))
    slice_ = find_cgroup(
        fake.root, fake.proc_self_cgroup, machine_cpus=HOST_CPUS, machine_memory_bytes=HOST_MEMORY
    )
    assert slice_ is not None and slice_.version == 2
    assert slice_.cpu_limit == 4.0 and slice_.memory_limit_bytes == 16 * GIB
    fake.set_cpu_seconds(12.5)
    fake.set_memory(3 * GIB, GIB)
    assert slice_.cpu_usage_reader()() == pytest.approx(12.5)
    assert slice_.memory_reader()() == 2 * GIB  # inactive page cache is not "in use"


def test_v2_tightest_of_quota_cpuset_and_parent(tmp_path: Path) -> None:
    fake = FakeCgroup.v2(tmp_path, cpu_max="800000 100000", cpuset="0-5", parent_cpu_max="300000 100000")
    slice_ = find_cgroup(
        fake.root, fake.proc_self_cgroup, machine_cpus=HOST_CPUS, machine_memory_bytes=HOST_MEMORY
    )
    assert slice_ is not None and slice_.cpu_limit == 3.0 and slice_.memory_dir is None


def test_v2_unlimited_cgroup_is_the_machine(tmp_path: Path) -> None:
    fake = FakeCgroup.v2(tmp_path, path="/user.slice/user-1000.slice/session-3.scope")
    assert _find(fake) is None


def test_v2_limit_at_machine_size_is_no_limit(tmp_path: Path) -> None:
    fake = FakeCgroup.v2(tmp_path, cpu_max=f"{HOST_CPUS * 100000} 100000", memory_max=str(HOST_MEMORY))
    assert _find(fake) is None


def test_v2_namespace_root(tmp_path: Path) -> None:
    # Inside a cgroup namespace /proc/self/cgroup says "/" and the container's files are at the mount root.
    fake = FakeCgroup.v2(tmp_path, path="/", cpu_max="200000 100000")
    slice_ = _find(fake)
    assert slice_ is not None and slice_.cpu_limit == 2.0  # type: ignore[attr-defined]


@pytest.mark.parametrize("visible", [True, False])
def test_v1_quota_memory_and_usage(tmp_path: Path, visible: bool) -> None:
    fake = FakeCgroup.v1(tmp_path, quota_us=400000, memory_limit=16 * GIB, visible=visible)
    slice_ = find_cgroup(
        fake.root, fake.proc_self_cgroup, machine_cpus=HOST_CPUS, machine_memory_bytes=HOST_MEMORY
    )
    assert slice_ is not None and slice_.version == 1
    assert slice_.cpu_limit == 4.0 and slice_.memory_limit_bytes == 16 * GIB
    fake.set_cpu_seconds(7.25)
    fake.set_memory(5 * GIB, GIB // 2)
    assert slice_.cpu_usage_reader()() == pytest.approx(7.25)
    assert slice_.memory_reader()() == 5 * GIB - GIB // 2


def test_v1_cpuset_only_and_memory_unlimited(tmp_path: Path) -> None:
    fake = FakeCgroup.v1(tmp_path, cpuset="0-7")
    slice_ = find_cgroup(
        fake.root, fake.proc_self_cgroup, machine_cpus=HOST_CPUS, machine_memory_bytes=HOST_MEMORY
    )
    assert slice_ is not None and slice_.cpu_limit == 8.0 and slice_.memory_dir is None


def test_v1_memory_only_limit_leaves_cpu_to_the_machine(tmp_path: Path) -> None:
    fake = FakeCgroup.v1(tmp_path, memory_limit=16 * GIB)
    slice_ = find_cgroup(
        fake.root, fake.proc_self_cgroup, machine_cpus=HOST_CPUS, machine_memory_bytes=HOST_MEMORY
    )
    assert slice_ is not None and slice_.cpu_dir is None and slice_.memory_limit_bytes == 16 * GIB


def test_missing_or_odd_trees_are_not_errors(tmp_path: Path) -> None:
    assert (
        find_cgroup(tmp_path / "absent", tmp_path / "absent2", machine_cpus=2, machine_memory_bytes=GIB)
        is None
    )
    (tmp_path / "cg").mkdir()
    (tmp_path / "self_cgroup").write_text("garbage\n")
    assert (
        find_cgroup(tmp_path / "cg", tmp_path / "self_cgroup", machine_cpus=2, machine_memory_bytes=GIB)
        is None
    )


@pytest.mark.parametrize("version", [1, 2])
def test_container_cpu_charged_by_its_time_share_and_limit(tmp_path: Path, version: int) -> None:
    """4-CPU container on a 64-CPU host modelled at 640 W: busy on 2 of its CPUs for 10 s."""
    if version == 2:
        fake = FakeCgroup.v2(tmp_path, cpu_max="400000 100000", memory_max=str(16 * GIB))
    else:
        fake = FakeCgroup.v1(tmp_path, quota_us=400000, memory_limit=16 * GIB)
    slice_ = find_cgroup(
        fake.root, fake.proc_self_cgroup, machine_cpus=HOST_CPUS, machine_memory_bytes=HOST_MEMORY
    )
    assert slice_ is not None
    scale = CpuScale(640.0, "tdp")
    sensor = CpuModelSensor("machine", cpu_count=HOST_CPUS, scale=scale, cgroup=slice_, clock=lambda: 0.0)
    (info,) = sensor.describe()
    assert info.method == "model:tdp/cgroup"
    assert info.details["cpu_limit"] == 4.0 and info.details["cgroup_version"] == version
    fake.set_cpu_seconds(20.0)  # 20 CPU-seconds in 10 s: half of the 4 allowed CPUs
    power = sensor.read(10.0)["cpu"].value
    per_cpu_full = 640.0 / HOST_CPUS
    assert power == pytest.approx(4 * per_cpu_full * (IDLE_FRACTION + (1 - IDLE_FRACTION) * 0.5))
    assert power < 0.1 * 640.0  # not the host's power
    fake.set_cpu_seconds(60.0)  # 40 CPU-seconds in 10 s: all 4 CPUs
    assert sensor.read(20.0)["cpu"].value == pytest.approx(4 * per_cpu_full)
    sensor.close()


@pytest.mark.parametrize("version", [1, 2])
def test_container_ram_is_its_memory_not_the_hosts(tmp_path: Path, version: int) -> None:
    if version == 2:
        fake = FakeCgroup.v2(tmp_path, memory_max=str(16 * GIB))
    else:
        fake = FakeCgroup.v1(tmp_path, memory_limit=16 * GIB)
    slice_ = find_cgroup(
        fake.root, fake.proc_self_cgroup, machine_cpus=HOST_CPUS, machine_memory_bytes=HOST_MEMORY
    )
    assert slice_ is not None
    fake.set_memory(10 * GIB, 2 * GIB)
    sensor = RamModelSensor("machine", watts_per_gb=0.375, cgroup=slice_)
    assert sensor.method == "model:ram-0.375w-per-gib/cgroup"
    # issue 24: the memory the container holds (its 16 GiB limit), not the 8 GiB it uses now
    assert sensor.read(0.0)["ram"].value == pytest.approx(16 * 0.375)
    assert sensor.describe()[0].details["charged_gib"] == pytest.approx(16.0)
    sensor.close()


def test_host_sensors_in_a_container_charge_the_slice(tmp_path: Path) -> None:
    from powercap import FakePowercap

    from wattwatch.sensors.host import host_sensors

    fake = FakeCgroup.v2(tmp_path, cpu_max="400000 100000", memory_max=str(16 * GIB))
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text(fake.proc_self_cgroup.read_text())
    (proc / "cpuinfo").write_text(
        "\n\n".join(
            f"processor\t: {i}\nmodel name\t: AMD EPYC 7763 64-Core Processor\nphysical id\t: 0"
            for i in range(64)
        )
    )
    FakePowercap.server(tmp_path / "powercap")  # readable, but the whole host package
    sensors = host_sensors(
        powercap_root=tmp_path / "powercap",
        proc_root=proc,
        include_dram=True,
        dmi_root=tmp_path / "no-dmi",
        cgroup_root=fake.root,
        machine_memory_bytes=lambda: HOST_MEMORY,
    )
    methods = [i.method for s in sensors for i in s.describe()]
    assert methods == ["model:tdp/cgroup", "model:ram-0.375w-per-gib/cgroup"]
    for s in sensors:
        s.close()


def test_a_limit_whose_usage_cannot_be_read_is_not_a_slice(tmp_path: Path) -> None:
    fake = FakeCgroup.v2(tmp_path, cpu_max="200000 100000", memory_max=str(GIB))
    (fake.root / fake.path.lstrip("/") / "cpu.stat").unlink()
    (fake.root / fake.path.lstrip("/") / "memory.current").write_text("garbage\n")
    assert _find(fake) is None
