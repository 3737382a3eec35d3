"""GPU discovery beyond NVIDIA: AMD through amdsmi (the fake libamd_smi.so) and Intel/amdgpu through hwmon (trees in
temporary directories), as a Tracker finds them, and which process owns which die in a distributed run."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path

import fakeamdsmi
import fakenvml
import pytest
from fakeamdsmi import Constant, FakeAmdGpu, FakeAmdSmi
from fakehwmon import add_gpu, hwmon_root
from fakenvml import FakeNvml

from wattwatch import Tracker
from wattwatch.measure.ledger import J_PER_KWH
from wattwatch.result import EmissionsData
from wattwatch.run.hardware import Hardware, HardwareRoots, amd_possible

AmdRig = Callable[..., FakeAmdSmi]
GIB = 1024**3


def _roots(tmp_path: Path, rig: FakeAmdSmi | None = None, **kw: object) -> dict[str, object]:
    """Tracker keywords that keep the host's own hardware out: no NVML, empty powercap and hwmon trees."""
    (tmp_path / "powercap").mkdir(exist_ok=True)
    hwmon = kw.pop("hwmon_root", tmp_path / "no-hwmon")
    return {
        "nvml_library": tmp_path / "no-libnvidia-ml.so.1",
        "powercap_root": tmp_path / "powercap",
        "hwmon_root": hwmon,
        "amd_library": rig.library_path if rig is not None else None,
        "environ": {},
        "output_dir": tmp_path,
        "save_timeseries": False,
        "handle_signals": False,
        "country_iso_code": "FRA",
        **kw,
    }


def _window(tracker: Tracker, channel: str) -> tuple[float, float]:
    snap = tracker.snapshot()
    assert snap is not None
    ch = snap.channels[channel]
    assert ch.first_t is not None and ch.last_t is not None
    return ch.first_t, ch.last_t


def test_a_tracker_measures_amd_gpus_with_the_row_fields_nvidia_has(
    fake_amdsmi: AmdRig, tmp_path: Path
) -> None:
    gpus = [FakeAmdGpu(trace=(Constant(300.0),)), FakeAmdGpu(trace=(Constant(150.0),), counter=False)]
    gpus += fakeamdsmi.mi250_package((Constant(400.0),), oam_id=7)
    rig = fake_amdsmi(gpus)
    tracker = Tracker(**_roots(tmp_path, rig))  # type: ignore[arg-type]
    tracker.start()
    time.sleep(0.5)
    tracker.stop()
    data = tracker.final_emissions_data
    assert data is not None
    assert data.gpu_count == 3  # the MI250X's two dies are one package
    assert data.gpu_model == "2 x AMD Instinct MI300X, 1 x AMD Instinct MI250X"
    assert sorted(data.gpu_energy_by_device_kwh) == ["gpu:0", "gpu:1", "gpu:2"]
    assert data.gpu_method == "counter+power-integral"
    assert data.gpu_method_by_device == {"gpu:0": "counter", "gpu:1": "power-integral", "gpu:2": "counter"}
    for channel, index in (("gpu:0", 0), ("gpu:2", 2)):
        first, last = _window(tracker, channel)
        truth_kwh = rig.energy_j(index, first, last) / J_PER_KWH
        assert data.gpu_energy_by_device_kwh[channel] == pytest.approx(truth_kwh, rel=1e-3)
    with open(tmp_path / "emissions.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert EmissionsData.from_row(row).gpu_method_by_device == data.gpu_method_by_device


def test_nvidia_gpus_take_precedence_over_amd_ones(
    fake_nvml: Callable[..., FakeNvml], fake_amdsmi: AmdRig, tmp_path: Path
) -> None:
    nv = fake_nvml(fakenvml.make_gpus(2))
    rig = fake_amdsmi(fakeamdsmi.make_gpus(3))
    kw = _roots(tmp_path, rig)
    kw["nvml_library"] = nv.library_path
    with Tracker(**kw) as tracker:  # type: ignore[arg-type]
        pass
    data = tracker.final_emissions_data
    assert data is not None and data.gpu_count == 2 and "NVIDIA" in data.gpu_model


def test_hwmon_gpus_join_and_amdsmi_keeps_its_own(fake_amdsmi: AmdRig, tmp_path: Path) -> None:
    rig = fake_amdsmi([FakeAmdGpu(bdf="0000:05:00.0")])
    root = tmp_path / "sys"
    add_gpu(
        root, "amdgpu", "0000:05:00.0", {"power1_input": 1}, device_files={"mem_info_vram_total": 64 * GIB}
    )
    add_gpu(root, "i915", "0000:03:00.0", {"energy1_input": 1_000_000})
    with Tracker(**_roots(tmp_path, rig, hwmon_root=hwmon_root(root))) as tracker:  # type: ignore[arg-type]
        time.sleep(0.05)
    data = tracker.final_emissions_data
    assert data is not None
    assert sorted(data.gpu_energy_by_device_kwh) == ["gpu:0", "gpu:0000:03:00.0"]
    assert data.gpu_method_by_device["gpu:0000:03:00.0"] == "counter"
    # gpu_ids chooses GPUs: hwmon's, which cannot be chosen, stay out.
    with Tracker(**_roots(tmp_path, rig, hwmon_root=hwmon_root(root), gpu_ids=[0])) as chosen:  # type: ignore[arg-type]
        pass
    assert chosen.final_emissions_data is not None
    assert list(chosen.final_emissions_data.gpu_energy_by_device_kwh) == ["gpu:0"]


def test_without_amdsmi_an_amdgpu_is_measured_through_hwmon(tmp_path: Path) -> None:
    root = tmp_path / "sys"
    add_gpu(
        root,
        "amdgpu",
        "0000:05:00.0",
        {"power1_input": 123_000_000},
        device_files={"mem_info_vram_total": 8 * GIB},
    )
    kw = _roots(tmp_path, None, hwmon_root=hwmon_root(root))
    kw["amd_library"] = tmp_path / "no-libamd_smi.so"  # amdsmi is tried and fails: hwmon measures the board
    with Tracker(**kw) as tracker:  # type: ignore[arg-type]
        time.sleep(0.05)
    data = tracker.final_emissions_data
    assert data is not None and data.gpu_method_by_device == {"gpu:0000:05:00.0": "power-integral"}
    first, last = _window(tracker, "gpu:0000:05:00.0")
    assert data.gpu_energy_by_device_kwh["gpu:0000:05:00.0"] * J_PER_KWH == pytest.approx(
        123.0 * (last - first)
    )


def test_amdsmi_is_asked_only_on_hosts_that_show_an_amd_gpu(tmp_path: Path) -> None:
    root = tmp_path / "sys"
    hw = hwmon_root(root)
    kfd = tmp_path / "kfd"
    assert not amd_possible(HardwareRoots(hwmon_root=hw, kfd_path=kfd))
    add_gpu(root, "i915", "0000:03:00.0", {"energy1_input": 1})
    assert not amd_possible(HardwareRoots(hwmon_root=hw, kfd_path=kfd))
    assert amd_possible(HardwareRoots(hwmon_root=hw, kfd_path=kfd, amd_library="/x/libamd_smi.so"))
    kfd.write_text("")
    assert amd_possible(HardwareRoots(hwmon_root=hw, kfd_path=kfd))
    kfd.unlink()
    add_gpu(root, "amdgpu", "0000:05:00.0", {"power1_input": 1})
    assert amd_possible(HardwareRoots(hwmon_root=hw, kfd_path=kfd))


def test_hwmon_is_opened_only_where_hwmon_lists_a_gpu_driver(tmp_path: Path) -> None:
    from wattwatch.run.hardware import HWMON_GPU_DRIVERS, hwmon_gpu_possible
    from wattwatch.sensors.hwmon import GPU_DRIVERS

    assert set(GPU_DRIVERS) == HWMON_GPU_DRIVERS  # the list repeated in run.hardware stays the sensor's
    root = tmp_path / "sys"
    hw = hwmon_root(root)
    assert not hwmon_gpu_possible(HardwareRoots(hwmon_root=tmp_path / "missing"))
    assert not hwmon_gpu_possible(HardwareRoots(hwmon_root=hw))
    (hw / "hwmon9").mkdir()
    (hw / "hwmon9" / "name").write_text("coretemp\n")
    assert not hwmon_gpu_possible(HardwareRoots(hwmon_root=hw))
    add_gpu(root, "xe", "0000:03:00.0", {"energy1_input": 1})
    assert hwmon_gpu_possible(HardwareRoots(hwmon_root=hw))


def test_host_and_rapl_agree_on_the_powercap_root() -> None:
    from wattwatch.sensors import host, rapl

    assert host.DEFAULT_POWERCAP_ROOT == rapl.DEFAULT_POWERCAP_ROOT


def _rank_env(rank: int, world: int, **extra: str) -> dict[str, str]:
    return {
        "RANK": str(rank),
        "WORLD_SIZE": str(world),
        "LOCAL_RANK": str(rank),
        "LOCAL_WORLD_SIZE": str(world),
        "MASTER_ADDR": "127.0.0.1",
        "WATTWATCH_NODE_ID": "node-a",
        **extra,
    }


def _open(rig: FakeAmdSmi, tmp_path: Path, environ: dict[str, str]) -> Hardware:
    roots = HardwareRoots(
        nvml_library=tmp_path / "no-libnvidia-ml.so.1",
        powercap_root=tmp_path,
        environ=environ,
        amd_library=rig.library_path,
        hwmon_root=tmp_path / "no-hwmon",
    )
    return Hardware.open(
        roots=roots,
        run_id="r",
        fixed_run_id=True,
        gpu_ids=None,
        sensors=None,
        tracking_mode="machine",
        pid=None,
        include_dram=False,
    )


def _gpu_channels(hw: Hardware) -> list[str]:
    return [i.channel for i in hw.infos if i.component == "gpu"]


def test_one_rank_per_die_counts_each_mi250_package_once(fake_amdsmi: AmdRig, tmp_path: Path) -> None:
    # Four GCDs (two MI250X OAMs), four ranks: GPU[local rank] gives each rank a die; the package is counted by
    # the rank that owns its reporting die, and the ranks on the other dies count nothing.
    rig = fake_amdsmi(fakeamdsmi.mi250_package((Constant(400.0),), oam_id=0) + fakeamdsmi.mi250_package(
        (Constant(300.0),), oam_id=1))  # fmt: skip
    channels = {}
    for rank in range(4):
        hw = _open(rig, tmp_path, _rank_env(rank, 4))
        channels[rank] = _gpu_channels(hw)
        assert hw.ownership.rule.startswith("GPU[local rank]")
        hw.close()
    assert channels == {0: ["gpu:0"], 1: [], 2: ["gpu:2"], 3: []}


def test_ranks_follow_the_rocm_visibility_variables(fake_amdsmi: AmdRig, tmp_path: Path) -> None:
    # The job sees GPUs 2 and 3 only (ROCR_VISIBLE_DEVICES); two ranks: rank 0 -> GPU 2, rank 1 -> GPU 3.
    rig = fake_amdsmi(fakeamdsmi.make_gpus(4))
    seen = {}
    for rank in range(2):
        hw = _open(rig, tmp_path, _rank_env(rank, 2, ROCR_VISIBLE_DEVICES="2,3"))
        seen[rank] = _gpu_channels(hw)
        hw.close()
    assert seen == {0: ["gpu:2"], 1: ["gpu:3"]}


def test_more_ranks_than_gpus_leave_the_gpus_to_local_rank_0(fake_amdsmi: AmdRig, tmp_path: Path) -> None:
    rig = fake_amdsmi(fakeamdsmi.make_gpus(2))
    seen = {}
    for rank in range(4):
        hw = _open(rig, tmp_path, _rank_env(rank, 4))
        seen[rank] = _gpu_channels(hw)
        hw.close()
    assert seen == {0: ["gpu:0", "gpu:1"], 1: [], 2: [], 3: []}
