"""``eval_metrics``: what of a Trainer's final evaluation is kept in the row, and that it reads back."""

from __future__ import annotations

import math

from wattwatch.result import EVAL_METRICS_MAX, EmissionsData, clean_eval_metrics


def test_quality_metrics_kept_timings_dropped() -> None:
    hf = {
        "eval_loss": 1.234567891,
        "eval_accuracy": 0.5,
        "eval_runtime": 3.2,
        "eval_samples_per_second": 100.0,
        "eval_steps_per_second": 12.5,
        "epoch": 3.0,
        "num_input_tokens_seen": 512,
        "wattwatch/energy_kwh": 0.1,
        "eval_nan": math.nan,
        "eval_text": "n/a",
        "eval_flag": True,
        7: 1.0,
    }
    assert clean_eval_metrics(hf) == {"eval_accuracy": 0.5, "eval_loss": 1.23457}


def test_bounded() -> None:
    many = {f"eval_m{i:03d}": float(i) for i in range(100)} | {"eval_" + "x" * 80: 1.0}
    kept = clean_eval_metrics(many)
    assert len(kept) == EVAL_METRICS_MAX and list(kept) == sorted(kept)
    assert clean_eval_metrics(None) == {} and clean_eval_metrics([1, 2]) == {}


def test_round_trip_through_the_row() -> None:
    data = EmissionsData(run_id="r", eval_metrics={"eval_loss": 0.5, "eval_accuracy": 0.9})
    row = data.to_row()
    assert row["eval_metrics"] == '{"eval_accuracy":0.9,"eval_loss":0.5}'
    assert EmissionsData.from_row(row).eval_metrics == {"eval_accuracy": 0.9, "eval_loss": 0.5}
