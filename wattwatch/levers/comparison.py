"""Two models side by side: ``compare``'s estimate (dense vs Mixture-of-Experts from active parameters,
:func:`wattwatch.planning.compare_architectures`, forward passes only) beside the measured J/token.

The estimate's saving is ``1 - active(MODEL2) / active(MODEL)`` whatever the hardware; its J/token are for
``compare``'s default GPU (989 TFLOP/s at MFU 0.40, 700 W, PUE 1.1), not this machine. The measurement says
what the architectures cost here, at each batch size and precision both models ran.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wattwatch.levers.results import ConfigResult
from wattwatch.planning import INFERENCE_FLOPS_PER_PARAM_TOKEN, compare_architectures

__all__ = ["Comparison", "ComparisonRow", "ModelSize", "compare_models", "comparison_from_json", "model_size"]

_TOKENS = 1e6
"""Tokens the estimate is computed for (its J/token do not depend on it)."""


@dataclass(frozen=True)
class ModelSize:
    """Parameters of a model: all of them, and those a token's forward pass multiplies by (``active``)."""

    name: str
    total_params: int
    active_params: float
    experts: tuple[int, int] | None = None
    """(experts per token, experts) of a Mixture-of-Experts model."""


@dataclass(frozen=True)
class ComparisonRow:
    """Measured J/token of both models at one precision and batch size; saving = 1 - second / first."""

    dtype: str
    batch_size: int
    joules_per_token: tuple[float, float]

    @property
    def energy_saving(self) -> float:
        a, b = self.joules_per_token
        return 1.0 - b / a if a > 0 else 0.0


@dataclass(frozen=True)
class Comparison:
    """``compare``'s estimate for the two models, and the measured rows."""

    sizes: tuple[ModelSize, ModelSize]
    estimated_saving: float
    estimated_joules_per_token: tuple[float, float]
    assumptions: dict[str, float]
    rows: tuple[ComparisonRow, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "models": [s.name for s in self.sizes],
            "total_params": [s.total_params for s in self.sizes],
            "active_params": [s.active_params for s in self.sizes],
            "estimate": {
                "energy_saving": self.estimated_saving,
                "joules_per_token": list(self.estimated_joules_per_token),
                "assumptions": dict(self.assumptions),
            },
            "measured": [
                {
                    "dtype": r.dtype,
                    "batch_size": r.batch_size,
                    "joules_per_token": list(r.joules_per_token),
                    "energy_saving": r.energy_saving,
                }
                for r in self.rows
            ],
        }


def model_size(name: str, config: object) -> ModelSize:
    """Total and active parameters of the model ``config`` describes, counted on a weightless copy (``meta``
    device). Active: every parameter a token multiplies by once -- embedding tables only read by lookup are
    left out (a tied output layer counts once) -- with the experts' parameters scaled by experts per token /
    experts (``num_experts_per_tok`` / ``num_local_experts`` or ``num_experts``)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    params = {id(p): (n, p) for n, p in model.named_parameters(remove_duplicate=False)}
    linear_ids = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear)}
    lookup_only = {
        id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding) and id(m.weight) not in linear_ids
    }
    k = getattr(config, "num_experts_per_tok", None)
    e = getattr(config, "num_local_experts", None) or getattr(config, "num_experts", None)
    moe = isinstance(k, int) and isinstance(e, int) and 0 < k <= e
    total = sum(p.numel() for _, p in params.values())
    active = 0.0
    for pid, (pname, p) in params.items():
        if pid in lookup_only:
            continue
        scale = k / e if moe and ".experts." in f".{pname}." else 1.0  # type: ignore[operator]
        active += p.numel() * scale
    return ModelSize(name, total, active, (k, e) if moe else None)  # type: ignore[arg-type]


def compare_models(sizes: tuple[ModelSize, ModelSize], configs: Sequence[ConfigResult]) -> Comparison:
    """The estimate for ``sizes`` and the measured J/token of every (precision, batch size) both models ran."""
    a, b = sizes
    est = compare_architectures(
        a.active_params,
        b.active_params,
        _TOKENS,
        moe_total_params=max(float(b.total_params), b.active_params),
        flops_per_param_token=INFERENCE_FLOPS_PER_PARAM_TOKEN,
    )
    by_key: dict[tuple[str, str, int], ConfigResult] = {(c.model, c.dtype, c.batch_size): c for c in configs}
    rows = []
    for c in configs:
        if c.model != a.name:
            continue
        other = by_key.get((b.name, c.dtype, c.batch_size))
        if other is not None:
            rows.append(ComparisonRow(c.dtype, c.batch_size, (c.joules_per_token, other.joules_per_token)))
    per_token = (est.dense.energy_kwh * 3.6e6 / _TOKENS, est.moe.energy_kwh * 3.6e6 / _TOKENS)
    assumptions = {
        "flops_per_param_token": est.flops_per_param_token,
        "peak_tflops": est.peak_flops / 1e12,
        "mfu": est.mfu,
        "gpu_watts": est.gpu_watts,
        "pue": est.pue,
    }
    return Comparison(sizes, est.energy_saving, per_token, assumptions, tuple(rows))


def _pair(value: object, what: str) -> tuple[float, float]:
    if (
        not isinstance(value, list) or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    ):  # fmt: skip
        raise ValueError(f"comparison: {what} must be two finite numbers")
    return float(value[0]), float(value[1])


def comparison_from_json(data: object) -> Comparison:
    """A :class:`Comparison` from the ``comparison`` object of ``--json`` output (``ValueError`` if malformed)."""
    if not isinstance(data, dict) or not isinstance(data.get("estimate"), dict):
        raise ValueError("comparison: expected an object with an 'estimate'")
    names = data.get("models")
    if not isinstance(names, list) or len(names) != 2 or not all(isinstance(n, str) for n in names):
        raise ValueError("comparison: 'models' must be two names")
    clean = ["".join(ch if ch.isprintable() else "?" for ch in n[:200]) for n in names]
    total, active = _pair(data.get("total_params"), "total_params"), _pair(data.get("active_params"), "active_params")
    est = data["estimate"]
    saving = _pair([est.get("energy_saving"), 0.0], "estimate.energy_saving")[0]
    rows = []
    measured = data.get("measured")
    for r in (measured if isinstance(measured, list) else [])[:1000]:
        if not isinstance(r, dict) or not isinstance(r.get("dtype"), str) or not isinstance(r.get("batch_size"), int):
            raise ValueError("comparison: each measured row needs dtype, batch_size, joules_per_token")
        rows.append(ComparisonRow(r["dtype"][:20], r["batch_size"], _pair(r.get("joules_per_token"), "joules_per_token")))
    sizes = (ModelSize(clean[0], int(total[0]), active[0]), ModelSize(clean[1], int(total[1]), active[1]))
    given = est.get("assumptions")
    assumptions = {
        str(k)[:40]: float(v)
        for k, v in (given if isinstance(given, dict) else {}).items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    return Comparison(sizes, saving, _pair(est.get("joules_per_token"), "estimate.joules_per_token"), assumptions, tuple(rows))
