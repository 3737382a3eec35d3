"""The host models on a slow cadence: the CPU model's energy is the same read every second or every ten (against
the exact integral of a fake /proc tree), the sampler reads slow sensors only when due and at every synchronous
read, and every periodic row and time-series row still holds the host's energy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wattwatch import Tracker
from wattwatch.measure.ledger import Ledger
from wattwatch.measure.sampler import Sampler, slow_sensors
from wattwatch.run.outputs import Outputs
from wattwatch.sensors.base import ENERGY, POWER, ChannelInfo, Reading
from wattwatch.sensors.cpu import IDLE_FRACTION, CpuModelSensor
from wattwatch.sinks.journal import read_journals
from wattwatch.sinks.timeseries import read_timeseries, timeseries_path
from wattwatch.util.once import WarnOnce

CLK_TCK = os.sysconf("SC_CLK_TCK")
N_CPUS = 4
TDP_W = 100.0


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeProcStat:
    """A ``/proc`` tree whose ``stat`` advances by exactly ``N_CPUS * CLK_TCK`` jiffies a second, ``busy`` of them
    busy: the exact energy of the linear model is known second by second."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        blocks = [f"processor\t: {i}\nvendor_id\t: GenuineIntel\nphysical id\t: 0" for i in range(N_CPUS)]
        (root / "cpuinfo").write_text("\n\n".join(blocks) + "\n")
        self.busy = self.idle = 0
        self._write()

    def _write(self) -> None:
        (self.root / "stat").write_text(f"cpu  {self.busy} 0 0 {self.idle} 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\n")

    def second(self, busy_jiffies: int) -> float:
        """One more second with ``busy_jiffies`` busy; returns its exact modelled energy (J)."""
        total = N_CPUS * CLK_TCK
        self.busy += busy_jiffies
        self.idle += total - busy_jiffies
        self._write()
        return TDP_W * (IDLE_FRACTION + (1.0 - IDLE_FRACTION) * busy_jiffies / total)


def _cpu_sensor(proc: Path, tmp_path: Path, clock: Clock) -> CpuModelSensor:
    return CpuModelSensor(proc_root=proc, tdp_w=TDP_W, dmi_root=tmp_path / "no-dmi", clock=clock)


@pytest.mark.parametrize("every_s", [1, 10, 7])
def test_cpu_model_energy_is_exact_at_any_cadence(tmp_path: Path, every_s: int) -> None:
    proc = FakeProcStat(tmp_path / "proc")
    clock = Clock(0.0)
    sensor = _cpu_sensor(proc.root, tmp_path, clock)
    ledger = Ledger(sensor.describe())
    ledger.add(0.0, 1.7e9, sensor.read(0.0), ["cpu"])
    loads = [0, 400, 400, 13, 200, 399, 0, 0, 250, 100] * 4 + [400, 7, 320]  # 43 s, a ragged last interval
    truth = 0.0
    for s, busy in enumerate(loads, start=1):
        truth += proc.second(round(busy * CLK_TCK / 100))
        clock.t = float(s)
        if s % every_s == 0 or s == len(loads):
            ledger.add(clock.t, 1.7e9 + s, sensor.read(clock.t), ["cpu"])
    assert ledger.snapshot().channels["cpu"].energy_j == pytest.approx(truth, rel=1e-12)


class Counting:
    """A sensor that counts its reads: ``component``/``method`` decide whether it is a slow one."""

    def __init__(self, name: str, component: str, method: str, kind: str = POWER, watts: float = 10.0) -> None:
        self.name, self.component, self.method, self.kind, self.watts = name, component, method, kind, watts
        self.reads: list[float] = []

    def channels(self) -> list[str]:
        return [self.name]

    def describe(self) -> list[ChannelInfo]:
        return [ChannelInfo(self.name, self.component, self.method)]

    def read(self, t: float) -> dict[str, Reading]:
        self.reads.append(t)
        value = self.watts * t if self.kind == ENERGY else self.watts
        return {self.name: Reading(value, self.kind)}  # type: ignore[arg-type]

    def close(self) -> None:
        pass


def test_slow_sensors_are_the_host_models() -> None:
    gpu = Counting("gpu:0", "gpu", "counter", ENERGY)
    rapl = Counting("cpu:package-0", "cpu", "counter", ENERGY)
    cpu = Counting("cpu", "cpu", "model:tdp/machine")
    ram = Counting("ram", "ram", "user:ram-4w")
    assert slow_sensors([gpu, rapl, cpu, ram]) == [cpu, ram]


def test_slow_sensors_are_read_when_due_and_at_every_synchronous_read() -> None:
    clock = Clock()
    gpu = Counting("gpu:0", "gpu", "counter", ENERGY)
    cpu = Counting("cpu", "cpu", "model:tdp/machine")
    samples: list[float] = []
    sampler = Sampler(
        [gpu, cpu], Ledger([*gpu.describe(), *cpu.describe()]), 1.0, clock=clock, wall_clock=clock,
        slow=[cpu], slow_every_s=10.0, on_slow_read=samples.append,
    )  # fmt: skip
    sampler.sample_now()  # as start() does
    sampler._slow_t = None
    for _ in range(25):
        clock.t += 1.0
        sampler._tick()
    assert len(gpu.reads) == 26
    # start, the first tick (its time-series row has the host's power), then every 10 s
    assert [t - 1000.0 for t in cpu.reads] == [0.0, 1.0, 11.0, 21.0]
    assert samples == [1000.0, 1001.0, 1011.0, 1021.0]
    clock.t += 0.5
    sampler.mark_phase("eval")
    sampler.sample_now()
    assert sampler.sample_slow_now()
    assert cpu.reads[-3:] == [1025.5, 1025.5, 1025.5] and gpu.reads[-1] == 1025.5 and len(gpu.reads) == 28
    with pytest.raises(ValueError, match="slow sensor"):
        Sampler([gpu], Ledger(gpu.describe()), 1.0, slow=[cpu])


def test_every_tick_reads_the_slow_sensors_when_the_interval_is_longer() -> None:
    clock = Clock()
    cpu = Counting("cpu", "cpu", "model:tdp/machine")
    sampler = Sampler([cpu], Ledger(cpu.describe()), 30.0, clock=clock, slow=[cpu], slow_every_s=10.0)
    assert sampler.slow_every_s == 30.0
    for _ in range(3):
        clock.t += 30.0
        sampler._tick()
        assert sampler.tick_read_slow
    assert len(cpu.reads) == 3


def test_each_periodic_row_holds_the_host_energy_up_to_its_tick(tmp_path: Path) -> None:
    mono, wall = Clock(), Clock(1.7e9)
    gpu = Counting("gpu:0", "gpu", "counter", ENERGY, watts=100.0)
    cpu = Counting("cpu", "cpu", "model:tdp/machine", watts=50.0)
    t = Tracker(  # the thread never ticks by itself (1e6 s): the test drives the ticks
        output_dir=tmp_path, sensors=[gpu, cpu], clock=mono, wall_clock=wall, measure_power_secs=1e6,  # type: ignore[list-item]
        handle_signals=False, save_timeseries=False, carbon_intensity_g_per_kwh=100.0, flush_every_s=5.0,
    ).start()  # fmt: skip
    assert t._session is not None
    t._flushes.tick_s = 1.0  # the ticks the test drives (the sampler's own interval is 1e6 s)
    flushed: list[float] = []
    write_row = t._session.outputs.write_row

    def spy(data, *, durable):  # type: ignore[no-untyped-def]
        flushed.append(mono.t)
        write_row(data, durable=durable)

    t._session.outputs.write_row = spy  # type: ignore[method-assign]
    for _ in range(60):
        mono.t += 1.0
        wall.t += 1.0
        t._session.sampler._tick()
    # the slow cadence is the interval here (1e6 s): besides start and the first tick, only the flush ticks (every
    # second at first, then further apart: the flush grid) read the CPU model
    assert cpu.reads == [1000.0, 1001.0, *flushed[1:]] and len(flushed) < 60
    (entry,), _ = read_journals(tmp_path)
    assert float(entry.row["cpu_energy"]) * 3.6e6 == pytest.approx(50.0 * (flushed[-1] - 1000.0), rel=1e-9)
    t.stop()


def test_time_series_places_a_slow_channel_between_its_reads(tmp_path: Path) -> None:
    """Issue 24: a channel read every few rows (the host models) gets, at each row between two of its readings,
    the energy on the line between them -- its mean power over that interval, not the previous interval's
    repeated; rows after its latest reading (none follows yet) keep the latest mean."""
    mono = Clock(0.0)
    infos = [ChannelInfo("gpu:0", "gpu", "counter"), ChannelInfo("cpu", "cpu", "model:x", details={"interval_mean": True})]
    ledger = Ledger(infos)
    outputs = Outputs(
        tmp_path / "emissions.csv", warn=WarnOnce(), clock=mono, wall_clock=lambda: 1.7e9 + mono.t,
        timeseries_every_s=1.0,
    )  # fmt: skip
    outputs.open(run_id="r", channels=["gpu:0", "cpu"], t0=0.0, timeseries=True, prometheus_port=None,
                 prometheus_host="", metrics=None)  # type: ignore[arg-type]  # fmt: skip
    ledger.add(0.0, 0.0, {"gpu:0": Reading(0.0, ENERGY), "cpu": Reading(20.0, POWER)})
    for s in range(1, 8):
        mono.t = float(s)
        readings = {"gpu:0": Reading(100.0 * s, ENERGY)}
        if s in (1, 4):
            readings["cpu"] = Reading(30.0 if s == 1 else 60.0, POWER)  # mean since its previous read
        ledger.add(mono.t, mono.t, readings)
        outputs.timeseries_tick(ledger, t=mono.t)
    outputs.close()
    series = read_timeseries(timeseries_path(tmp_path, "r"))
    assert series.elapsed_s == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    assert series.power_w["gpu:0"] == pytest.approx([100.0] * 7)
    assert series.power_w["cpu"] == pytest.approx([30.0, 60.0, 60.0, 60.0, 60.0, 60.0, 60.0])
    cpu_j = [30.0, 90.0, 150.0, 210.0, 210.0, 210.0, 210.0]  # rows 5-7: no later reading of the CPU yet
    assert [e * 3.6e6 for e in series.energy_kwh] == pytest.approx([100.0 * s + c for s, c in zip(range(1, 8), cpu_j, strict=True)])


def test_time_series_rows_are_fresh_on_a_host_without_gpus(tmp_path: Path) -> None:
    """Issue 24: on a host whose only channels are the host models (read every 10 s), rows repeated a frozen
    elapsed_s, power and energy for up to 10 rows; each row now has its own time and the energy at it."""
    mono = Clock(0.0)
    infos = [ChannelInfo("cpu", "cpu", "model:x", details={"interval_mean": True})]
    ledger = Ledger(infos)
    outputs = Outputs(
        tmp_path / "emissions.csv", warn=WarnOnce(), clock=mono, wall_clock=lambda: 1.7e9 + mono.t,
        timeseries_every_s=1.0,
    )  # fmt: skip
    outputs.open(run_id="r", channels=["cpu"], t0=0.0, timeseries=True, prometheus_port=None,
                 prometheus_host="", metrics=None)  # type: ignore[arg-type]  # fmt: skip
    ledger.add(0.0, 0.0, {"cpu": Reading(10.0, POWER)})
    for s in range(1, 21):
        mono.t = float(s)
        if s % 10 == 0:
            ledger.add(mono.t, mono.t, {"cpu": Reading(10.0 * s / 10, POWER)})  # 10 W, then 20 W means
        outputs.timeseries_tick(ledger, t=mono.t)
    outputs.flush_timeseries()
    series = read_timeseries(timeseries_path(tmp_path, "r"))
    assert series.elapsed_s == pytest.approx([float(s) for s in range(1, 21)])
    assert series.power_w["cpu"] == pytest.approx([10.0] * 10 + [20.0] * 10)
    assert [e * 3.6e6 for e in series.energy_kwh] == pytest.approx([10.0 * s if s <= 10 else 100.0 + 20.0 * (s - 10) for s in range(1, 21)])
    outputs.close()
