"""co2_eq_emissions in model cards, read back with huggingface_hub's own parser."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("huggingface_hub")
from huggingface_hub import ModelCard  # noqa: E402

from wattwatch.result import EmissionsData  # noqa: E402
from wattwatch.sinks.modelcard import co2_eq_emissions, read_co2_eq_emissions, update_model_card  # noqa: E402

EXISTING = """---
license: mit
tags:
- text-generation
- tiny
language: en
---

# My model

Trained on *synthetic* data.

## Evaluation

| metric | value |
|--------|-------|
| loss   | 1.23  |
"""


def run(**kw: object) -> EmissionsData:
    base: dict[str, object] = dict(
        emissions=0.0123,
        gpu_count=8,
        gpu_model="8 x NVIDIA H100 80GB HBM3",
        cpu_model="AMD EPYC 9654",
        country_name="France",
        country_iso_code="FRA",
    )
    base.update(kw)
    return EmissionsData(**base)  # type: ignore[arg-type]


def test_block_in_hub_format() -> None:
    block = co2_eq_emissions(run(), training_type="pre-training")
    assert block == {
        "emissions": pytest.approx(12.3),
        "source": "wattwatch",
        "training_type": "pre-training",
        "geographical_location": "France",
        "hardware_used": "8 x NVIDIA H100 80GB HBM3",
    }
    cpu = co2_eq_emissions(run(gpu_count=0, gpu_model=""))
    assert cpu["hardware_used"] == "AMD EPYC 9654 (CPU only)"
    cloud = co2_eq_emissions(run(cloud_provider="gcp", cloud_region="europe-west1"))
    assert cloud["geographical_location"] == "gcp, europe-west1"


def test_bad_training_type_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="pre-training, fine-tuning"):
        co2_eq_emissions(run(), training_type="pretraining")


def test_merge_keeps_everything_else(tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    card.write_text(EXISTING)
    update_model_card(tmp_path, run())
    parsed = ModelCard.load(card)
    assert parsed.data.license == "mit" and parsed.data.tags == ["text-generation", "tiny"]
    assert parsed.data.language == "en"
    assert parsed.data.co2_eq_emissions["emissions"] == pytest.approx(12.3)
    body = EXISTING.split("---\n", 2)[2]
    assert body.strip() in card.read_text()
    # a second update replaces the block, it does not duplicate it
    update_model_card(card, run(emissions=0.5))
    text = card.read_text()
    assert text.count("co2_eq_emissions") == 1
    assert read_co2_eq_emissions(card) is not None
    assert read_co2_eq_emissions(card)["emissions"] == pytest.approx(500.0)  # type: ignore[index]


def test_new_card_and_missing_card(tmp_path: Path) -> None:
    assert read_co2_eq_emissions(tmp_path) is None
    path = update_model_card(tmp_path / "out", run(), training_type="pre-training")
    assert path == tmp_path / "out" / "README.md"
    block = read_co2_eq_emissions(path)
    assert block is not None and block["emissions"] > 0 and block["training_type"] == "pre-training"
    assert not list((tmp_path / "out").glob(".*tmp"))
