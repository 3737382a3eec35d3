"""Training-framework integrations, installed as ``wattwatch.callbacks``.

- ``WattwatchCallback``: Hugging Face ``Trainer`` (``wattwatch.callbacks.huggingface``; loads transformers).
- ``WattwatchLightningCallback``: Lightning (``wattwatch.callbacks.lightning``; loads lightning).
- ``track_optimizer``, ``GenerationMeter``, ``energy_per_unit``: plain PyTorch loops and ``generate``
  (``wattwatch.callbacks.torch``; needs no framework import of its own).

Names are loaded on first use, so ``import wattwatch.callbacks`` imports no framework.
"""

from __future__ import annotations

from wattwatch.util.lazy import lazy_names

__all__ = [
    "GenerationMeter",
    "WattwatchCallback",
    "WattwatchLightningCallback",
    "energy_per_unit",
    "track_optimizer",
]

_LAZY = {
    "WattwatchCallback": "wattwatch.callbacks.huggingface",
    "WattwatchLightningCallback": "wattwatch.callbacks.lightning",
    "GenerationMeter": "wattwatch.callbacks.torch",
    "energy_per_unit": "wattwatch.callbacks.torch",
    "track_optimizer": "wattwatch.callbacks.torch",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, __all__)
