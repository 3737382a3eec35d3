"""Issue 24, item 9, NVIDIA side: an implausible counter step is a gap (as on AMD), slow reads are stamped at
each GPU's own call so they do not bias the energy, a failed NVML start is a WARNING with the reason, a restart
warns, and ``CUDA_VISIBLE_DEVICES`` hiding every GPU is said."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import fakenvml
import pytest
from fakenvml import Constant, FakeGpu, FakeNvml, Ramp

from wattwatch import Tracker
from wattwatch.measure.ledger import Ledger
from wattwatch.measure.sampler import Sampler
from wattwatch.sensors.nvml import NvmlSensor

Install = Callable[..., FakeNvml]


def test_a_megawatt_counter_step_is_a_gap_not_energy(fake_nvml: Install, caplog: pytest.LogCaptureFixture) -> None:
    """A 700 W board whose counter jumps by 5 MJ between two reads a second apart (a driver glitch) was counted:
    the step is above 3 x its power limit over the interval, so that read is a gap and the energy is the board's."""
    rig = fake_nvml([FakeGpu(trace=(Constant(300.0),), power_limit_w=700.0)])
    sensor = NvmlSensor(None, library_path=rig.library_path, environ={})
    ledger = Ledger(sensor.describe())
    sampler = Sampler([sensor], ledger, interval_s=1e6)
    sampler.sample_now()
    time.sleep(0.2)
    rig.change([FakeGpu(trace=(Constant(300.0),), power_limit_w=700.0, energy_offset_j=5e6)])
    with caplog.at_level(logging.WARNING):
        sampler.sample_now()  # the glitch: left out
    time.sleep(0.2)
    rig.change([FakeGpu(trace=(Constant(300.0),), power_limit_w=700.0)])  # back to the true counter
    sampler.sample_now()
    ch = ledger.snapshot().channels["gpu:0"]
    assert ch.gap_count == 1
    assert ch.first_t is not None and ch.last_t is not None
    assert ch.energy_j == pytest.approx(rig.energy_j(0, ch.first_t, ch.last_t), rel=1e-3)
    assert ch.energy_j < 1e4  # not 5 MJ
    assert "jumped by more than 2100 W" in caplog.text
    sensor.close()


def test_slow_reads_are_stamped_per_gpu_and_do_not_bias_the_energy(fake_nvml: Install) -> None:
    """Four GPUs read one after the other, each call taking 250 ms, on rising power: one stamp for the whole
    read put their energies -3 % to +6 % off their windows; each GPU stamped at its own call is exact."""
    rig = fake_nvml([FakeGpu(trace=(Ramp(50.0, 60.0, start=0.0),), latency_ms=250.0) for _ in range(4)])
    sensor = NvmlSensor(None, library_path=rig.library_path, environ={})
    ledger = Ledger(sensor.describe())
    sampler = Sampler([sensor], ledger, interval_s=1e6)
    for _ in range(3):
        sampler.sample_now()
        time.sleep(0.3)
    for i in range(4):
        ch = ledger.snapshot().channels[f"gpu:{i}"]
        assert ch.first_t is not None and ch.last_t is not None
        assert ch.energy_j == pytest.approx(rig.energy_j(i, ch.first_t, ch.last_t), rel=1e-3)
    sensor.close()


def test_a_failed_nvml_start_is_a_warning_with_the_reason(
    fake_nvml: Install, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """gpu_count=0 with no message even at debug: now one WARNING naming the failure (a host without NVIDIA's
    library stays quiet: nothing failed there)."""
    rig = fake_nvml(fakenvml.make_gpus(2), init_error=999)
    with caplog.at_level(logging.INFO):
        with Tracker(output_dir=tmp_path, nvml_library=rig.library_path, save_timeseries=False, handle_signals=False,
                     powercap_root=tmp_path / "no") as t:  # fmt: skip
            pass
    data = t.final_emissions_data
    assert data is not None and data.gpu_count == 0
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "no GPU energy" in r.getMessage()]
    assert len(warned) == 1 and "nvmlInit failed" in warned[0].getMessage()


def test_cuda_visible_devices_hiding_every_gpu_is_said(fake_nvml: Install, caplog: pytest.LogCaptureFixture) -> None:
    rig = fake_nvml(fakenvml.make_gpus(3))
    with caplog.at_level(logging.WARNING):
        sensor = NvmlSensor(None, library_path=rig.library_path, environ={"CUDA_VISIBLE_DEVICES": ""})
    assert sensor.channels() == []
    (record,) = [r for r in caplog.records if "no GPU energy" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "CUDA_VISIBLE_DEVICES='' hides every GPU this machine has (3" in record.getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        NvmlSensor(None, library_path=rig.library_path, environ={"CUDA_VISIBLE_DEVICES": "-1"}).close()
    assert "hides every GPU" in caplog.text


def test_a_counter_restart_warns_and_keeps_the_total(fake_nvml: Install, caplog: pytest.LogCaptureFixture) -> None:
    rig = fake_nvml([FakeGpu(trace=(Constant(200.0),), energy_offset_j=1e5)])
    sensor = NvmlSensor(None, library_path=rig.library_path, environ={})
    first = sensor.read(time.monotonic())["gpu:0"].value
    time.sleep(0.3)
    rig.change([FakeGpu(trace=(Constant(200.0),), energy_offset_j=1e5, counter_reset_at_s=time.monotonic() - rig.t0 - 0.1)])
    with caplog.at_level(logging.WARNING):
        second = sensor.read(time.monotonic())["gpu:0"].value
    assert second >= first
    assert "energy counter went back" in caplog.text
    sensor.close()
