"""scripts/demo.py, what a newcomer runs first (issue 25): its model draws no warning from transformers, and its
summary prints energy and CO2 in units that read, the model card's grams said as grams."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from wattwatch.result import EmissionsData

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wattwatch_demo", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tiny_model_draws_no_warning_from_transformers() -> None:
    """Built and trained one step in a fresh interpreter (transformers says most things once per process)."""
    pytest.importorskip("transformers", reason="transformers not installed (pip install -e '.[demo]')")
    code = (
        "import importlib.util, torch\n"
        f"spec = importlib.util.spec_from_file_location('demo', {str(SCRIPT)!r})\n"
        "demo = importlib.util.module_from_spec(spec); spec.loader.exec_module(demo)\n"
        "model = demo.tiny_gpt2()\n"
        "ids = torch.randint(0, demo.VOCAB - 1, (2, 16))\n"
        "loss = model(input_ids=ids, labels=ids).loss\n"
        "loss.backward()\n"
        "assert model.config.eos_token_id < model.config.vocab_size\n"
        "print('ok', float(loss.detach()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, timeout=240,
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")
    assert done.stderr.strip() == "", done.stderr  # no bos/eos outside the vocabulary, no unnamed loss


def test_the_summary_reads_in_units_and_the_card_line_is_no_raw_dict() -> None:
    demo = _load()
    data = EmissionsData(
        run_id="r1", status="completed", duration=16.7, steps=60, energy_consumed=3.462e-05,
        cpu_energy=3.22e-05, ram_energy=2.41e-06, emissions=1.94e-06, intensity_g_per_kwh=56.0,
        intensity_source="country: France", phase_energy_kwh={"train": 3.4e-05, "eval": 3.2e-07},
    )  # fmt: skip
    card = {
        "emissions": 0.00194, "source": "wattwatch", "training_type": "pre-training",
        "geographical_location": "France", "hardware_used": "AMD EPYC (CPU only)", "embodied_emissions": 0.0635,
    }  # fmt: skip
    lines = demo.summary(data, {"wattwatch/step_energy_j": 2.05}, Path("/out"), card)
    text = "\n".join(lines)
    assert "  energy      125 J  (3.462e-05 kWh)" in lines
    assert "  emissions   1.94 mg CO2eq  at 56 g/kWh (country: France)" in lines
    card_line = next(line for line in lines if "co2_eq_emissions" in line)
    assert "emissions 0.00194 g CO2eq (the card's unit: grams; = 1.94 mg)" in card_line  # the same figure as above
    assert "embodied 0.0635 g" in card_line
    assert "{" not in text and "e-0" not in text.replace("3.462e-05 kWh", "")
