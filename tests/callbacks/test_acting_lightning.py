"""The Lightning callback acting on carbon on the fake GPUs: past the budget, a checkpoint then
``trainer.should_stop``; the run's length from ``estimated_stepping_batches``."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fakenvml
import pytest
from budgethelp import training_overshoot
from fakenvml import FakeNvml

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

from wattwatch.callbacks.lightning import WattwatchLightningCallback  # noqa: E402

INTERVAL_S = 1.0  # the default with energy counters: the bound is 2 % of the budget plus one of these


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """A tiny model on one thread: no OpenMP spinning against the rest of a busy machine (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Tiny(pl.LightningModule):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        (x,) = batch
        return self.layer(x).pow(2).mean()

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def loader(n: int) -> Any:
    data = torch.utils.data.TensorDataset(torch.randn(n, 4, generator=torch.Generator().manual_seed(0)))
    return torch.utils.data.DataLoader(data, batch_size=4)


def fit(root: Path, cb: WattwatchLightningCallback, n: int, **kw: Any) -> Any:
    trainer = pl.Trainer(
        default_root_dir=str(root), accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, callbacks=[cb], **kw,
    )  # fmt: skip
    trainer.fit(Tiny(), loader(n))
    return trainer


@pytest.fixture
def hot_gpus(fake_nvml: Callable[..., FakeNvml]) -> FakeNvml:
    return fake_nvml(fakenvml.make_gpus(4, (fakenvml.Constant(600.0),)))


def test_budget_stop_checkpoints_then_stops_within_the_bound(hot_gpus: FakeNvml, tmp_path: Path) -> None:
    budget = 0.0008
    cb = WattwatchLightningCallback(
        nvml_library=hot_gpus.library_path, carbon_intensity_g_per_kwh=1000.0, measure_power_secs=INTERVAL_S,
        save_timeseries=False, carbon_budget_kg=budget, log_metrics=False,
    )  # fmt: skip
    trainer = fit(tmp_path, cb, 4_000_000, max_steps=1_000_000)
    data = cb.final_emissions_data
    assert data is not None and data.status == "budget-stopped"
    assert 0 < trainer.global_step < 1_000_000 and data.steps == trainer.global_step
    over, bound, checkpoint = training_overshoot(data, budget, INTERVAL_S)
    assert 0 <= over <= bound, (over, bound)  # the checkpoint it asked for comes on top
    assert checkpoint > 0
    (path,) = cb.checkpoints
    assert Path(path).is_file() and f"wattwatch-budget-step={trainer.global_step}" in path
    state = torch.load(path, weights_only=False)["callbacks"]["WattwatchLightningCallback"]["tracker"]
    assert state["run_id"] == data.run_id  # fit(ckpt_path=...) continues this run
    with open(tmp_path / "emissions.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["status"] == "budget-stopped" and float(row["budget_kg"]) == budget


def test_the_length_comes_from_estimated_stepping_batches(tmp_path: Path) -> None:
    from fakesensors import ConstantPowerSensor

    cb = WattwatchLightningCallback(
        sensors=[ConstantPowerSensor(100.0)], measure_power_secs=0.05, save_timeseries=False, log_metrics=False,
        country_iso_code="FRA",
    )  # fmt: skip
    fit(tmp_path, cb, 40, max_epochs=2)  # no max_steps: 2 epochs of 10 batches
    assert cb.tracker is not None and cb.tracker.total_steps == 20
    data = cb.final_emissions_data
    assert data is not None and data.steps == 20 and data.projected_energy_kwh is not None
