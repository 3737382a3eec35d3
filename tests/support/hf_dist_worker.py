"""One rank of a 2-rank Hugging Face Trainer run under torchrun (gloo, CPU) with WattwatchCallback.

Usage: ``python hf_dist_worker.py OUT_DIR NVML_LIBRARY``. Writes ``OUT_DIR/logs-<rank>.json``: the
``wattwatch/*`` entries of this rank's ``log_history`` and what this rank's tracker measured itself.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    out, library = Path(argv[0]), argv[1]
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments
    from wattwatch.callbacks import WattwatchCallback

    class Slow(TrainerCallback):  # let the sampler see some GPU energy between logs
        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            time.sleep(0.05)

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=32, vocab_size=64, n_positions=32))
    ids = torch.randint(0, 64, (64, 16))
    data = [{"input_ids": x, "labels": x} for x in ids]
    args = TrainingArguments(
        output_dir=str(out), max_steps=12, per_device_train_batch_size=4, logging_steps=4, report_to="none",
        save_strategy="no", use_cpu=True, ddp_backend="gloo", disable_tqdm=True,
    )
    callback = WattwatchCallback(
        output_dir=str(out), nvml_library=library, carbon_intensity_g_per_kwh=100.0, measure_power_secs=0.05,
        handle_signals=False, save_timeseries=False,
    )
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[callback, Slow()])
    trainer.train()
    rank = int(os.environ["RANK"])
    logged = [{k: v for k, v in h.items() if k.startswith("wattwatch/")} for h in trainer.state.log_history]
    tracker = callback.tracker
    snap = tracker.snapshot() if tracker is not None else None
    own_gpu_kwh = sum(c.energy_j for c in snap.channels.values() if c.component == "gpu") / 3.6e6 if snap else 0.0
    (out / f"logs-{rank}.json").write_text(json.dumps({"logged": logged, "own_gpu_kwh": own_gpu_kwh}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
