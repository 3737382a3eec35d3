"""Dense vs Mixture-of-Experts: the energy and CO2 of training (or serving) each, from parameters, tokens and
the hardware's FLOP rate (``wattwatch compare``). Units: kWh, kg CO2eq, seconds, FLOPs."""

from __future__ import annotations

from dataclasses import dataclass

from wattwatch.planning.common import (
    DEFAULT_FLOPS_PER_PARAM_TOKEN,
    DEFAULT_G_PER_KWH,
    DEFAULT_GPU_WATTS,
    DEFAULT_MFU,
    DEFAULT_PEAK_FLOPS,
    DEFAULT_PUE,
    check_mfu,
    check_pue,
    non_negative,
    positive,
)

__all__ = ["ArchitectureComparison", "ArchitectureEstimate", "compare_architectures", "estimate_training"]


@dataclass(frozen=True)
class ArchitectureEstimate:
    """Training cost of one architecture.

    ``flops`` = flops_per_param_token x active_params x tokens; ``gpu_hours`` = flops / (peak x MFU) / 3600;
    ``energy_kwh`` = gpu_hours x GPU watts / 1000 x PUE; ``emissions_kg`` = energy_kwh x g_per_kwh / 1000.
    """

    name: str
    active_params: float
    total_params: float
    tokens: float
    flops: float
    gpu_hours: float
    energy_kwh: float
    emissions_kg: float


@dataclass(frozen=True)
class ArchitectureComparison:
    """Dense vs MoE under the same hardware, PUE and grid. Savings are fractions (0.814 = 81.4 %)."""

    dense: ArchitectureEstimate
    moe: ArchitectureEstimate
    energy_saving: float
    emissions_saving: float
    flops_per_param_token: float
    peak_flops: float
    mfu: float
    gpu_watts: float
    pue: float
    g_per_kwh: float


def estimate_training(
    name: str,
    active_params: float,
    tokens: float,
    *,
    total_params: float | None = None,
    flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN,
    peak_flops: float = DEFAULT_PEAK_FLOPS,
    mfu: float = DEFAULT_MFU,
    gpu_watts: float = DEFAULT_GPU_WATTS,
    pue: float = DEFAULT_PUE,
    g_per_kwh: float = DEFAULT_G_PER_KWH,
) -> ArchitectureEstimate:
    """GPU-hours, kWh and kg CO2eq to push ``tokens`` tokens through a model with ``active_params`` parameters
    active per token (see :class:`ArchitectureEstimate` for the formula)."""
    active = positive(f"{name} active parameters", active_params, " (e.g. 70e9)")
    total = active if total_params is None else positive(f"{name} total parameters", total_params)
    if total < active:
        raise ValueError(f"{name}: total parameters ({total:g}) must be >= active parameters ({active:g})")
    n_tokens = positive("tokens", tokens, " (e.g. 2e12)")
    fpt = positive("FLOPs per parameter-token", flops_per_param_token, " (6 for training, 2 for inference)")
    peak = positive("peak FLOP/s", peak_flops, " (e.g. 989e12 for an H100 SXM)")
    watts = positive("GPU watts", gpu_watts)
    flops = fpt * active * n_tokens
    gpu_hours = flops / (peak * check_mfu(mfu)) / 3600.0
    energy_kwh = gpu_hours * watts / 1000.0 * check_pue(pue)
    emissions_kg = energy_kwh * non_negative("grid intensity (g/kWh)", g_per_kwh) / 1000.0
    return ArchitectureEstimate(name, active, total, n_tokens, flops, gpu_hours, energy_kwh, emissions_kg)


def compare_architectures(
    dense_params: float,
    moe_active_params: float,
    tokens: float,
    *,
    moe_total_params: float | None = None,
    flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN,
    peak_flops: float = DEFAULT_PEAK_FLOPS,
    mfu: float = DEFAULT_MFU,
    gpu_watts: float = DEFAULT_GPU_WATTS,
    pue: float = DEFAULT_PUE,
    g_per_kwh: float = DEFAULT_G_PER_KWH,
) -> ArchitectureComparison:
    """Energy and CO2 of training a dense model vs an MoE model on the same tokens and hardware.

    Compute scales with *active* parameters, so the saving is ``1 - moe_active / dense`` whatever the hardware
    figures; ``moe_total_params`` (memory, not compute) is recorded but does not enter the energy. The book's
    example ``compare_architectures(70e9, 13e9, 2e12, moe_total_params=47e9)`` gives a saving of 81.4 %.
    """
    common = dict(
        flops_per_param_token=flops_per_param_token,
        peak_flops=peak_flops,
        mfu=mfu,
        gpu_watts=gpu_watts,
        pue=pue,
        g_per_kwh=g_per_kwh,
    )
    dense = estimate_training("dense", dense_params, tokens, **common)
    moe = estimate_training("moe", moe_active_params, tokens, total_params=moe_total_params, **common)
    energy_saving = 1.0 - moe.energy_kwh / dense.energy_kwh
    emissions_saving = (
        1.0 - moe.emissions_kg / dense.emissions_kg if dense.emissions_kg > 0 else energy_saving
    )
    return ArchitectureComparison(
        dense,
        moe,
        energy_saving,
        emissions_saving,
        float(flops_per_param_token),
        float(peak_flops),
        float(mfu),
        float(gpu_watts),
        float(pue),
        float(g_per_kwh),
    )
