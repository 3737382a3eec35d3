"""Training-framework integrations, installed as ``wattwatch.callbacks``.

``from wattwatch.callbacks import WattwatchCallback`` (Hugging Face ``Trainer``) loads transformers only when
that name is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["WattwatchCallback"]


def __getattr__(name: str) -> Any:
    if name == "WattwatchCallback":
        return importlib.import_module("wattwatch.callbacks.huggingface").WattwatchCallback
    raise AttributeError(f"module 'wattwatch.callbacks' has no attribute {name!r}")
