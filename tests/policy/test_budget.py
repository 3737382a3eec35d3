"""Budgets in the library, on the fake GPUs (tests/support/fake_nvml: the real pynvml loading a fake
libnvidia-ml.so.1): ``on_budget`` raise / stop / warn, carbon and energy, the overshoot bound, the live total
between ticks, a resumed run's earlier segments, the row's columns and status."""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable
from pathlib import Path

import fakenvml
import pytest
from budgethelp import carbon_overshoot, energy_overshoot
from fakenvml import FakeNvml
from fakesensors import ConstantPowerSensor

from wattwatch import BudgetExceeded, Tracker
from wattwatch.errors import ConfigurationError

INTERVAL_S = 1.0  # the default with energy counters: the bound is 2 % of the budget plus one of these
G_PER_KWH = 1000.0


def gpu_tracker(rig: FakeNvml, out: Path, **kw: object) -> Tracker:
    options: dict[str, object] = dict(
        output_dir=out, nvml_library=rig.library_path, carbon_intensity_g_per_kwh=G_PER_KWH,
        measure_power_secs=INTERVAL_S, save_timeseries=False, handle_signals=False,
    )  # fmt: skip
    options.update(kw)
    return Tracker(**options)  # type: ignore[arg-type]


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "emissions.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def hot_gpus(fake_nvml: Callable[..., FakeNvml]) -> FakeNvml:
    """Four H100s drawing 600 W each: 2.4 kW, 0.67 g CO2eq a second at 1000 g/kWh."""
    return fake_nvml(fakenvml.make_gpus(4, (fakenvml.Constant(600.0),)))


def train(t: Tracker, seconds: float = 30.0, step_s: float = 0.005) -> int:
    steps = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(step_s)
        t.step()
        steps += 1
    return steps


def test_raise_stops_at_the_first_step_past_the_budget_within_the_bound(hot_gpus: FakeNvml, tmp_path: Path) -> None:
    budget = 0.0008  # 0.8 g: about 1.2 s of the four boards
    t = gpu_tracker(hot_gpus, tmp_path, carbon_budget_kg=budget, on_budget="raise")
    assert not t.over_budget  # readable before the run
    with pytest.raises(BudgetExceeded) as info, t:
        train(t)
    data = t.final_emissions_data
    assert data is not None and data.status == "budget-stopped" and t.over_budget and t.should_stop
    assert info.value.kind == "carbon" and info.value.budget == budget and info.value.used >= budget
    assert info.value.unit == "kg" and info.value.steps == data.steps
    over, bound = carbon_overshoot(data, budget, INTERVAL_S)
    assert 0 <= over <= bound, (over, bound)
    (row,) = rows(tmp_path)
    assert row["status"] == "budget-stopped" and float(row["budget_kg"]) == budget and row["budget_kwh"] == ""


def test_energy_budget_with_stop_is_cooperative(hot_gpus: FakeNvml, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    budget = 0.0004  # 0.4 Wh: 0.6 s of the boards
    t = gpu_tracker(hot_gpus, tmp_path, energy_budget_kwh=budget)  # on_budget="stop": nothing raised
    with caplog.at_level(logging.WARNING, logger="wattwatch"), t:
        for _ in range(20000):
            time.sleep(0.005)
            t.step()
            if t.should_stop:  # what a loop of one's own does (the callbacks do it for you)
                break
    data = t.final_emissions_data
    assert data is not None and data.status == "budget-stopped"
    over, bound = energy_overshoot(data, budget, INTERVAL_S)
    assert 0 <= over <= bound, (over, bound)
    messages = [r.getMessage() for r in caplog.records if "budget" in r.getMessage()]
    assert len(messages) == 1 and "energy budget; stopping (on_budget='stop'" in messages[0]


def test_warn_goes_on_and_the_row_keeps_its_status(hot_gpus: FakeNvml, tmp_path: Path) -> None:
    t = gpu_tracker(hot_gpus, tmp_path, carbon_budget_kg=0.0002, on_budget="warn", measure_power_secs=0.2)
    with t:
        train(t, seconds=0.8)
        assert t.over_budget and not t.should_stop
    data = t.final_emissions_data
    assert data is not None and data.status == "completed" and data.emissions > 0.0002 and data.budget_kg == 0.0002


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1.7e9 + self.t


def test_the_check_between_steps_reads_the_live_total_not_only_the_ticks(tmp_path: Path) -> None:
    """No tick ever comes (a huge interval): the ledger was last read 9.5 s ago at 500 W; the step extrapolates,
    sees the budget crossed, takes a reading and raises on the measured total."""
    clock = Clock()
    sensor = ConstantPowerSensor(500.0, clock=clock)
    t = Tracker(
        output_dir=tmp_path, sensors=[sensor], clock=clock, wall_clock=clock.wall, measure_power_secs=1e6,
        energy_budget_kwh=5000 / 3.6e6, on_budget="raise", save_timeseries=False, handle_signals=False,
    )  # fmt: skip
    t.start()
    clock.t += 1.0
    t.current(refresh=True)  # a second reading: 500 W known
    t.step()  # 500 J so far
    clock.t += 9.5  # 4750 J more, unread
    assert t.segment_snapshot().energy_j == pytest.approx(500.0)  # type: ignore[union-attr]
    with pytest.raises(BudgetExceeded, match="used 0.001458 kWh at step 2, past its 0.001389 kWh energy budget"):
        t.step()
    assert t.segment_snapshot().energy_j == pytest.approx(5250.0)  # type: ignore[union-attr]  # read then
    t.step()  # raised once; later steps go on (the status says what happened)
    assert t.stop().status == "budget-stopped"  # type: ignore[union-attr]


def test_a_resumed_run_counts_its_earlier_segments(tmp_path: Path) -> None:
    clock = Clock()
    first = Tracker(
        output_dir=tmp_path, sensors=[ConstantPowerSensor(100.0, clock=clock)], clock=clock, wall_clock=clock.wall,
        measure_power_secs=1e6, save_timeseries=False, handle_signals=False,
    )  # fmt: skip
    first.start()
    clock.t += 30.0
    first.step(10)
    first.current(refresh=True)  # a checkpoint's state holds the energy read up to it
    state = first.state_dict()
    first.stop("interrupted")
    second = Tracker(
        output_dir=tmp_path, sensors=[ConstantPowerSensor(100.0, clock=clock)], clock=clock, wall_clock=clock.wall,
        measure_power_secs=1e6, energy_budget_kwh=4000 / 3.6e6, save_timeseries=False, handle_signals=False,
    )  # fmt: skip
    second.load_state_dict(state)  # 3000 J already spent
    second.start()
    clock.t += 5.0
    second.current(refresh=True)
    second.step()
    assert not second.over_budget  # 3500 J
    clock.t += 6.0
    second.step()
    assert second.over_budget and second.should_stop  # 4100 J with the first segment's
    assert second.stop().status == "budget-stopped"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"carbon_budget_kg": 0}, "carbon_budget_kg must be a positive number of kg CO2eq"),
        ({"energy_budget_kwh": "lots"}, "energy_budget_kwh must be a positive number of kWh"),
        ({"on_budget": "panic"}, "on_budget must be one of stop, raise, warn"),
        ({"pause_above_g_per_kwh": 200}, "the pause rule needs both pause_above_g_per_kwh="),
        ({"deadline": "+8h"}, "the pause rule needs both"),
        ({"pause_above_g_per_kwh": -1, "deadline": "+8h"}, "pause_above_g_per_kwh must be a number"),
        ({"pause_above_g_per_kwh": 1, "deadline": "tomorrow"}, "deadline 'tomorrow'"),
        ({"pause_above_g_per_kwh": 1, "deadline": "+8 weeks"}, "write a duration such as"),
    ],
)
def test_bad_acting_options_fail_before_any_work(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Tracker(**kwargs)  # type: ignore[arg-type]
