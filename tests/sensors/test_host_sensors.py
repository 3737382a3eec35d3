"""host_sensors: RAPL when readable, the model otherwise (with the reason logged), RAM from dram or the model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest
from powercap import FakePowercap

from wattwatch.sensors.cpu import CpuModelSensor
from wattwatch.sensors.host import host_sensors
from wattwatch.sensors.ram import FixedRamSensor, RamModelSensor
from wattwatch.sensors.rapl import RaplSensor


@pytest.fixture
def proc_root(tmp_path: Path) -> Path:
    root = tmp_path / "proc"
    root.mkdir()
    (root / "cpuinfo").write_text(
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz\nphysical id\t: 0\n\n"
        "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz\nphysical id\t: 0\n"
    )
    return root


def _kinds(sensors: Sequence[object]) -> list[type]:
    return [type(s) for s in sensors]


def test_rapl_readable(tmp_path: Path, proc_root: Path) -> None:
    FakePowercap.server(tmp_path / "powercap")
    sensors = host_sensors(powercap_root=tmp_path / "powercap", proc_root=proc_root)
    assert _kinds(sensors) == [RaplSensor, RamModelSensor]
    assert sensors[0].channels() == ["cpu:package-0", "cpu:package-1"]
    assert sensors[0].describe()[0].model.startswith("Intel(R) Xeon(R) Platinum 8375C")


def test_rapl_with_dram(tmp_path: Path, proc_root: Path) -> None:
    FakePowercap.server(tmp_path / "powercap")
    sensors = host_sensors(powercap_root=tmp_path / "powercap", proc_root=proc_root, include_dram=True)
    assert _kinds(sensors) == [RaplSensor]
    assert "ram:dram-0" in sensors[0].channels()


def test_dram_asked_but_absent_models_ram(tmp_path: Path, proc_root: Path) -> None:
    FakePowercap.server(tmp_path / "powercap", dram=False)
    sensors = host_sensors(powercap_root=tmp_path / "powercap", proc_root=proc_root, include_dram=True)
    assert _kinds(sensors) == [RaplSensor, RamModelSensor]


def test_no_powercap_falls_back_to_model(
    tmp_path: Path, proc_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        sensors = host_sensors(powercap_root=tmp_path / "absent", proc_root=proc_root, tdp_w=50.0)
    assert _kinds(sensors) == [CpuModelSensor, RamModelSensor]
    assert sensors[0].describe()[0].details["tdp_source"] == "user"
    assert any("modelled" in r.getMessage() and "no RAPL" in r.getMessage() for r in caplog.records)
    assert sensors[0].read(1.0)["cpu"].value > 0


def _denying_reader(path: Path) -> str:
    if path.name == "energy_uj":
        raise PermissionError(13, "Permission denied", str(path))
    return path.read_text()


def test_permission_denied_warns_once_and_falls_back(
    tmp_path: Path, proc_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    FakePowercap.server(tmp_path / "powercap")
    with caplog.at_level(logging.INFO):
        sensors = host_sensors(
            powercap_root=tmp_path / "powercap",
            proc_root=proc_root,
            include_dram=True,
            rapl_reader=_denying_reader,
        )
    assert _kinds(sensors) == [CpuModelSensor, RamModelSensor]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "chmod -R a+r" in warnings[0].getMessage()
    assert any(r.levelno == logging.INFO and "permission denied" in r.getMessage() for r in caplog.records)


def test_process_mode_always_models(tmp_path: Path, proc_root: Path) -> None:
    FakePowercap.server(tmp_path / "powercap")
    sensors = host_sensors("process", powercap_root=tmp_path / "powercap", proc_root=proc_root)
    assert _kinds(sensors) == [CpuModelSensor, RamModelSensor]
    assert {s.describe()[0].details["mode"] for s in sensors} == {"process"}


def test_bad_mode_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        host_sensors("cluster", powercap_root=tmp_path)  # type: ignore[arg-type]


def test_forced_cpu_power_models_the_cpu_even_with_rapl(tmp_path: Path, proc_root: Path) -> None:
    """CodeCarbon's force_cpu_power / force_mode_cpu_load: the CPU load model at the given full-load power."""
    FakePowercap.server(tmp_path / "powercap")
    sensors = host_sensors(
        powercap_root=tmp_path / "powercap", proc_root=proc_root, tdp_w=1000.0, cpu_model_only=True
    )
    assert _kinds(sensors) == [CpuModelSensor, RamModelSensor]
    cpu = sensors[0]
    assert isinstance(cpu, CpuModelSensor) and cpu.tdp_w == 1000.0 and cpu.tdp_source == "user"


def test_forced_ram_power_replaces_the_model_and_dram(tmp_path: Path, proc_root: Path) -> None:
    FakePowercap.server(tmp_path / "powercap", dram=True)
    sensors = host_sensors(
        powercap_root=tmp_path / "powercap", proc_root=proc_root, include_dram=True, ram_power_w=12.5
    )
    assert _kinds(sensors) == [RaplSensor, FixedRamSensor]
    assert not any(ch.startswith("ram:") for ch in sensors[0].channels())
    assert sensors[1].read(0.0)["ram"].value == 12.5
    assert sensors[1].describe()[0].method == "user:ram-12.5w"
    with pytest.raises(ValueError, match="RAM power"):
        FixedRamSensor(-1.0)
