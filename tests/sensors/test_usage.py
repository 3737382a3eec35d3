"""CodeCarbon's usage columns: means of CPU, RAM and GPU utilisation, against a scripted /proc."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from wattwatch.sensors.usage import UsageMeans, UsageMeter, UsageTotals

GIB_KB = 1024 * 1024
TICK = 100  # USER_HZ on Linux: /proc/stat counts in 1/100 s


def write_proc(root: Path, busy: int, idle: int, total_kb: int = 16 * GIB_KB, available_kb: int = 12 * GIB_KB) -> None:
    # user nice system idle iowait irq softirq steal; busy goes in user, idle in idle
    (root / "stat").write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\n")
    (root / "meminfo").write_text(f"MemTotal: {total_kb} kB\nMemFree: 1 kB\nMemAvailable: {available_kb} kB\n")


def test_means_follow_the_scripted_counters(tmp_path: Path) -> None:
    write_proc(tmp_path, busy=1000, idle=9000)
    gpus = [[50.0, 70.0]]
    meter = UsageMeter(tmp_path, gpu_utilization=lambda: gpus[0])
    write_proc(tmp_path, busy=1000 + 300, idle=9000 + 700)  # 30 % busy
    assert meter.sample(10.0)
    mid = meter.totals()
    write_proc(tmp_path, busy=1300 + 900, idle=9700 + 100, available_kb=8 * GIB_KB)  # 90 % busy, 50 % RAM
    gpus[0] = [100.0, 100.0]
    assert not meter.sample(10.5)  # under a second since the last sample: skipped
    assert meter.sample(11.0)
    whole = meter.totals().means_since()
    assert whole == UsageMeans(
        cpu_utilization_percent=pytest.approx(60.0),
        gpu_utilization_percent=pytest.approx(80.0),
        ram_utilization_percent=pytest.approx(37.5),
        ram_used_gb=pytest.approx(6.0),
    )
    window = meter.totals().means_since(mid)  # the second sample alone (a task's window)
    assert window.cpu_utilization_percent == pytest.approx(90.0)
    assert window.ram_used_gb == pytest.approx(8.0)
    assert window.gpu_utilization_percent == pytest.approx(100.0)
    meter.close()


def test_nothing_sampled_gives_zeros_as_codecarbon(tmp_path: Path) -> None:
    write_proc(tmp_path, busy=1, idle=1)
    meter = UsageMeter(tmp_path)
    assert meter.totals() == UsageTotals()
    assert meter.totals().means_since() == UsageMeans(0.0, 0.0, 0.0, 0.0)
    assert not meter.sample(0.0)  # counters did not move: no sample, no division by zero


def test_a_failing_gpu_source_skips_the_gpu_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_proc(tmp_path, busy=0, idle=100)

    def broken() -> list[float]:
        raise RuntimeError("NVML gone")

    meter = UsageMeter(tmp_path, gpu_utilization=broken)
    write_proc(tmp_path, busy=50, idle=150)
    assert meter.sample(1.0)
    write_proc(tmp_path, busy=100, idle=200)
    assert meter.sample(2.0)
    totals = meter.totals()
    assert totals.samples == 2 and totals.gpu_samples == 0
    assert caplog.text.count("NVML gone") == 1


def test_without_proc_it_uses_psutil(tmp_path: Path) -> None:
    meter = UsageMeter(tmp_path / "absent")
    t = 0.0
    while not meter.sample(t) and t < 50:  # the kernel's CPU counters move every 10 ms
        psutil.cpu_percent(interval=0.05)
        t += 1.0
    means = meter.totals().means_since()
    assert 0.0 <= means.cpu_utilization_percent <= 100.0
    assert 0.0 < means.ram_utilization_percent < 100.0
    assert means.ram_used_gb > 0.0


def test_gpu_utilization_from_nvml(fake_nvml, fake_nvml_library: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from fakenvml import Constant, FakeGpu

    from wattwatch.sensors.nvml import NvmlSensor

    # The fake reports utilisation as the trace's share of the power limit: 350/700 -> 50 %, 700/700 -> 100 %.
    fake_nvml([FakeGpu(trace=(Constant(350.0),)), FakeGpu(trace=(Constant(700.0),))])
    sensor = NvmlSensor(None, library_path=fake_nvml_library, environ={})
    try:
        assert sensor.utilization() == [50.0, 100.0]
        write_proc(tmp_path, busy=0, idle=100)
        meter = UsageMeter(tmp_path, gpu_utilization=sensor.utilization)
        write_proc(tmp_path, busy=10, idle=190)
        assert meter.sample(1.0)
        assert meter.totals().means_since().gpu_utilization_percent == pytest.approx(75.0)
    finally:
        sensor.close()
    assert sensor.utilization() == []  # closed: nothing, no exception
