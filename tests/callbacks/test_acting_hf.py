"""The Hugging Face callback acting on carbon: a budget stop on the fake GPUs (checkpoint, then
``should_training_stop``; or ``BudgetExceeded`` out of ``train()``), and a pause around a dirty hour with a fake
clock (checkpoint, then a wait in phase ``paused``)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fakenvml
import pytest
from budgethelp import training_overshoot
from fakenvml import FakeNvml
from fakesensors import ConstantPowerSensor

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments  # noqa: E402
from wattwatch.callbacks import WattwatchCallback  # noqa: E402

from wattwatch import BudgetExceeded  # noqa: E402

INTERVAL_S = 1.0  # the default with energy counters: the bound is 2 % of the budget plus one of these


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """A tiny model on one thread: no OpenMP spinning against the rest of a busy machine (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Tokens(torch.utils.data.Dataset):  # type: ignore[misc]
    def __init__(self, n: int = 64) -> None:
        self.ids = torch.randint(0, 64, (n, 8), generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def trainer(out: Path, callbacks: list[Any], max_steps: int) -> Trainer:
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=64, n_positions=16))
    args = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=4, max_steps=max_steps, logging_steps=1000,
        save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, dataloader_num_workers=0,
    )  # fmt: skip
    return Trainer(model=model, args=args, train_dataset=Tokens(), callbacks=callbacks)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def hot_gpus(fake_nvml: Callable[..., FakeNvml]) -> FakeNvml:
    return fake_nvml(fakenvml.make_gpus(4, (fakenvml.Constant(600.0),)))


def gpu_callback(rig: FakeNvml, **kw: Any) -> WattwatchCallback:
    return WattwatchCallback(
        nvml_library=rig.library_path, carbon_intensity_g_per_kwh=1000.0, measure_power_secs=INTERVAL_S,
        save_timeseries=False, model_card=False, **kw,
    )  # fmt: skip


def test_budget_stop_saves_a_checkpoint_and_stops_within_the_bound(hot_gpus: FakeNvml, tmp_path: Path) -> None:
    budget = 0.002  # about 3 s of the four boards: several steps, even on a busy machine
    cb = gpu_callback(hot_gpus, carbon_budget_kg=budget)
    tr = trainer(tmp_path, [cb], max_steps=100_000)
    tr.train()
    stopped_at = tr.state.global_step
    assert 0 < stopped_at < 100_000
    data = cb.final_emissions_data
    assert data is not None and data.status == "budget-stopped" and data.steps == stopped_at
    over, bound, checkpoint = training_overshoot(data, budget, INTERVAL_S)
    assert 0 <= over <= bound, (over, bound)  # the checkpoint it asked for comes on top
    assert checkpoint > 0
    folder = tmp_path / f"checkpoint-{stopped_at}"
    assert (folder / "wattwatch_state.json").is_file()  # the run can be resumed with a larger budget
    assert json.loads((folder / "wattwatch_state.json").read_text())["run_id"] == data.run_id
    (row,) = rows(tmp_path / "emissions.csv")
    assert row["status"] == "budget-stopped" and float(row["budget_kg"]) == budget


def test_budget_raise_leaves_train_with_budget_exceeded(hot_gpus: FakeNvml, tmp_path: Path) -> None:
    cb = gpu_callback(hot_gpus, carbon_budget_kg=0.0015, on_budget="raise")
    tr = trainer(tmp_path, [cb], max_steps=100_000)
    with pytest.raises(BudgetExceeded, match="carbon budget"):
        tr.train()
    data = cb.final_emissions_data
    assert data is not None and data.status == "budget-stopped"
    over, bound, _ = training_overshoot(data, 0.0015, INTERVAL_S)
    assert 0 <= over <= bound, (over, bound)


class FakeClock:
    def __init__(self, wall0: float) -> None:
        self.t = 500.0
        self.wall0 = wall0 - self.t

    def __call__(self) -> float:
        return self.t

    def wall(self) -> float:
        return self.wall0 + self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class SixMinuteSteps(TrainerCallback):  # type: ignore[misc]
    """Each training step takes six minutes of the fake clock (and a reading at its end)."""

    def __init__(self, clock: FakeClock, cb: WattwatchCallback) -> None:
        self.clock, self.cb, self.walls = clock, cb, []  # type: ignore[var-annotated]

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.t += 360.0
        self.walls.append(self.clock.wall())
        assert self.cb.tracker is not None
        self.cb.tracker.current(refresh=True)


def test_a_dirty_hour_means_a_checkpoint_then_a_wait(tmp_path: Path) -> None:
    t0 = 1_704_067_200.0
    hourly = tmp_path / "hourly.csv"
    hourly.write_text("timestamp,g_per_kwh\n" + "".join(f"{t0 + h * 3600:.0f},{600 if h == 0 else 100}\n" for h in range(8)))
    clock = FakeClock(t0)
    cb = WattwatchCallback(
        sensors=[ConstantPowerSensor(200.0, clock=clock)], clock=clock, wall_clock=clock.wall, sleep=clock.sleep,
        measure_power_secs=1e6, intensity_csv=str(hourly), pause_above_g_per_kwh=300, deadline="+3h",
        save_timeseries=False, model_card=False,
    )  # fmt: skip
    steps = SixMinuteSteps(clock, cb)
    tr = trainer(tmp_path, [steps, cb], max_steps=10)  # an hour of work, a 3 h deadline, 00:00-01:00 dirty
    tr.train()
    data = cb.final_emissions_data
    assert data is not None and data.status == "completed" and data.steps == 10
    checkpoints = sorted(p.name for p in tmp_path.glob("checkpoint-*"))
    assert checkpoints and (tmp_path / checkpoints[0] / "wattwatch_state.json").is_file()
    assert data.phase_energy_kwh["paused"] > 0
    after = [w for w in steps.walls if w > t0 + 3600]
    assert len(after) >= 8  # all but the first steps (that measure the pace) in the clean hours
    assert steps.walls[-1] <= t0 + 3 * 3600
