"""Issue 15's accuracy bar for AMD GPUs, against the exact integral of the fake libamd_smi.so's scripted traces.

The real amdsmi binding talks to the fake (tests/support/fake_amdsmi); the sampler and ledger run at their
defaults (1 s with counters, 20 ms dithered with power); the truth is the closed-form integral of each package's
trace between the ledger's own first and last reading of it. The period (2.345 s) is not a multiple of either
interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import fakeamdsmi
import pytest
from fakeamdsmi import Constant, FakeAmdGpu, FakeAmdSmi, Square

from wattwatch.measure.ledger import Ledger, LedgerSnapshot
from wattwatch.measure.sampler import COUNTER_INTERVAL_S, POWER_INTERVAL_S, Sampler
from wattwatch.sensors.amd import AmdSmiSensor

WINDOW_S = 20.0
PERIOD_S = 2.345

Rig = Callable[..., FakeAmdSmi]


def _run(rig: FakeAmdSmi, seconds: float, interval_s: float | None = None) -> tuple[Sampler, LedgerSnapshot]:
    sensor = AmdSmiSensor(library_path=rig.library_path, environ={})
    ledger = Ledger(sensor.describe())
    sampler = Sampler([sensor], ledger, interval_s)  # defaults: interval and jitter chosen from the methods
    sampler.start()
    time.sleep(seconds)
    sampler.stop()
    sensor.close()
    return sampler, ledger.snapshot()


def _measured_and_truth(rig: FakeAmdSmi, snap: LedgerSnapshot, index: int) -> tuple[float, float]:
    ch = snap.channels[f"gpu:{index}"]
    assert ch.first_t is not None and ch.last_t is not None
    return ch.energy_j, rig.energy_j(index, ch.first_t, ch.last_t)


def test_counter_path_within_0_1_percent(fake_amdsmi: Rig) -> None:
    rig = fake_amdsmi(fakeamdsmi.square_wave_gpus(n=4, low_w=80, high_w=350, period_s=PERIOD_S))
    sampler, snap = _run(rig, WINDOW_S)
    assert sampler.interval_s == COUNTER_INTERVAL_S
    for i in range(4):
        measured, truth = _measured_and_truth(rig, snap, i)
        assert truth > 0.9 * WINDOW_S * 80
        assert abs(measured - truth) / truth <= 0.001, f"gpu {i}: {measured:.3f} J vs exact {truth:.3f} J"


def test_power_path_within_1_percent(fake_amdsmi: Rig) -> None:
    rig = fake_amdsmi(fakeamdsmi.square_wave_gpus(n=4, low_w=80, high_w=350, period_s=PERIOD_S, counter=False))
    sampler, snap = _run(rig, WINDOW_S)
    assert sampler.interval_s == POWER_INTERVAL_S and sampler.jitter > 0
    for i in range(4):
        measured, truth = _measured_and_truth(rig, snap, i)
        assert abs(measured - truth) / truth <= 0.01, f"gpu {i}: {measured:.3f} J vs exact {truth:.3f} J"


def test_two_die_packages_are_counted_once(fake_amdsmi: Rig) -> None:
    # Two MI250X OAMs = four GCDs; each OAM's first die reports the package, its second reads 0 W.
    gpus = fakeamdsmi.mi250_package((Square(90, 500, PERIOD_S),), oam_id=0) + fakeamdsmi.mi250_package(
        (Square(90, 500, PERIOD_S, phase_s=1.0),), oam_id=1
    )
    rig = fake_amdsmi(gpus)
    _, snap = _run(rig, 6.0)
    gpu_channels = sorted(n for n, c in snap.channels.items() if c.component == "gpu")
    assert gpu_channels == ["gpu:0", "gpu:2"]
    total = truth_total = 0.0
    for i in (0, 2):
        measured, truth = _measured_and_truth(rig, snap, i)
        assert abs(measured - truth) / truth <= 0.001
        total += measured
        truth_total += truth
    assert snap.component_kwh("gpu") * 3.6e6 == pytest.approx(total)
    assert total == pytest.approx(truth_total, rel=1e-3)  # not twice the packages' energy


def test_lost_gpu_is_a_gap_and_the_others_stay_exact(fake_amdsmi: Rig) -> None:
    gpus = fakeamdsmi.make_gpus(3, (Constant(200.0),))
    gpus[1] = FakeAmdGpu(trace=(Constant(200.0),), lost_after_s=1.0)
    rig = fake_amdsmi(gpus)
    _, snap = _run(rig, 2.5, interval_s=0.1)
    lost = snap.channels["gpu:1"]
    assert lost.in_gap and lost.gap_count == 1
    assert any(g.channel == "gpu:1" and g.end_t is None for g in snap.gaps)
    assert lost.last_t is not None and lost.last_t - rig.t0 <= 1.0 + 1e-6
    for i in (0, 2):
        measured, truth = _measured_and_truth(rig, snap, i)
        assert measured == pytest.approx(truth, rel=1e-3)
        assert not snap.channels[f"gpu:{i}"].in_gap


def test_power_path_stays_within_1_percent_through_a_megawatt_glitch(fake_amdsmi: Rig) -> None:
    t0 = time.monotonic()
    gpus = fakeamdsmi.square_wave_gpus(n=2, low_w=80, high_w=350, period_s=PERIOD_S, counter=False)
    gpus[0] = FakeAmdGpu(trace=gpus[0].trace, counter=False, glitch=(2.0, 2.2, 5.0e6))  # 5 MW for 0.2 s
    rig = fake_amdsmi(gpus, t0=t0)
    _, snap = _run(rig, 5.0)
    glitched = snap.channels["gpu:0"]
    assert glitched.gap_count >= 1 and not glitched.in_gap
    for i in range(2):
        measured, truth = _measured_and_truth(rig, snap, i)
        assert abs(measured - truth) / truth <= 0.01, f"gpu {i}: {measured:.3f} J vs exact {truth:.3f} J"
