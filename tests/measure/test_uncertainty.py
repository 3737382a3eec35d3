"""Error bands by method: each figure stated, the run's band contains the fake board's exact energy on the power
path, and a model row's band is wide."""

from __future__ import annotations

import time
from collections.abc import Callable

import fakenvml
import pytest
from fakenvml import FakeNvml

from wattwatch.measure.ledger import Ledger
from wattwatch.measure.sampler import Sampler
from wattwatch.measure.uncertainty import BANDS, channel_band, method_band, run_band
from wattwatch.sensors.nvml import NvmlSensor

J_PER_KWH = 3.6e6


@pytest.mark.parametrize(
    ("method", "component", "low", "high", "rule"),
    [
        ("counter", "gpu", 0.05, 0.05, "nvml-counter"),
        ("counter", "cpu", 0.10, 0.10, "rapl-counter"),
        ("counter", "ram", 0.10, 0.10, "rapl-counter"),
        ("model:tdp/machine", "cpu", 0.40, 0.40, "tdp-model"),
        ("model:vm-slice-tdp/process", "cpu", 0.40, 0.40, "tdp-model"),
        ("model:ram-0.375w-per-gib/cgroup", "ram", 0.40, 0.40, "tdp-model"),
        ("model:vm-vcpu/machine", "cpu", 1 - 1.87 / 3.5, 5.99 / 3.5 - 1, "vm-vcpu"),
        ("something-new", "cpu", 1.0, 1.0, "unknown"),
    ],
)
def test_each_method_has_its_stated_band(
    method: str, component: str, low: float, high: float, rule: str
) -> None:
    band = method_band(method, component)
    assert (band.rule, band.low, band.high) == (rule, pytest.approx(low), pytest.approx(high))
    assert band.source


def test_power_integral_band_grows_with_the_interval() -> None:
    fine, coarse = method_band("power-integral", "gpu", 0.02), method_band("power-integral", "gpu", 1.0)
    assert fine.low == pytest.approx(0.07) and coarse.low == pytest.approx(0.55)
    assert "Yang" in fine.source
    # a counter that fell back to power carries the wider of the two
    assert method_band("counter+power-integral", "gpu", 0.02).rule == "nvml-power-integral"


def test_share_estimates_widen_the_boards_band() -> None:
    band = method_band("estimate:gpu-process-share", "gpu")
    assert band.low == pytest.approx(1 - 0.95 * 0.5) and band.high == pytest.approx(1.05 * 1.5 - 1)
    assert method_band("estimate:mig-slice-share", "gpu").high == band.high
    on_power = method_band("estimate:gpu-process-share", "gpu", 0.02, share_of="power-integral")
    assert on_power.high == pytest.approx(1.07 * 1.5 - 1) and on_power.rule.endswith("nvml-power-integral")


def test_absolute_floor_wins_for_a_near_idle_gpu() -> None:
    # 10 W for 100 s: +-5 % is 50 J, +-5 W is 500 J
    b = channel_band(1000.0, "counter", "gpu", 100.0)
    assert b.low_kwh * J_PER_KWH == pytest.approx(500.0) and b.high_kwh * J_PER_KWH == pytest.approx(1500.0)


def test_a_model_rows_band_is_wide_and_a_counters_narrow() -> None:
    model = channel_band(3.6e6, "model:vm-vcpu/machine", "cpu", 3600.0)
    counter = channel_band(3.6e6, "counter", "gpu", 3600.0)
    assert model.rel_low + model.rel_high >= 1.0
    assert counter.rel_low + counter.rel_high <= 0.1 + 1e-12
    assert BANDS["tdp-model"].low + BANDS["tdp-model"].high >= 0.8


def test_run_band_contains_the_fake_boards_truth_on_the_power_path(
    fake_nvml: Callable[..., FakeNvml],
) -> None:
    rig = fake_nvml(fakenvml.square_wave_gpus(n=2, low_w=80, high_w=350, period_s=0.77, counter=False))
    sensor = NvmlSensor(library_path=rig.library_path)
    ledger = Ledger(sensor.describe())
    sampler = Sampler([sensor], ledger)
    sampler.start()
    time.sleep(3.0)
    sampler.stop()
    sensor.close()
    snap = ledger.snapshot()
    truth_j = 0.0
    for i in range(2):
        ch = snap.channels[f"gpu:{i}"]
        assert ch.method == "power-integral" and ch.first_t is not None and ch.last_t is not None
        truth_j += rig.energy_j(i, ch.first_t, ch.last_t)
    band = run_band(snap.channels.values())
    assert band.rules == ("nvml-power-integral",)
    assert band.low_kwh * J_PER_KWH <= truth_j <= band.high_kwh * J_PER_KWH
    assert band.energy_kwh * J_PER_KWH == pytest.approx(snap.energy_j)
    # and the band is the power path's, not a blanket one: under 10 % each side at the default interval
    assert band.rel_low < 0.10 and band.rel_high < 0.10


def test_run_band_adds_components_and_applies_pue() -> None:
    class Ch:
        def __init__(self, component: str, method: str, energy_j: float) -> None:
            self.channel = component
            self.component, self.method, self.energy_j = component, method, energy_j
            self.samples, self.first_t, self.last_t = 11, 0.0, 10.0

    band = run_band([Ch("gpu", "counter", 7.2e6), Ch("cpu", "model:tdp/machine", 3.6e6)], pue=1.5)
    assert band.energy_kwh == pytest.approx(4.5)
    assert band.low_kwh == pytest.approx(1.5 * (2 * 0.95 + 0.6))
    assert band.high_kwh == pytest.approx(1.5 * (2 * 1.05 + 1.4))
    assert band.rules == ("nvml-counter", "tdp-model")
