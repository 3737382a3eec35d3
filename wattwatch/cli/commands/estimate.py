"""``wattwatch estimate``: kWh and kg CO2 of a run before it happens.

Either from hardware (GPU model or ``--watts``, count, hours, place), like the ML CO2 Impact calculator, or
calibrated from a measured run: ``--from emissions.csv --scale-steps N`` (or ``--scale-tokens N``).
"""

from __future__ import annotations

import argparse

from wattwatch import planning
from wattwatch.errors import UsageError
from wattwatch.util.terminal import say

__all__ = ["HELP", "add_arguments", "run"]

_NO_PLACE = (
    f"no place given: the world average {planning.DEFAULT_G_PER_KWH:g} g/kWh, as the tracker uses; "
    "give --country-iso-code, --cloud-provider/--cloud-region or --g-per-kwh"
)

HELP = (
    "Estimate a run's energy and CO2 from GPU model x count x hours x place, or scaled from a measured run."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: hardware, duration, place; or a measured run and a scale."""
    hw = parser.add_argument_group("from hardware")
    hw.add_argument(
        "--gpu", help="GPU model, e.g. H100-SXM, A100-80GB, L4 (see the list in the error message)"
    )
    hw.add_argument("--watts", type=float, help="average watts per GPU (instead of the model's board power)")
    hw.add_argument("--gpus", type=int, default=1, help="number of GPUs (default 1)")
    hw.add_argument("--hours", type=float, help="wall-clock hours")
    hw.add_argument("--pue", type=float, default=planning.DEFAULT_PUE, help="data-centre PUE (default 1.1)")
    place = parser.add_argument_group(
        f"place (one of; default: the measured run's own, else the world average "
        f"{planning.DEFAULT_G_PER_KWH:g} g/kWh, as the tracker uses)"
    )
    place.add_argument("--g-per-kwh", type=float, help="grid intensity in gCO2eq/kWh")
    place.add_argument("--country-iso-code", help="ISO-3 country code, e.g. FRA (CodeCarbon's energy mix)")
    place.add_argument("--cloud-provider", help="aws, gcp or azure (with --cloud-region)")
    place.add_argument("--cloud-region", help="the provider's region, e.g. europe-north1")
    measured = parser.add_argument_group("from a measured run")
    measured.add_argument(
        "--from", dest="from_csv", metavar="EMISSIONS_CSV", help="wattwatch's emissions.csv"
    )
    measured.add_argument("--run-id", help="which run in the CSV (default: the last completed one)")
    measured.add_argument("--scale-steps", type=float, help="project to this many optimizer steps")
    measured.add_argument("--scale-tokens", type=float, help="project to this many tokens")


def _cloud(provider: str, region: str) -> tuple[float, str]:
    """The region's figure via :func:`wattwatch.carbon.intensity.resolve_intensity` (what the tracker uses: Google's
    for GCP, the grid an AWS or Azure region sits on), else the book's region table."""
    from wattwatch.carbon.intensity import resolve_intensity
    from wattwatch.carbon.regions import BOOK_REGIONS

    try:
        ci = resolve_intensity(cloud_provider=provider, cloud_region=region)
        return ci.mean_g_per_kwh(), ci.source.description
    except (ValueError, FileNotFoundError) as exc:
        for r in BOOK_REGIONS:
            if r.key == (provider.strip().lower(), region.strip().lower()):
                return r.g_per_kwh, f"book region table: {r.provider} {r.region}"
        raise UsageError(f"{exc}") from None


def _place(args: argparse.Namespace) -> tuple[float, str] | None:
    """(g/kWh, description) from the place options, or ``None`` when none was given."""
    given = [
        args.g_per_kwh is not None,
        args.country_iso_code is not None,
        args.cloud_provider is not None or args.cloud_region is not None,
    ]
    if sum(given) > 1:
        raise UsageError(
            "give one place: --g-per-kwh, --country-iso-code, or --cloud-provider with --cloud-region"
        )
    if args.g_per_kwh is not None:
        if args.g_per_kwh < 0:
            raise UsageError(f"--g-per-kwh must be >= 0, got {args.g_per_kwh:g}")
        return float(args.g_per_kwh), "--g-per-kwh"
    if args.country_iso_code is not None:
        from wattwatch.carbon.intensity import resolve_intensity

        ci = resolve_intensity(country_iso_code=args.country_iso_code)
        return ci.mean_g_per_kwh(), ci.source.description
    if args.cloud_provider is not None or args.cloud_region is not None:
        if not (args.cloud_provider and args.cloud_region):
            raise UsageError(
                "give both --cloud-provider and --cloud-region, e.g. --cloud-provider gcp --cloud-region europe-north1"
            )
        return _cloud(args.cloud_provider, args.cloud_region)
    return None


def _from_run(args: argparse.Namespace, place: tuple[float, str] | None) -> int:
    if args.scale_steps is None and args.scale_tokens is None:
        raise UsageError("--from needs --scale-steps N or --scale-tokens N (the size of the run to project)")
    run = planning.read_measured_run(args.from_csv, args.run_id)
    p = planning.project_from_run(
        run,
        steps=args.scale_steps,
        tokens=args.scale_tokens,
        g_per_kwh=None if place is None else place[0],
    )
    where = "the measured run's own" if place is None else place[1]
    say(
        f"measured run {run.run_id or '(unnamed)'}: {p.measured_units:,} {p.unit}s, {run.energy_kwh:.6g} kWh, "
        f"{run.emissions_kg:.6g} kg, {run.duration_s / 3600:.3g} h"
    )
    say(f"energy per {p.unit}: {p.energy_per_unit_kwh * 1000:.6g} Wh")
    say(
        f"projected {p.target_units:,.0f} {p.unit}s (x{p.scale:.4g}): {p.energy_kwh:,.3f} kWh, "
        f"{p.emissions_kg:,.3f} kg CO2eq, {p.duration_s / 3600:,.2f} h"
    )
    say(f"intensity: {p.g_per_kwh:.1f} gCO2eq/kWh ({where})")
    return 0


def run(args: argparse.Namespace) -> int:
    """Print kWh and kg CO2eq with the assumptions behind them."""
    place = _place(args)
    if args.from_csv is not None:
        return _from_run(args, place)
    if args.hours is None:
        raise UsageError("give --hours (and --gpu or --watts), or --from emissions.csv with --scale-steps")
    if args.watts is not None:
        watts, power_source = float(args.watts), "--watts"
    elif args.gpu is not None:
        from wattwatch.planning.gpu_specs import gpu_spec

        spec = gpu_spec(args.gpu)
        watts, power_source = spec.board_power_w, f"{spec.name} board power: {spec.source}"
    else:
        raise UsageError("give --gpu MODEL (e.g. H100-SXM) or --watts W per GPU")
    g, where = place if place is not None else (planning.DEFAULT_G_PER_KWH, _NO_PLACE)
    e = planning.estimate_energy(args.gpus, args.hours, watts, g_per_kwh=g, pue=args.pue)
    say(f"{e.gpu_count} x {e.watts_per_gpu:g} W x {e.hours:g} h x PUE {e.pue:g}: {e.energy_kwh:,.3f} kWh")
    say(f"CO2: {e.emissions_kg:,.3f} kg CO2eq at {e.g_per_kwh:.1f} gCO2eq/kWh ({where})")
    say(f"power: {power_source}")
    return 0
