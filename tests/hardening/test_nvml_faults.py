"""NVML faults during a tracked run: the run finishes, the user sees one clear log line, no energy is lost.

Every test drives a real ``Tracker`` through the real pynvml against the fake ``libnvidia-ml`` (tests/support/fakenvml.py);
faults are injected mid-run with ``FakeNvml.change`` instead of waiting for them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fakenvml import Constant, FakeGpu, FakeNvml
from hardhelp import csv_rows

from wattwatch import Tracker
from wattwatch.measure.ledger import J_PER_KWH

Install = Callable[..., FakeNvml]


def _tracker(tmp_path: Path, library: Path | str, **kw: object) -> Tracker:
    return Tracker(
        output_dir=tmp_path / "out",
        nvml_library=library,
        powercap_root=tmp_path / "no-powercap",
        carbon_intensity_g_per_kwh=100.0,
        handle_signals=False,
        save_timeseries=False,
        **kw,  # type: ignore[arg-type]
    )


def _gpu_kwh(tracker: Tracker) -> float:
    data = tracker.final_emissions_data
    assert data is not None
    return data.gpu_energy


def test_nvml_library_missing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: libnvidia-ml cannot be loaded. User sees: one INFO line saying so, no exception. Not lost: the
    CPU/RAM measurement and the run's completed row."""
    caplog.set_level(logging.INFO)
    with _tracker(tmp_path, tmp_path / "libnvidia-ml.so.1") as t:
        time.sleep(0.05)
    data = t.final_emissions_data
    assert data is not None and data.status == "completed" and data.gpu_count == 0
    assert data.cpu_energy > 0 and data.ram_energy > 0
    assert sum("cannot load NVML library" in r.getMessage() for r in caplog.records) == 1
    assert [r["status"] for r in csv_rows(tmp_path / "out" / "emissions.csv")] == ["completed"]


def test_nvml_init_failing(tmp_path: Path, fake_nvml: Install, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: nvmlInit returns an error (driver/library mismatch). User sees: one INFO line with the NVML error.
    Not lost: the run and its host energy."""
    caplog.set_level(logging.INFO)
    rig = fake_nvml([FakeGpu()], init_error=18)  # NVML_ERROR_LIB_RM_VERSION_MISMATCH
    with _tracker(tmp_path, rig.library_path) as t:
        time.sleep(0.05)
    data = t.final_emissions_data
    assert data is not None and data.status == "completed" and data.gpu_count == 0 and data.cpu_energy > 0
    assert sum("nvmlInit failed" in r.getMessage() for r in caplog.records) == 1


def test_gpu_lost_mid_run(tmp_path: Path, fake_nvml: Install, caplog: pytest.LogCaptureFixture) -> None:
    """Fault: GPU 1 falls off the bus mid-run (NVML_ERROR_GPU_IS_LOST). User sees: one warning naming the GPU;
    the row records a gap. Not lost: GPU 1's energy up to the loss, and GPU 0's energy for the whole run."""
    rig = fake_nvml([FakeGpu(trace=(Constant(200.0),)), FakeGpu(trace=(Constant(300.0),))])
    t = _tracker(tmp_path, rig.library_path, measure_power_secs=0.05).start()
    time.sleep(0.3)
    t.flush()
    before = t.current().gpu_energy_by_device_kwh["gpu:1"]
    rig.change([FakeGpu(trace=(Constant(200.0),)), FakeGpu(trace=(Constant(300.0),), lost_after_s=-1.0)])
    time.sleep(0.3)
    data = t.stop()
    assert data is not None and data.status == "completed"
    assert data.gaps >= 1
    assert data.gpu_energy_by_device_kwh["gpu:1"] >= before > 0
    snap = t.snapshot()
    assert snap is not None
    ch0 = snap.channels["gpu:0"]
    assert ch0.first_t is not None and ch0.last_t is not None
    assert ch0.energy_j == pytest.approx(rig.energy_j(0, ch0.first_t, ch0.last_t), rel=1e-3)
    assert sum("fell off the bus" in r.getMessage() for r in caplog.records) == 1


def test_counter_becomes_not_supported(
    tmp_path: Path, fake_nvml: Install, caplog: pytest.LogCaptureFixture
) -> None:
    """Fault: the energy counter starts answering NOT_SUPPORTED mid-run. User sees: one warning, the method
    becomes counter+power-integral. Not lost: energy before (counter) and after (integrated power)."""
    rig = fake_nvml([FakeGpu(trace=(Constant(250.0),))])
    t = _tracker(tmp_path, rig.library_path, measure_power_secs=0.02).start()
    time.sleep(0.3)
    rig.change([FakeGpu(trace=(Constant(250.0),), counter_unsupported_after_s=-1.0)])
    time.sleep(0.5)
    data = t.stop()
    assert data is not None
    snap = t.snapshot()
    assert snap is not None
    ch = snap.channels["gpu:0"]
    assert ch.first_t is not None and ch.last_t is not None
    assert "power-integral" in data.gpu_method
    # constant power: the integral of the power path is exact up to the sample-time jitter of one read
    assert ch.energy_j == pytest.approx(rig.energy_j(0, ch.first_t, ch.last_t), rel=0.03)
    assert sum("energy counter stopped answering" in r.getMessage() for r in caplog.records) == 1


def test_counter_goes_backwards(tmp_path: Path, fake_nvml: Install) -> None:
    """Fault: the energy counter restarts from 0 (driver reload). User sees: a warning. Not lost: the energy
    before the reset; the total never decreases."""
    t0 = time.monotonic()
    rig = fake_nvml([FakeGpu(trace=(Constant(400.0),), energy_offset_j=5e6, counter_reset_at_s=0.4)], t0=t0)
    t = _tracker(tmp_path, rig.library_path, measure_power_secs=0.05).start()
    seen = []
    for _ in range(8):
        time.sleep(0.1)
        seen.append(t.current().gpu_energy)
    data = t.stop()
    assert data is not None
    assert seen == sorted(seen)
    snap = t.snapshot()
    assert snap is not None
    ch = snap.channels["gpu:0"]
    assert ch.first_t is not None and ch.last_t is not None
    exact = rig.energy_j(0, ch.first_t, ch.last_t)
    # at most the one interval that straddles the reset is unknown
    assert exact - 400.0 * 0.06 <= ch.energy_j <= exact * 1.001
    assert data.gpu_energy * J_PER_KWH == pytest.approx(ch.energy_j, rel=1e-9)


def test_slow_nvml_calls_bound_stop_and_do_not_pile_ticks(tmp_path: Path, fake_nvml: Install) -> None:
    """Fault: every NVML read takes 2 s (a hung driver). User sees: ``stop()`` return after at most the read in
    flight plus one final read (bound documented in ``Sampler.stop``: each wait is capped at ``stop_timeout_s``,
    5 s), ticks skipped rather than replayed. Not lost: the energy, which the counter integrates regardless."""
    rig = fake_nvml([FakeGpu(trace=(Constant(100.0),))])
    t = _tracker(tmp_path, rig.library_path, measure_power_secs=0.05).start()
    time.sleep(0.1)
    rig.change([FakeGpu(trace=(Constant(100.0),), latency_ms=2000.0)])
    time.sleep(2.5)
    rig.change(
        [FakeGpu(trace=(Constant(100.0),), latency_ms=0.0)]
    )  # the slow read in flight still finishes late
    sampler = t._sampler
    assert sampler is not None
    time.sleep(0.3)
    begun = time.monotonic()
    data = t.stop()
    took = time.monotonic() - begun
    assert took < 2 * 5.0 + 2.0  # the documented worst case; normally ~2 s
    assert data is not None and data.status == "completed"
    # skipped, not replayed: no burst of catch-up reads after the slow ones
    assert sampler.skipped_ticks >= 20
    assert sampler.ticks <= (0.1 + 2.5 + 0.3 + took) / 0.05 - 20
    snap = t.snapshot()
    assert snap is not None
    ch = snap.channels["gpu:0"]
    assert ch.first_t is not None and ch.last_t is not None
    assert ch.energy_j == pytest.approx(rig.energy_j(0, ch.first_t, ch.last_t), rel=1e-3, abs=1.0)
