"""Plain-PyTorch hooks: optimizer step counting, eval phase, resume, joules per generated token."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")

from wattwatch.callbacks.torch import (  # noqa: E402
    GenerationMeter,
    energy_per_unit,
    log_metrics,
    track_optimizer,
)

from wattwatch import Tracker  # noqa: E402
from wattwatch.measure.figures import UNPHASED  # noqa: E402


def tracker(tmp_path: Path, sensor: ConstantPowerSensor) -> Tracker:
    return Tracker(
        output_dir=tmp_path, sensors=[sensor], country_iso_code="FRA", measure_power_secs=0.05,
        save_timeseries=False, handle_signals=False,
    )


def train(model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int, t: Tracker) -> None:
    for i in range(steps):
        x = torch.randn(8, 4)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i == steps // 2:
            with t.phase("eval"), torch.no_grad():
                model(torch.randn(64, 4))
                time.sleep(0.05)


def test_optimizer_hook_counts_and_phases(tmp_path: Path) -> None:
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    t = tracker(tmp_path, ConstantPowerSensor(200.0)).start()
    hook = track_optimizer(opt, t, batch_size=8, tokens_per_step=lambda: 8 * 3)
    train(model, opt, 12, t)
    live = hook.per_unit()
    assert live.per_step_j is not None and live.per_step_j > 0
    data = t.stop()
    hook.remove()
    opt.step()  # not counted after remove()
    assert data is not None and data.steps == 12 and data.samples == 96 and data.tokens == 288
    unit = energy_per_unit(data)
    assert "train" not in data.phase_energy_kwh  # no phase was named: the loop's time is unphased
    train_j = data.phase_energy_kwh[UNPHASED] * 3.6e6
    assert unit.per_step_j == pytest.approx(train_j / 12) and unit.per_token_j == pytest.approx(train_j / 288)
    assert data.phase_energy_kwh["eval"] > 0
    assert sum(data.phase_energy_kwh.values()) == pytest.approx(data.energy_consumed, rel=1e-6)


def test_resume_from_state_dict_sums_segments(tmp_path: Path) -> None:
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gpu1 = ConstantPowerSensor(100.0)
    t1 = tracker(tmp_path, gpu1).start()
    hook = track_optimizer(opt, t1, batch_size=8)
    train(model, opt, 5, t1)
    saved = json.loads(json.dumps(t1.state_dict()))  # what a checkpoint would hold
    first = t1.stop()
    hook.remove()
    assert first is not None

    gpu2 = ConstantPowerSensor(300.0)
    t2 = tracker(tmp_path, gpu2)
    t2.load_state_dict(saved)
    t2.start()
    track_optimizer(opt, t2, batch_size=8)
    train(model, opt, 5, t2)
    live = t2.current(refresh=True)  # live figures go on from the saved totals
    data = t2.stop()
    assert data is not None and data.steps == 10 and data.run_id == first.run_id
    saved_j = sum(c["energy_j"] for c in saved["ledger"]["channels"].values())
    assert live.energy_consumed * 3.6e6 > saved_j
    # the resumed segment's row holds its own energy; with the first segment's row, the run's whole energy
    assert data.energy_consumed * 3.6e6 == pytest.approx(gpu2.exact_read_window_j(), rel=1e-6)
    both = (first.energy_consumed + data.energy_consumed) * 3.6e6
    assert both == pytest.approx(gpu1.exact_read_window_j() + gpu2.exact_read_window_j(), rel=1e-6)


def test_generation_meter_joules_per_token_and_request(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(n_layer=1, n_head=2, n_embd=32, vocab_size=128, n_positions=64)
    ).eval()
    t = tracker(tmp_path, ConstantPowerSensor(200.0)).start()
    meter = GenerationMeter(t)
    for _ in range(3):
        ids = torch.randint(0, 128, (2, 5))
        out = meter.generate(model, ids, max_new_tokens=4, min_new_tokens=4, do_sample=False, pad_token_id=-1)
        assert out.shape == (2, 9)
    with meter.request() as req:  # a hand-written decode loop
        req.tokens = 7
    rep = meter.report()
    t.stop()
    assert rep.requests == 7 and rep.generated_tokens == 3 * 2 * 4 + 7
    assert rep.energy_j > 0
    assert rep.joules_per_token == pytest.approx(rep.energy_j / 31)
    assert rep.joules_per_request == pytest.approx(rep.energy_j / 7)


def test_inference_apart_from_training(tmp_path: Path) -> None:
    """Issue 24: generation requests and tokens have their own figures; training's J/step never includes them
    (scripts/example_torch_loop.py printed 0.0949 J/step for 0.114: 8 requests counted as steps)."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    lm = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(n_layer=1, n_head=2, n_embd=32, vocab_size=128, n_positions=64)
    )
    opt = torch.optim.SGD(lm.parameters(), lr=0.01)
    t = tracker(tmp_path, ConstantPowerSensor(200.0)).start()
    track_optimizer(opt, t, batch_size=2, tokens_per_step=2 * 5)
    for _ in range(6):
        ids = torch.randint(0, 128, (2, 5))
        loss = lm(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    lm.eval()
    meter = GenerationMeter(t)
    for _ in range(4):
        meter.generate(lm, torch.randint(0, 128, (2, 5)), max_new_tokens=3, min_new_tokens=3, do_sample=False)
    data = t.stop()
    assert data is not None
    assert (data.steps, data.samples, data.tokens) == (6, 12, 60)  # training only
    assert (data.requests, data.generated_tokens, data.request_phases) == (8, 24, "inference")
    train_j = data.phase_energy_kwh[UNPHASED] * 3.6e6
    inference_j = data.phase_energy_kwh["inference"] * 3.6e6
    unit = energy_per_unit(data)
    assert unit.per_step_j == pytest.approx(train_j / 6, rel=1e-12)
    assert unit.per_token_j == pytest.approx(train_j / 60, rel=1e-12)
    logs = log_metrics(data)
    assert logs["wattwatch/step_energy_j"] == pytest.approx(train_j / 6, rel=1e-12)
    assert logs["wattwatch/request_energy_j"] == pytest.approx(inference_j / 8, rel=1e-12)
    assert logs["wattwatch/generated_token_energy_j"] == pytest.approx(inference_j / 24, rel=1e-12)
    assert "wattwatch/unphased_energy_kwh" in logs


def test_track_optimizer_rejects_non_optimizer(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tracker.step"):
        track_optimizer(object(), tracker(tmp_path, ConstantPowerSensor(200.0)))
