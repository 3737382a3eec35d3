"""The run's CO2 in a Hugging Face model card: ``co2_eq_emissions`` metadata in the Hub's format.

The Hub reads (https://huggingface.co/docs/hub/model-cards-co2)::

    co2_eq_emissions:
      emissions: 1234.5            # grams CO2eq
      source: wattwatch
      training_type: fine-tuning   # or pre-training
      geographical_location: France
      hardware_used: 8 x NVIDIA H100 80GB HBM3

:func:`update_model_card` merges that block into an existing ``README.md`` (every other metadata key and the
card's body are kept) or creates a minimal card. It uses huggingface_hub's own ``ModelCard`` API, so what it
writes is what the Hub parses.

``emissions`` is the operational figure (electricity used x grid intensity x PUE), as the Hub means it. When the
run knows its embodied carbon (its share of the hardware's manufacturing footprint, see
:mod:`wattwatch.carbon.embodied`), the block also carries ``embodied_emissions`` (grams) and
``embodied_source``, and the card's body gets a short "Carbon footprint" section -- operational and embodied
side by side, each named, with the total -- kept between two HTML comments and replaced at each update.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from wattwatch.result import EmissionsData
from wattwatch.sinks.files import atomic_write_text

__all__ = [
    "TRAINING_TYPES",
    "carbon_section",
    "co2_eq_emissions",
    "read_co2_eq_emissions",
    "update_model_card",
]

TRAINING_TYPES = ("pre-training", "fine-tuning")
"""Values the Hub documents for ``training_type``."""


def _hardware(data: EmissionsData) -> str:
    if data.gpu_count and data.gpu_model:
        return data.gpu_model  # already "N x <model>" per model
    if data.cpu_model:
        return f"{data.cpu_model} (CPU only)"
    return "CPU only"


def _location(data: EmissionsData) -> str:
    if data.cloud_provider:
        return ", ".join(p for p in (data.cloud_provider, data.cloud_region) if p)
    parts = [p for p in (data.region, data.country_name or data.country_iso_code) if p]
    return ", ".join(parts)


def co2_eq_emissions(
    data: EmissionsData, *, training_type: str = "fine-tuning", source: str = "wattwatch"
) -> dict[str, Any]:
    """The Hub's ``co2_eq_emissions`` dict for a run: ``emissions`` in **grams** CO2eq, plus provenance."""
    if training_type not in TRAINING_TYPES:
        raise ValueError(f"training_type must be one of {', '.join(TRAINING_TYPES)}; got {training_type!r}")
    out: dict[str, Any] = {
        "emissions": float(f"{float(data.emissions) * 1000.0:.6g}"),  # 6 significant digits
        "source": source,
        "training_type": training_type,
        "geographical_location": _location(data),
        "hardware_used": _hardware(data),
    }
    if data.embodied_emissions is not None:
        out["embodied_emissions"] = float(f"{float(data.embodied_emissions) * 1000.0:.6g}")
        out["embodied_source"] = data.embodied_source
    return {k: v for k, v in out.items() if v != ""}


_START = "<!-- wattwatch:carbon:start -->"
_END = "<!-- wattwatch:carbon:end -->"


def _g(kg: float) -> str:
    return f"{kg * 1000.0:,.4g}"


def carbon_section(data: EmissionsData) -> str:
    """The card's "Carbon footprint" section: operational and embodied g CO2eq side by side, and their total."""
    op = float(data.emissions)
    lines = [
        _START,
        "## Carbon footprint",
        "",
        "| | g CO2eq | how |",
        "|---|---|---|",
        f"| operational: the electricity the training used | {_g(op)} | {data.energy_consumed:.4g} kWh x "
        f"{data.intensity_g_per_kwh:.4g} g/kWh ({data.intensity_source or 'source not recorded'}), PUE {data.pue:g} |",
    ]
    if data.embodied_emissions is not None:
        emb = float(data.embodied_emissions)
        lines += [
            f"| embodied: its share of the hardware's manufacturing | {_g(emb)} | {data.embodied_source} |",
            f"| total | {_g(op + emb)} | |",
        ]
    else:
        lines.append("| embodied: its share of the hardware's manufacturing | not computed | |")
    lines += ["", f"Measured by wattwatch on {_hardware(data)}.", _END]
    return "\n".join(lines)


def _with_section(body: str, section: str) -> str:
    if _START in body and _END in body:
        head, rest = body.split(_START, 1)
        return head + section + rest.split(_END, 1)[1]
    return body.rstrip("\n") + "\n\n" + section + "\n"


def update_model_card(
    path: str | os.PathLike[str],
    data: EmissionsData | dict[str, Any],
    *,
    training_type: str = "fine-tuning",
) -> Path:
    """Write ``co2_eq_emissions`` into the model card at ``path`` (a ``README.md`` or the folder holding it).

    An existing card keeps its body and every other metadata key; ``co2_eq_emissions`` is replaced. ``data`` is
    the run's :class:`EmissionsData` or an already built ``co2_eq_emissions`` dict. Returns the card's path.
    """
    from huggingface_hub import ModelCard, ModelCardData

    card_path = Path(path)
    if card_path.is_dir() or card_path.suffix.lower() != ".md":
        card_path = card_path / "README.md"
    block = data if isinstance(data, dict) else co2_eq_emissions(data, training_type=training_type)
    if card_path.is_file():
        card = ModelCard(card_path.read_text(encoding="utf-8"), ignore_metadata_errors=True)
        card.data.co2_eq_emissions = block  # type: ignore[attr-defined]
    else:
        meta = ModelCardData(co2_eq_emissions=block)
        card = ModelCard(f"---\n{meta.to_yaml()}\n---\n")
    if isinstance(data, EmissionsData):
        card.text = _with_section(card.text, carbon_section(data))
    card_path.parent.mkdir(parents=True, exist_ok=True)
    # what card.save writes, through a temporary file created without following links, then renamed
    atomic_write_text(card_path, str(card), durable=False)
    return card_path


def read_co2_eq_emissions(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``co2_eq_emissions`` block of the card at ``path`` as huggingface_hub parses it (``None`` if absent)."""
    from huggingface_hub import ModelCard

    card_path = Path(path)
    if card_path.is_dir():
        card_path = card_path / "README.md"
    if not card_path.is_file():
        return None
    card = ModelCard(card_path.read_text(encoding="utf-8"), ignore_metadata_errors=True)
    value = card.data.get("co2_eq_emissions")
    return dict(value) if isinstance(value, dict) else None
