"""Figure 10: what each tool's Hugging Face ``Trainer`` callback costs a training run.

A tiny GPT-2 (from a config: no download) trains for 20 steps on synthetic tokens, 4 fake GPUs, country code,
in a fresh process per run (``child.py hf``): wattwatch's ``WattwatchCallback`` against transformers' own
``CodeCarbonCallback`` (``report_to="codecarbon"``), given an ``OfflineEmissionsTracker(country_iso_code="FRA")``
instead of the online tracker it builds (that one would look the country up over the network). The figure is
the time the callback adds: importing it and constructing it, plus every moment spent inside its hooks (the
tracker is constructed, started and stopped there); torch and transformers are already imported, as in any
training script. A run with no callback gives the training time for scale.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import Figure, compile_bytecode, fake_rig, median, run_child

__all__ = ["measure"]


def measure(rounds: int = 3, steps: int = 20, gpus: int = 4) -> list[Figure]:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))
    import fakenvml

    compile_bytecode()
    cost: dict[str, list[float]] = {"ww": [], "cc": []}
    train: dict[str, list[float]] = {"ww": [], "cc": [], "none": []}
    with tempfile.TemporaryDirectory() as tmp:
        rig = fake_rig(Path(tmp) / "rig", fakenvml.square_wave_gpus(gpus))
        for i in range(rounds):
            order = ("ww", "cc", "none") if i % 2 == 0 else ("none", "cc", "ww")
            for tool in order:
                out = Path(tmp) / f"{tool}{i}"
                out.mkdir()
                r = run_child("hf", tool, rig.env, "--out", str(out), "--steps", str(steps)).result
                train[tool].append(r["train_s"])
                if tool != "none":
                    cost[tool].append(r["setup_s"] + r["hooks_s"])
    ww, cc = median(cost["ww"]), median(cost["cc"])
    return [
        Figure(
            "10",
            f"HF Trainer callback: import + construct + time in hooks, tiny GPT-2, {steps} steps, {gpus} fake GPUs",
            ww,
            cc,
            "s",
            "ratio <= 1/20",
            ww / cc <= 1 / 20,
            note=f"median of {rounds} fresh processes per tool; `trainer.train()` took {median(train['none']):.2f} s "
            f"without a callback, {median(train['ww']):.2f} s with wattwatch's, {median(train['cc']):.2f} s with "
            "CodeCarbon's (CodeCarbon's tracker is built in on_init_end, before train()). Runs (ms): wattwatch "
            f"{', '.join(f'{v * 1e3:.0f}' for v in cost['ww'])}; CodeCarbon "
            f"{', '.join(f'{v * 1e3:.0f}' for v in cost['cc'])}.",
            extra={"cost": cost, "train": train},
        )
    ]
