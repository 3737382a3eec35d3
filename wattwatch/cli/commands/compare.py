"""``wattwatch compare``: energy and CO2 of training a dense model vs a Mixture-of-Experts model."""

from __future__ import annotations

import argparse

from wattwatch import planning
from wattwatch.util.terminal import say

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Compare the training energy and CO2 of a dense model and a Mixture-of-Experts model."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: model sizes, tokens, and the hardware / grid assumptions (book defaults)."""
    parser.add_argument("--dense-params", type=float, required=True, help="dense model parameters, e.g. 70e9")
    parser.add_argument(
        "--moe-active-params", type=float, required=True, help="MoE parameters active per token"
    )
    parser.add_argument("--moe-total-params", type=float, help="MoE total parameters (memory; not in energy)")
    parser.add_argument("--tokens", type=float, required=True, help="training tokens, e.g. 2e12")
    parser.add_argument(
        "--flops-per-param-token",
        type=float,
        help=f"FLOPs per active parameter per token (default {planning.DEFAULT_FLOPS_PER_PARAM_TOKEN:g}; "
        f"{planning.INFERENCE_FLOPS_PER_PARAM_TOKEN:g} with --inference)",
    )
    parser.add_argument(
        "--inference", action="store_true", help="count forward passes only (2 FLOPs/param-token)"
    )
    parser.add_argument(
        "--peak-tflops", type=float, default=planning.DEFAULT_PEAK_FLOPS / 1e12, help="GPU peak TFLOP/s"
    )
    parser.add_argument(
        "--mfu", type=float, default=planning.DEFAULT_MFU, help="model FLOPs utilisation, (0, 1]"
    )
    parser.add_argument("--gpu-watts", type=float, default=planning.DEFAULT_GPU_WATTS, help="watts per GPU")
    parser.add_argument("--pue", type=float, default=planning.DEFAULT_PUE, help="data-centre PUE (>= 1)")
    parser.add_argument("--g-per-kwh", type=float, default=planning.DEFAULT_G_PER_KWH, help="grid gCO2eq/kWh")


def _params(n: float) -> str:
    return f"{n / 1e9:,.1f} B"


def run(args: argparse.Namespace) -> int:
    """Print one column per architecture (GPU-hours, kWh, kg CO2) and the saving."""
    fpt = args.flops_per_param_token
    if fpt is None:
        fpt = (
            planning.INFERENCE_FLOPS_PER_PARAM_TOKEN
            if args.inference
            else planning.DEFAULT_FLOPS_PER_PARAM_TOKEN
        )
    c = planning.compare_architectures(
        args.dense_params,
        args.moe_active_params,
        args.tokens,
        moe_total_params=args.moe_total_params,
        flops_per_param_token=fpt,
        peak_flops=args.peak_tflops * 1e12,
        mfu=args.mfu,
        gpu_watts=args.gpu_watts,
        pue=args.pue,
        g_per_kwh=args.g_per_kwh,
    )
    rows = [
        ("", "dense", "MoE"),
        ("active params", _params(c.dense.active_params), _params(c.moe.active_params)),
        ("total params", _params(c.dense.total_params), _params(c.moe.total_params)),
        ("FLOPs", f"{c.dense.flops:.3g}", f"{c.moe.flops:.3g}"),
        ("GPU-hours", f"{c.dense.gpu_hours:,.0f}", f"{c.moe.gpu_hours:,.0f}"),
        ("energy (kWh)", f"{c.dense.energy_kwh:,.0f}", f"{c.moe.energy_kwh:,.0f}"),
        ("CO2 (kg)", f"{c.dense.emissions_kg:,.0f}", f"{c.moe.emissions_kg:,.0f}"),
    ]
    for label, a, b in rows:
        say(f"{label:<14} {a:>14} {b:>14}")
    say(f"energy saving: {c.energy_saving * 100:.1f} %   CO2 saving: {c.emissions_saving * 100:.1f} %")
    say(
        f"assumptions: {c.flops_per_param_token:g} FLOPs/param-token, {c.peak_flops / 1e12:g} TFLOP/s peak, "
        f"MFU {c.mfu:.2f}, {c.gpu_watts:g} W/GPU, PUE {c.pue:g}, {c.g_per_kwh:g} gCO2eq/kWh"
    )
    return 0
