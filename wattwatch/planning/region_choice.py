"""Where to run: regions ranked by the CO2 (and cost) of a job, from a catalogue of cloud regions
(``wattwatch regions``). Units: kWh, kg CO2eq, gCO2eq/kWh, US dollars."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from wattwatch.carbon.regions import Region, default_catalog
from wattwatch.planning.common import (
    DEFAULT_GPU_WATTS,
    DEFAULT_PUE,
    check_pue,
    non_negative,
    positive,
)

__all__ = ["RegionOption", "RegionPlan", "recommend_region"]


@dataclass(frozen=True)
class RegionOption:
    """A region's cost for one job: ``energy_kwh`` (facility), ``emissions_kg`` from the region's ranked
    intensity, ``reference_emissions_kg`` from its second (CodeCarbon) figure when it has one, ``cost_usd`` when
    its price is known."""

    region: Region
    energy_kwh: float
    emissions_kg: float
    cost_usd: float | None
    reference_emissions_kg: float | None


@dataclass(frozen=True)
class RegionPlan:
    """Regions ranked by emissions (lowest first) for ``gpu_hours`` GPU-hours.

    Ties in emissions are broken by renewable share (highest first), then cost (lowest first), then provider
    and region name. ``over_budget`` lists regions whose cost exceeds ``max_cost_usd``; ``unpriced`` lists
    regions left out because a cost ceiling was given and their price is unknown. ``ranked`` is cut to ``top``.
    """

    gpu_hours: float
    max_cost_usd: float | None
    gpu_watts: float
    pue: float
    kwh_per_gpu_hour: float
    ranked: tuple[RegionOption, ...]
    eligible_count: int
    over_budget: tuple[RegionOption, ...]
    unpriced: tuple[RegionOption, ...]


def _rank_key(option: RegionOption) -> tuple[float, float, float, str, str]:
    share = option.region.renewable_share
    return (
        option.emissions_kg,
        -(share if share is not None else -1.0),
        option.cost_usd if option.cost_usd is not None else math.inf,
        option.region.provider,
        option.region.region,
    )


def recommend_region(
    gpu_hours: float,
    *,
    catalog: Iterable[Region] | None = None,
    max_cost_usd: float | None = None,
    top: int | None = None,
    gpu_watts: float = DEFAULT_GPU_WATTS,
    pue: float = DEFAULT_PUE,
) -> RegionPlan:
    """Rank the regions of ``catalog`` (default: :func:`wattwatch.carbon.regions.default_catalog`) by the CO2 of a job of
    ``gpu_hours`` GPU-hours, each GPU-hour costing ``gpu_watts`` x ``pue`` / 1000 kWh, within ``max_cost_usd``.

    The book's example ``recommend_region(10000, max_cost_usd=50000, top=5)`` ranks swedencentral 154.0 kg,
    eu-north-1 192.5 kg, europe-north1 231.0 kg, ca-central-1 231.0 kg, us-west-2 924.0 kg.
    """
    hours = non_negative("GPU-hours", gpu_hours, "; pass the job's total GPU-hours, e.g. 10000")
    kwh_per_gpu_hour = positive("GPU watts", gpu_watts) * check_pue(pue) / 1000.0
    if max_cost_usd is not None:
        non_negative("maximum cost ($)", max_cost_usd)
    if top is not None and top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    regions = tuple(catalog) if catalog is not None else default_catalog()
    energy = hours * kwh_per_gpu_hour
    eligible: list[RegionOption] = []
    over: list[RegionOption] = []
    unpriced: list[RegionOption] = []
    for region in regions:
        ref = region.reference_g_per_kwh
        option = RegionOption(
            region,
            energy,
            energy * region.g_per_kwh / 1000.0,
            hours * region.usd_per_gpu_hour if region.usd_per_gpu_hour is not None else None,
            energy * ref / 1000.0 if ref is not None else None,
        )
        if max_cost_usd is not None and option.cost_usd is None:
            unpriced.append(option)
        elif max_cost_usd is not None and option.cost_usd is not None and option.cost_usd > max_cost_usd:
            over.append(option)
        else:
            eligible.append(option)
    eligible.sort(key=_rank_key)
    ranked = tuple(eligible[:top] if top is not None else eligible)
    return RegionPlan(
        hours,
        None if max_cost_usd is None else float(max_cost_usd),
        float(gpu_watts),
        float(pue),
        kwh_per_gpu_hour,
        ranked,
        len(eligible),
        tuple(sorted(over, key=_rank_key)),
        tuple(sorted(unpriced, key=_rank_key)),
    )
