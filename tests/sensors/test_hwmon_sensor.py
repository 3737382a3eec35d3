"""HwmonGpuSensor on hwmon trees built in temporary directories (tests/support/fakehwmon.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from fakeamdsmi import FakeAmdGpu, FakeAmdSmi
from fakehwmon import add_gpu, hwmon_root

from wattwatch.sensors.amd import AmdSmiSensor
from wattwatch.sensors.base import ENERGY, POWER
from wattwatch.sensors.hwmon import HwmonGpuSensor, discover_hwmon_gpus, normalise_bus_id

GIB = 1024**3


def _tree(tmp_path: Path) -> Path:
    add_gpu(tmp_path, "coretemp", "0000:00:18.3", {"temp1_input": 45000})
    add_gpu(
        tmp_path,
        "i915",
        "0000:03:00.0",
        {"energy1_input": 1_000_000, "power1_max": 150_000_000},
        device_files={"vendor": "0x8086", "device": "0x56a0"},
    )
    add_gpu(tmp_path, "i915_gt0", "0000:03:00.0", {"energy1_input": 5})  # a part of the device above
    add_gpu(
        tmp_path,
        "xe",
        "0000:04:00.0",
        {"energy1_input": 7_000_000, "energy1_label": "pkg", "energy2_input": 9_000_000, "energy2_label": "card"},
        device_files={"vendor": "0x8086", "device": "0xe20b"},
    )
    add_gpu(
        tmp_path,
        "amdgpu",
        "0000:05:00.0",
        {"power1_input": 210_000_000, "power1_average": 190_000_000, "power1_cap": 300_000_000},
        device_files={"vendor": "0x1002", "device": "0x744c", "mem_info_vram_total": 24 * GIB},
    )
    add_gpu(
        tmp_path,
        "amdgpu",
        "0000:06:00.0",
        {"power1_average": 95_000_000},
        device_files={"vendor": "0x1002", "product_name": "Radeon Pro W6800", "mem_info_vram_total": 32 * GIB},
    )
    add_gpu(
        tmp_path,
        "amdgpu",
        "0000:c4:00.0",
        {"power1_input": 35_000_000},
        device_files={"vendor": "0x1002", "mem_info_vram_total": GIB // 2},  # an APU
    )
    return hwmon_root(tmp_path)


def test_discovery_finds_whole_gpus_and_the_right_file(tmp_path: Path) -> None:
    gpus = {g.pci_bus_id: g for g in discover_hwmon_gpus(_tree(tmp_path))}
    assert sorted(gpus) == ["0000:03:00.0", "0000:04:00.0", "0000:05:00.0", "0000:06:00.0"]
    assert gpus["0000:03:00.0"].file.name == "energy1_input" and gpus["0000:03:00.0"].driver == "i915"
    assert gpus["0000:04:00.0"].file.name == "energy2_input"  # xe: the card, not the package
    assert gpus["0000:05:00.0"].file.name == "power1_input"  # instantaneous over the average
    assert gpus["0000:06:00.0"].file.name == "power1_average"
    assert gpus["0000:03:00.0"].model == "Intel GPU 8086:56a0 (i915)"
    assert gpus["0000:06:00.0"].model == "Radeon Pro W6800"
    assert gpus["0000:05:00.0"].power_cap_w == 300.0 and gpus["0000:03:00.0"].power_cap_w == 150.0


def test_readings_units_and_methods(tmp_path: Path) -> None:
    sensor = HwmonGpuSensor(_tree(tmp_path))
    assert sensor.channels() == ["gpu:0000:03:00.0", "gpu:0000:04:00.0", "gpu:0000:05:00.0", "gpu:0000:06:00.0"]
    methods = {i.channel: i.method for i in sensor.describe()}
    assert methods["gpu:0000:03:00.0"] == "counter" and methods["gpu:0000:05:00.0"] == "power-integral"
    first = sensor.read(10.0)
    assert first["gpu:0000:05:00.0"].kind == POWER and first["gpu:0000:05:00.0"].value == 210.0
    assert first["gpu:0000:06:00.0"].value == 95.0
    assert first["gpu:0000:03:00.0"].kind == ENERGY
    gpu = tmp_path / "class" / "hwmon" / "hwmon1"
    (gpu / "energy1_input").write_text("101000000\n")  # +100 J in 1 s: 100 W
    second = sensor.read(11.0)
    assert second["gpu:0000:03:00.0"].value - first["gpu:0000:03:00.0"].value == pytest.approx(100.0)
    sensor.close()


def test_counter_restart_is_stitched_and_a_jump_is_a_gap(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    gpu = add_gpu(tmp_path, "i915", "0000:03:00.0", {"energy1_input": 50_000_000, "power1_max": 100_000_000})
    sensor = HwmonGpuSensor(hwmon_root(tmp_path))
    channel = "gpu:0000:03:00.0"
    assert sensor.read(0.0)[channel].value == 0.0
    (gpu / "energy1_input").write_text("2000000\n")  # driver reload: restarted, 2 J since
    assert sensor.read(1.0)[channel].value == pytest.approx(2.0)
    assert sensor.describe()[0].details["counter_resets"] == 1
    (gpu / "energy1_input").write_text(f"{2_000_000 + 10**12}\n")  # +1 MJ in 1 s
    with caplog.at_level(logging.WARNING):
        assert sensor.read(2.0) == {}
        assert sensor.read(3.0) == {}
    assert caplog.text.count("jumped") == 1
    (gpu / "energy1_input").write_text("52000000\n")  # back to normal: +50 J over 3 s from the last good read
    assert sensor.read(4.0)[channel].value == pytest.approx(52.0)


def test_megawatt_power_is_dropped_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    add_gpu(
        tmp_path,
        "amdgpu",
        "0000:05:00.0",
        {"power1_input": 4_000_000_000_000, "power1_cap": 300_000_000},
        device_files={"mem_info_vram_total": 16 * GIB},
    )
    sensor = HwmonGpuSensor(hwmon_root(tmp_path))
    with caplog.at_level(logging.WARNING):
        assert sensor.read(0.0) == {} and sensor.read(1.0) == {}
    assert caplog.text.count("4000000 W") == 1


def test_a_vanished_file_is_a_gap_not_an_exception(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    gpu = add_gpu(tmp_path, "xe", "0000:04:00.0", {"energy1_input": 1})
    sensor = HwmonGpuSensor(hwmon_root(tmp_path))
    assert sensor.channels() == ["gpu:0000:04:00.0"]
    (gpu / "energy1_input").write_text("")  # the kernel answers nothing
    with caplog.at_level(logging.WARNING):
        assert sensor.read(1.0) == {} and sensor.read(2.0) == {}
    assert caplog.text.count("recording a gap") == 1


def test_no_hwmon_root_means_no_channels(tmp_path: Path) -> None:
    assert HwmonGpuSensor(tmp_path / "absent").channels() == []


def test_bus_ids_are_normalised() -> None:
    assert normalise_bus_id("00000000:3B:00.0") == "0000:3b:00.0"
    assert normalise_bus_id("0000:3b:00.0") == "0000:3b:00.0"


def test_a_gpu_amdsmi_measures_is_not_counted_again_by_hwmon(
    fake_amdsmi: Callable[..., FakeAmdSmi], tmp_path: Path
) -> None:
    # Precedence: amdsmi (counter, packages) over hwmon. Every GPU amdsmi lists is excluded from hwmon,
    # including the ones this process did not select: they belong to someone else.
    rig = fake_amdsmi([FakeAmdGpu(bdf="0000:05:00.0"), FakeAmdGpu(bdf="0000:07:00.0")])
    amd = AmdSmiSensor([0], library_path=rig.library_path, environ={})
    for bus in ("0000:05:00.0", "0000:07:00.0", "0000:08:00.0"):
        add_gpu(tmp_path, "amdgpu", bus, {"power1_input": 100_000_000}, device_files={"mem_info_vram_total": 16 * GIB})
    hwmon = HwmonGpuSensor(hwmon_root(tmp_path), exclude_pci_bus_ids=[d.bdf for d in amd.devices])
    assert amd.channels() == ["gpu:0"]
    assert hwmon.channels() == ["gpu:0000:08:00.0"]
