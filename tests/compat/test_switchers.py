"""What a CodeCarbon 3.3.2 script meets when its import line says ``wattwatch``: one test per defect of issue 25.

The compatibility classes behave as CodeCarbon does -- they warn where it warns and carry on -- while wattwatch's
own ``Tracker`` stays strict. Every tracker here reads a fake ``/proc`` and finds no GPU and no RAPL, so the
figures are the models' exact ones.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from compathelp import ManualClock, make

from wattwatch import EmissionsTracker, OfflineEmissionsTracker, Tracker, track_emissions
from wattwatch.carbon.intensity import WORLD_AVERAGE_G_PER_KWH, country_intensity, region_intensity
from wattwatch.errors import ConfigurationError
from wattwatch.result import EmissionsData

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``~/.codecarbon.config`` or ``./.codecarbon.config`` but the test's own."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.lower().startswith("codecarbon_"):
            monkeypatch.delenv(name)


@pytest.fixture
def host(tmp_path: Path) -> dict[str, Any]:
    """A host without GPU or RAPL: a fake /proc (two idle CPUs, 8 GiB), no NVML, no powercap."""
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "cpuinfo").write_text(
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz\nphysical id\t: 0\n\n"
        "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz\nphysical id\t: 0\n"
    )
    (proc / "stat").write_text("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\n")
    (proc / "meminfo").write_text("MemTotal:       8388608 kB\nMemAvailable:   4194304 kB\n")
    return dict(
        proc_root=proc,
        nvml_library=tmp_path / "no-libnvidia-ml.so",
        powercap_root=tmp_path / "no-powercap",
        cgroup_root=tmp_path / "no-cgroup",
        dmi_root=tmp_path / "no-dmi",
        handle_signals=False,
        environ={},
    )


def messages(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


def last_row(path: Path) -> dict[str, str]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))[-1]


# -- cloud providers ------------------------------------------------------------------------------------------
def test_aws_and_azure_regions_run_on_the_grid_they_sit_on(tmp_path: Path) -> None:
    """Was: ``ConfigurationError`` for cloud_provider="aws"/"azure", even with a country given."""
    for provider, region, state in (("aws", "us-east-1", "virginia"), ("azure", "westus2", "washington")):
        t = make(tmp_path, cloud_provider=provider, cloud_region=region, country_iso_code="USA")
        t.start()
        t.test_clock.advance(10.0)
        data = t.stop()
        assert data is not None and data > 0
        d = t.final_emissions_data
        assert (d.cloud_provider, d.cloud_region, d.on_cloud) == (provider, region, "Y")
        assert d.region == state and d.country_name == "United States"
        assert d.intensity_g_per_kwh == pytest.approx(region_intensity("USA", state).g_per_kwh)
        assert f"{provider} {region} is in" in d.intensity_source
    row = last_row(tmp_path / "emissions.csv")
    assert row["cloud_provider"] == "azure" and "learn.microsoft.com" in row["intensity_source"]


def test_the_run_commands_own_help_example_runs(tmp_path: Path) -> None:
    """Was: ``wattwatch run --cloud-provider aws --cloud-region us-east-1`` exited 2."""
    help_text = subprocess.run(
        [sys.executable, "-m", "wattwatch", "run", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "us-east-1" in help_text
    done = subprocess.run(
        [sys.executable, "-m", "wattwatch", "run", "--output-dir", str(tmp_path), "--cloud-provider", "aws",
         "--cloud-region", "us-east-1", "--", sys.executable, "-c", "pass"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    row = last_row(tmp_path / "emissions.csv")
    assert (row["cloud_provider"], row["cloud_region"], row["region"]) == ("aws", "us-east-1", "virginia")


# -- unknown places: CodeCarbon's fallbacks, wattwatch's Tracker refuses -------------------------------------
def test_an_unknown_country_runs_on_the_world_average_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        t = make(tmp_path, country_iso_code="XYZ")
    assert "We do not have data for XYZ, using world average." in messages(caplog)
    assert "nearest valid" in messages(caplog)
    t.start()
    t.test_clock.advance(10.0)
    t.stop()
    d = t.final_emissions_data
    assert d.intensity_g_per_kwh == WORLD_AVERAGE_G_PER_KWH and d.country_iso_code == "XYZ"
    assert d.country_name is None and "XYZ" in d.intensity_source
    with pytest.raises(ConfigurationError, match="nearest valid"):
        Tracker(output_dir=tmp_path, country_iso_code="XYZ", handle_signals=False)


def test_an_unknown_region_falls_back_on_its_country(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        t = make(tmp_path, country_iso_code="USA", region="atlantis")
    assert "Regional emissions retrieval failed. Falling back on country emissions." in messages(caplog)
    assert t.intensity.mean_g_per_kwh() == country_intensity("USA").g_per_kwh


def test_an_unknown_cloud_region_uses_the_country_given_else_the_world_average(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        with_country = make(tmp_path, cloud_provider="aws", cloud_region="us-moon-1", country_iso_code="FRA")
        alone = make(tmp_path, cls=OfflineEmissionsTracker, cloud_provider="oracle", cloud_region="x",
                     country_iso_code=None)  # fmt: skip
    assert "Cloud electricity carbon intensity for provider 'aws' and region 'us-moon-1' not found" in messages(caplog)
    assert with_country.intensity.mean_g_per_kwh() == country_intensity("FRA").g_per_kwh
    assert with_country.intensity.source.cloud_region == "us-moon-1"
    assert alone.intensity.mean_g_per_kwh() == WORLD_AVERAGE_G_PER_KWH


# -- bad numbers: warned and ignored, wherever they come from ---------------------------------------------
def test_bad_numbers_in_the_config_file_are_ignored_with_codecarbons_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (Path.home() / ".codecarbon.config").write_text(
        "[codecarbon]\nforce_cpu_power=abc\nmeasure_power_secs=10\nforce_ram_power=50.5\npue=toto\n"
    )
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        t = make(tmp_path)
    text = messages(caplog)
    assert "CONFIG - Value for 'force_cpu_power' must be of type 'float'. Got 'abc'" in text
    assert "It will be ignored." in text and "'pue'" in text
    assert t._force_cpu_power is None and t._force_ram_power == 50.5 and t._measure_power_secs == 10.0
    assert t.pue == 1.0 and t._conf["force_ram_power"] == 50.5


def test_bad_numbers_in_variables_and_arguments_are_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    env = {"CODECARBON_MEASURE_POWER_SECS": "often", "CODECARBON_WUE": "-1"}
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        t = make(tmp_path, environ=env, pue=50, api_call_interval="x")
    text = messages(caplog)
    assert "'measure_power_secs'" in text and "CODECARBON_MEASURE_POWER_SECS" in text
    assert "pue must be at most 5" in text and "wue must be a number >= 0" in text
    assert t._measure_power_secs == 15.0 and t.pue == 1.0 and t.wue == 0.0 and t._api_call_interval == 8
    with pytest.raises(ConfigurationError):  # wattwatch's own Tracker stays strict
        Tracker(output_dir=tmp_path, pue=50, handle_signals=False)


@pytest.mark.parametrize(
    ("value", "says"), [(-1, "must be a non-negative number"), ("invalid", "must be a numeric value"), (6000, "5000")]
)
def test_force_carbon_intensity_negative_or_not_a_number_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, value: object, says: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        t = make(tmp_path, force_carbon_intensity_g_co2e_kwh=value)
    assert f"Invalid value for force_carbon_intensity_g_co2e_kwh: '{value}'" in messages(caplog)
    assert says in messages(caplog)
    assert t.force_carbon_intensity_g_co2e_kwh is None and t._conf["force_carbon_intensity_g_co2e_kwh"] is None
    assert t.intensity.mean_g_per_kwh() == country_intensity("FRA").g_per_kwh


def test_force_carbon_intensity_is_an_attribute_and_is_used(tmp_path: Path) -> None:
    """Was: no ``force_carbon_intensity_g_co2e_kwh`` attribute. Zero is a valid intensity."""
    (Path.home() / ".codecarbon.config").write_text("[codecarbon]\nforce_carbon_intensity_g_co2e_kwh=123.4\n")
    assert make(tmp_path).force_carbon_intensity_g_co2e_kwh == 123.4
    t = make(tmp_path, force_carbon_intensity_g_co2e_kwh=0)
    assert t.force_carbon_intensity_g_co2e_kwh == 0.0 and t.intensity.mean_g_per_kwh() == 0.0


def test_an_empty_log_level_is_the_default_and_an_unknown_one_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Was: ``CODECARBON_LOG_LEVEL=`` (empty) and ``log_level="loud"`` raised."""
    make(tmp_path, environ={"CODECARBON_LOG_LEVEL": ""})
    assert logging.getLogger("codecarbon").level == logging.INFO
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        make(tmp_path, log_level="loud")
    assert "Unknown str log level: loud. Doing nothing." in messages(caplog)
    assert logging.getLogger("codecarbon").level == logging.INFO


def test_an_unreadable_boamps_metadata_file_is_logged_and_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("codecarbon.output", reason="the BoAmps output is CodeCarbon's class")
    bad = tmp_path / "metadata.json"
    bad.write_text("{ invalid json")
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        t = make(tmp_path, output_methods=["boamps"], metadata=str(bad))
        missing = make(tmp_path, output_methods=["boamps"], metadata=str(tmp_path / "nowhere.json"))
    assert "Invalid metadata file" in messages(caplog) and "nowhere.json" in messages(caplog)
    for tracker in (t, missing):
        (boamps,) = tracker._output_handlers
        assert type(boamps).__name__ == "BoAmpsOutput" and boamps._task is None


# -- attributes CodeCarbon users read --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("environ", "gpu_ids", "expected"),
    [
        ({"CUDA_VISIBLE_DEVICES": "2, 3"}, None, ["2", "3"]),
        ({"ROCR_VISIBLE_DEVICES": "1, 2"}, None, ["1", "2"]),
        ({"CUDA_VISIBLE_DEVICES": "0, 1", "ROCR_VISIBLE_DEVICES": "1, 2"}, None, ["0", "1"]),
        ({"CUDA_VISIBLE_DEVICES": "0"}, [1, "GPU-ab$cd"], [1, "GPU-abcd"]),
        ({}, None, None),
    ],
)
def test_gpu_ids_come_from_the_option_else_the_visible_devices(
    tmp_path: Path, environ: dict[str, str], gpu_ids: Any, expected: Any
) -> None:
    kwargs = {} if gpu_ids is None else {"gpu_ids": gpu_ids}
    t = make(tmp_path, environ=environ, **kwargs)
    assert t._gpu_ids == expected
    assert t.get_detected_hardware()["gpu_ids"] == expected


def test_codecarbons_private_attributes_hold_its_values(tmp_path: Path) -> None:
    t = make(tmp_path, project_name="p", emissions_endpoint="http://127.0.0.1:9", electricitymaps_api_token="tok")
    assert (t._project_name, t._output_dir, t._emissions_endpoint) == ("p", tmp_path, "http://127.0.0.1:9")
    assert t._electricitymaps_api_token == "tok" and t._conf["project_name"] == "p"
    assert t._hardware == [] and t._conf["codecarbon_version"] == "3.3.2"
    t.start()
    assert len(t._hardware) == 1
    t.stop()


def test_emissions_data_has_tojson(tmp_path: Path) -> None:
    """Was: no ``toJSON()`` (CodeCarbon's notebook example prints ``tracker.final_emissions_data.toJSON()``)."""
    t = make(tmp_path)
    t.start()
    t.test_clock.advance(5.0)
    t.stop()
    text = t.final_emissions_data.toJSON()
    decoded = json.loads(text)
    assert decoded["emissions"] == t.final_emissions and decoded["country_name"] == "France"
    assert list(decoded) == sorted(decoded) and text.startswith('{\n    "')
    assert EmissionsData().toJSON()


def test_an_unknown_place_is_none_in_memory_and_empty_in_the_csv(tmp_path: Path) -> None:
    t = make(tmp_path, country_iso_code=None)
    t.start_task("one")
    t.test_clock.advance(5.0)
    task = t.stop_task()
    t.stop()
    assert task.country_name is None and t.final_emissions_data.country_name is None
    assert t.final_emissions_data.country_iso_code is None
    row = last_row(tmp_path / "emissions.csv")
    assert row["country_name"] == "" and row["country_iso_code"] == ""
    with Tracker(output_dir=tmp_path / "own", sensors=t.config.sensors, handle_signals=False) as own:
        pass
    assert own.final_emissions_data is not None and own.final_emissions_data.country_name == ""


# -- force_cpu_power: CodeCarbon's numbers on CodeCarbon's classes ----------------------------------------------
def test_forced_cpu_power_follows_codecarbons_curve_and_wattwatchs_tracker_its_own(
    tmp_path: Path, host: dict[str, Any]
) -> None:
    """Idle fake machine (its /proc/stat never moves): CodeCarbon's curve charges 10 % of the forced power,
    wattwatch's load model its idle share (21 %)."""
    with OfflineEmissionsTracker(country_iso_code="FRA", force_cpu_power=1000, force_ram_power=7,
                                 output_dir=tmp_path / "cc", **host) as cc:  # fmt: skip
        pass
    data = cc.final_emissions_data
    assert data.cpu_method == "model:cpu-codecarbon-load/machine"
    assert data.cpu_power == 100.0 and data.ram_power == 7.0  # exact: the mean power while measured
    assert float(last_row(tmp_path / "cc" / "emissions.csv")["cpu_power"]) == 100.0
    with Tracker(country_iso_code="FRA", force_cpu_power=1000, output_dir=tmp_path / "ww", **host) as own:
        pass
    assert own.final_emissions_data is not None
    assert own.final_emissions_data.cpu_method == "model:user-tdp/machine"
    assert own.final_emissions_data.cpu_power == pytest.approx(1000 * 0.74 / 3.5, rel=0.05)  # energy / duration


def test_forced_cpu_power_reads_the_machine_load_every_second(tmp_path: Path, host: dict[str, Any]) -> None:
    clock = ManualClock()  # frozen between the test's steps: the sampler thread's ticks read nothing new
    t = OfflineEmissionsTracker(country_iso_code="FRA", force_cpu_power=1000, output_dir=tmp_path, clock=clock,
                                **host)  # fmt: skip
    t.start()
    assert t._session is not None and t._session.sampler.slow_every_s == 1.0
    with open(host["proc_root"] / "stat", "r+") as fh:  # busy 200 of 300 CPU-seconds since the start
        fh.write("cpu  200 0 200 900 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\n")
    clock.advance(1.0)
    t.flush()
    snap = t.snapshot()
    t.stop()
    assert snap is not None and snap.channels["cpu"].power_w == pytest.approx(1000 * (0.1 + 0.9 * (200 / 300) ** 3))


# -- CodeCarbon prints its warnings; so do its classes here -----------------------------------------------------
PROGRAM = """
import logging, sys
{setup}
from wattwatch import EmissionsTracker
EmissionsTracker(api_key="k", output_dir=sys.argv[1], force_cpu_power="abc")
"""


@pytest.mark.parametrize("setup", ["", "logging.basicConfig(level=logging.WARNING)"])
def test_warnings_are_printed_without_any_logging_configured(tmp_path: Path, setup: str) -> None:
    """Was: nothing printed unless the program configured logging. Printed once either way."""
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(setup=setup), str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    online = [line for line in lines if "online-only" in line and "api_key" in line]
    assert len(online) == 1, done.stderr
    assert len([line for line in lines if "force_cpu_power" in line and "ignored" in line]) == 1
    if not setup:
        assert online[0].startswith("[codecarbon WARNING @ ")


def test_decorator_passes_the_intensity_through(tmp_path: Path) -> None:
    @track_emissions(offline=True, country_iso_code="FRA", force_carbon_intensity_g_co2e_kwh=321.0,
                     output_dir=str(tmp_path), save_to_file=True)  # fmt: skip
    def work() -> int:
        return 7

    with pytest.warns(DeprecationWarning):
        assert work() == 7
    assert float(last_row(tmp_path / "emissions.csv")["intensity_g_per_kwh"]) == pytest.approx(321.0, rel=1e-12)


def test_online_tracker_ignores_a_place_in_files_as_codecarbon(tmp_path: Path) -> None:
    (Path.home() / ".codecarbon.config").write_text("[codecarbon]\ncountry_iso_code=XYZ\n")
    t = EmissionsTracker(output_dir=tmp_path, handle_signals=False, sensors=[])
    assert t.intensity.source.kind == "default" and not t.intensity.source.country_iso_code
