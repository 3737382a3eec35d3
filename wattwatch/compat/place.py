"""The grid a compatibility tracker charges, with CodeCarbon 3.3.2's fallbacks where a place is not known.

wattwatch's own :class:`~wattwatch.Tracker` refuses a place it cannot find (a typo would silently cost the
figure its meaning). CodeCarbon runs anyway, and CodeCarbon scripts rely on it, so the compatibility classes do
what CodeCarbon does and say so in a WARNING (the nearest known names included):

- an unknown country code: the world average (CodeCarbon: ``We do not have data for XYZ, using world average.``);
- an unknown region of a country with regional data: the country's figure (CodeCarbon: ``Regional emissions
  retrieval failed. Falling back on country emissions.``); a region of a country without regional data: the
  country's figure (CodeCarbon ignores it silently; here one INFO line);
- a cloud region found nowhere, or a provider without a region: the country given, else the world average
  (CodeCarbon: ``Cloud electricity carbon intensity for provider ... not found, using country value instead``).

Known AWS and Azure regions are not a fallback: they get the grid they sit on (see
:mod:`wattwatch.carbon.cloud_locations`), where CodeCarbon uses the world average.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from wattwatch.carbon.intensity import (
    WORLD_AVERAGE_G_PER_KWH,
    IntensitySource,
    StaticIntensity,
    cloud_intensity,
    country_intensity,
    region_intensity,
    resolve_intensity,
)

__all__ = ["PLACE_OPTIONS", "place_intensity", "take_place"]

PLACE_OPTIONS = ("country_iso_code", "region", "cloud_provider", "cloud_region")
"""The place options (OfflineEmissionsTracker's; wattwatch's EmissionsTracker takes them as keywords too)."""

log = logging.getLogger("wattwatch.compat")


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _world_average(why: str) -> StaticIntensity:
    return StaticIntensity(
        WORLD_AVERAGE_G_PER_KWH,
        IntensitySource(
            kind="default",
            description=f"default: world average {WORLD_AVERAGE_G_PER_KWH:g} gCO2eq/kWh (CodeCarbon's): {why}",
        ),
    )


def _country_or_average(country: str | None, region: str | None) -> StaticIntensity:
    """The country's figure (its region's when known), else the world average, with CodeCarbon's messages."""
    if country is None:
        if region is not None:
            log.warning("We do not have data for None, using world average (region %r needs a country_iso_code).",
                        region)
        return _world_average("no country given")
    try:
        national = country_intensity(country)
    except ValueError as exc:
        log.warning("We do not have data for %s, using world average. (wattwatch: %s)", country, exc)
        average = _world_average(f"country {country!r} is not in CodeCarbon's data")
        return replace(average, source=replace(average.source, country_iso_code=country.upper(), region=region or ""))
    if region is None:
        return national
    try:
        return region_intensity(country, region)
    except ValueError as exc:
        if "no sub-national data" in str(exc):
            log.info("wattwatch: %s has no regional data; the national figure is used for region %r", country, region)
        else:
            log.warning("Regional emissions retrieval failed. Falling back on country emissions. (wattwatch: %s)", exc)
        return replace(national, source=replace(national.source, region=region))


def _cloud(provider: str | None, region: str | None, country: str | None, place: str | None) -> StaticIntensity:
    if provider is None or region is None:
        log.error("Cloud Region must be provided if cloud provider is set (got provider=%r, region=%r)",
                  provider, region)
        return _country_or_average(country, place)
    try:
        return cloud_intensity(provider, region)
    except ValueError as exc:
        log.warning(
            "Cloud electricity carbon intensity for provider '%s' and region '%s' not found, using country value "
            "instead. (wattwatch: %s)",
            provider,
            region,
            exc,
        )
    fallback = _country_or_average(country, place)
    return replace(
        fallback, source=replace(fallback.source, cloud_provider=provider.strip().lower(), cloud_region=region)
    )


def place_intensity(
    *,
    country_iso_code: object = None,
    region: object = None,
    cloud_provider: object = None,
    cloud_region: object = None,
    carbon_intensity_g_per_kwh: float | None = None,
) -> StaticIntensity:
    """The intensity for a CodeCarbon place (and forced number), never refusing a place: see the module doc.

    A forced number wins, as in CodeCarbon; the place is still recorded in the source when it is known."""
    country, reg = _text(country_iso_code), _text(region)
    provider, creg = _text(cloud_provider), _text(cloud_region)
    try:
        strict = resolve_intensity(
            country_iso_code=country,
            region=reg,
            cloud_provider=provider,
            cloud_region=creg,
            carbon_intensity_g_per_kwh=carbon_intensity_g_per_kwh,
        )
    except ValueError:
        pass
    else:
        assert isinstance(strict, StaticIntensity)  # no hourly CSV here
        return strict
    if carbon_intensity_g_per_kwh is not None:
        log.warning("wattwatch: place %s not found; the forced carbon intensity is used",
                    ", ".join(repr(x) for x in (country, reg, provider, creg) if x is not None))
        return StaticIntensity(
            float(carbon_intensity_g_per_kwh),
            IntensitySource(
                kind="number",
                description=f"carbon_intensity_g_per_kwh={carbon_intensity_g_per_kwh:g} given by the user",
                country_iso_code=(country or "").upper(),
                region=reg or "",
                cloud_provider=(provider or "").lower(),
                cloud_region=creg or "",
            ),
        )
    if provider is not None or creg is not None:
        return _cloud(provider, creg, country, reg)
    return _country_or_average(country, reg)


def take_place(kwargs: dict[str, Any], forced: float | None) -> StaticIntensity | None:
    """The grid for the place options in a compatibility tracker's keyword arguments, with CodeCarbon's fallbacks
    (:func:`place_intensity`); the place leaves ``kwargs`` (wattwatch's Tracker would refuse an unknown one).
    ``None`` when wattwatch's own ``intensity_csv=`` or ``carbon_intensity_g_per_kwh=`` choose the intensity
    (then a valid ``forced`` figure goes in as ``carbon_intensity_g_per_kwh``)."""
    if kwargs.get("intensity_csv") is not None or kwargs.get("carbon_intensity_g_per_kwh") is not None:
        if forced is not None:
            kwargs.setdefault("carbon_intensity_g_per_kwh", forced)
        return None
    place = {name: kwargs.pop(name, None) for name in PLACE_OPTIONS}
    return place_intensity(**place, carbon_intensity_g_per_kwh=forced)
