"""Shared GPUs: a board's energy split between the processes on it (per-process SM utilisation samples from
the fake NVML), and a MIG instance's share of its parent's slices. Truth: the fake board's exact integral."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakenvml import Constant, FakeGpu, FakeNvml, FakeProcess, Square

from wattwatch.sensors.base import ENERGY, POWER
from wattwatch.sensors.gpu_share import ProcessSplitter, split_energy
from wattwatch.sensors.nvml import NvmlSensor

A, B, C = 4001, 4002, 4003
MIG_A = "MIG-0c4f7e1a-5b2d-5f7e-9a41-3c2b1d0e9f11"
MIG_B = "MIG-0c4f7e1a-5b2d-5f7e-9a41-3c2b1d0e9f22"


@pytest.fixture
def make(fake_nvml_library: Path) -> Iterator[Callable[..., NvmlSensor]]:
    made: list[NvmlSensor] = []

    def factory(**kw: object) -> NvmlSensor:
        kw.setdefault("library_path", fake_nvml_library)
        kw.setdefault("environ", {})
        s = NvmlSensor(**kw)  # type: ignore[arg-type]
        made.append(s)
        return s

    yield factory
    for s in made:
        s.close()


def test_split_rule() -> None:
    assert split_energy(100.0, {A: 60, B: 20}, {A, B}) == {A: 75.0, B: 25.0}
    assert split_energy(90.0, {}, {A, B, C}) == {A: 30.0, B: 30.0, C: 30.0}  # no samples: even split
    assert split_energy(90.0, {A: 0}, set()) == {}  # nobody: unattributed
    splitter = ProcessSplitter()
    splitter.add(100.0, {A: 60, B: 20}, {A, B})
    splitter.add(10.0, {}, set())
    assert sum(splitter.attributed_j.values()) + splitter.unattributed_j == pytest.approx(110.0)


def _bracket(rig: FakeNvml, b1: float, a1: float, b2: float, a2: float) -> tuple[float, float]:
    return rig.energy_j(0, a1, b2), rig.energy_j(0, b1, a2)


def test_two_processes_shares_sum_to_the_boards_energy(
    fake_nvml: Callable[..., FakeNvml], make: Callable[..., NvmlSensor]
) -> None:
    """Two processes at 60 % and 20 % SM on one board drawing a square wave: their shares sum to the board's
    exact energy and split it 3:1; this run (process A) is charged its 3/4."""
    rig = fake_nvml(
        [FakeGpu(trace=(Square(90.0, 310.0, 0.37),), procs=(FakeProcess(A, 60), FakeProcess(B, 20)))]
    )
    s = make(share=True, pids=lambda: {A})
    (info,) = s.describe()
    assert info.method == "estimate:gpu-process-share" and info.details["share_of"] == "counter"
    b1 = time.monotonic()
    first = s.read(b1)["gpu:0"]
    a1 = time.monotonic()
    time.sleep(0.8)
    b2 = time.monotonic()
    second = s.read(b2)["gpu:0"]
    a2 = time.monotonic()
    assert first.kind == second.kind == ENERGY and first.value == 0.0
    split = s.process_energy_j("gpu:0")
    assert set(split) == {A, B}
    shortest, longest = _bracket(rig, b1, a1, b2, a2)
    total = split[A] + split[B]
    assert shortest * (1 - 1e-4) - 1e-3 <= total <= longest * (1 + 1e-4) + 1e-3  # the board's exact energy
    assert split[A] == pytest.approx(3 * split[B], rel=1e-12)
    assert second.value == pytest.approx(split[A], rel=1e-12)


def test_power_path_scales_the_instant_power(
    fake_nvml: Callable[..., FakeNvml], make: Callable[..., NvmlSensor]
) -> None:
    fake_nvml(
        [FakeGpu(trace=(Constant(200.0),), counter=False, procs=(FakeProcess(A, 30), FakeProcess(B, 90)))]
    )
    s = make(share=True, pids=lambda: {A})
    reading = s.read(time.monotonic())["gpu:0"]
    assert reading.kind == POWER and reading.value == pytest.approx(50.0)
    assert s.describe()[0].details["share_of"] == "power-integral"


def test_no_samples_even_split_and_idle_board_unattributed(
    fake_nvml: Callable[..., FakeNvml], make: Callable[..., NvmlSensor]
) -> None:
    rig = fake_nvml(
        [FakeGpu(trace=(Constant(100.0),), counter=False, procs=(FakeProcess(A, 0), FakeProcess(B, 0)))]
    )
    s = make(share=True, pids=lambda: {A})
    assert s.read(time.monotonic())["gpu:0"].value == pytest.approx(50.0)  # contexts held, nothing ran
    rig.change([FakeGpu(trace=(Constant(100.0),), counter=False)])
    time.sleep(0.6)  # past the sensor's per-process query period (0.5 s)
    assert s.read(time.monotonic())["gpu:0"].value == 0.0  # no process at all: the machine's idle board


def test_a_run_not_on_the_gpu_is_charged_nothing_and_warned_once(
    fake_nvml: Callable[..., FakeNvml], make: Callable[..., NvmlSensor], caplog: pytest.LogCaptureFixture
) -> None:
    fake_nvml([FakeGpu(trace=(Constant(100.0),), counter=False, procs=(FakeProcess(B, 50),))])
    s = make(share=True, pids=lambda: {A})
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        assert s.read(time.monotonic())["gpu:0"].value == 0.0
        s.read(time.monotonic())
    assert sum("none of this run's processes" in r.getMessage() for r in caplog.records) == 1


def test_without_share_the_whole_board_is_charged(
    fake_nvml: Callable[..., FakeNvml], make: Callable[..., NvmlSensor]
) -> None:
    fake_nvml([FakeGpu(trace=(Constant(100.0),), counter=False, procs=(FakeProcess(B, 50),))])
    s = make(pids=lambda: {A})
    assert s.describe()[0].method == "power-integral"
    assert s.read(time.monotonic())["gpu:0"].value == pytest.approx(100.0)


@pytest.mark.parametrize(("slices", "expected"), [((3, 2), 3 / 7), ((1, 2), 1 / 7)])
def test_mig_instance_is_charged_its_slices(
    fake_nvml: Callable[..., FakeNvml],
    make: Callable[..., NvmlSensor],
    slices: tuple[int, int],
    expected: float,
) -> None:
    rig = fake_nvml(
        [FakeGpu(trace=(Constant(350.0),), mig_mode=True, mig_uuids=(MIG_A, MIG_B), mig_slices=slices)]
    )
    s = make(share=True, environ={"CUDA_VISIBLE_DEVICES": MIG_A})
    (info,) = s.describe()
    assert info.method == "estimate:mig-slice-share"
    assert info.details["mig_slices"] == slices[0] and info.details["parent_slices"] == 7
    b1 = time.monotonic()
    first = s.read(b1)["gpu:0"].value
    a1 = time.monotonic()
    time.sleep(0.3)
    b2 = time.monotonic()
    second = s.read(b2)["gpu:0"].value
    a2 = time.monotonic()
    shortest, longest = _bracket(rig, b1, a1, b2, a2)
    delta = second - first
    assert shortest * expected * (1 - 1e-4) - 1e-3 <= delta <= longest * expected * (1 + 1e-4) + 1e-3


def test_mig_without_share_keeps_the_parent_and_says_so(
    fake_nvml: Callable[..., FakeNvml], make: Callable[..., NvmlSensor]
) -> None:
    fake_nvml([FakeGpu(mig_mode=True, mig_uuids=(MIG_A,), mig_slices=(3,))])
    (info,) = make(environ={"CUDA_VISIBLE_DEVICES": MIG_A}).describe()
    assert info.method == "counter" and "parent" in str(info.details["mig_note"])


def test_slice_detail_names_the_rule(
    fake_nvml: Callable[..., FakeNvml], make: Callable[..., NvmlSensor]
) -> None:
    fake_nvml([FakeGpu(procs=(FakeProcess(A, 50),))])
    assert make(share=True, pids=lambda: {A}).describe()[0].details["slice"] == "gpu-process-share"
    assert make().describe()[0].details["slice"] == "whole-gpu"


def test_fast_reads_between_driver_samples_keep_the_utilisation_split(
    fake_nvml: Callable[..., FakeNvml], make: Callable[..., NvmlSensor]
) -> None:
    """The driver samples per-process utilisation every 1/6-1 s; reads at the power path's 20 ms mostly find no
    new sample. That must not turn the 1:3 split into an even one."""
    fake_nvml(
        [
            FakeGpu(
                trace=(Constant(200.0),),
                counter=False,
                util_period_s=0.5,
                procs=(FakeProcess(A, 20), FakeProcess(B, 60)),
            )
        ]
    )
    s = make(share=True, pids=lambda: {A})
    values = [s.read(time.monotonic())["gpu:0"].value for _ in range(5)]
    assert values == pytest.approx([50.0] * 5)


def test_a_driver_period_longer_than_the_read_interval_keeps_the_split_exact(
    fake_nvml: Callable[..., FakeNvml], make: Callable[..., NvmlSensor]
) -> None:
    """Counter path read every 0.55 s, driver samples every 1 s: some reads find no new sample. The last split
    carries over, so every interval stays 1:3 and the two processes still sum to the board's energy."""
    fake_nvml(
        [FakeGpu(trace=(Constant(200.0),), util_period_s=1.0, procs=(FakeProcess(A, 20), FakeProcess(B, 60)))]
    )
    s = make(share=True, pids=lambda: {A})
    for _ in range(4):
        s.read(time.monotonic())
        time.sleep(0.55)
    split = s.process_energy_j("gpu:0")
    assert split[B] == pytest.approx(3 * split[A], rel=1e-12)
