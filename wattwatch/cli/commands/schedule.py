"""``wattwatch schedule``: the start time that minimises a job's emissions under an hourly intensity forecast."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from wattwatch import planning
from wattwatch.errors import UsageError
from wattwatch.util.terminal import say
from wattwatch.util.times import parse_utc, utc_display

__all__ = ["HELP", "add_arguments", "run", "parse_time"]

HELP = "Find the greenest start time for a job before a deadline, from an hourly carbon-intensity forecast."


def parse_time(text: str, option: str) -> float:
    """Unix seconds from ISO-8601 (``Z`` or an offset; without a zone, UTC) or from unix seconds."""
    try:
        return parse_utc(text)[0]
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is not a time; write ISO-8601 such as 2025-03-01T18:00Z"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: forecast file, job duration, deadline, now, and the job's power draw."""
    parser.add_argument(
        "--forecast",
        required=True,
        help="hourly intensity CSV (timestamp,g_per_kwh; Electricity Maps or WattTime export)",
    )
    parser.add_argument("--duration-hours", type=float, required=True, help="how long the job runs (hours)")
    parser.add_argument(
        "--deadline", required=True, help="the job must finish by this time (ISO-8601, UTC default)"
    )
    parser.add_argument(
        "--now",
        help="the earliest start (ISO-8601; default: the current time, or the forecast's first hour when the "
        "forecast starts later)",
    )
    parser.add_argument("--gpus", type=int, default=1, help="GPUs the job uses (default 1)")
    parser.add_argument("--gpu-watts", type=float, default=planning.DEFAULT_GPU_WATTS, help="watts per GPU")
    parser.add_argument("--pue", type=float, default=planning.DEFAULT_PUE, help="data-centre PUE (>= 1)")


def run(args: argparse.Namespace, clock: Callable[[], float] = time.time) -> int:
    """Print the best start, its mean intensity and emissions, and the saving over starting now."""
    from wattwatch.carbon.intensity import read_hourly_csv

    if not args.duration_hours > 0:
        raise UsageError(f"--duration-hours must be > 0, got {args.duration_hours:g}")
    if args.gpus < 1:
        raise UsageError(f"--gpus must be >= 1, got {args.gpus}")
    if not args.gpu_watts > 0:
        raise UsageError(f"--gpu-watts must be > 0, got {args.gpu_watts:g}")
    if not args.pue >= 1:
        raise UsageError(f"--pue must be >= 1, got {args.pue:g}")
    deadline = parse_time(args.deadline, "--deadline")
    now = parse_time(args.now, "--now") if args.now else float(clock())
    forecast = read_hourly_csv(args.forecast)
    waits = ""
    if forecast.hours and now < forecast.hours[0][0]:  # a forecast for later today: nothing is known before it
        waits = f" (the forecast starts at {utc_display(forecast.hours[0][0])}, after now, {utc_display(now)})"
        now = forecast.hours[0][0]
    r = planning.best_start(
        forecast.hours,
        args.duration_hours * 3600.0,
        deadline,
        now,
        power_w=args.gpus * args.gpu_watts * args.pue,
        step_s=forecast.step_s,
    )
    say(f"forecast: {forecast.source.description}")
    say(
        f"job: {r.duration_s / 3600:g} h x {r.power_w:g} W = {r.energy_kwh:,.3f} kWh, "
        f"finish by {utc_display(r.deadline_s)}; {r.candidates} start time(s) compared"
    )
    say(
        f"{'earliest' if waits else 'start now':<12} {utc_display(r.now_s)}: {r.now_mean_g_per_kwh:7.1f} gCO2eq/kWh  "
        f"{r.now_emissions_kg:,.3f} kg{waits}"
    )
    say(
        f"best start   {utc_display(r.start_s)}: {r.mean_g_per_kwh:7.1f} gCO2eq/kWh  {r.emissions_kg:,.3f} kg  "
        f"(ends {utc_display(r.end_s)})"
    )
    if r.start_s == r.now_s:
        say(f"starting {'as early as the forecast allows' if waits else 'now'} is already the greenest choice")
    else:
        say(f"saving: {r.saving_kg:,.3f} kg CO2eq ({r.saving_fraction * 100:.1f} %) by waiting")
    return 0
