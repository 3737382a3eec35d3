"""What a run tells the user when it starts and stops: the intensity coverage warning, the advice to set a
location (logger ``wattwatch.location``, so ``--quiet`` can silence it alone) and the INFO lines naming the
run's channels, interval, intensity and totals (kWh, kg CO2eq, seconds)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wattwatch.carbon.intensity import CarbonIntensity
    from wattwatch.result import EmissionsData
    from wattwatch.sensors.base import ChannelInfo
    from wattwatch.util.once import WarnOnce

__all__ = ["announce_start", "announce_stop"]

log = logging.getLogger("wattwatch")


def announce_start(
    run_id: str,
    intensity: CarbonIntensity,
    infos: Sequence[ChannelInfo],
    interval_s: float,
    wall_time_s: float,
    warn: WarnOnce,
) -> None:
    """At ``start()``: one warning when an hourly intensity does not cover the start (unix ``wall_time_s``), the
    location advice when the world average is used, and the INFO line of the started run."""
    from wattwatch.carbon.intensity import coverage_warning

    uncovered = coverage_warning(intensity, wall_time_s)
    if uncovered:
        warn("intensity-coverage", uncovered)
    src = intensity.source
    if src.kind == "default" and not (src.country_iso_code or src.cloud_provider):  # else: an unknown place, said
        logging.getLogger("wattwatch.location").warning(
            "wattwatch: no location given, so emissions use the world-average grid "
            f"({intensity.mean_g_per_kwh():.0f} gCO2eq/kWh); set one with country_iso_code= "
            '(e.g. "FRA"), cloud_provider= and cloud_region=, or carbon_intensity_g_per_kwh= '
            "(command line: --country-iso-code ...)"
        )
    log.info(
        "wattwatch: run %s started: %d channel(s) (%s), sampling every %.3g s, intensity %s",
        run_id,
        len(infos),
        ", ".join(f"{i.channel}={i.method}" for i in infos) or "none",
        interval_s,
        intensity.source.description,
    )


def announce_stop(run_id: str, data: EmissionsData) -> None:
    """At ``stop()``: the INFO line of the run's status and totals."""
    log.info(
        "wattwatch: run %s %s: %.6f kWh, %.6f kg CO2eq in %.1f s",
        run_id,
        data.status,
        data.energy_consumed,
        data.emissions,
        data.duration,
    )
