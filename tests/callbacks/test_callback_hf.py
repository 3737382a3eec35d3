"""WattwatchCallback with a real transformers Trainer: tiny GPT-2 from a config, synthetic data, CPU."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest
from fakesensors import ConstantPowerSensor

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments  # noqa: E402
from wattwatch.callbacks import WattwatchCallback  # noqa: E402

from wattwatch.sinks.modelcard import read_co2_eq_emissions  # noqa: E402

GPU_NAME = "NVIDIA H100 80GB HBM3"


class TokenDataset(torch.utils.data.Dataset):  # type: ignore[misc]
    def __init__(self, n: int = 64, seq: int = 16) -> None:
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, 128, (n, seq), generator=g)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def tiny_model() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=32, vocab_size=128, n_positions=32))


def make_trainer(out: Path, callback: WattwatchCallback, model: Any = None, **kw: Any) -> Trainer:
    defaults: dict[str, Any] = dict(
        output_dir=str(out),
        per_device_train_batch_size=4,
        per_device_eval_batch_size=8,
        max_steps=8,
        logging_steps=4,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="all",
    )
    defaults.update(kw)
    args = TrainingArguments(**defaults)
    return Trainer(
        model=model or tiny_model(),
        args=args,
        train_dataset=TokenDataset(),
        eval_dataset=TokenDataset(16),
        callbacks=[callback],
    )


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def callback(sensor: ConstantPowerSensor, **kw: Any) -> WattwatchCallback:
    options: dict[str, Any] = {"save_timeseries": False, **kw}
    return WattwatchCallback(sensors=[sensor], country_iso_code="FRA", measure_power_secs=0.05, **options)


def test_tensorboard_log_history_csv_and_model_card(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    gpu = ConstantPowerSensor(200.0, model=GPU_NAME)
    cb = callback(gpu)
    trainer = make_trainer(
        tmp_path, cb, report_to="tensorboard", eval_strategy="steps", eval_steps=4
    )
    trainer.train()

    # log_history: every training log line carries the wattwatch keys
    train_logs = [h for h in trainer.state.log_history if "loss" in h]
    assert train_logs and all(h["wattwatch/energy_kwh"] > 0 for h in train_logs)
    assert all("wattwatch/token_energy_j" in h and "wattwatch/step_energy_j" in h for h in train_logs)
    assert train_logs[-1]["wattwatch/energy_kwh"] > train_logs[0]["wattwatch/energy_kwh"]

    # the TensorBoard event file (written by the integration, which runs before user callbacks)
    events = list(tmp_path.rglob("events.out.tfevents*"))
    assert events
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "train/wattwatch/energy_kwh" in tags and "train/wattwatch/emissions_kg" in tags
    assert all(e.value > 0 for e in acc.Scalars("train/wattwatch/energy_kwh"))

    # one completed row, evaluation energy apart from training energy
    (row,) = rows(tmp_path / "emissions.csv")
    assert row["status"] == "completed"
    phases = json.loads(row["phase_energy_kwh"])
    assert phases["train"] > 0 and phases["eval"] > 0 and "(unphased)" not in phases  # the Trainer's steps: train
    assert sum(phases.values()) == pytest.approx(float(row["energy_consumed"]), rel=1e-6)
    assert int(row["steps"]) == 8 and int(row["samples"]) == 32 and int(row["tokens"]) == 8 * 4 * 16
    data = cb.final_emissions_data
    assert data is not None and data.phase_energy_kwh["eval"] > 0

    # the last evaluation's metrics are in the row (quality against carbon), timings left out
    evals = [h for h in trainer.state.log_history if "eval_loss" in h]
    assert len(evals) == 2  # steps 4 and 8
    metrics = json.loads(row["eval_metrics"])
    assert metrics == {"eval_loss": pytest.approx(evals[-1]["eval_loss"], rel=1e-5)}
    assert metrics["eval_loss"] != pytest.approx(evals[0]["eval_loss"], rel=1e-5)  # the final one, not the first
    # and the run's share of its hardware's manufacturing CO2, beside the operational figure
    assert float(row["embodied_emissions"]) > 0 and "method=boavizta-manufacture" in row["embodied_source"]
    assert "gpu=NVIDIA H100 SXM 80GB" in row["embodied_source"]

    # model card, read back by huggingface_hub's own parser
    block = read_co2_eq_emissions(tmp_path / "README.md")
    assert block is not None
    assert block["emissions"] == pytest.approx(data.emissions * 1000, rel=1e-3) and block["emissions"] > 0
    assert block["source"] == "wattwatch" and block["training_type"] == "pre-training"
    assert block["hardware_used"] == f"1 x {GPU_NAME}" and block["geographical_location"] == "France"
    assert block["embodied_emissions"] == pytest.approx(float(row["embodied_emissions"]) * 1000, rel=1e-5)

    # create_model_card() rewrites README.md; the block survives, and the Trainer's content is there too
    trainer.create_model_card(model_name="tiny")
    block2 = read_co2_eq_emissions(tmp_path / "README.md")
    assert block2 == block
    assert "tiny" in (tmp_path / "README.md").read_text()


@pytest.mark.parametrize(("error", "status"), [(RuntimeError, "failed"), (KeyboardInterrupt, "interrupted")])
def test_raise_inside_train_leaves_failed_row(tmp_path: Path, error: type[BaseException], status: str) -> None:
    model = tiny_model()
    calls = {"n": 0}

    def boom(module: Any, inputs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise error("boom at step 3")

    model.register_forward_pre_hook(boom)
    cb = callback(ConstantPowerSensor(200.0, model=GPU_NAME))
    trainer = make_trainer(tmp_path, cb, model=model)
    with pytest.raises(error, match="boom"):
        trainer.train()
    assert cb.tracker is not None and not cb.tracker.running
    (row,) = rows(tmp_path / "emissions.csv")
    assert row["status"] == status and float(row["energy_consumed"]) > 0 and row["steps"] == "2"
    assert not (tmp_path / "README.md").exists()


def test_crash_at_25_resume_from_20_counts_both_segments(tmp_path: Path) -> None:
    """A Trainer run crashes at step 25 and is resumed from checkpoint 20 in the same folder (issue 13): the
    crashed segment keeps its row (steps 21-25 included), the resumed one appends its own, report's total is
    the energy of both segments, and the plot joins them without going backwards."""
    # segment 1: 30 planned steps, checkpoint at 20, dies at step 25
    model = tiny_model()
    calls = {"n": 0}

    def die(module: Any, inputs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 25:
            raise RuntimeError("preempted")

    model.register_forward_pre_hook(die)
    gpu1 = ConstantPowerSensor(100.0, model=GPU_NAME)
    cb1 = callback(gpu1, save_timeseries=True, timeseries_every_s=0.05)
    t1 = make_trainer(tmp_path, cb1, model=model, max_steps=30, save_strategy="steps", save_steps=20)
    with pytest.raises(RuntimeError, match="preempted"):
        t1.train()
    ckpt = tmp_path / "checkpoint-20"
    state = json.loads((ckpt / "wattwatch_state.json").read_text())
    run_id = cb1.tracker.run_id if cb1.tracker else ""
    assert state["run_id"] == run_id and state["counts"]["steps"] == 20
    crashed = cb1.final_emissions_data
    assert crashed is not None and crashed.status == "failed" and crashed.steps == 24

    # segment 2: a new process would build everything again; resume from the checkpoint
    gpu2 = ConstantPowerSensor(300.0, model=GPU_NAME)
    cb2 = callback(gpu2, save_timeseries=True, timeseries_every_s=0.05)
    t2 = make_trainer(tmp_path, cb2, max_steps=30, save_strategy="steps", save_steps=20)
    t2.train(resume_from_checkpoint=str(ckpt))
    data = cb2.final_emissions_data
    assert data is not None and data.status == "completed"
    assert data.run_id == run_id and data.resumed_segments == 1 and data.steps == 30
    assert data.gpu_energy * 3.6e6 == pytest.approx(gpu2.exact_read_window_j(), rel=1e-6)  # its own energy

    segments = {r["resumed_segments"]: r for r in rows(tmp_path / "emissions.csv")}
    assert {k: v["status"] for k, v in segments.items()} == {"0": "failed", "1": "completed"}
    assert {v["run_id"] for v in segments.values()} == {run_id}
    truth_kwh = (gpu1.exact_read_window_j() + gpu2.exact_read_window_j()) / 3.6e6
    from wattwatch.report.history import collect_runs, totals

    runs, _ = collect_runs([str(tmp_path)])
    assert len(runs) == 1  # issue 24: one run, one line, whatever its segments
    assert totals(runs)["gpu_energy_kwh"] == pytest.approx(truth_kwh, rel=1e-6)  # steps 21-25 not lost
    # J/step and J/token: the training energy of both segments over the run's final counts (the replayed steps
    # 21-25 count once, their energy twice: docs/accuracy.md)
    (run,) = runs
    train_kwh = sum(json.loads(r["phase_energy_kwh"])["train"] for r in segments.values())
    assert run.data.steps == 30 and run.data.tokens == int(segments["1"]["tokens"])
    report = _report_json(tmp_path)
    (listed,) = report["runs"]
    assert listed["run_id"] == run_id and listed["segments"] == 2 and listed["status"] == "completed"
    assert listed["gpu_energy_kwh"] == pytest.approx(truth_kwh, rel=1e-6)
    assert listed["joules_per_step"] == pytest.approx(train_kwh * 3.6e6 / 30, rel=1e-9)
    assert listed["joules_per_token"] == pytest.approx(train_kwh * 3.6e6 / run.data.tokens, rel=1e-9)
    assert report["runs_total"] == 1 and report["totals"]["by_status"] == {"completed": 1}
    (ranked,) = report["ranking_by_joules_per_token"]
    assert ranked == run_id

    from wattwatch.sinks.timeseries import read_timeseries, timeseries_path

    series = read_timeseries(timeseries_path(tmp_path, run_id))
    assert len(series.segment_starts) == 1
    assert all(b >= a for a, b in zip(series.elapsed_s, series.elapsed_s[1:], strict=False))
    assert all(b >= a for a, b in zip(series.emissions_kg, series.emissions_kg[1:], strict=False))
    duration = sum(float(r["duration"]) for r in segments.values())
    assert series.elapsed_s[-1] == pytest.approx(duration, abs=0.2)  # the title's duration: both segments
    assert series.energy_kwh[-1] == pytest.approx(truth_kwh, rel=0.05)  # rows every 0.05 s: the last is close
    pytest.importorskip("matplotlib")
    from wattwatch.cli.main import main

    png = tmp_path / "plot.png"
    assert main(["plot", run_id, "--dir", str(tmp_path), "--out", str(png)]) == 0
    assert png.stat().st_size > 10_000


def _report_json(folder: Path) -> dict[str, Any]:
    import contextlib
    import io

    from wattwatch.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["report", str(folder), "--json"]) == 0
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


def test_callback_added_after_init_still_logs_and_closes_a_failed_run(tmp_path: Path) -> None:
    model = tiny_model()
    calls = {"n": 0}

    def boom(module: Any, inputs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("boom")

    model.register_forward_pre_hook(boom)
    cb = callback(ConstantPowerSensor(200.0, model=GPU_NAME))
    trainer = make_trainer(tmp_path, cb, model=model, logging_steps=2)
    # as if added with trainer.add_callback() after construction: no wrappers, no injector yet
    trainer.callback_handler.callbacks.remove(cb._injector)
    del trainer.train, trainer.create_model_card, trainer._wattwatch_callback
    cb._trainer = None
    with pytest.raises(RuntimeError):
        trainer.train()  # found at on_train_begin: logs get the keys, but this train() was not wrapped
    assert any("wattwatch/energy_kwh" in h for h in trainer.state.log_history)
    first = cb.tracker
    assert first is not None and first.running
    calls["n"] = -1000
    trainer.train()  # the next train() closes the previous run as failed, then runs (wrapped) to completion
    assert not first.running
    statuses = sorted(r["status"] for r in rows(tmp_path / "emissions.csv"))
    assert statuses == ["completed", "failed"]
