"""The run's row carries its embodied CO2 (Boavizta), next to the operational figure; options and their errors."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fakenvml import FakeNvml, make_gpus
from fakesensors import ConstantPowerSensor

from wattwatch import Tracker
from wattwatch.carbon.embodied import Hardware, amortise, manufacture_footprint
from wattwatch.carbon.embodied_slice import embodied_slice
from wattwatch.errors import ConfigurationError


def _row(path: Path) -> dict[str, str]:
    with open(path, newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    return row


def test_four_fake_h100s_row_has_the_hardware_share(tmp_path: Path, fake_nvml: Callable[..., FakeNvml]) -> None:
    library, _, _ = fake_nvml(make_gpus(4))  # "NVIDIA H100 80GB HBM3" x 4
    with Tracker(
        output_dir=tmp_path,
        nvml_library=library,  # type: ignore[arg-type]
        powercap_root=tmp_path / "no-powercap",
        carbon_intensity_g_per_kwh=100.0,
        handle_signals=False,
        save_timeseries=False,
        embodied_lifetime_years=5,
        embodied_use_ratio=0.5,
    ) as t:
        time.sleep(0.2)
    data = t.final_emissions_data
    assert data is not None and data.gpu_model == "4 x NVIDIA H100 80GB HBM3"
    charged = embodied_slice(t.channel_infos, data)  # the slice its energy was charged by (this host's rule)
    hw = Hardware(
        gpu_models=("NVIDIA H100 80GB HBM3",) * 4,
        cpu_model=data.cpu_model,
        cpu_threads=int(data.cpu_count),
        ram_gb=data.ram_total_size,
        charged=charged,
    )
    expected = amortise(manufacture_footprint(hw), data.duration, lifetime_years=5, use_ratio=0.5)
    assert data.embodied_emissions == pytest.approx(expected.kg, rel=1e-12)
    assert f"slice={charged.rule}" in data.embodied_source
    # a 4 x H100 host's manufacture (4 x 575 kg of GPUs, charged whole) over 5 y at half use
    assert expected.footprint.kg > 4 * 575
    assert data.embodied_emissions == pytest.approx(expected.footprint.kg * data.duration / (5 * 8760 * 3600 * 0.5))
    assert "lifetime_y=5; use_ratio=0.5" in data.embodied_source and "gpu=NVIDIA H100 SXM 80GB" in data.embodied_source
    row = _row(tmp_path / "emissions.csv")
    assert float(row["embodied_emissions"]) == data.embodied_emissions
    assert row["embodied_source"] == data.embodied_source
    assert float(row["emissions"]) == data.emissions  # the operational figure is untouched, in its own column


def test_cpu_only_run_and_defaults(tmp_path: Path) -> None:
    sensor = ConstantPowerSensor(50.0, component="cpu", model="AMD EPYC 7763 64-Core Processor")
    with Tracker(output_dir=tmp_path, sensors=[sensor], carbon_intensity_g_per_kwh=50.0, save_timeseries=False) as t:
        time.sleep(0.1)
    data = t.final_emissions_data
    assert data is not None and data.gpu_count == 0
    assert data.embodied_emissions is not None and data.embodied_emissions > 0
    assert "lifetime_y=4; use_ratio=1" in data.embodied_source and "cpu=AMD EPYC 7763" in data.embodied_source


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"embodied_lifetime_years": 0}, "embodied_lifetime_years must be a positive number"),
        ({"embodied_lifetime_years": "four"}, "embodied_lifetime_years"),
        ({"embodied_use_ratio": 0}, r"embodied_use_ratio must be in \(0, 1\]"),
        ({"embodied_use_ratio": 1.5}, "embodied_use_ratio"),
    ],
)
def test_bad_embodied_options_fail_in_the_constructor(kwargs: dict[str, object], match: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Tracker(output_dir=tmp_path, **kwargs)  # type: ignore[arg-type]


def test_eval_metrics_in_the_row(tmp_path: Path) -> None:
    sensor = ConstantPowerSensor(100.0)
    with Tracker(output_dir=tmp_path, sensors=[sensor], carbon_intensity_g_per_kwh=50.0, save_timeseries=False) as t:
        t.set_eval_metrics({"eval_loss": 2.0, "eval_runtime": 1.0})
        t.set_eval_metrics({"eval_loss": 1.5, "eval_accuracy": 0.7})  # the last evaluation wins
    row = _row(tmp_path / "emissions.csv")
    assert row["eval_metrics"] == '{"eval_accuracy":0.7,"eval_loss":1.5}'


def test_cli_has_the_embodied_options() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "wattwatch", "run", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--embodied-lifetime-years" in out and "--embodied-use-ratio" in out


def test_start_and_stop_do_not_load_heavy_libraries(tmp_path: Path) -> None:
    code = (
        "import sys, time; from wattwatch import Tracker; from fakesensors import ConstantPowerSensor;"
        f"t = Tracker(output_dir={str(tmp_path)!r}, sensors=[ConstantPowerSensor(10.0)], save_timeseries=False,"
        " carbon_intensity_g_per_kwh=10.0); t.start(); t.stop();"
        "print(t.final_emissions_data.embodied_emissions > 0,"
        " sorted(m for m in ('pandas', 'scipy', 'boaviztapi', 'numpy', 'matplotlib') if m in sys.modules))"
    )
    support = str(Path(__file__).resolve().parents[1] / "support")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONPATH": support}
    ).stdout
    assert out.strip() == "True []"
