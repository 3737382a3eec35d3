"""Where AWS and Azure regions are, so a run there is charged the grid its datacenter draws from.

Google publishes a carbon intensity per region (CodeCarbon's ``cloud/impact.csv`` carries it); AWS and Azure do
not, so CodeCarbon charges their regions the country given, else the world average. wattwatch knows where each
region is -- from the providers' own region lists -- and charges the grid there: a US state (EPA eGRID), a
Canadian province, a Nordic bidding zone or Chinese province where CodeCarbon's data has one, else the country.

The table is ``data/cloud_locations/regions.csv`` (wattwatch's own, compiled 2026-12 from the sources below; not
part of CodeCarbon's data, so ``WATTWATCH_CODECARBON_DATA`` does not move it), one row per region:

- ``location``: the provider's published name or location (AWS: the region's name, "US East (N. Virginia)";
  Azure: ``metadata.physicalLocation`` of ``az account list-locations``, "Virginia");
- ``country_iso_code``: ISO 3166-1 alpha-3 of that location (Hong Kong: ``HKG``, its own grid);
- ``grid_region``: the key of CodeCarbon's sub-national table for that place (``virginia``, ``quebec``, ``SE3``,
  ``CN-BJ``), empty where the name gives only a country (AWS GovCloud) or no sub-national table exists;
- ``source``: where the location is published -- AWS: https://docs.aws.amazon.com/global-infrastructure/latest/
  regions/aws-regions.html; Azure: https://learn.microsoft.com/en-us/azure/reliability/regions-list and ``az
  account list-locations``; Azure Government and Azure China: their overview pages.

No network: the table ships with wattwatch. A region missing from it (a new one) is reported with the nearest
known names; CodeCarbon's compatibility classes then fall back as CodeCarbon does (the country, else the world
average) and say so.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["LOCATIONS_FILE", "CloudLocation", "cloud_location", "cloud_locations"]

LOCATIONS_FILE = Path(__file__).resolve().parent / "data" / "cloud_locations" / "regions.csv"
"""The bundled table (see the module doc)."""


@dataclass(frozen=True)
class CloudLocation:
    """One provider region and the place its datacenters are, as the provider publishes it."""

    provider: str
    region: str
    location: str
    country_iso_code: str
    grid_region: str
    """Key of the country's sub-national grid table (US state, Canadian province, Nordic zone, Chinese
    province), or ``""`` to use the country's figure."""
    source: str


@lru_cache(maxsize=1)
def _table() -> dict[tuple[str, str], CloudLocation]:
    rows: dict[tuple[str, str], CloudLocation] = {}
    with open(LOCATIONS_FILE, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            loc = CloudLocation(
                provider=row["provider"].strip().lower(),
                region=row["region"].strip().lower(),
                location=row["location"].strip(),
                country_iso_code=row["country_iso_code"].strip().upper(),
                grid_region=row["grid_region"].strip(),
                source=row["source"].strip(),
            )
            rows[(loc.provider, loc.region)] = loc
    return rows


def cloud_location(provider: str, region: str) -> CloudLocation | None:
    """Where ``provider``'s ``region`` is (case-insensitive), or ``None`` when the table does not list it."""
    return _table().get((provider.strip().lower(), region.strip().lower()))


def cloud_locations(provider: str | None = None) -> list[CloudLocation]:
    """Every region of the table (of one provider when given), sorted by provider then region."""
    want = None if provider is None else provider.strip().lower()
    return sorted(
        (loc for loc in _table().values() if want is None or loc.provider == want),
        key=lambda loc: (loc.provider, loc.region),
    )
