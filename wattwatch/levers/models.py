"""The models ``wattwatch levers`` measures: built-in tiny ones (from a config, nothing downloaded) or a Hugging
Face model (an id or a local folder), each with its tokenizer.

``tiny-gpt2`` (dense: 4 layers, width 128, 0.89 M parameters) and ``tiny-mixtral`` (Mixture-of-Experts: 4 layers,
width 128, 8 experts of which 2 run per token: 1.9 M parameters, 0.6 M active per token) have random weights from a fixed seed and read text as UTF-8 bytes (:class:`ByteTokenizer`),
so they run on any CPU with no file at all. Saved with ``save_pretrained``, their config remembers the byte
tokenizer (``wattwatch_tokenizer = "bytes"``), so the folder loads back as a local model.

Loading errors become :class:`ModelLoadError` (one line naming the model and why). torch and transformers are
imported here, on the ``levers`` command's path only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from wattwatch.errors import UsageError

__all__ = [
    "BUILTINS",
    "ByteTokenizer",
    "ModelLoadError",
    "ModelSource",
    "Tokenizer",
    "build_builtin",
    "load_model",
    "resolve_model",
]

BYTE_TOKENIZER = "bytes"
SEED = 20250527


class ModelLoadError(UsageError):
    """A model (or its tokenizer) cannot be loaded: the message is one line naming it and why."""


class Tokenizer(Protocol):
    """What the sweep needs of a tokenizer."""

    eos_ids: tuple[int, ...]
    pad_id: int

    def encode(self, text: str) -> list[int]: ...


class ByteTokenizer:
    """UTF-8 bytes as token ids 0-255, then BOS (256) and end-of-sequence, also used as padding (257)."""

    vocab_size = 258
    bos_id = 256
    eos_ids: tuple[int, ...] = (257,)
    pad_id = 257

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(i for i in ids if 0 <= i < 256).decode("utf-8", "replace")


class HFTokenizerLike(Protocol):
    """A ``transformers`` tokenizer: called on a text, with its special token ids."""

    eos_token_id: int | list[int] | None
    pad_token_id: int | None

    def __call__(self, text: str) -> Mapping[str, list[int]]: ...


class _HFTokenizer:
    """A ``transformers`` tokenizer seen through :class:`Tokenizer` (padding falls back to EOS, then 0)."""

    def __init__(self, tok: HFTokenizerLike) -> None:
        self.tok = tok
        eos = tok.eos_token_id
        self.eos_ids = tuple(eos if isinstance(eos, list) else ([] if eos is None else [eos]))
        pad = tok.pad_token_id
        self.pad_id = int(pad if pad is not None else (self.eos_ids[0] if self.eos_ids else 0))

    def encode(self, text: str) -> list[int]:
        return list(self.tok(text)["input_ids"])


@dataclass
class ModelSource:
    """A model to measure: ``name`` as the user gave it, where it comes from, its config and tokenizer."""

    name: str
    builtin: bool
    location: str
    """The built-in's name, a local folder, or a Hugging Face id."""
    config: Any
    tokenizer: Tokenizer

    @property
    def max_positions(self) -> int:
        """The longest sequence the model takes (tokens)."""
        for key in ("n_positions", "max_position_embeddings", "seq_length"):
            value = getattr(self.config, key, None)
            if isinstance(value, int) and value > 0:
                return value
        return 2048


def _tiny_gpt2_config() -> Any:
    from transformers import GPT2Config

    cfg = GPT2Config(
        vocab_size=ByteTokenizer.vocab_size, n_positions=512, n_embd=128, n_layer=4, n_head=4,
        bos_token_id=ByteTokenizer.bos_id, eos_token_id=ByteTokenizer.eos_ids[0], pad_token_id=ByteTokenizer.pad_id,
    )  # fmt: skip
    cfg.wattwatch_tokenizer = BYTE_TOKENIZER
    return cfg


def _tiny_mixtral_config() -> Any:
    from transformers import MixtralConfig

    cfg = MixtralConfig(
        vocab_size=ByteTokenizer.vocab_size, hidden_size=128, intermediate_size=128, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, num_local_experts=8, num_experts_per_tok=2,
        max_position_embeddings=512, bos_token_id=ByteTokenizer.bos_id, eos_token_id=ByteTokenizer.eos_ids[0],
        pad_token_id=ByteTokenizer.pad_id, tie_word_embeddings=False,
    )  # fmt: skip
    cfg.wattwatch_tokenizer = BYTE_TOKENIZER
    return cfg


BUILTINS: dict[str, Callable[[], Any]] = {"tiny-gpt2": _tiny_gpt2_config, "tiny-mixtral": _tiny_mixtral_config}
"""Built-in model name -> its config (weights: random from :data:`SEED`)."""


def build_builtin(name: str) -> Any:
    """A built-in model with its fixed-seed weights, in float32 on the CPU, in eval mode (the caller's random
    state is left as it was)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = AutoModelForCausalLM.from_config(BUILTINS[name](), dtype=torch.float32)
    return model.eval()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def resolve_model(name: str) -> ModelSource:
    """Check that ``name`` can be loaded (config and tokenizer) before any measuring; :class:`ModelLoadError`
    otherwise. A name that looks like a path must be a folder; anything else not built in is a Hugging Face id
    (fetched by transformers unless it is cached; ``HF_HUB_OFFLINE=1`` forbids the network)."""
    if name in BUILTINS:
        return ModelSource(name, True, name, BUILTINS[name](), ByteTokenizer())
    looks_local = name.startswith((".", "/", "~")) or os.path.exists(name)
    path = Path(name).expanduser()
    if looks_local and not path.is_dir():
        raise ModelLoadError(
            f"cannot load model {name!r}: no such folder (built in: {', '.join(BUILTINS)}; or a Hugging Face id)"
        )
    location = str(path) if looks_local else name
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(location)
    except Exception as exc:  # noqa: BLE001 -- transformers raises OSError, ValueError, KeyError, JSON errors...
        raise ModelLoadError(f"cannot load model {name!r}: {_first_line(exc)}") from None
    if getattr(config, "wattwatch_tokenizer", None) == BYTE_TOKENIZER:
        return ModelSource(name, False, location, config, ByteTokenizer())
    try:
        from transformers import AutoTokenizer

        tokenizer = _HFTokenizer(AutoTokenizer.from_pretrained(location))
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"cannot load the tokenizer of model {name!r}: {_first_line(exc)}") from None
    return ModelSource(name, False, location, config, tokenizer)


def load_model(source: ModelSource, dtype: object = None, **kwargs: Any) -> Any:
    """A fresh copy of the model in eval mode: a built-in in float32 on the CPU, else ``from_pretrained`` with
    ``dtype`` and ``kwargs`` (e.g. ``quantization_config``, ``device_map``). :class:`ModelLoadError` if it fails."""
    if source.builtin:
        return build_builtin(source.location)
    try:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(source.location, dtype=dtype, **kwargs)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"cannot load model {source.name!r}: {_first_line(exc)}") from None
    return model.eval()
