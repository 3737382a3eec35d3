"""The fake NVML itself: its C arithmetic agrees with tests/support/fakenvml.py, and its faults behave as scripted.

Called through plain ctypes (not pynvml) so these tests check the rig independently of the sensor.
"""

from __future__ import annotations

import ctypes
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import fakenvml
import pytest
from fakenvml import Constant, FakeGpu, FakeNvml, Ramp, Square, steps

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_GPU_IS_LOST = 15
FI_POWER_AVERAGE = 185
FI_POWER_INSTANT = 186


class FieldValue(ctypes.Structure):
    _fields_ = [
        ("fieldId", ctypes.c_uint),
        ("scopeId", ctypes.c_uint),
        ("timestamp", ctypes.c_longlong),
        ("latencyUsec", ctypes.c_longlong),
        ("valueType", ctypes.c_int),
        ("nvmlReturn", ctypes.c_int),
        ("value", ctypes.c_ulonglong),  # the union's largest member; uiVal is its low 32 bits
    ]


class Nvml:
    """A minimal ctypes client of the fake."""

    def __init__(self, path: Path) -> None:
        self.lib = ctypes.CDLL(str(path))
        self.inits = 0

    def init(self) -> int:
        rc = int(self.lib.nvmlInit_v2())
        self.inits += rc == NVML_SUCCESS
        return rc

    def shutdown(self) -> int:
        return int(self.lib.nvmlShutdown())

    def count(self) -> int:
        n = ctypes.c_uint()
        assert self.lib.nvmlDeviceGetCount_v2(ctypes.byref(n)) == NVML_SUCCESS
        return n.value

    def handle(self, index: int) -> ctypes.c_void_p:
        h = ctypes.c_void_p()
        assert self.lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(h)) == NVML_SUCCESS
        return h

    def energy_mj(self, h: ctypes.c_void_p) -> tuple[int, int]:
        e = ctypes.c_ulonglong()
        rc = self.lib.nvmlDeviceGetTotalEnergyConsumption(h, ctypes.byref(e))
        return int(rc), e.value

    def power_usage_mw(self, h: ctypes.c_void_p) -> tuple[int, int]:
        p = ctypes.c_uint()
        rc = self.lib.nvmlDeviceGetPowerUsage(h, ctypes.byref(p))
        return int(rc), p.value

    def field(self, h: ctypes.c_void_p, field_id: int) -> tuple[int, int]:
        v = FieldValue(fieldId=field_id)
        assert self.lib.nvmlDeviceGetFieldValues(h, ctypes.c_int(1), ctypes.byref(v)) == NVML_SUCCESS
        return int(v.nvmlReturn), int(v.value & 0xFFFFFFFF)


@pytest.fixture
def nvml(fake_nvml_library: Path) -> Iterator[Nvml]:
    client = Nvml(fake_nvml_library)
    yield client
    for _ in range(client.inits):
        client.shutdown()


MIXED = (
    Square(60.0, 410.0, 0.37, duty=0.3, phase_s=0.05),
    Ramp(20.0, 7.5, start=-3.0, end=50.0),
    *steps([(-10.0, 5.0), (0.7, 55.0), (2.2, 15.0)]),
)


def test_counter_equals_closed_form_integral(fake_nvml: Callable[..., FakeNvml], nvml: Nvml) -> None:
    gpu = FakeGpu(trace=MIXED, energy_offset_j=1234.5)
    rig = fake_nvml([gpu, FakeGpu()], t0=time.monotonic() - 3.0)
    assert nvml.init() == NVML_SUCCESS
    assert nvml.count() == 2
    h = nvml.handle(0)
    for _ in range(5):
        before = time.monotonic()
        rc, mj = nvml.energy_mj(h)
        after = time.monotonic()
        assert rc == NVML_SUCCESS
        low = 1234.5 + rig.energy_j(0, rig.t0, before)
        high = 1234.5 + rig.energy_j(0, rig.t0, after)
        assert low * 1000 - 1 <= mj <= high * 1000 + 1
        time.sleep(0.05)


def test_instant_and_average_follow_the_trace(fake_nvml: Callable[..., FakeNvml], nvml: Nvml) -> None:
    gpu = FakeGpu(
        trace=(Ramp(100.0, 25.0, start=-5.0),)
    )  # rising, so each value is bracketed by its read times
    rig = fake_nvml([gpu])
    assert nvml.init() == NVML_SUCCESS
    h = nvml.handle(0)
    before = time.monotonic()
    rc, instant_mw = nvml.field(h, FI_POWER_INSTANT)
    after = time.monotonic()
    assert rc == NVML_SUCCESS
    assert (
        fakenvml.power_w(gpu, before, t0=rig.t0) - 1e-3
        <= instant_mw / 1000
        <= fakenvml.power_w(gpu, after, t0=rig.t0) + 1e-3
    )
    before = time.monotonic()
    rc, avg_mw = nvml.power_usage_mw(h)
    after = time.monotonic()
    assert rc == NVML_SUCCESS
    lo = fakenvml.trailing_average_w(gpu, before, t0=rig.t0)
    hi = fakenvml.trailing_average_w(gpu, after, t0=rig.t0)
    assert lo - 1e-3 <= avg_mw / 1000 <= hi + 1e-3
    assert avg_mw < instant_mw  # the average lags a rising trace by half a second (12.5 W here)
    rc, field_avg_mw = nvml.field(h, FI_POWER_AVERAGE)
    assert rc == NVML_SUCCESS and abs(field_avg_mw - avg_mw) < 100


@pytest.mark.parametrize("term", [*MIXED, Square(1.0, 3.0, 1.0), Constant(7.0, 0.25, 0.75)])
def test_closed_form_matches_numeric_integral(term: fakenvml.Term) -> None:
    gpu = FakeGpu(trace=(term,))
    a, b, n = -1.3, 4.1, 40_000
    dx = (b - a) / n
    numeric = sum(fakenvml.power_w(gpu, a + (i + 0.5) * dx, t0=0.0) for i in range(n)) * dx
    assert fakenvml.exact_energy_j(gpu, a, b, t0=0.0) == pytest.approx(numeric, rel=1e-3, abs=1e-3)


def test_faults(fake_nvml: Callable[..., FakeNvml], nvml: Nvml) -> None:
    gpus = [
        FakeGpu(counter=False),
        FakeGpu(instant=False),
        FakeGpu(lost_after_s=0.0),
        FakeGpu(trace=(Constant(200.0),), counter_reset_at_s=9.0, energy_offset_j=1e6),
        FakeGpu(counter_unsupported_after_s=9.0),
        FakeGpu(latency_ms=20.0),
    ]
    rig = fake_nvml(gpus, t0=time.monotonic() - 10.0)
    assert nvml.init() == NVML_SUCCESS
    assert nvml.energy_mj(nvml.handle(0))[0] == NVML_ERROR_NOT_SUPPORTED
    assert nvml.field(nvml.handle(0), FI_POWER_INSTANT)[0] == NVML_SUCCESS
    assert nvml.field(nvml.handle(1), FI_POWER_INSTANT)[0] == NVML_ERROR_NOT_SUPPORTED
    assert nvml.energy_mj(nvml.handle(2))[0] == NVML_ERROR_GPU_IS_LOST
    assert nvml.power_usage_mw(nvml.handle(2))[0] == NVML_ERROR_GPU_IS_LOST
    rc, mj = nvml.energy_mj(nvml.handle(3))
    assert rc == NVML_SUCCESS and 200_000 <= mj <= 200_000 + 200_000 * (time.monotonic() - rig.t0 - 9.0) + 1
    assert nvml.energy_mj(nvml.handle(4))[0] == NVML_ERROR_NOT_SUPPORTED
    start = time.monotonic()
    assert nvml.energy_mj(nvml.handle(5))[0] == NVML_SUCCESS
    assert time.monotonic() - start >= 0.019


def test_lost_after_a_time(fake_nvml: Callable[..., FakeNvml], nvml: Nvml) -> None:
    rig = fake_nvml([FakeGpu(lost_after_s=0.0)], t0=time.monotonic() + 0.2)
    assert nvml.init() == NVML_SUCCESS
    h = nvml.handle(0)
    first = nvml.energy_mj(h)[0]
    time.sleep(max(0.0, rig.t0 + 0.05 - time.monotonic()))
    assert nvml.energy_mj(h)[0] == NVML_ERROR_GPU_IS_LOST
    assert first in (NVML_SUCCESS, NVML_ERROR_GPU_IS_LOST)  # SUCCESS unless this machine stalled 0.2 s


def test_config_reread_at_every_init(fake_nvml: Callable[..., FakeNvml], nvml: Nvml) -> None:
    rig = fake_nvml(fakenvml.make_gpus(3))
    assert nvml.init() == NVML_SUCCESS and nvml.count() == 3
    rig.change(fakenvml.make_gpus(1, lost_after_s=-1.0))
    assert nvml.count() == 1
    assert nvml.energy_mj(nvml.handle(0))[0] == NVML_ERROR_GPU_IS_LOST


def test_init_error_zero_gpus_and_no_config(
    fake_nvml: Callable[..., FakeNvml], nvml: Nvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_nvml([FakeGpu()], init_error=NVML_ERROR_DRIVER_NOT_LOADED)
    assert nvml.init() == NVML_ERROR_DRIVER_NOT_LOADED
    fake_nvml([])
    assert nvml.init() == NVML_SUCCESS and nvml.count() == 0
    monkeypatch.delenv(fakenvml.CONFIG_ENV)
    assert nvml.init() == NVML_ERROR_DRIVER_NOT_LOADED


def test_unpacks_as_library_gpus_t0(fake_square_gpus: FakeNvml) -> None:
    library_path, gpus, t0 = fake_square_gpus
    assert library_path.name == "libnvidia-ml.so.1" and len(gpus) == 4 and math.isfinite(t0)  # type: ignore[arg-type]
    phases = {g.trace[0].phase_s for g in gpus}  # type: ignore[union-attr]
    assert len(phases) == 4
