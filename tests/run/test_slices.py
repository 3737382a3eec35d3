"""The run's slice, wired end to end: a VM, a container, tdp_w, a shared GPU -- from the Tracker's options (and
the CLI's and callbacks') through discovery to the row's methods, slices and error band."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cgrouptree import FakeCgroup
from fakenvml import Constant, FakeGpu, FakeNvml, FakeProcess
from fakesensors import ConstantPowerSensor

from wattwatch import Tracker
from wattwatch.cli.options import add_tracker_options, tracker_kwargs
from wattwatch.errors import ConfigurationError
from wattwatch.measure.ledger import J_PER_KWH
from wattwatch.result import CODECARBON_COLUMNS, WATTWATCH_COLUMNS

GIB = 2**30


def fake_proc(root: Path, model: str = "AMD EPYC", vcpus: int = 2, hypervisor: bool = True) -> Path:
    """A /proc with cpuinfo, a static stat, meminfo (4 GiB in use) and no cgroup file."""
    flags = "fpu vme" + (" hypervisor" if hypervisor else "") + " avx2"
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpuinfo").write_text(
        "\n\n".join(
            f"processor\t: {i}\nmodel name\t: {model}\nphysical id\t: 0\nflags\t\t: {flags}"
            for i in range(vcpus)
        )
        + "\n"
    )
    (root / "stat").write_text("cpu  100 0 100 800 0 0 0 0 0 0\n")
    (root / "meminfo").write_text("MemTotal:       16777216 kB\nMemAvailable:   12582912 kB\n")
    return root


def tracker(tmp_path: Path, proc: Path, **kw: object) -> Tracker:
    kw.setdefault("nvml_library", tmp_path / "no-libnvidia-ml.so")
    kw.setdefault("powercap_root", tmp_path / "no-powercap")
    kw.setdefault("dmi_root", tmp_path / "no-dmi")
    kw.setdefault("cgroup_root", tmp_path / "no-cgroup")
    return Tracker(output_dir=tmp_path, proc_root=proc, carbon_intensity_g_per_kwh=100.0, **kw)  # type: ignore[arg-type]


def test_new_columns_come_after_codecarbons() -> None:
    for name in ("gpu_slice", "cpu_slice", "ram_slice", "energy_low_kwh", "energy_high_kwh", "energy_band"):
        assert name in WATTWATCH_COLUMNS and name not in CODECARBON_COLUMNS


def test_vm_row_names_the_rule_and_carries_a_wide_band(tmp_path: Path) -> None:
    with tracker(tmp_path, fake_proc(tmp_path / "proc")) as t:
        time.sleep(0.2)
    d = t.final_emissions_data
    assert d is not None
    assert d.cpu_method == "model:vm-vcpu/machine" and d.cpu_slice == "vm-vcpu/machine"
    assert d.ram_method == "model:ram-0.375w-per-gib/machine" and d.ram_slice == "machine"
    assert d.cpu_power == pytest.approx(2 * 0.74, rel=0.05)  # idle VM: 2 vCPUs x 0.74 W, not 85 W
    assert d.energy_low_kwh is not None and d.energy_high_kwh is not None
    assert d.energy_low_kwh < d.energy_consumed < d.energy_high_kwh
    assert (d.energy_high_kwh - d.energy_low_kwh) / d.energy_consumed > 0.8  # models: a wide band
    assert d.energy_band == "cpu=vm-vcpu ram=tdp-model"


def test_tdp_w_and_vcpu_w_reach_the_cpu_model(tmp_path: Path) -> None:
    with tracker(tmp_path, fake_proc(tmp_path / "proc"), tdp_w=20.0) as t:
        pass
    assert t.final_emissions_data is not None and t.final_emissions_data.cpu_slice == "user-tdp/machine"
    with tracker(tmp_path, fake_proc(tmp_path / "proc"), vcpu_w=5.0) as t:
        time.sleep(0.1)
    d = t.final_emissions_data
    assert d is not None and d.cpu_slice == "vm-vcpu/machine"
    assert d.cpu_power == pytest.approx(2 * 5.0 * 0.74 / 3.5, rel=0.05)


@pytest.mark.parametrize("bad", [{"tdp_w": 0}, {"vcpu_w": -2.0}, {"tdp_w": "many"}])
def test_bad_slice_options_fail_before_the_run(tmp_path: Path, bad: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(bad))):
        Tracker(output_dir=tmp_path, **bad)  # type: ignore[arg-type]


def test_container_row_says_cgroup(tmp_path: Path) -> None:
    fake = FakeCgroup.v2(tmp_path, cpu_max="100000 100000", memory_max=str(GIB))
    proc = fake_proc(
        tmp_path / "proc", model="Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", hypervisor=False
    )
    (proc / "self").mkdir()
    (proc / "self" / "cgroup").write_text(fake.proc_self_cgroup.read_text())
    fake.set_memory(GIB // 2, 0)
    with tracker(tmp_path, proc, cgroup_root=fake.root) as t:
        time.sleep(0.1)
    d = t.final_emissions_data
    assert d is not None
    assert d.cpu_method == "model:tdp/cgroup" and d.ram_method == "model:ram-0.375w-per-gib/cgroup"
    # issue 24: the memory the container holds (its 1 GiB limit), not the host's, nor the 0.5 GiB it uses now
    assert d.ram_power == pytest.approx(1.0 * 0.375, rel=1e-2)


def test_gpu_share_row_is_an_estimate(
    tmp_path: Path, fake_nvml: Callable[..., FakeNvml], fake_nvml_library: Path
) -> None:
    me = os.getpid()
    fake_nvml([FakeGpu(trace=(Constant(300.0),), procs=(FakeProcess(me, 60), FakeProcess(me + 100000, 20)))])
    proc = fake_proc(tmp_path / "proc")
    with tracker(tmp_path, proc, nvml_library=fake_nvml_library, gpu_share=True, measure_power_secs=0.1) as t:
        time.sleep(2.0)  # the window's ends are stamped just before their NVML calls: a thread descheduled for
        # 20 ms between the two on a loaded machine moved a 0.6 s window's power by 3.5 %, 1 % of this one
    d = t.final_emissions_data
    assert d is not None
    assert d.gpu_method == "estimate:gpu-process-share" and d.gpu_slice == "gpu-process-share"
    assert d.gpu_power == pytest.approx(0.75 * 300.0, rel=0.02)  # the split itself is exact: tests/sensors
    assert "gpu=share-estimate*nvml-counter" in d.energy_band


def test_row_band_contains_the_exact_energy(tmp_path: Path) -> None:
    sensor = ConstantPowerSensor(250.0, n=2)
    with Tracker(output_dir=tmp_path, sensors=[sensor], carbon_intensity_g_per_kwh=100.0) as t:
        time.sleep(0.3)
    d = t.final_emissions_data
    assert d is not None and d.energy_low_kwh is not None and d.energy_high_kwh is not None
    exact = sensor.exact_read_window_j() / J_PER_KWH
    assert d.energy_low_kwh <= exact <= d.energy_high_kwh


def test_cli_offers_the_slice_options() -> None:
    parser = argparse.ArgumentParser()
    add_tracker_options(parser)
    args = parser.parse_args(["--tdp-w", "20", "--vcpu-w", "2.5", "--gpu-share", "--cgroup-root", "/x"])
    assert tracker_kwargs(args) == {"tdp_w": 20.0, "vcpu_w": 2.5, "gpu_share": True, "cgroup_root": "/x"}


def test_callbacks_take_the_slice_options() -> None:
    pytest.importorskip("transformers")
    from wattwatch.callbacks.huggingface import WattwatchCallback

    cb = WattwatchCallback(tdp_w=20.0, vcpu_w=2.0, gpu_share=True)
    assert cb.tracker_kwargs == {"tdp_w": 20.0, "vcpu_w": 2.0, "gpu_share": True}
    with pytest.raises(ConfigurationError, match="tdp_w"):
        WattwatchCallback(tdp_w=-1.0)
