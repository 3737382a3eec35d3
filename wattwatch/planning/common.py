"""Defaults and argument checks shared by the planning calculators.

Defaults are the textbook's (docs/planning.md names it): 6 FLOPs per parameter-token (2 for inference), 989
TFLOP/s peak (H100 SXM, dense BF16), MFU 0.40, 700 W per GPU, PUE 1.1; the grid's gCO2eq/kWh is the tracker's
world average (475; the textbook's examples use 400). Bad arguments raise ``ValueError`` with a message that
says what to pass instead.
"""

from __future__ import annotations

import math

from wattwatch.carbon.intensity import WORLD_AVERAGE_G_PER_KWH

__all__ = [
    "DEFAULT_FLOPS_PER_PARAM_TOKEN",
    "DEFAULT_G_PER_KWH",
    "DEFAULT_GPU_WATTS",
    "DEFAULT_MFU",
    "DEFAULT_PEAK_FLOPS",
    "DEFAULT_PUE",
    "INFERENCE_FLOPS_PER_PARAM_TOKEN",
    "check_mfu",
    "check_pue",
    "non_negative",
    "positive",
]

DEFAULT_FLOPS_PER_PARAM_TOKEN = 6.0
"""Training FLOPs per (active) parameter per token: forward 2 + backward 4."""
INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0
"""Inference FLOPs per (active) parameter per token: forward only."""
DEFAULT_PEAK_FLOPS = 989e12
"""Peak FLOP/s of one GPU (H100 SXM dense BF16)."""
DEFAULT_MFU = 0.40
"""Model FLOPs utilisation: achieved / peak FLOP/s, in (0, 1]."""
DEFAULT_GPU_WATTS = 700.0
"""Average power of one GPU in watts (H100 SXM board power)."""
DEFAULT_PUE = 1.1
"""Power usage effectiveness of the data centre (facility energy / IT energy), >= 1."""
DEFAULT_G_PER_KWH = WORLD_AVERAGE_G_PER_KWH
"""Grid carbon intensity when no place is given, gCO2eq/kWh: the tracker's world average
(:data:`wattwatch.carbon.intensity.WORLD_AVERAGE_G_PER_KWH`, 475), so that an estimate and the run it
estimates use one default. The textbook's examples use 400; its figures are reproduced with ``g_per_kwh=400``."""


def positive(name: str, value: float, hint: str = "") -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}{hint}")
    return v


def non_negative(name: str, value: float, hint: str = "") -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}{hint}")
    return v


def check_mfu(value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or not 0 < v <= 1:
        raise ValueError(
            f"MFU must be in (0, 1], got {value!r}; pass a fraction such as 0.40, not a percentage"
        )
    return v


def check_pue(value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 1:
        raise ValueError(f"PUE must be >= 1 (facility energy / IT energy), got {value!r}; 1.1 is typical")
    return v
