"""GenerationMeter's per-request energy: each row of a batched ``generate`` gets its share of the prefill (by
prompt tokens) and of the decode steps it took part in; the rows of a call add up to the call's measured energy,
and inference energy outside ``generate`` stays apart (``attributor.idle_j``)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from wattwatch.callbacks.torch import GenerationMeter  # noqa: E402

from wattwatch import Tracker  # noqa: E402
from wattwatch.levers.generate import GenerateRecorder  # noqa: E402

PAD = 0


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One thread: on a machine busy with other work, two OpenMP threads wait for each other at every step."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=32, vocab_size=128, n_positions=128, pad_token_id=PAD)
    return transformers.GPT2LMHeadModel(cfg).eval()


def _batch(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(lengths)
    ids = torch.tensor([[PAD] * (width - n) + [5 + i] * n for i, n in enumerate(lengths)])
    mask = torch.tensor([[0] * (width - n) + [1] * n for n in lengths])
    return ids, mask


def test_rows_get_their_own_energy_and_add_up(tmp_path: Path) -> None:
    model = _model()
    t = Tracker(
        output_dir=tmp_path, sensors=[ConstantPowerSensor(150.0)], carbon_intensity_g_per_kwh=100.0,
        save_timeseries=False, handle_signals=False,
    ).start()  # fmt: skip
    meter = GenerationMeter(t)
    ids, mask = _batch([4, 30, 12])
    before = t.energy_j("inference")
    with torch.inference_mode():
        out = meter.generate(
            model, ids, attention_mask=mask, max_new_tokens=12, min_new_tokens=1, do_sample=False,
            pad_token_id=PAD, request_new_tokens=[12, 3, 7],
        )  # fmt: skip
    call_j = t.energy_j("inference", refresh=False) - before
    with meter.request() as req:  # a hand-written loop in the same phase: not attributed to generate's rows
        sum(range(100_000))
        req.tokens = 1
    a, b, c = meter.last_requests
    assert out.shape[0] == 3
    assert [r.prompt_tokens for r in (a, b, c)] == [4, 30, 12]
    assert [r.new_tokens for r in (a, b, c)] == [12, 3, 7]
    assert math.fsum(r.energy_j for r in (a, b, c)) == pytest.approx(call_j, rel=1e-9)
    # prefill by prompt tokens: the same joules per prompt token
    assert a.prefill_j / 4 == pytest.approx(b.prefill_j / 30) == pytest.approx(c.prefill_j / 12)
    # decode: the row that generated most took part in most steps
    assert a.decode_j > c.decode_j > b.decode_j > 0
    assert a.latency_s is not None and b.latency_s is not None and b.latency_s < a.latency_s
    rep = meter.report()
    t.stop()
    # the phase's energy = the rows' + what ran in the phase outside generate (settled at the next call)
    meter.attributor.settle()
    assert meter.attributor.attributed_j == pytest.approx(call_j, rel=1e-9)
    assert meter.attributor.measured_j == pytest.approx(rep.energy_j, rel=1e-3)


def test_user_stopping_criteria_are_kept(tmp_path: Path) -> None:
    model = _model()
    seen: list[int] = []

    def user_criterion(input_ids: torch.Tensor, scores: object, **kwargs: object) -> torch.Tensor:
        seen.append(int(input_ids.shape[1]))
        return torch.zeros(input_ids.shape[0], dtype=torch.bool)

    t = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor(50.0)], save_timeseries=False, handle_signals=False,
                carbon_intensity_g_per_kwh=100.0).start()  # fmt: skip
    meter = GenerationMeter(t)
    ids, mask = _batch([3, 5])
    with torch.inference_mode():
        meter.generate(model, ids, attention_mask=mask, max_new_tokens=4, min_new_tokens=4, do_sample=False,
                       pad_token_id=PAD, stopping_criteria=[user_criterion])  # fmt: skip
    t.stop()
    assert seen == [6, 7, 8, 9] and [r.new_tokens for r in meter.last_requests] == [4, 4]


def test_finish_counts_from_the_returned_tokens() -> None:
    rec = GenerateRecorder(3, limits=[5, 2, 5])
    rec.start()
    rec.marks = [1.0, 2.0, 3.0, 4.0, 5.0]
    generated = [[7, 8, 9, 9, 9], [7, 8, 1, 1, 1], [7, 1, 0, 0, 0]]  # row 2 ends at its EOS (1)
    assert rec.finish_counts(generated, eos_ids=[1]) == [5, 2, 2]
    steps = rec.steps(["a", "b", "c"], [3, 3, 3], [5, 2, 2])
    assert [sorted(s.weights) for s in steps] == [["a", "b", "c"], ["a", "b", "c"], ["a"], ["a"], ["a"]]
    # a loop that ran on after every row had finished: the extra step is the batch's, and gives no token
    extra = rec.steps(["a", "b", "c"], [3, 3, 3], [1, 1, 1])
    assert [s.tokens for s in extra] == [True, False, False, False, False]
    assert sorted(extra[-1].weights) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="limits"):
        GenerateRecorder(2, limits=[1])
