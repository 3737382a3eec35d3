"""AmdSmiSensor against the fake libamd_smi.so, loaded by the real amdsmi binding from PyPI.

Energy checks bracket each read between two ``time.monotonic()`` calls: the fake's counter is the exact integral
of the trace up to the instant of the read, so a delta must lie between the exact energies of the inner and the
outer bracket -- a bound with no timing threshold.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import fakeamdsmi
import pytest
from fakeamdsmi import Constant, FakeAmdGpu, FakeAmdSmi

from wattwatch.sensors.amd import STUCK_S, AmdSmiSensor
from wattwatch.sensors.base import ENERGY, POWER, Reading

Rig = Callable[..., FakeAmdSmi]


def _sensor(rig: FakeAmdSmi, gpu_ids: object = None, environ: dict[str, str] | None = None, **kw: object) -> AmdSmiSensor:
    return AmdSmiSensor(gpu_ids, library_path=rig.library_path, environ=environ or {}, **kw)  # type: ignore[arg-type]


def _bracketed_read(sensor: AmdSmiSensor) -> tuple[float, float, dict[str, float]]:
    before = time.monotonic()
    readings = sensor.read(before)
    after = time.monotonic()
    return before, after, {k: r.value for k, r in readings.items()}


def _assert_delta_exact(rig: FakeAmdSmi, index: int, first: tuple, second: tuple, channel: str) -> float:
    (b1, a1, r1), (b2, a2, r2) = first, second
    delta = r2[channel] - r1[channel]
    res_j = 15.259e-6
    assert rig.energy_j(index, a1, b2) - 2 * res_j <= delta <= rig.energy_j(index, b1, a2) + 2 * res_j
    return delta


# ---------------------------------------------------------------------------------------------- the rig


def test_the_real_binding_loads_the_fake_and_agrees_on_every_struct_layout(fake_amdsmi: Rig) -> None:
    rig = fake_amdsmi(fakeamdsmi.make_gpus(1))
    sensor = _sensor(rig)
    import amdsmi

    loaded = amdsmi.amdsmi_wrapper._libraries["libamd_smi.so"]._name
    assert os.path.samefile(loaded, rig.library_path)
    for name in fakeamdsmi.ABI_STRUCTS:
        import ctypes

        assert fakeamdsmi.struct_size(rig.library_path, name) == ctypes.sizeof(getattr(amdsmi.amdsmi_wrapper, name))
    sensor.close()


def test_describe_reports_the_boards_facts(fake_amdsmi: Rig) -> None:
    rig = fake_amdsmi([FakeAmdGpu(name="AMD Instinct MI300X", power_cap_w=750.0, bdf="0000:c1:00.0")])
    sensor = _sensor(rig)
    (info,) = sensor.describe()
    assert sensor.channels() == ["gpu:0"]
    assert (info.component, info.method, info.model) == ("gpu", "counter", "AMD Instinct MI300X")
    d = info.details
    assert d["vendor"] == "amd" and d["pci_bus_id"] == "0000:c1:00.0" and d["power_limit_w"] == 750.0
    assert d["hip_uuid"] == fakeamdsmi.default_hip_uuid(0) and d["uuid"] == fakeamdsmi.default_uuid(0)
    assert d["implausible_above_w"] == 3 * 750.0
    assert d["counter_resolution_uj"] == pytest.approx(15.259, rel=1e-6)
    assert d["driver_version"] == "6.10.5"
    sensor.close()
    assert sensor.read(time.monotonic()) == {}


# ---------------------------------------------------------------------------------------------- counter path


def test_counter_is_scaled_by_its_resolution_to_exact_joules(fake_amdsmi: Rig) -> None:
    rig = fake_amdsmi([FakeAmdGpu(trace=(Constant(250.0),), energy_offset_uj=123456789.0)])
    sensor = _sensor(rig)
    first = _bracketed_read(sensor)
    time.sleep(0.2)
    second = _bracketed_read(sensor)
    assert sensor.read(time.monotonic())["gpu:0"].kind == ENERGY
    assert _assert_delta_exact(rig, 0, first, second, "gpu:0") > 0


def test_a_32_bit_counter_that_wraps_is_unwrapped(fake_amdsmi: Rig) -> None:
    res_uj = 15.259
    # 2000 units below the wrap: at 300 W the counter wraps 0.1 ms after t0 and again every 218 s.
    start = (2**32 - 2000) * res_uj
    gpu = FakeAmdGpu(trace=(Constant(300.0, start=0.0),), counter_bits=32, energy_offset_uj=start)
    rig = fake_amdsmi([gpu], t0=time.monotonic() + 0.05)  # the first read happens before the wrap
    sensor = _sensor(rig)
    first = _bracketed_read(sensor)
    time.sleep(0.15)
    second = _bracketed_read(sensor)
    delta = _assert_delta_exact(rig, 0, first, second, "gpu:0")
    assert delta > 0
    assert sensor.describe()[0].details["counter_wraps"] == 1
    assert sensor.describe()[0].details["max_read_interval_s"] > 1.0


def test_a_counter_restart_keeps_the_total_non_decreasing(fake_amdsmi: Rig) -> None:
    rig = fake_amdsmi([FakeAmdGpu(trace=(Constant(200.0),), energy_offset_uj=5e9)])
    sensor = _sensor(rig)
    _, _, r1 = _bracketed_read(sensor)
    time.sleep(0.05)
    rig.change([FakeAmdGpu(trace=(Constant(200.0),), energy_offset_uj=5e9, counter_reset_at_s=time.monotonic() - rig.t0)])
    time.sleep(0.05)
    _, _, r2 = _bracketed_read(sensor)
    assert r2["gpu:0"] >= r1["gpu:0"]
    assert sensor.describe()[0].details["counter_resets"] == 1


def test_a_counter_that_stops_answering_falls_back_to_power(fake_amdsmi: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig = fake_amdsmi([FakeAmdGpu(trace=(Constant(180.0),))])
    sensor = _sensor(rig)
    assert sensor.read(time.monotonic())["gpu:0"].kind == ENERGY
    rig.change([FakeAmdGpu(trace=(Constant(180.0),), counter_unsupported_after_s=0.0)])
    with caplog.at_level(logging.WARNING):
        reading = sensor.read(time.monotonic())["gpu:0"]
    assert reading.kind == POWER and reading.value == 180.0
    info = sensor.describe()[0]
    assert info.method == "power-integral" and info.details["method_changed_from"] == "counter"
    assert "stopped answering" in caplog.text


def test_a_frozen_counter_under_load_is_a_gap_then_abandoned_for_power(fake_amdsmi: Rig) -> None:
    """Issue 24: while the counter stands still under load its readings are gaps (they counted 0 J: up to 5 s
    lost, no gap recorded); once frozen for STUCK_S the power path takes over and the ledger fills the stretch at
    the first power reading, recording the gap."""
    from wattwatch.measure.ledger import Ledger

    rig = fake_amdsmi([FakeAmdGpu(trace=(Constant(220.0),), counter_frozen_after_s=0.0)])
    sensor = _sensor(rig)
    ledger = Ledger(sensor.describe())
    # The sensor's clock is the ``t`` it is given: no sleeping needed to pass STUCK_S.
    times = [100.0, 101.0, 101.0 + STUCK_S - 0.1, 102.0 + STUCK_S]
    reads = []
    for t in times:
        got = sensor.read(t)
        reads.append(got)
        ledger.add(t, t, {k: Reading(r.value, r.kind) for k, r in got.items()}, ["gpu:0"])
    assert reads[0]["gpu:0"].kind == ENERGY
    assert reads[1] == {} and reads[2] == {}  # gaps, not 0 J
    assert reads[3]["gpu:0"].kind == POWER and reads[3]["gpu:0"].value == 220.0
    assert sensor.describe()[0].details["method_changed_from"] == "counter"
    ch = ledger.snapshot().channels["gpu:0"]
    assert ch.energy_j == pytest.approx(220.0 * (2.0 + STUCK_S))  # the frozen stretch filled at 220 W
    assert ch.gap_count == 1 and ch.gap_s == pytest.approx(2.0 + STUCK_S)


def test_a_counter_restart_is_warned(fake_amdsmi: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig = fake_amdsmi([FakeAmdGpu(trace=(Constant(200.0),), energy_offset_uj=5e9)])
    sensor = _sensor(rig)
    sensor.read(time.monotonic())
    rig.change([FakeAmdGpu(trace=(Constant(200.0),), energy_offset_uj=5e9, counter_reset_at_s=time.monotonic() - rig.t0)])
    time.sleep(0.05)
    with caplog.at_level(logging.WARNING):
        sensor.read(time.monotonic())
    assert "energy counter went back" in caplog.text


def test_a_transient_counter_glitch_is_a_gap_and_costs_no_energy(fake_amdsmi: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig = fake_amdsmi([FakeAmdGpu(trace=(Constant(150.0),))])
    sensor = _sensor(rig)
    first = _bracketed_read(sensor)
    now = time.monotonic() - rig.t0
    rig.change([FakeAmdGpu(trace=(Constant(150.0),), counter_glitch=(now, now + 0.1, 5e6))])  # +5 MJ
    with caplog.at_level(logging.WARNING):
        assert sensor.read(time.monotonic()) == {}
        assert sensor.read(time.monotonic()) == {}
    assert caplog.text.count("jumped") == 1
    time.sleep(0.15)
    second = _bracketed_read(sensor)
    _assert_delta_exact(rig, 0, first, second, "gpu:0")  # the glitch is not counted, nothing is lost
    assert sensor.describe()[0].details["counter_glitches"] == 2


# ---------------------------------------------------------------------------------------------- power path


def test_power_path_prefers_current_then_average(fake_amdsmi: Rig) -> None:
    trace = (fakeamdsmi.Square(100.0, 300.0, period_s=10.0, phase_s=0.0),)
    rig = fake_amdsmi(
        [
            FakeAmdGpu(trace=trace, counter=False),
            FakeAmdGpu(trace=trace, counter=False, current=False),
            FakeAmdGpu(trace=trace, counter=False, average=False),
        ]
    )
    sensor = _sensor(rig)
    sources = [i.details["power_source"] for i in sensor.describe()]
    assert sources == ["current", "average", "current"]
    assert [i.method for i in sensor.describe()] == ["power-integral"] * 3
    assert "power_note" in sensor.describe()[1].details
    readings = sensor.read(time.monotonic())
    assert {r.kind for r in readings.values()} == {POWER}
    assert readings["gpu:0"].value in (100.0, 300.0)
    sensor.close()
    older = _sensor(rig, prefer_current=False)
    assert [i.details["power_source"] for i in older.describe()] == ["average", "average", "current"]


def test_megawatt_power_readings_are_dropped_with_one_warning(fake_amdsmi: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig = fake_amdsmi([FakeAmdGpu(trace=(Constant(200.0),), counter=False), FakeAmdGpu(counter=False)])
    sensor = _sensor(rig)
    rig.change(
        [FakeAmdGpu(trace=(Constant(200.0),), counter=False, glitch=(0.0, 1e9, 4.2e6)), FakeAmdGpu(counter=False)]
    )
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            readings = sensor.read(time.monotonic())
            assert "gpu:0" not in readings and readings["gpu:1"].value == 100.0
    assert caplog.text.count("4200000 W") == 1


# ---------------------------------------------------------------------------------------------- faults


def test_a_lost_gpu_is_a_gap_and_the_others_go_on(fake_amdsmi: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig = fake_amdsmi(fakeamdsmi.make_gpus(3, (Constant(120.0),)))
    sensor = _sensor(rig)
    rig.change([FakeAmdGpu(trace=(Constant(120.0),)), FakeAmdGpu(lost_after_s=0.0), FakeAmdGpu()])
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert sorted(sensor.read(time.monotonic())) == ["gpu:0", "gpu:2"]
    assert caplog.text.count("reading AMD GPU 1 failed") == 1


def test_init_failure_means_no_channels_and_one_info_line(fake_amdsmi: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig = fake_amdsmi(fakeamdsmi.make_gpus(2), init_error=34)  # AMDSMI_STATUS_DRIVER_NOT_LOADED
    with caplog.at_level(logging.INFO, logger="wattwatch"):
        sensor = _sensor(rig)
    assert sensor.channels() == [] and sensor.read(time.monotonic()) == {}
    assert "amdsmi_init failed" in (sensor.unavailable_reason or "")
    assert len([r for r in caplog.records if "no AMD GPU energy" in r.getMessage()]) == 1


def test_a_missing_library_is_reported_without_printing(tmp_path: Path, fake_amdsmi_library: Path) -> None:
    # amdsmi binds its library at import, so this runs in a fresh interpreter with no ROCm anywhere.
    code = (
        "from wattwatch.sensors.amd import AmdSmiSensor\n"
        "s = AmdSmiSensor()\n"
        "print('channels', s.channels())\n"
        "print('reason', s.unavailable_reason)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("ROCM_HOME", "ROCM_PATH", "LD_LIBRARY_PATH")}
    env["ROCM_PATH"] = str(tmp_path)  # an empty ROCm tree, and /opt/rocm does not exist here
    if Path("/opt/rocm/lib/libamd_smi.so").exists():
        pytest.skip("a real ROCm is installed here")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert lines[0] == "channels []"
    assert lines[1].startswith("reason libamd_smi.so not found") and len(lines) == 2


def test_library_path_rebinds_an_already_imported_binding(fake_amdsmi: Rig, tmp_path: Path) -> None:
    rig = fake_amdsmi(fakeamdsmi.make_gpus(1, (Constant(90.0),)))
    _sensor(rig).close()  # amdsmi is imported and bound to the rig's library
    copy = tmp_path / "rocm-copy" / "lib" / "libamd_smi.so"
    copy.parent.mkdir(parents=True)
    shutil.copy(rig.library_path, copy)
    import amdsmi

    try:
        sensor = AmdSmiSensor(library_path=copy, environ={})
        assert os.path.samefile(amdsmi.amdsmi_wrapper._libraries["libamd_smi.so"]._name, copy)
        assert sensor.channels() == ["gpu:0"] and sensor.read(time.monotonic())["gpu:0"].kind == ENERGY
        sensor.close()
    finally:
        _sensor(rig).close()  # bind back to the shared fake for the tests that follow
    assert os.path.samefile(amdsmi.amdsmi_wrapper._libraries["libamd_smi.so"]._name, rig.library_path)


# ---------------------------------------------------------------------------------------------- packages


def test_an_mi250_package_is_one_channel_read_through_its_first_die(fake_amdsmi: Rig) -> None:
    gpus = fakeamdsmi.mi250_package((Constant(400.0),), oam_id=0) + fakeamdsmi.mi250_package((Constant(300.0),), oam_id=1)
    rig = fake_amdsmi(gpus)
    sensor = _sensor(rig)
    assert sensor.channels() == ["gpu:0", "gpu:2"]
    infos = sensor.describe()
    assert [i.details["dies"] for i in infos] == [[0, 1], [2, 3]]
    assert all("counted once" in str(i.details["package_note"]) for i in infos)
    assert [i.model for i in infos] == ["AMD Instinct MI250X"] * 2


def test_selecting_the_second_die_measures_its_package(fake_amdsmi: Rig) -> None:
    rig = fake_amdsmi(fakeamdsmi.mi250_package((Constant(400.0),), oam_id=5))
    sensor = _sensor(rig, gpu_ids=[1])
    assert sensor.channels() == ["gpu:0"]
    assert sensor.describe()[0].details["requested_dies"] == [1]
    first = _bracketed_read(sensor)
    time.sleep(0.1)
    second = _bracketed_read(sensor)
    assert _assert_delta_exact(rig, 0, first, second, "gpu:0") > 0


def test_mi300x_partitions_that_report_na_are_one_package(fake_amdsmi: Rig) -> None:
    # CPX mode: one MI300X seen as four processors; only the first partition reports power and energy, the
    # others answer N/A and NOT_SUPPORTED.
    quiet = {"current": False, "average": False, "counter": False, "oam_id": 3}
    rig = fake_amdsmi(
        [FakeAmdGpu(trace=(Constant(600.0),), oam_id=3)]
        + [FakeAmdGpu(trace=(Constant(600.0),), partition_id=i, **quiet) for i in (1, 2, 3)]  # type: ignore[arg-type]
    )
    sensor = _sensor(rig)
    assert sensor.channels() == ["gpu:0"]
    assert sensor.describe()[0].details["dies"] == [0, 1, 2, 3]


def test_distributed_ranks_leave_a_shared_package_to_the_owner_of_its_reporting_die(fake_amdsmi: Rig) -> None:
    rig = fake_amdsmi(fakeamdsmi.mi250_package((Constant(400.0),), oam_id=5))
    second = _sensor(rig, gpu_ids=[1], measure_shared_packages=False)
    assert second.channels() == [] and [d.index for d in second.selected] == [1]
    first = _sensor(rig, gpu_ids=[0], measure_shared_packages=False)
    assert first.channels() == ["gpu:0"]
    both = _sensor(rig, gpu_ids=[1, 0], measure_shared_packages=False)
    assert both.channels() == ["gpu:0"] and both.describe()[0].details["requested_dies"] == [1, 0]


def test_cards_that_all_report_power_are_never_merged(fake_amdsmi: Rig) -> None:
    # PCIe boards may all say oam_id 0: each reports its own power, so each is its own channel.
    rig = fake_amdsmi(fakeamdsmi.make_gpus(3, (Constant(150.0),), oam_id=0, name="AMD Instinct MI210"))
    sensor = _sensor(rig)
    assert sensor.channels() == ["gpu:0", "gpu:1", "gpu:2"]
    assert all(i.details["dies"] == [i.details["index"]] for i in sensor.describe())


# ---------------------------------------------------------------------------------------------- selection


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ["gpu:0", "gpu:1", "gpu:2", "gpu:3"]),
        ({"ROCR_VISIBLE_DEVICES": "1,3"}, ["gpu:1", "gpu:3"]),
        ({"HIP_VISIBLE_DEVICES": "2"}, ["gpu:2"]),
        ({"CUDA_VISIBLE_DEVICES": "0,2"}, ["gpu:0", "gpu:2"]),
        ({"HIP_VISIBLE_DEVICES": "1", "CUDA_VISIBLE_DEVICES": "3"}, ["gpu:1"]),  # HIP's own variable wins
        ({"ROCR_VISIBLE_DEVICES": "1,2,3", "HIP_VISIBLE_DEVICES": "2"}, ["gpu:3"]),  # HIP indexes what ROCr left
        ({"ROCR_VISIBLE_DEVICES": "3,1", "CUDA_VISIBLE_DEVICES": "0"}, ["gpu:3"]),
        ({"ROCR_VISIBLE_DEVICES": fakeamdsmi.default_hip_uuid(2)}, ["gpu:2"]),
        ({"ROCR_VISIBLE_DEVICES": "0,7,1"}, ["gpu:0"]),  # an entry that matches nothing ends the list
        ({"HIP_VISIBLE_DEVICES": ""}, []),
        ({"HIP_VISIBLE_DEVICES": "-1"}, []),
    ],
)
def test_rocm_visibility_variables(fake_amdsmi: Rig, environ: dict[str, str], expected: list[str]) -> None:
    rig = fake_amdsmi(fakeamdsmi.make_gpus(4))
    sensor = _sensor(rig, environ=environ)
    assert sensor.channels() == expected
    if not expected:
        assert "hides every AMD GPU this machine has (4" in (sensor.unavailable_reason or "")  # said: issue 24


def test_visibility_indices_follow_hip_order_not_amdsmi_order(fake_amdsmi: Rig) -> None:
    # amdsmi lists by PCI bus; HIP may number the same GPUs differently (hip_id from the enumeration info).
    rig = fake_amdsmi([FakeAmdGpu(hip_id=1), FakeAmdGpu(hip_id=0), FakeAmdGpu(hip_id=2)])
    assert _sensor(rig, environ={"HIP_VISIBLE_DEVICES": "0"}).channels() == ["gpu:1"]
    assert _sensor(rig, environ={"ROCR_VISIBLE_DEVICES": "1,2", "HIP_VISIBLE_DEVICES": "0"}).channels() == ["gpu:0"]


def test_gpu_ids_accept_indices_uuids_prefixes_and_bus_ids(fake_amdsmi: Rig) -> None:
    rig = fake_amdsmi(fakeamdsmi.make_gpus(4))
    env = {"HIP_VISIBLE_DEVICES": "0"}  # explicit gpu_ids win over the variables
    assert _sensor(rig, [3, "1"], environ=env).channels() == ["gpu:1", "gpu:3"]
    assert _sensor(rig, fakeamdsmi.default_hip_uuid(2), environ=env).channels() == ["gpu:2"]
    assert _sensor(rig, [fakeamdsmi.default_uuid(1)[:10]]).channels() == ["gpu:1"]
    assert _sensor(rig, "0000:13:00.0").channels() == ["gpu:3"]
    assert _sensor(rig, "00000000:13:00.0").channels() == ["gpu:3"]  # torch's and NVML's 8-digit domain
    with pytest.raises(ValueError, match="matches no AMD GPU.*GPUs here: 0 "):
        _sensor(rig, [9])
    with pytest.raises(ValueError, match="'GPU-5a3d'"):
        _sensor(rig, ["GPU-5a3d"])  # a prefix of every GPU's id: ambiguous
