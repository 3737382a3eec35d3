"""wattwatch demo: a tiny transformer trained with the Hugging Face Trainer callback, then the run's summary.

Runs on CPU in about a minute (README.md gives the times measured, and on what); no downloads (the model is built from a config, the data is synthetic).
Usage: ``scripts/demo [--steps N] [--out DIR] [--country ISO3]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wattwatch.result import EmissionsData

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

VOCAB = 256
"""Tokens in the tiny model's vocabulary (the last one is its bos/eos/pad token)."""
SEQ = 64
"""Tokens per sample."""


def tiny_gpt2() -> Any:
    """A 2-layer GPT-2 over a 256-token vocabulary, built from a config (no download), whose own settings draw no
    warning from transformers: its special tokens lie inside the vocabulary (GPT-2's defaults, 50256, do not)
    and its loss is named (``GPT2LMHeadModel`` is not a ``...ForCausalLM`` name transformers recognises)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    last = VOCAB - 1
    config = GPT2Config(
        n_layer=2, n_head=4, n_embd=128, vocab_size=VOCAB, n_positions=SEQ,
        bos_token_id=last, eos_token_id=last, pad_token_id=last,
    )  # fmt: skip
    model = GPT2LMHeadModel(config)
    model.loss_type = "ForCausalLM"
    return model


def summary(data: EmissionsData, last_log: dict[str, Any], out: Path, card: dict[str, Any] | None) -> list[str]:
    """The lines printed after training: energy by part and phase, emissions, per step and token, the files.
    Energy and CO2 in units that read at a glance (the model card's own figures are in grams, as the Hub's
    ``co2_eq_emissions`` field is; the line says so)."""
    from wattwatch.report.history import energy_text, mass_text

    lines = [
        f"wattwatch demo -- run {data.run_id} ({data.status}), {data.duration:.1f} s, {data.steps} steps",
        f"  energy      {energy_text(data.energy_consumed)}  ({data.energy_consumed:.3e} kWh)",
    ]
    for part in ("cpu", "gpu", "ram"):
        kwh = getattr(data, f"{part}_energy")
        method = getattr(data, f"{part}_method") or "-"
        lines.append(f"    {part:<4}      {energy_text(kwh)}  ({method})")
    for phase, kwh in sorted(data.phase_energy_kwh.items()):
        lines.append(f"    phase {phase:<10} {energy_text(kwh)}")
    lines.append(
        f"  emissions   {mass_text(data.emissions)} CO2eq  at {data.intensity_g_per_kwh:.0f} g/kWh "
        f"({data.intensity_source})"
    )
    if data.steps:
        lines.append(
            f"  per step    {last_log.get('wattwatch/step_energy_j', 0):.3g} J; per token "
            f"{last_log.get('wattwatch/token_energy_j', 0):.3g} J (training phase, at the last log)"
        )
    lines.append(f"  emissions.csv  {out / 'emissions.csv'}")
    lines.append(f"  model card     {out / 'README.md'}")
    if card:
        grams = float(card.get("emissions", 0.0))
        embodied = card.get("embodied_emissions")
        lines.append(
            f"    co2_eq_emissions: emissions {grams:.3g} g CO2eq (the card's unit: grams; = "
            f"{mass_text(grams / 1000)})"
            + (f", embodied {float(embodied):.3g} g" if embodied is not None else "")
            + f", {card.get('geographical_location', '?')}, {card.get('training_type', '?')},"
            f" source {card.get('source', '?')}"
        )
    return lines


def build_parser() -> argparse.ArgumentParser:
    """The demo's options (the docs' commands are checked against it: tests/install/test_docs_references.py)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps (default 60)")
    parser.add_argument("--out", default=None, help="output folder (default: a new temporary folder)")
    parser.add_argument("--country", default="FRA", help="ISO-3 country for the carbon intensity (default FRA)")
    return parser


def main(argv: list[str] | None = None) -> int:
    opts = build_parser().parse_args(argv)

    import torch
    from transformers import Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging
    from wattwatch.callbacks import WattwatchCallback

    from wattwatch.sinks.modelcard import read_co2_eq_emissions

    hf_logging.disable_progress_bar()  # the checkpoint writer's progress bars, not the demo's business
    out = Path(opts.out or tempfile.mkdtemp(prefix="wattwatch-demo-"))
    torch.manual_seed(0)
    model = tiny_gpt2()

    class Synthetic(torch.utils.data.Dataset):  # type: ignore[misc]
        def __init__(self, n: int) -> None:
            self.ids = torch.randint(0, VOCAB - 1, (n, SEQ), generator=torch.Generator().manual_seed(n))

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
    print("\n".join(summary(data, last, out, read_co2_eq_emissions(out / "README.md"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
