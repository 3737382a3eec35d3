"""NvmlSensor against the fake libnvidia-ml, through the real pynvml."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import fakenvml
import pytest
from fakenvml import Constant, FakeGpu, FakeNvml, Ramp

from wattwatch.sensors.base import ENERGY, POWER, Reading, Sensor
from wattwatch.sensors.nvml import NvmlSensor

Install = Callable[..., FakeNvml]

MIG_A = "MIG-0c4f7e1a-5b2d-5f7e-9a41-3c2b1d0e9f11"
MIG_B = "MIG-0c4f7e1a-5b2d-5f7e-9a41-3c2b1d0e9f22"


@pytest.fixture
def sensors() -> Iterator[list[NvmlSensor]]:
    """Collects sensors and closes them after the test (NVML init/shutdown stay balanced)."""
    made: list[NvmlSensor] = []
    yield made
    for s in made:
        s.close()


@pytest.fixture
def make(fake_nvml_library: Path, sensors: list[NvmlSensor]) -> Callable[..., NvmlSensor]:
    def factory(gpu_ids: object = None, *, environ: dict[str, str] | None = None, **kw: object) -> NvmlSensor:
        kw.setdefault("library_path", fake_nvml_library)
        s = NvmlSensor(gpu_ids, environ={} if environ is None else environ, **kw)  # type: ignore[arg-type]
        sensors.append(s)
        return s

    return factory


def timed_read(s: NvmlSensor) -> tuple[float, dict[str, Reading], float]:
    before = time.monotonic()
    out = s.read(before)
    return before, out, time.monotonic()


# ---------------------------------------------------------------------------------------------- accuracy


def test_counter_matches_exact_energy(fake_square_gpus: FakeNvml, make: Callable[..., NvmlSensor]) -> None:
    s = make()
    assert isinstance(s, Sensor)
    assert s.channels() == ["gpu:0", "gpu:1", "gpu:2", "gpu:3"]
    assert [i.method for i in s.describe()] == ["counter"] * 4
    b1, r1, a1 = timed_read(s)
    time.sleep(0.6)
    b2, r2, a2 = timed_read(s)
    for i in range(4):
        ch = f"gpu:{i}"
        assert r1[ch].kind == r2[ch].kind == ENERGY
        delta = r2[ch].value - r1[ch].value
        # The reads happened somewhere inside [b, a]: the exact energy between them is bracketed by these.
        shortest = fake_square_gpus.energy_j(i, a1, b2)
        longest = fake_square_gpus.energy_j(i, b1, a2)
        assert shortest * (1 - 1e-4) - 1e-3 <= delta <= longest * (1 + 1e-4) + 1e-3
        assert delta > 0.6 * 80


def test_counter_absolute_value_includes_offset(
    install_one: Callable[..., FakeNvml], make: Callable[..., NvmlSensor]
) -> None:
    rig = install_one(FakeGpu(trace=(Constant(250.0),), energy_offset_j=5e6), t0=time.monotonic() - 100)
    before, out, after = timed_read(make())
    assert 5e6 + 250 * (before - rig.t0) - 1e-3 <= out["gpu:0"].value <= 5e6 + 250 * (after - rig.t0) + 1e-3


@pytest.fixture
def install_one(fake_nvml: Install) -> Callable[..., FakeNvml]:
    def one(gpu: FakeGpu, **kw: object) -> FakeNvml:
        return fake_nvml([gpu], **kw)

    return one


def test_instant_power_equals_the_trace(
    install_one: Callable[..., FakeNvml], make: Callable[..., NvmlSensor]
) -> None:
    gpu = FakeGpu(trace=(Ramp(150.0, 40.0, start=-2.0),), counter=False)
    rig = install_one(gpu)
    s = make()
    (info,) = s.describe()
    assert info.method == "power-integral" and info.details["power_source"] == "instant"
    before, out, after = timed_read(s)
    assert out["gpu:0"].kind == POWER
    lo, hi = fakenvml.power_w(gpu, before, t0=rig.t0), fakenvml.power_w(gpu, after, t0=rig.t0)
    assert lo - 1e-3 <= out["gpu:0"].value <= hi + 1e-3


@pytest.mark.parametrize(
    ("gpu_kw", "sensor_kw"),
    [({"instant": False}, {}), ({}, {"prefer_instant": False})],
    ids=["instant-unsupported", "prefer-average"],
)
def test_averaged_power_equals_trailing_mean(
    install_one: Callable[..., FakeNvml],
    make: Callable[..., NvmlSensor],
    gpu_kw: dict[str, object],
    sensor_kw: dict[str, object],
) -> None:
    gpu = FakeGpu(trace=(Ramp(150.0, 40.0, start=-2.0),), counter=False, **gpu_kw)  # type: ignore[arg-type]
    rig = install_one(gpu)
    s = make(**sensor_kw)
    (info,) = s.describe()
    assert info.details["power_source"] == "average" and "average" in str(info.details["power_note"])
    before, out, after = timed_read(s)
    lo = fakenvml.trailing_average_w(gpu, before, t0=rig.t0)
    hi = fakenvml.trailing_average_w(gpu, after, t0=rig.t0)
    assert lo - 1e-3 <= out["gpu:0"].value <= hi + 1e-3
    assert out["gpu:0"].value < fakenvml.power_w(gpu, before, t0=rig.t0)  # lags the rising trace


def test_describe_static_facts(fake_nvml: Install, make: Callable[..., NvmlSensor]) -> None:
    fake_nvml([FakeGpu(name="NVIDIA A100-SXM4-40GB", power_limit_w=400, pci_bus_id="00000000:8A:00.0")])
    (info,) = make().describe()
    assert info.channel == "gpu:0" and info.component == "gpu" and info.model == "NVIDIA A100-SXM4-40GB"
    d = info.details
    assert d["index"] == 0 and d["uuid"] == fakenvml.default_uuid(0) and d["pci_bus_id"] == "00000000:8A:00.0"
    assert d["power_limit_w"] == 400.0 and d["power_source"] == "counter" and d["mig_parent"] is None


# ---------------------------------------------------------------------------------------------- selection

UUIDS = [f"GPU-{c * 8}-1111-2222-3333-44445555666{i}" for i, c in enumerate("abcd")]


@pytest.fixture
def four(fake_nvml: Install) -> FakeNvml:
    gpus = [FakeGpu(uuid=u) for u in UUIDS]
    gpus[2] = FakeGpu(uuid=UUIDS[2], mig_mode=True, mig_uuids=(MIG_A, MIG_B))
    return fake_nvml(gpus)


@pytest.mark.parametrize(
    ("gpu_ids", "expected"),
    [
        (None, [1]),  # no explicit ids: CUDA_VISIBLE_DEVICES applies
        ([1, 3], [1, 3]),
        ("2,3", [2, 3]),
        (2, [2]),
        ([UUIDS[1]], [1]),
        (["GPU-dddd"], [3]),
        ([MIG_B], [2]),
        ([f"MIG-{UUIDS[2]}/1/0"], [2]),
        ([3, UUIDS[3], 0], [3, 0]),
        ([], []),
    ],
)
def test_gpu_ids(
    four: FakeNvml, make: Callable[..., NvmlSensor], gpu_ids: object, expected: list[int]
) -> None:
    s = make(gpu_ids, environ={"CUDA_VISIBLE_DEVICES": "1"})  # explicit ids win over the environment
    assert s.channels() == [f"gpu:{i}" for i in expected]


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        ("2,3", [2, 3]),
        ("3,1", [3, 1]),
        (f"{UUIDS[0]},{UUIDS[3]}", [0, 3]),
        ("GPU-bbbb,GPU-cc", [1, 2]),
        (MIG_A, [2]),
        (f"{MIG_A},{MIG_B}", [2]),
        ("MIG-0c4f7e1a-5b2d-5f7e-9a41-3c2b1d0e9f1", [2]),  # prefix of MIG_A
        ("", []),
        ("-1", []),
        ("0,-1,1", [0]),  # like CUDA: an entry that matches nothing ends the list
        ("GPU-", []),  # ambiguous prefix
        (" 1 , 2 ", [1, 2]),
    ],
)
def test_cuda_visible_devices(
    four: FakeNvml, make: Callable[..., NvmlSensor], visible: str, expected: list[int]
) -> None:
    s = make(environ={"CUDA_VISIBLE_DEVICES": visible})
    assert s.channels() == [f"gpu:{i}" for i in expected]


def test_mig_id_measures_the_parent_and_says_so(four: FakeNvml, make: Callable[..., NvmlSensor]) -> None:
    (info,) = make(environ={"CUDA_VISIBLE_DEVICES": MIG_A}).describe()
    assert info.details["mig_parent"] == UUIDS[2] and info.details["mig_devices"] == [MIG_A]
    assert "parent" in str(info.details["mig_note"])


@pytest.mark.parametrize("bad", [7, "7", "GPU-ffff", "GPU-", "MIG-nope", "banana"])
def test_bad_gpu_id_lists_the_valid_ones(
    four: FakeNvml, make: Callable[..., NvmlSensor], bad: object
) -> None:
    with pytest.raises(ValueError) as err:
        make([0, bad])
    message = str(err.value)
    assert repr(str(bad)) in message
    for i, uuid in enumerate(UUIDS):
        assert f"{i} ({uuid}" in message


# ---------------------------------------------------------------------------------------------- faults


def test_counter_not_supported_uses_power(fake_nvml: Install, make: Callable[..., NvmlSensor]) -> None:
    fake_nvml([FakeGpu(), FakeGpu(counter=False, trace=(Constant(123.0),))])
    s = make()
    assert [i.method for i in s.describe()] == ["counter", "power-integral"]
    out = s.read(0.0)
    assert out["gpu:0"].kind == ENERGY and (out["gpu:1"].value, out["gpu:1"].kind) == (123.0, POWER)


def test_counter_stops_mid_run_falls_back_to_power(
    fake_nvml: Install, make: Callable[..., NvmlSensor], caplog: pytest.LogCaptureFixture
) -> None:
    rig = fake_nvml([FakeGpu(trace=(Constant(90.0),)), FakeGpu()])
    s = make()
    assert s.read(0.0)["gpu:0"].kind == ENERGY
    rig.change([FakeGpu(trace=(Constant(90.0),), counter=False), FakeGpu()])
    with caplog.at_level(logging.WARNING, logger="wattwatch.sensors.nvml"):
        first, second = s.read(0.0), s.read(0.0)
    assert (first["gpu:0"].value, first["gpu:0"].kind) == (second["gpu:0"].value, second["gpu:0"].kind) == (90.0, POWER)
    assert first["gpu:1"].kind == ENERGY
    info = s.describe()[0]
    assert info.method == "power-integral" and info.details["method_changed_from"] == "counter"
    assert len([r for r in caplog.records if "counter stopped" in r.getMessage()]) == 1


def test_lost_gpu_disappears_others_continue(
    fake_nvml: Install, make: Callable[..., NvmlSensor], caplog: pytest.LogCaptureFixture
) -> None:
    rig = fake_nvml(fakenvml.make_gpus(3))
    s = make()
    assert set(s.read(0.0)) == {"gpu:0", "gpu:1", "gpu:2"}
    rig.change([FakeGpu(), FakeGpu(lost_after_s=-1.0), FakeGpu()])
    with caplog.at_level(logging.WARNING, logger="wattwatch.sensors.nvml"):
        reads = [s.read(0.0) for _ in range(3)]
    assert all(set(r) == {"gpu:0", "gpu:2"} for r in reads)
    assert len([r for r in caplog.records if "fell off the bus" in r.getMessage()]) == 1
    assert s.channels() == ["gpu:0", "gpu:1", "gpu:2"]  # the channel stays known; its readings stop


def test_lost_after_a_time(fake_nvml: Install, make: Callable[..., NvmlSensor]) -> None:
    fake_nvml([FakeGpu(), FakeGpu(lost_after_s=0.3)], t0=time.monotonic())
    s = make()
    time.sleep(0.35)
    assert set(s.read(0.0)) == {"gpu:0"}


def test_counter_reset_never_decreases(fake_nvml: Install, make: Callable[..., NvmlSensor]) -> None:
    t0 = time.monotonic() - 50.0
    gpu = FakeGpu(trace=(Constant(300.0),), energy_offset_j=1e5)
    rig = fake_nvml([gpu], t0=t0)
    s = make()
    before_reset = s.read(0.0)["gpu:0"].value
    assert before_reset > 1e5
    # a driver reload right now: the raw counter restarts from 0
    rig.change(
        [FakeGpu(trace=(Constant(300.0),), energy_offset_j=1e5, counter_reset_at_s=time.monotonic() - t0)]
    )
    values = [s.read(0.0)["gpu:0"].value]
    time.sleep(0.2)
    b, out, a = timed_read(s)
    values.append(out["gpu:0"].value)
    assert before_reset <= values[0] <= values[1]
    assert values[1] - values[0] >= 300 * 0.2 * (1 - 1e-4) - 1e-3
    assert s.describe()[0].details["counter_resets"] == 1


def test_latency_still_reads(fake_nvml: Install, make: Callable[..., NvmlSensor]) -> None:
    fake_nvml(fakenvml.make_gpus(2, latency_ms=5.0))
    start = time.monotonic()
    out = make().read(0.0)
    assert set(out) == {"gpu:0", "gpu:1"} and time.monotonic() - start >= 0.009


def test_a_named_library_that_cannot_load_no_channels_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, sensors: list[NvmlSensor]
) -> None:
    """The library the user named does not load: no GPU energy, said once as a WARNING (issue 24: a failed NVML
    start must not pass unseen); a host with no NVIDIA driver at all stays at one INFO line."""
    log = logging.getLogger("test.nvml.missing")
    with caplog.at_level(logging.DEBUG, logger="test.nvml.missing"):
        s = NvmlSensor(library_path=tmp_path / "libnvidia-ml.so.1", environ={}, logger=log)
        sensors.append(s)
        assert s.channels() == [] and s.describe() == [] and s.read(0.0) == {}
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert s.unavailable_reason is not None and "cannot load" in s.unavailable_reason


@pytest.mark.parametrize(
    ("gpus", "kw", "reason", "level"),
    [
        ([FakeGpu()], {"init_error": 9}, "nvmlInit failed", logging.WARNING),  # issue 24: a failed start is said
        ([], {}, "no NVIDIA GPU", logging.INFO),
    ],
    ids=["init-fails", "zero-gpus"],
)
def test_unavailable_nvml_no_channels(
    fake_nvml: Install,
    fake_nvml_library: Path,
    caplog: pytest.LogCaptureFixture,
    sensors: list[NvmlSensor],
    gpus: list[FakeGpu],
    kw: dict[str, object],
    reason: str,
    level: int,
) -> None:
    fake_nvml(gpus, **kw)
    log = logging.getLogger("test.nvml.unavailable")
    with caplog.at_level(logging.DEBUG, logger="test.nvml.unavailable"):
        s = NvmlSensor([0] if gpus else None, library_path=fake_nvml_library, environ={}, logger=log)
        sensors.append(s)
        assert s.channels() == [] and s.read(0.0) == {}
        s.close()
        s.close()
    assert [r.levelno for r in caplog.records] == [level]
    assert reason in caplog.records[0].getMessage()


def test_empty_cuda_visible_devices_logs_once(
    four: FakeNvml, make: Callable[..., NvmlSensor], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="wattwatch.sensors.nvml"):
        s = make(environ={"CUDA_VISIBLE_DEVICES": ""})
    assert s.channels() == [] and "CUDA_VISIBLE_DEVICES='' hides every GPU" in (s.unavailable_reason or "")
    assert len(caplog.records) == 1 and caplog.records[0].levelno == logging.WARNING  # said: issue 24


def test_close_is_idempotent_and_read_after_close_is_empty(
    fake_square_gpus: FakeNvml, make: Callable[..., NvmlSensor]
) -> None:
    s = make()
    s.close()
    s.close()
    assert s.read(0.0) == {}


def test_switching_library_path_resets_pynvml(
    fake_square_gpus: FakeNvml, make: Callable[..., NvmlSensor], tmp_path: Path
) -> None:
    copy = tmp_path / "other" / "libnvidia-ml.so.1"
    copy.parent.mkdir()
    copy.write_bytes(fake_square_gpus.library_path.read_bytes())
    first = make(library_path=copy)
    assert len(first.read(0.0)) == 4
    first.close()
    second = make()  # back to the session library: pynvml's cached function pointers must follow
    assert len(second.read(0.0)) == 4


def test_closing_a_sensor_of_a_replaced_library_leaves_the_new_one_running(
    fake_square_gpus: FakeNvml, make: Callable[..., NvmlSensor], tmp_path: Path
) -> None:
    """A sensor closed (or garbage-collected) after another one switched pynvml to another library file must
    not shut that library down under the other sensor."""
    copy = tmp_path / "other" / "libnvidia-ml.so.1"
    copy.parent.mkdir()
    copy.write_bytes(fake_square_gpus.library_path.read_bytes())
    old = make()
    new = make(library_path=copy)
    old.close()
    assert len(new.read(0.0)) == 4
    new.close()
    assert new.read(0.0) == {}


def _measure_read_cpu(n_reads: int = 5000) -> None:
    """Print the CPU cost of one read() of 8 fake GPUs per reading path (run this file as a script)."""
    import tempfile

    lib = fakenvml.build_library(fakenvml.default_build_dir())
    paths = {"counter": {}, "instant": {"counter": False}, "average": {"counter": False, "instant": False}}
    for label, kw in paths.items():
        fakenvml.install(Path(tempfile.mkdtemp()), fakenvml.square_wave_gpus(8, **kw), lib)  # type: ignore[arg-type]
        s = NvmlSensor(library_path=lib, environ={})
        for _ in range(200):
            s.read(0.0)
        c0 = time.thread_time()
        for _ in range(n_reads):
            s.read(0.0)
        cpu_us = 1e6 * (time.thread_time() - c0) / n_reads
        print(f"{label:8s} {len(s.channels())} GPUs: {cpu_us:6.1f} us CPU per read()")
        s.close()


if __name__ == "__main__":  # .venv/bin/python tests/test_nvml_sensor.py
    _measure_read_cpu()
