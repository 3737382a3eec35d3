"""wattwatch demo: a tiny transformer trained with the Hugging Face Trainer callback, then the run's summary.

Runs on CPU in well under a minute; no downloads (the model is built from a config, the data is synthetic).
Usage: ``scripts/demo [--steps N] [--out DIR] [--country ISO3]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps (default 60)")
    parser.add_argument("--out", default=None, help="output folder (default: a new temporary folder)")
    parser.add_argument("--country", default="FRA", help="ISO-3 country for the carbon intensity (default FRA)")
    opts = parser.parse_args(argv)

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments
    from wattwatch.callbacks import WattwatchCallback

    from wattwatch.sinks.modelcard import read_co2_eq_emissions

    out = Path(opts.out or tempfile.mkdtemp(prefix="wattwatch-demo-"))
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=4, n_embd=128, vocab_size=256, n_positions=64))

    class Synthetic(torch.utils.data.Dataset):  # type: ignore[misc]
        def __init__(self, n: int) -> None:
            self.ids = torch.randint(0, 256, (n, 64), generator=torch.Generator().manual_seed(n))

        def __len__(self) -> int:
            return len(self.ids)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"input_ids": self.ids[i], "labels": self.ids[i]}

    callback = WattwatchCallback(project_name="wattwatch-demo", country_iso_code=opts.country)
    args = TrainingArguments(
        output_dir=str(out),
        max_steps=opts.steps,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        logging_steps=max(1, opts.steps // 4),
        eval_strategy="steps",
        eval_steps=max(1, opts.steps // 2),
        save_strategy="steps",
        save_steps=max(1, opts.steps // 2),
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        include_num_input_tokens_seen="all",
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=Synthetic(512), eval_dataset=Synthetic(64), callbacks=[callback]
    )
    trainer.train()

    data = callback.final_emissions_data
    if data is None:
        print("wattwatch: no result (the run did not finish)")
        return 1
    last = [h for h in trainer.state.log_history if "wattwatch/energy_kwh" in h][-1]
    print()
    print(f"wattwatch demo -- run {data.run_id} ({data.status}), {data.duration:.1f} s, {data.steps} steps")
    print(f"  energy      {data.energy_consumed:.3e} kWh")
    for part in ("cpu", "gpu", "ram"):
        kwh = getattr(data, f"{part}_energy")
        method = getattr(data, f"{part}_method") or "-"
        print(f"    {part:<4}      {kwh:.3e} kWh   ({method})")
    for phase, kwh in sorted(data.phase_energy_kwh.items()):
        print(f"    phase {phase:<10} {kwh:.3e} kWh")
    print(f"  emissions   {data.emissions:.3e} kg CO2eq  at {data.intensity_g_per_kwh:.0f} g/kWh ({data.intensity_source})")
    if data.steps:
        print(f"  per step    {last.get('wattwatch/step_energy_j', 0):.3g} J;"
              f" per token {last.get('wattwatch/token_energy_j', 0):.3g} J (training phase, at the last log)")
    print(f"  emissions.csv  {out / 'emissions.csv'}")
    block = read_co2_eq_emissions(out / "README.md")
    print(f"  model card     {out / 'README.md'}  co2_eq_emissions: {block}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
