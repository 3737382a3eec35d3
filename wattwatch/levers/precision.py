"""Precisions (``fp32``, ``bf16``, ``fp16``, ``int8``, ``int4``): which can run here, and the model in each.

- CPU: ``fp32``; ``int8`` through torch's dynamic quantization (int8 weights, activations quantized per batch)
  of every linear layer -- GPT-2's ``Conv1D`` layers turned into ``Linear`` first, fused Mixture-of-Experts
  weights (``gate_up_proj`` / ``down_proj`` of shape experts x out x in) split into one quantized linear
  layer per expert. ``bf16`` / ``fp16`` / ``int4`` are skipped with the reason.
- CUDA: ``fp32``, ``bf16`` (when the GPU has it), ``fp16``; ``int8`` and ``int4`` through bitsandbytes
  (LLM.int8() and NF4) when it is installed, else skipped with the reason.

:func:`plan` says whether a precision can run (and why not) without loading anything; :func:`prepare` builds the
model in it. torch is imported here (the ``levers`` command's path only).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from wattwatch.levers.models import ModelSource, load_model

__all__ = ["DTYPES", "Plan", "Prepared", "plan", "prepare"]

DTYPES = ("fp32", "bf16", "fp16", "int8", "int4")
"""Every precision, highest first (the first one measured is the reference for greedy-output agreement)."""

_TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Plan:
    """Whether ``dtype`` can run on ``device``, how (``method``), or why not (``reason``)."""

    dtype: str
    device: str
    runnable: bool
    method: str = ""
    reason: str = ""


@dataclass
class Prepared:
    """A model ready to run in one precision: where its inputs go, and the share of its weights in that
    precision (int8 on the CPU leaves embeddings and norms in float32)."""

    model: Any
    device: str
    weights_mb: float
    quantized_share: float | None = None


def _bnb_installed() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None


def plan(dtype: str, device: str, *, bnb: bool | None = None) -> Plan:
    """Can ``dtype`` run on ``device`` (``"cpu"`` or ``"cuda"``)? ``bnb``: is bitsandbytes installed (looked
    up when ``None``)."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown precision {dtype!r} (choose from {', '.join(DTYPES)})")
    if device == "cpu":
        if dtype == "fp32":
            return Plan(dtype, device, True, "float32")
        if dtype == "int8":
            if set(torch.backends.quantized.supported_engines) <= {"none"}:
                return Plan(dtype, device, False, reason="this torch build has no quantized CPU engine")
            return Plan(dtype, device, True, "torch dynamic quantization (int8 weights, linear layers)")
        if dtype == "int4":
            return Plan(dtype, device, False, reason="int4 needs bitsandbytes on a CUDA GPU; none here")
        return Plan(dtype, device, False, reason=f"{dtype} is measured on a CUDA GPU; none here")
    if dtype in _TORCH_DTYPES:
        if dtype == "bf16" and not torch.cuda.is_bf16_supported():
            return Plan(dtype, device, False, reason="this GPU has no bf16")
        return Plan(dtype, device, True, {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[dtype])
    if not (_bnb_installed() if bnb is None else bnb):
        return Plan(dtype, device, False, reason=f"{dtype} on a GPU needs bitsandbytes (pip install bitsandbytes)")
    return Plan(dtype, device, True, "bitsandbytes LLM.int8()" if dtype == "int8" else "bitsandbytes NF4 (bf16 compute)")


def _weights_mb(model: nn.Module) -> float:
    seen: set[int] = set()
    total = 0
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    for m in model.modules():  # dynamically quantized layers keep packed weights outside parameters
        if isinstance(m, torch.ao.nn.quantized.dynamic.Linear):
            weight, bias = m._weight_bias()
            total += weight.numel() * weight.element_size() + (0 if bias is None else bias.numel() * bias.element_size())
    return total / 2**20


def prepare(source: ModelSource, p: Plan) -> Prepared:
    """The model in ``p``'s precision on ``p``'s device (a fresh copy each time)."""
    if not p.runnable:
        raise ValueError(p.reason)
    if p.device == "cpu":
        model = load_model(source, torch.float32)
        if p.dtype == "fp32":
            return Prepared(model, "cpu", _weights_mb(model))
        share = _quantize_int8_cpu(model)
        return Prepared(model, "cpu", _weights_mb(model), share)
    if p.dtype in _TORCH_DTYPES:
        model = load_model(source, _TORCH_DTYPES[p.dtype]).to(device="cuda", dtype=_TORCH_DTYPES[p.dtype])
        return Prepared(model, "cuda", _weights_mb(model))
    from transformers import BitsAndBytesConfig

    quant = (
        BitsAndBytesConfig(load_in_8bit=True)
        if p.dtype == "int8"
        else BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
    )
    if source.builtin:  # bitsandbytes quantizes while loading: save the built-in, load it back
        with tempfile.TemporaryDirectory(prefix="wattwatch-levers-") as tmp:
            load_model(source).save_pretrained(os.path.join(tmp, "m"))
            local = ModelSource(source.name, False, os.path.join(tmp, "m"), source.config, source.tokenizer)
            model = load_model(local, quantization_config=quant, device_map={"": 0})
    else:
        model = load_model(source, quantization_config=quant, device_map={"": 0})
    return Prepared(model, "cuda", _weights_mb(model), 1.0)


def _conv1d_to_linear(model: nn.Module) -> None:
    """Replace GPT-2's ``Conv1D`` (``y = x W + b``, ``W`` in x out) by the equivalent ``nn.Linear``."""
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover - transformers without Conv1D
        return
    for name, module in list(model.named_modules()):
        if isinstance(module, Conv1D):
            n_in, n_out = module.weight.shape
            linear = nn.Linear(n_in, n_out, bias=module.bias is not None)
            linear.weight = nn.Parameter(module.weight.detach().t().contiguous())
            if module.bias is not None:
                linear.bias = nn.Parameter(module.bias.detach().clone())
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, linear)


class Int8Experts(nn.Module):
    """A fused Mixture-of-Experts block (``gate_up_proj``: experts x 2*inter x hidden; ``down_proj``: experts x
    hidden x inter) as one dynamically quantized linear pair per expert; same routing arithmetic as
    transformers' ``MixtralExperts.forward``."""

    def __init__(self, experts: nn.Module) -> None:
        super().__init__()
        gate_up: Any = experts.gate_up_proj
        down: Any = experts.down_proj
        self.num_experts = int(gate_up.shape[0])
        self.act_fn = experts.act_fn

        def linear(w: torch.Tensor) -> nn.Linear:
            layer = nn.Linear(w.shape[1], w.shape[0], bias=False)
            layer.weight = nn.Parameter(w.detach().clone())
            return layer

        self.gate_up = nn.ModuleList(linear(gate_up[e]) for e in range(self.num_experts))
        self.down = nn.ModuleList(linear(down[e]) for e in range(self.num_experts))

    @staticmethod
    def fits(module: nn.Module) -> bool:
        """A fused experts module this class reproduces exactly (no biases, not transposed, 3-D weights)."""
        gate_up, down = getattr(module, "gate_up_proj", None), getattr(module, "down_proj", None)
        return (
            isinstance(gate_up, torch.Tensor) and isinstance(down, torch.Tensor) and gate_up.dim() == 3
            and down.dim() == 3 and gate_up.shape[0] == down.shape[0] and gate_up.shape[2] == down.shape[1]
            and gate_up.shape[1] == 2 * down.shape[2] and hasattr(module, "act_fn")
            and getattr(module, "gate_up_proj_bias", None) is None and getattr(module, "down_proj_bias", None) is None
            and not getattr(module, "is_transposed", False)
        )  # fmt: skip

    def forward(self, hidden_states: torch.Tensor, top_k_index: torch.Tensor, top_k_weights: torch.Tensor) -> torch.Tensor:
        final = torch.zeros_like(hidden_states)
        with torch.no_grad():
            mask = nn.functional.one_hot(top_k_index, num_classes=self.num_experts + 1).permute(2, 1, 0)
            hit = torch.greater(mask.sum(dim=(-1, -2)), 0).nonzero()
        for idx in hit:
            e = int(idx[0])
            if e == self.num_experts:
                continue
            pos, token = torch.where(mask[e])
            gate, up = self.gate_up[e](hidden_states[token]).chunk(2, dim=-1)
            act: Any = self.act_fn
            out = self.down[e](act(gate) * up) * top_k_weights[token, pos, None]
            final.index_add_(0, token, out.to(final.dtype))
        return final


def _quantize_int8_cpu(model: nn.Module) -> float:
    """Dynamic int8 quantization in place; returns the share of the weights (by element count) now int8."""
    _conv1d_to_linear(model)
    for name, module in list(model.named_modules()):
        if name and Int8Experts.fits(module):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, Int8Experts(module))
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    total = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
        torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=True)
    return linear / total if total else 0.0
