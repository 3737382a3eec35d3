"""``wattwatch regions``: rank cloud regions by the CO2 of a job, within an optional cost ceiling."""

from __future__ import annotations

import argparse

from wattwatch import planning
from wattwatch.carbon.regions import default_catalog, merge_catalogs, read_catalog_csv
from wattwatch.util.terminal import say

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Rank cloud regions by the CO2 of a job of N GPU-hours, within an optional cost ceiling."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: job size, budget, how many to show, catalog extensions, power assumptions."""
    parser.add_argument("--gpu-hours", type=float, required=True, help="the job's total GPU-hours")
    parser.add_argument("--max-cost", type=float, help="cost ceiling in US dollars")
    parser.add_argument("--top", type=int, help="show only the N best regions")
    parser.add_argument(
        "--catalog",
        action="append",
        default=[],
        metavar="CSV",
        help="extra regions (provider,region,g_per_kwh,usd_per_gpu_hour,renewable_share); overrides matches",
    )
    parser.add_argument("--no-codecarbon", action="store_true", help="leave CodeCarbon's cloud regions out")
    parser.add_argument("--gpu-watts", type=float, default=planning.DEFAULT_GPU_WATTS, help="watts per GPU")
    parser.add_argument("--pue", type=float, default=planning.DEFAULT_PUE, help="data-centre PUE (>= 1)")


def _money(v: float | None) -> str:
    return "-" if v is None else f"${v:,.0f}"


def _share(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f} %"


def run(args: argparse.Namespace) -> int:
    """Print the ranking, one region per line, then notes on second figures and regions left out."""
    catalog = default_catalog(include_codecarbon=not args.no_codecarbon)
    for path in args.catalog:
        catalog = merge_catalogs(catalog, read_catalog_csv(path), keep_base_figure=False)
    plan = planning.recommend_region(
        args.gpu_hours,
        catalog=catalog,
        max_cost_usd=args.max_cost,
        top=args.top,
        gpu_watts=args.gpu_watts,
        pue=args.pue,
    )
    budget = "" if plan.max_cost_usd is None else f", at most {_money(plan.max_cost_usd)}"
    say(
        f"{plan.gpu_hours:,.0f} GPU-hours x {plan.kwh_per_gpu_hour:g} kWh/GPU-hour "
        f"({plan.gpu_watts:g} W, PUE {plan.pue:g}){budget}:"
    )
    if not plan.ranked:
        say("no region fits; raise --max-cost or add priced regions with --catalog")
    for i, o in enumerate(plan.ranked, start=1):
        r = o.region
        say(
            f"{i:>2}. {r.region:<24} {o.emissions_kg:>10,.1f} kg {_money(o.cost_usd):>10} {_share(r.renewable_share):>5}"
            f"   {r.provider} {r.g_per_kwh:g} g/kWh ({r.source.split(' ')[0]})"
        )
    for o in plan.ranked:
        r = o.region
        if r.reference_g_per_kwh is not None and o.reference_emissions_kg is not None:
            say(
                f"note: {r.provider} {r.region}: ranked on the {r.source} figure {r.g_per_kwh:g} g/kWh; "
                f"{r.reference_source} gives {r.reference_g_per_kwh:g} g/kWh ({o.reference_emissions_kg:,.1f} kg)"
            )
    say("ties in CO2 are broken by renewable share (highest first), then cost (lowest first)")
    if plan.over_budget:
        say(f"{len(plan.over_budget)} region(s) over budget left out")
    if plan.unpriced:
        say(
            f"{len(plan.unpriced)} region(s) without a price left out (a cost ceiling was given); "
            "add their $/GPU-hour with --catalog"
        )
    return 0
