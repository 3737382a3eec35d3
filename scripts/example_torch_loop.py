"""A hand-written PyTorch loop tracked with one line, then joules per generated token for inference.

Usage: ``python scripts/example_torch_loop.py [--steps N] [--out DIR]`` (CPU, tiny GPT-2 from a config, synthetic
data, a few seconds).
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from transformers import GPT2Config, GPT2LMHeadModel
from wattwatch.callbacks.torch import GenerationMeter, energy_per_unit, track_optimizer

from wattwatch import Tracker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", default=None)
    opts = parser.parse_args(argv)
    out = opts.out or tempfile.mkdtemp(prefix="wattwatch-torch-")

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=2, n_embd=64, vocab_size=256, n_positions=64))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch, seq = 8, 32
    data = torch.randint(0, 256, (opts.steps, batch, seq))

    with Tracker(project_name="example-torch-loop", output_dir=out, country_iso_code="FRA") as tracker:
        track_optimizer(optimizer, tracker, batch_size=batch, tokens_per_step=batch * seq)  # the one line
        model.train()
        for i, ids in enumerate(data):
            loss = model(input_ids=ids, labels=ids).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if (i + 1) % 20 == 0:
                with tracker.phase("eval"), torch.no_grad():
                    model.eval()
                    model(input_ids=data[0], labels=data[0])
                    model.train()

        model.eval()
        meter = GenerationMeter(tracker)
        for _ in range(4):
            prompt = torch.randint(0, 256, (2, 8))
            meter.generate(model, prompt, max_new_tokens=16, min_new_tokens=16, do_sample=False)
        report = meter.report()

    result = tracker.final_emissions_data
    assert result is not None
    unit = energy_per_unit(result)
    print(f"run {result.run_id}: {result.energy_consumed:.3e} kWh, {result.emissions:.3e} kg CO2eq -> {out}")
    print(f"  training: {unit.per_step_j:.3g} J/step, {unit.per_sample_j:.3g} J/sample, {unit.per_token_j:.3g} J/token")
    print(f"  phases (kWh): {', '.join(f'{k}={v:.2e}' for k, v in sorted(result.phase_energy_kwh.items()))}")
    print(
        f"  inference: {report.requests} requests, {report.generated_tokens} generated tokens, "
        f"{report.joules_per_token:.3g} J/token, {report.joules_per_request:.3g} J/request"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
