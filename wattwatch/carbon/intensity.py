"""Where the carbon number comes from: grid carbon intensity in gCO2eq per kWh, static or hour by hour.

Sources, in the order :func:`resolve_intensity` prefers them:

1. a number the user gives (``carbon_intensity_g_per_kwh``);
2. an hourly CSV (``intensity_csv``): Electricity Maps or WattTime exports, or plain ``timestamp,g_per_kwh``;
3. a cloud provider + region: Google's published figure from CodeCarbon's ``cloud/impact.csv``; for AWS and Azure
   the grid of the place the provider says the region is (:mod:`wattwatch.carbon.cloud_locations`);
4. a country (ISO-3) + sub-national region: US state (EPA eGRID), Canadian province (energy mix), Nordic bidding
   zone (SE1-SE4, NO1-NO5, FI), Chinese province (MEE/NBS);
5. a country alone, from CodeCarbon's ``global_energy_mix.json``;
6. nothing: :data:`WORLD_AVERAGE_G_PER_KWH`, and the source says it is a default.

Static figures are read from the data files CodeCarbon ships (see :mod:`wattwatch.carbon.intensity_data`), lazily and
cached; importing this module parses nothing. No function here touches the network. The figures are for
electricity at the meter: PUE is applied by the ledger, not here.
"""

from __future__ import annotations

import bisect
import math
import os
import threading
from dataclasses import field, replace
from itertools import pairwise
from pathlib import Path
from typing import Protocol

from wattwatch.carbon import intensity_data as _data
from wattwatch.carbon.intensity_data import CloudRegion
from wattwatch.util.records import record
from wattwatch.util.times import utc_iso_minutes

__all__ = [
    "MAX_INTENSITY_G_PER_KWH",
    "WORLD_AVERAGE_G_PER_KWH",
    "CarbonIntensity",
    "CloudRegion",
    "HourlyIntensity",
    "IntensitySource",
    "StaticIntensity",
    "cloud_intensity",
    "country_intensity",
    "coverage_warning",
    "list_cloud_regions",
    "list_regions",
    "mean_over_interval",
    "read_hourly_csv",
    "region_intensity",
    "resolve_intensity",
]

WORLD_AVERAGE_G_PER_KWH: float = 475.0
"""World-average grid intensity, gCO2eq/kWh: CodeCarbon's default when it knows no location -- ``world_average``
in CodeCarbon's ``data/private_infra/carbon_intensity_per_source.json``, citing the IEA Global Energy & CO2 Status
Report 2019 (https://www.iea.org/reports/global-energy-co2-status-report-2019/emissions)."""

MAX_INTENSITY_G_PER_KWH: float = 5000.0
"""Largest carbon intensity accepted, gCO2eq/kWh. The dirtiest electricity there is -- lignite or oil-shale plants,
life-cycle -- stays under about 1,500 g/kWh (IPCC AR5 WG3 Annex III, Table A.III.2: coal, max 1,000; the highest
national grid averages are around 1,000); 5,000 leaves room for unusual cases while catching a unit mistake
(g/MWh given as g/kWh) or a value such as ``1e308`` that would overflow every total."""

_WORLD_AVERAGE_CITATION = (
    "CodeCarbon carbon_intensity_per_source.json world_average, IEA Global Energy & CO2 Status Report 2019"
)


@record
class IntensitySource:
    """Provenance of an intensity figure, for the output row and the model card."""

    kind: str  # "number" | "country" | "region" | "cloud" | "hourly-csv" | "default"
    description: str  # e.g. "CodeCarbon global_energy_mix.json: France (FRA), 2023"
    country_name: str = ""
    country_iso_code: str = ""
    region: str = ""
    cloud_provider: str = ""
    cloud_region: str = ""


class CarbonIntensity(Protocol):
    """Grid carbon intensity over time, gCO2eq/kWh."""

    @property
    def source(self) -> IntensitySource:
        """Where the figures come from."""
        ...

    def at(self, wall_time_s: float) -> float:
        """gCO2eq/kWh at a unix time (seconds)."""
        ...

    def mean_g_per_kwh(self) -> float:
        """A representative figure (gCO2eq/kWh) for display and planning."""
        ...


@record
class StaticIntensity:
    """One figure for all time, gCO2eq/kWh."""

    g_per_kwh: float
    source: IntensitySource

    def at(self, wall_time_s: float) -> float:
        """The figure, whatever the time."""
        return self.g_per_kwh

    def mean_g_per_kwh(self) -> float:
        return self.g_per_kwh

    def mean_over(self, start_s: float, end_s: float) -> float:
        """Time-weighted mean over ``[start_s, end_s]`` (unix s): the figure."""
        return self.g_per_kwh


class _Counter:
    """A thread-safe tally (the sampler thread and the user's thread may both look up)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.value = 0

    def add(self) -> None:
        with self._lock:
            self.value += 1

    def __getstate__(self) -> int:  # picklable / deep-copyable despite the lock
        return self.value

    def __setstate__(self, value: int) -> None:
        self._lock = threading.RLock()
        self.value = value


@record
class HourlyIntensity:
    """A step function of time: ``hours`` holds ``(unix start s, gCO2eq/kWh)`` pairs, strictly increasing in time.

    Each value holds from its start to the next start; the last holds for ``step_s`` seconds (3600 for hourly
    data; :func:`read_hourly_csv` infers it from the rows, e.g. 300 for WattTime's 5-minute MOER). A gap between
    rows keeps the previous value. Lookups before the first start or after the last interval's end are clamped
    to the nearest value and counted in :meth:`outside_lookups` -- they never raise.
    """

    hours: tuple[tuple[float, float], ...]
    source: IntensitySource
    step_s: float = 3600.0
    _starts: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _outside: _Counter = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.hours:
            raise ValueError("HourlyIntensity needs at least one (start, g/kWh) pair")
        if not (self.step_s > 0 and math.isfinite(self.step_s)):
            raise ValueError(
                f"HourlyIntensity step_s must be a positive number of seconds, got {self.step_s!r}"
            )
        starts = tuple(float(t) for t, _ in self.hours)
        for (t0, _), (t1, _) in pairwise(self.hours):
            if not t1 > t0:
                raise ValueError(
                    f"HourlyIntensity hours must be strictly increasing in time: {t1} follows {t0}"
                )
        for t, g in self.hours:
            if not (math.isfinite(g) and g >= 0):
                raise ValueError(
                    f"HourlyIntensity value at {t} must be a finite non-negative g/kWh, got {g!r}"
                )
        object.__setattr__(self, "_starts", starts)
        object.__setattr__(self, "_outside", _Counter())

    @property
    def start_s(self) -> float:
        """Unix time the data begins."""
        return self._starts[0]

    @property
    def end_s(self) -> float:
        """Unix time the data ends (last start + ``step_s``)."""
        return self._starts[-1] + self.step_s

    def outside_lookups(self) -> int:
        """How many lookups (``at`` / ``mean_over`` calls) fell, at least in part, outside the data's span."""
        return self._outside.value

    def _value(self, t: float) -> float:
        i = bisect.bisect_right(self._starts, t) - 1
        return self.hours[max(i, 0)][1]

    def at(self, wall_time_s: float) -> float:
        """gCO2eq/kWh of the interval containing ``wall_time_s`` (unix s); clamped and counted outside the data."""
        if not self.start_s <= wall_time_s < self.end_s:
            self._outside.add()
        return self._value(wall_time_s)

    def mean_over(self, start_s: float, end_s: float) -> float:
        """Time-weighted mean gCO2eq/kWh over ``[start_s, end_s]`` (unix s), exact across hour boundaries.

        Energy drawn at constant power over the interval times this mean is that energy's emissions. A zero-length
        interval gives :meth:`at`. Counted once in :meth:`outside_lookups` if any part lies outside the data.
        """
        if end_s <= start_s:
            return self.at(start_s)
        if start_s < self.start_s or end_s > self.end_s:
            self._outside.add()
        lo = bisect.bisect_right(self._starts, start_s)
        hi = bisect.bisect_left(self._starts, end_s)
        edges = [start_s, *self._starts[lo:hi], end_s]
        total = 0.0
        for a, b in pairwise(edges):
            total += (b - a) * self._value(a)
        return total / (end_s - start_s)

    def mean_g_per_kwh(self) -> float:
        """Duration-weighted mean of the data (each value weighted by how long it holds)."""
        ends = [*self._starts[1:], self.end_s]
        total = sum((e - s) * g for (s, g), e in zip(self.hours, ends, strict=True))
        return total / (self.end_s - self.start_s)


def coverage_warning(intensity: CarbonIntensity, wall_time_s: float) -> str | None:
    """One line when ``intensity`` is an hourly series that does not cover ``wall_time_s`` (unix s; the run's
    start): the values used are then the series' first or last, and the user should know. ``None`` otherwise."""
    if not isinstance(intensity, HourlyIntensity):
        return None
    if intensity.start_s <= wall_time_s < intensity.end_s:
        return None
    return (
        f"wattwatch: the hourly intensity file ({intensity.source.description}) covers {utc_iso_minutes(intensity.start_s)} "
        f"to {utc_iso_minutes(intensity.end_s)}, not this run's start ({utc_iso_minutes(wall_time_s)}); the nearest hour's value is "
        "used -- give a file that covers the run's dates"
    )


def mean_over_interval(intensity: CarbonIntensity, start_s: float, end_s: float) -> float:
    """Time-weighted mean gCO2eq/kWh of any :class:`CarbonIntensity` over ``[start_s, end_s]`` (unix s):
    exact for :class:`HourlyIntensity` and :class:`StaticIntensity`, ``at(midpoint)`` for other implementations."""
    if isinstance(intensity, (HourlyIntensity, StaticIntensity)):
        return intensity.mean_over(start_s, end_s)
    return intensity.at((start_s + end_s) / 2.0)


# ---------------------------------------------------------------------------------------------------- hourly CSV


def read_hourly_csv(path: str | os.PathLike[str]) -> HourlyIntensity:
    """Read an intensity time series from a CSV file: :func:`wattwatch.carbon.hourly_csv.read_hourly_csv` (the
    accepted layouts and the errors are documented there), imported on first use."""
    from wattwatch.carbon.hourly_csv import read_hourly_csv as read  # csv parsing loads with the first file

    return read(path)


# -------------------------------------------------------------------------------------------------- static data


def _static(kind: str, hit: _data.Lookup) -> StaticIntensity:
    return StaticIntensity(
        g_per_kwh=hit.g_per_kwh,
        source=IntensitySource(
            kind=kind,
            description=hit.description,
            country_name=hit.country_name,
            country_iso_code=hit.country_iso_code,
            region=hit.region,
        ),
    )


def country_intensity(iso3: str, data_dir: str | Path | None = None) -> StaticIntensity:
    """A country's grid intensity (gCO2eq/kWh) from CodeCarbon's ``global_energy_mix.json``.

    ``ValueError`` naming the nearest ISO-3 codes when ``iso3`` is unknown; ``FileNotFoundError`` saying how to
    install CodeCarbon's data when it is missing.
    """
    return _static("country", _data.country_lookup(iso3, data_dir))


def region_intensity(iso3: str, region: str, data_dir: str | Path | None = None) -> StaticIntensity:
    """A sub-national grid intensity (gCO2eq/kWh): ``USA`` + state name or code (``california``, ``CA``; eGRID
    lbs/MWh converted exactly), ``CAN`` + province (``quebec``, ``QC``; from its energy mix as CodeCarbon does),
    ``SWE``/``NOR``/``FIN`` + bidding zone (``SE3``, ``NO1``, ``FI``), ``CHN`` + province (``CN-BJ``,
    ``beijing``). Case-insensitive; ``ValueError`` naming the nearest valid regions."""
    return _static("region", _data.region_lookup(iso3, region, data_dir))


def cloud_intensity(provider: str, region: str, data_dir: str | Path | None = None) -> StaticIntensity:
    """A cloud region's grid intensity (gCO2eq/kWh).

    ``provider`` is ``gcp``, ``aws`` or ``azure``. A region with a published figure in CodeCarbon's
    ``cloud/impact.csv`` (Google's) gets it; an AWS or Azure region gets the grid of the place its provider says
    it is (:mod:`wattwatch.carbon.cloud_locations`: a US state, Canadian province, Nordic zone or Chinese
    province where CodeCarbon's data has one, else the country), and the source says both. ``ValueError``
    naming the nearest regions when the provider's region is in neither table.
    """
    try:
        row = _data.cloud_lookup(provider, region, data_dir)
    except ValueError as exc:
        located = _located_cloud_intensity(provider, region, data_dir)
        if located is None:
            raise _unknown_cloud_region(provider, region, data_dir, exc) from None
        return located
    where = ", ".join(x for x in (row.location, row.country_name) if x)
    return StaticIntensity(
        g_per_kwh=row.g_per_kwh,
        source=IntensitySource(
            kind="cloud",
            description=f"CodeCarbon cloud/impact.csv: {row.provider} {row.region} ({where})",
            country_name=row.country_name,
            country_iso_code=row.country_iso_code,
            region=row.location,
            cloud_provider=row.provider,
            cloud_region=row.region,
        ),
    )


def _located_cloud_intensity(provider: str, region: str, data_dir: str | Path | None) -> StaticIntensity | None:
    """The grid of the place an AWS/Azure region is (see :mod:`wattwatch.carbon.cloud_locations`)."""
    from wattwatch.carbon.cloud_locations import cloud_location

    loc = cloud_location(provider, region)
    if loc is None:
        return None
    grid = (
        _data.region_lookup(loc.country_iso_code, loc.grid_region, data_dir)
        if loc.grid_region
        else _data.country_lookup(loc.country_iso_code, data_dir)
    )
    return StaticIntensity(
        g_per_kwh=grid.g_per_kwh,
        source=IntensitySource(
            kind="cloud",
            description=(
                f"{loc.provider} {loc.region} is in {loc.location} ({loc.country_iso_code}"
                f"{', ' + loc.grid_region if loc.grid_region else ''}; {loc.source}); that grid: {grid.description}"
            ),
            country_name=grid.country_name,
            country_iso_code=grid.country_iso_code,
            region=grid.region,
            cloud_provider=loc.provider,
            cloud_region=loc.region,
        ),
    )


def _unknown_cloud_region(provider: str, region: str, data_dir: str | Path | None, exc: ValueError) -> ValueError:
    from wattwatch.carbon.cloud_locations import cloud_locations

    p = provider.strip().lower()
    known = [r.region for r in _data.cloud_regions(p, data_dir)] if p in _data.CLOUD_PROVIDERS else []
    known += [loc.region for loc in cloud_locations(p)]
    if not known:
        return exc  # an unknown provider: cloud_lookup's message names the valid ones
    near = ", ".join(_data.nearest(region, known))
    return ValueError(
        f"unknown {p} region {region!r}; nearest valid: {near} -- or give the datacenter's country_iso_code "
        "(+ region), or carbon_intensity_g_per_kwh"
    )


def list_cloud_regions(provider: str | None = None, data_dir: str | Path | None = None) -> list[CloudRegion]:
    """Every cloud region CodeCarbon has a figure for (optionally of one provider), sorted by provider, region."""
    return _data.cloud_regions(provider, data_dir)


def list_regions(iso3: str, data_dir: str | Path | None = None) -> list[str]:
    """Valid ``region`` values for a country; empty when CodeCarbon has no sub-national data for it."""
    return _data.regions_of(iso3, data_dir)


def _default() -> StaticIntensity:
    return StaticIntensity(
        g_per_kwh=WORLD_AVERAGE_G_PER_KWH,
        source=IntensitySource(
            kind="default",
            description=(
                f"default: world average {WORLD_AVERAGE_G_PER_KWH:g} gCO2eq/kWh ({_WORLD_AVERAGE_CITATION}); "
                "no location given -- pass a country, cloud region or carbon_intensity_g_per_kwh"
            ),
        ),
    )


def _given(value: str | None, name: str = "location") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string (or None); got {value!r}")
    s = value.strip()
    return s or None


def _location(
    country: str | None,
    region: str | None,
    provider: str | None,
    cloud_region: str | None,
    data_dir: str | Path | None,
) -> StaticIntensity | None:
    if provider is not None or cloud_region is not None:
        if provider is None or cloud_region is None:
            raise ValueError(
                "a cloud location needs both cloud_provider (gcp, aws, azure) and cloud_region "
                f"(got provider={provider!r}, region={cloud_region!r})"
            )
        return cloud_intensity(provider, cloud_region, data_dir)
    if region is not None:
        if country is None:
            raise ValueError(
                f"region {region!r} needs country_iso_code too (USA, CAN, CHN, SWE, NOR or FIN), "
                "e.g. country_iso_code='USA', region='california'"
            )
        return region_intensity(country, region, data_dir)
    if country is not None:
        return country_intensity(country, data_dir)
    return None


def resolve_intensity(
    *,
    country_iso_code: str | None = None,
    region: str | None = None,
    cloud_provider: str | None = None,
    cloud_region: str | None = None,
    carbon_intensity_g_per_kwh: float | None = None,
    intensity_csv: str | os.PathLike[str] | None = None,
    data_dir: str | Path | None = None,
) -> CarbonIntensity:
    """The intensity to use, by precedence: number > hourly CSV > cloud provider+region > country+region >
    country > world-average default. Blank strings count as not given. A location given alongside a number or
    a CSV is still checked and recorded in the source (when CodeCarbon's data is installed). Never touches the
    network; ``ValueError`` for a configuration that cannot be resolved, saying what to fix.
    """
    country, reg = _given(country_iso_code, "country_iso_code"), _given(region, "region")
    provider, creg = _given(cloud_provider, "cloud_provider"), _given(cloud_region, "cloud_region")
    csv_path = None if intensity_csv is None or not str(intensity_csv).strip() else intensity_csv

    if carbon_intensity_g_per_kwh is not None or csv_path is not None:
        try:
            where = _location(country, reg, provider, creg, data_dir)
        except FileNotFoundError:
            where = None
        loc = where.source if where is not None else IntensitySource(kind="", description="")
        if carbon_intensity_g_per_kwh is not None:
            g = carbon_intensity_g_per_kwh
            if isinstance(g, bool) or not isinstance(g, (int, float)) or not math.isfinite(g) or g < 0:
                raise ValueError(
                    f"carbon_intensity_g_per_kwh must be a finite number >= 0 (gCO2eq/kWh), got {g!r}"
                )
            if g > MAX_INTENSITY_G_PER_KWH:
                raise ValueError(
                    f"carbon_intensity_g_per_kwh must be at most {MAX_INTENSITY_G_PER_KWH:g} gCO2eq/kWh (no grid "
                    f"emits more); got {g!r} -- check the unit (g/kWh, not g/MWh)"
                )
            return StaticIntensity(
                g_per_kwh=float(g),
                source=replace(
                    loc, kind="number", description=f"carbon_intensity_g_per_kwh={g:g} given by the user"
                ),
            )
        assert csv_path is not None
        hourly = read_hourly_csv(csv_path)
        if where is None:
            return hourly
        merged = replace(loc, kind="hourly-csv", description=hourly.source.description)
        return replace(hourly, source=merged)

    where = _location(country, reg, provider, creg, data_dir)
    return where if where is not None else _default()
