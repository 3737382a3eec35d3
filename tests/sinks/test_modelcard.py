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


def test_operational_and_embodied_side_by_side(tmp_path: Path) -> None:
    data = run(
        emissions=0.5, energy_consumed=10.0, intensity_g_per_kwh=50.0, intensity_source="country: France",
        embodied_emissions=0.25, embodied_source="method=boavizta-manufacture; lifetime_y=4",
    )  # fmt: skip
    block = co2_eq_emissions(data)
    assert block["emissions"] == pytest.approx(500.0)  # the Hub's figure stays the operational one
    assert block["embodied_emissions"] == pytest.approx(250.0)
    assert block["embodied_source"].startswith("method=boavizta")
    card = tmp_path / "README.md"
    card.write_text(EXISTING)
    update_model_card(card, data)
    update_model_card(card, data)  # the section is replaced, not repeated
    text = card.read_text()
    assert text.count("## Carbon footprint") == 1
    section = text.split("## Carbon footprint", 1)[1]
    op = next(line for line in section.splitlines() if line.startswith("| operational"))
    emb = next(line for line in section.splitlines() if line.startswith("| embodied"))
    total = next(line for line in section.splitlines() if line.startswith("| total"))
    assert "| 500 |" in op and "10 kWh x 50 g/kWh (country: France)" in op
    assert "| 250 |" in emb and "boavizta" in emb
    assert "| 750 |" in total
    assert EXISTING.split("---\n", 2)[2].strip() in text
    assert read_co2_eq_emissions(card)["embodied_emissions"] == pytest.approx(250.0)  # type: ignore[index]


def test_no_embodied_figure_is_said_not_invented(tmp_path: Path) -> None:
    assert "embodied_emissions" not in co2_eq_emissions(run())
    path = update_model_card(tmp_path, run())
    line = next(x for x in path.read_text().splitlines() if x.startswith("| embodied"))
    assert "not computed" in line
