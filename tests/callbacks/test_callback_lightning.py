"""WattwatchLightningCallback with a real Lightning Trainer (CPU, tiny model, synthetic data)."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import pytest
from fakesensors import ConstantPowerSensor

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

from wattwatch.callbacks.lightning import WattwatchLightningCallback  # noqa: E402


class Tiny(pl.LightningModule):  # type: ignore[misc]
    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.fail_at = fail_at

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        if self.fail_at is not None and self.global_step == self.fail_at:
            raise RuntimeError("boom")
        (x,) = batch
        return self.layer(x).pow(2).mean()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        (x,) = batch
        time.sleep(0.01)
        self.log("val_loss", self.layer(x).pow(2).mean())

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def loader(n: int = 64) -> Any:
    g = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(n, 4, generator=g))
    return torch.utils.data.DataLoader(data, batch_size=4)


def make_trainer(root: Path, cb: WattwatchLightningCallback, max_steps: int, **kw: Any) -> Any:
    from lightning.pytorch.loggers import CSVLogger

    defaults: dict[str, Any] = dict(
        default_root_dir=str(root),
        max_steps=max_steps,
        accelerator="cpu",
        devices=1,
        logger=CSVLogger(str(root), name="logs"),
        log_every_n_steps=2,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        val_check_interval=4,
        limit_val_batches=2,
        num_sanity_val_steps=0,
    )
    defaults.update(kw)
    defaults.setdefault("callbacks", [cb])
    return pl.Trainer(**defaults)


def callback(sensor: ConstantPowerSensor) -> WattwatchLightningCallback:
    return WattwatchLightningCallback(
        sensors=[sensor], country_iso_code="FRA", measure_power_secs=0.05, save_timeseries=False
    )


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_fit_logs_metrics_and_separates_eval(tmp_path: Path) -> None:
    cb = callback(ConstantPowerSensor(200.0))
    trainer = make_trainer(tmp_path, cb, max_steps=8)
    trainer.fit(Tiny(), loader(), loader(16))
    data = cb.final_emissions_data
    assert data is not None and data.status == "completed" and data.steps == 8 and data.samples == 32
    assert data.phase_energy_kwh["train"] > 0 and data.phase_energy_kwh["eval"] > 0
    (row,) = rows(tmp_path / "emissions.csv")
    assert row["status"] == "completed"
    (metrics_csv,) = list(tmp_path.rglob("metrics.csv"))
    logged = [r for r in rows(metrics_csv) if r.get("wattwatch/energy_kwh")]
    assert logged and all(float(r["wattwatch/energy_kwh"]) > 0 for r in logged)
    assert any(r.get("wattwatch/step_energy_j") for r in logged)


def test_exception_leaves_failed_row(tmp_path: Path) -> None:
    cb = callback(ConstantPowerSensor(200.0))
    trainer = make_trainer(tmp_path, cb, max_steps=8)
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(Tiny(fail_at=3), loader(), loader(16))
    (row,) = rows(tmp_path / "emissions.csv")
    assert row["status"] == "failed" and float(row["energy_consumed"]) > 0


def test_resume_from_checkpoint_keeps_totals(tmp_path: Path) -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    ckpt_dir = tmp_path / "ckpt"
    gpu1 = ConstantPowerSensor(100.0)
    cb1 = callback(gpu1)
    saver = ModelCheckpoint(dirpath=str(ckpt_dir), every_n_train_steps=5, save_top_k=-1)
    t1 = make_trainer(tmp_path, cb1, max_steps=10, callbacks=[cb1, saver], enable_checkpointing=True)
    with pytest.raises(RuntimeError, match="boom"):
        t1.fit(Tiny(fail_at=7), loader(), loader(16))
    (ckpt,) = [p for p in ckpt_dir.glob("*.ckpt") if "step=5" in p.name]
    state = torch.load(ckpt, weights_only=False)["callbacks"]["WattwatchLightningCallback"]["tracker"]
    saved_j = sum(c["energy_j"] for c in state["ledger"]["channels"].values())
    assert saved_j > 0 and json.dumps(state)

    gpu2 = ConstantPowerSensor(300.0)
    cb2 = callback(gpu2)
    t2 = make_trainer(tmp_path, cb2, max_steps=10, callbacks=[cb2])
    t2.fit(Tiny(), loader(), loader(16), ckpt_path=str(ckpt))
    data = cb2.final_emissions_data
    assert data is not None and data.status == "completed" and data.steps == 10
    assert data.run_id == state["run_id"] and data.resumed_segments == 1
    # each process segment's row holds its own energy: the crashed one up to its crash, this one since resuming
    assert data.energy_consumed * 3.6e6 == pytest.approx(gpu2.exact_read_window_j(), rel=1e-6)
    first, second = rows(tmp_path / "emissions.csv")
    assert (first["status"], first["resumed_segments"]) == ("failed", "0")
    assert (second["status"], second["resumed_segments"]) == ("completed", "1")
    total_j = (float(first["energy_consumed"]) + float(second["energy_consumed"])) * 3.6e6
    assert total_j == pytest.approx(gpu1.exact_read_window_j() + gpu2.exact_read_window_j(), rel=1e-6)


def test_no_logger_no_warnings(tmp_path: Path) -> None:
    """``Trainer(logger=False)``: the callback logs nothing, so Lightning has no "you called self.log(...) but have
    no logger configured" to say -- once per metric, 8 lines, before issue 25 -- and the run is recorded."""
    import warnings

    cb = WattwatchLightningCallback(sensors=[ConstantPowerSensor()], output_dir=str(tmp_path))
    trainer = make_trainer(tmp_path, cb, max_steps=8, logger=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(Tiny(), loader(), loader(16))
    about_us = [str(w.message) for w in caught if "wattwatch" in str(w.message)]
    assert about_us == []
    assert cb.final_emissions_data is not None and cb.final_emissions_data.status == "completed"
    assert cb.final_emissions_data.steps == 8
