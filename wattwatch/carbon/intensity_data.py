"""Static carbon-intensity lookups in the data files CodeCarbon ships (country, sub-national region, cloud region).

Every figure is in gCO2eq/kWh of electricity drawn at the meter (PUE is applied elsewhere). The files are found
with :func:`wattwatch.carbon.codecarbon_data.require_data_file`, read on first use and cached; CodeCarbon's own modules
are never imported. Where CodeCarbon derives a figure (US lbs/MWh, Canadian energy mixes, a country without a
``carbon_intensity`` entry) this module repeats CodeCarbon 3.3's arithmetic (``codecarbon/core/emissions.py``).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from wattwatch.carbon.codecarbon_data import require_data_file
from wattwatch.util.records import record

__all__ = [
    "CANADA_FOSSIL_KG_PER_KWH",
    "CANADA_PROVINCE_CODES",
    "CLOUD_PROVIDERS",
    "G_PER_LB",
    "REGIONAL_COUNTRIES",
    "CloudRegion",
    "Lookup",
    "cloud_lookup",
    "cloud_regions",
    "country_lookup",
    "nearest",
    "region_lookup",
    "regions_of",
]

G_PER_LB = 453.59237
"""Grams in one avoirdupois pound (exact, by definition). lbs/MWh x 453.59237 / 1000 = g/kWh."""

CANADA_FOSSIL_KG_PER_KWH: dict[str, float] = {
    "coal": 0.995725971,
    "petroleum": 0.8166885263,
    "naturalGas": 0.7438415916,
}
"""The factors CodeCarbon 3.3 hard-codes in ``Emissions._region_energy_mix_to_emissions_rate`` for Canadian
provinces (kg/kWh, from responsibleproblemsolving/energy-usage). Only these three sources carry emissions there:
hydro, nuclear, wind, solar, biomass and the rest count as zero. (``carbon_intensity_per_source.json`` holds the
same factors rounded -- 995, 816, 743 g/kWh -- but CodeCarbon does not read them for Canada.)"""

CANADA_PROVINCE_CODES: dict[str, str] = {
    "AB": "alberta",
    "BC": "british columbia",
    "MB": "manitoba",
    "NB": "new brunswick",
    "NL": "newfoundland and labrador",
    "NS": "nova scotia",
    "NT": "northwest territories",
    "NU": "nunavut",
    "ON": "ontario",
    "PE": "prince edward island",
    "QC": "quebec",
    "SK": "saskatchewan",
    "YT": "yukon",
}
"""Canada Post's two-letter province and territory codes -> the keys of ``canada_energy_mix.json``."""

_NORDIC_COUNTRY_BY_PREFIX = {"SE": "SWE", "NO": "NOR", "FI": "FIN", "DK": "DNK"}
_CHINA_REGION_SUFFIX = re.compile(r"\s+(autonomous region|municipality|province|sheng|shi|zizhiqu)$")

REGIONAL_COUNTRIES = ("CAN", "CHN", "DNK", "FIN", "NOR", "SWE", "USA")
"""Countries that may carry a ``region`` (those with a sub-national table; DNK only if the Nordic file has it)."""

CLOUD_PROVIDERS = ("aws", "azure", "gcp")

_GLOBAL_MIX = "private_infra/global_energy_mix.json"
_PER_SOURCE = "private_infra/carbon_intensity_per_source.json"
_USA = "private_infra/2023/usa_emissions.json"
_CANADA = "private_infra/2023/canada_energy_mix.json"
_NORDIC = "private_infra/nordic_emissions.json"
_CHINA = "private_infra/2023/china_provincial_emissions.json"
_CLOUD = "cloud/impact.csv"


@record
class Lookup:
    """One static figure and where it came from."""

    g_per_kwh: float
    description: str
    country_name: str = ""
    country_iso_code: str = ""
    region: str = ""


@record
class CloudRegion:
    """One row of CodeCarbon's ``cloud/impact.csv``: a provider's region and its grid intensity (gCO2eq/kWh)."""

    provider: str
    region: str
    g_per_kwh: float
    country_name: str
    country_iso_code: str
    location: str  # state or city, as the file gives it
    source_url: str


def nearest(query: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` candidates closest to ``query`` (difflib), best first; case-insensitive, original spelling."""
    by_lower: dict[str, str] = {}
    for c in candidates:
        by_lower.setdefault(c.lower(), c)
    import difflib  # only when a name is not found

    found = difflib.get_close_matches(query.lower(), list(by_lower), n=n, cutoff=0.0)
    return [by_lower[f] for f in found]


def _suggest(what: str, query: str, candidates: Iterable[str], hint: str = "") -> ValueError:
    near = nearest(query, candidates)
    tail = f"; {hint}" if hint else ""
    return ValueError(f"unknown {what} {query!r}; nearest valid: {', '.join(near)}{tail}")


@lru_cache(maxsize=32)
def _json(relative: str, data_dir: Path | None) -> Any:
    with open(require_data_file(relative, data_dir), encoding="utf-8") as f:
        return json.load(f)


@lru_cache(maxsize=4)
def _cloud_rows(data_dir: Path | None) -> tuple[CloudRegion, ...]:
    rows: list[CloudRegion] = []
    # utf-8-sig: CodeCarbon's impact.csv starts with a byte-order mark.
    with open(require_data_file(_CLOUD, data_dir), encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            rows.append(
                CloudRegion(
                    provider=row["provider"].strip().lower(),
                    region=row["region"].strip(),
                    g_per_kwh=float(row["impact"]),
                    country_name=row.get("country_name", "") or "",
                    country_iso_code=(row.get("countryIsoCode", "") or "").upper(),
                    location=(row.get("state") or row.get("city") or ""),
                    source_url=row.get("source", "") or "",
                )
            )
    return tuple(rows)


def _dir(data_dir: str | Path | None) -> Path | None:
    return None if data_dir is None else Path(data_dir)


def world_average_from_file(data_dir: str | Path | None = None) -> float:
    """``world_average`` of ``carbon_intensity_per_source.json`` (gCO2eq/kWh)."""
    return float(_json(_PER_SOURCE, _dir(data_dir))["world_average"])


def _mix_to_g_per_kwh(mix: dict[str, Any], data_dir: Path | None) -> float:
    """CodeCarbon's ``_global_energy_mix_to_emissions_rate``: the file's ``carbon_intensity`` when present, else
    the TWh-weighted per-source factors, else (sources do not add up to the total) the world average."""
    if mix.get("carbon_intensity") is not None:
        return float(mix["carbon_intensity"])
    per_source = _json(_PER_SOURCE, data_dir)
    total = mix["total_TWh"]
    intensity = 0.0
    computed = 0.0
    for key, twh in mix.items():
        if "_TWh" in key:
            factor = per_source.get(key[: -len("_TWh")])
            if factor is not None:
                intensity += (twh / total) * factor
                computed += twh
    if computed != total:
        return float(per_source["world_average"])
    return intensity


@lru_cache(maxsize=32)
def _country_mix(code: str, data_dir: Path | None) -> dict[str, Any] | None:
    """One country's entry of ``global_energy_mix.json`` without parsing the other 200-odd (129 kB: a start
    looks up one code): the text after the key ``"<code>":`` decoded as one object; ``None`` when the key is not
    found that way or the object does not say it is that country (then the whole file is parsed)."""
    with open(require_data_file(_GLOBAL_MIX, data_dir), encoding="utf-8") as f:
        text = f.read()
    at = text.find(f'"{code}":')
    if at < 0:
        return None
    start = text.find("{", at)
    try:
        mix, _ = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return None
    if not isinstance(mix, dict) or mix.get("iso_code", code) != code:
        return None
    return mix


def country_lookup(iso3: str, data_dir: str | Path | None = None) -> Lookup:
    """A country's intensity from ``global_energy_mix.json``; ``ValueError`` naming the nearest codes."""
    d = _dir(data_dir)
    code = iso3.strip().upper()
    found = _country_mix(code, d) if code.isalpha() else None
    if found is not None:
        return _country(code, found, d)
    table: dict[str, dict[str, Any]] = _json(_GLOBAL_MIX, d)
    if code not in table:
        by_name = {v.get("country_name", "").lower(): k for k, v in table.items()}
        if code.lower() in by_name:
            hit = by_name[code.lower()]
            raise ValueError(
                f"unknown country ISO-3 code {iso3!r}; use {hit!r} ({table[hit]['country_name']})"
            )
        near = nearest(code, table)
        names = ", ".join(f"{c} ({table[c].get('country_name', '')})" for c in near)
        raise ValueError(f"unknown country ISO-3 code {iso3!r}; nearest valid: {names}")
    return _country(code, table[code], d)


def _country(code: str, mix: dict[str, Any], d: Path | None) -> Lookup:
    g = _mix_to_g_per_kwh(mix, d)
    name = str(mix.get("country_name", ""))
    year = mix.get("year", "")
    return Lookup(
        g_per_kwh=g,
        description=f"CodeCarbon global_energy_mix.json: {name} ({code}), {year}",
        country_name=name,
        country_iso_code=code,
    )


def regions_of(iso3: str, data_dir: str | Path | None = None) -> list[str]:
    """Valid ``region`` values for a country (canonical spelling), empty when it has no sub-national table."""
    d = _dir(data_dir)
    code = iso3.strip().upper()
    if code == "USA":
        return [k for k in _json(_USA, d) if not k.startswith("_")]
    if code == "CAN":
        return list(_json(_CANADA, d))
    if code == "CHN":
        return list(_json(_CHINA, d)["data"])
    return [z for z in _json(_NORDIC, d)["data"] if _NORDIC_COUNTRY_BY_PREFIX.get(z[:2].upper()) == code]


def region_lookup(iso3: str, region: str, data_dir: str | Path | None = None) -> Lookup:
    """A sub-national intensity: US state (name or code), Canadian province (name or code), Nordic zone, Chinese
    province (code like ``CN-BJ`` or name). ``ValueError`` naming the nearest valid regions."""
    d = _dir(data_dir)
    code = iso3.strip().upper()
    key = " ".join(region.lower().split())
    if code == "USA":
        return _usa(key, region, d)
    if code == "CAN":
        return _canada(key, region, d)
    if code == "CHN":
        return _china(key, region, d)
    zones = regions_of(code, d) if code in _NORDIC_COUNTRY_BY_PREFIX.values() else []
    if zones:
        zone = key.upper()
        if zone not in zones:
            raise _suggest(f"{code} bidding zone", region, zones)
        entry = _json(_NORDIC, d)["data"][zone]
        return Lookup(
            g_per_kwh=float(entry["emission_factor"]),
            description=(
                f"CodeCarbon nordic_emissions.json: {zone} ({entry.get('description', '')}), {entry.get('year', '')}"
            ),
            country_name=_country_name(code, d),
            country_iso_code=code,
            region=zone,
        )
    raise ValueError(
        f"no sub-national data for country {code!r} (region {region!r}); regions exist for "
        f"USA, CAN, CHN, SWE, NOR, FIN -- omit region to use the national figure"
    )


def _country_name(code: str, d: Path | None) -> str:
    table = _json(_GLOBAL_MIX, d)
    return str(table.get(code, {}).get("country_name", ""))


def _usa(key: str, raw: str, d: Path | None) -> Lookup:
    table = _json(_USA, d)
    states = {k: v for k, v in table.items() if not k.startswith("_")}
    by_code = {str(v.get("regionCode", "")).lower(): k for k, v in states.items()}
    name = key if key in states else by_code.get(key)
    if name is None:
        raise _suggest("US state", raw, [*states, *(c.upper() for c in by_code if c)])
    lbs = float(states[name]["emissions"])
    g = lbs * G_PER_LB / 1000.0
    src = table.get("_source", {})
    origin = f"{src.get('name', 'EPA eGRID')}" if isinstance(src, dict) else "EPA eGRID"
    return Lookup(
        g_per_kwh=g,
        description=(
            f"CodeCarbon usa_emissions.json ({origin}): {name} ({states[name].get('regionCode', '')}), "
            f"{lbs} lbs/MWh = {g:.3f} g/kWh"
        ),
        country_name=_country_name("USA", d),
        country_iso_code="USA",
        region=name,
    )


def _canada(key: str, raw: str, d: Path | None) -> Lookup:
    table = _json(_CANADA, d)
    name = key if key in table else CANADA_PROVINCE_CODES.get(key.upper())
    if name is None or name not in table:
        raise _suggest("Canadian province", raw, [*table, *CANADA_PROVINCE_CODES])
    mix = table[name]
    # CodeCarbon: share_i = mix[i] / mix["total"] over every key but total; kg/kWh = sum(share * factor) over the
    # three fossil sources it has factors for.
    shares = {k: v / mix["total"] for k, v in mix.items() if k not in ("total", "isoCode", "country_name")}
    kg = sum([shares[s] * f for s, f in CANADA_FOSSIL_KG_PER_KWH.items()])
    g = kg * 1000.0
    return Lookup(
        g_per_kwh=g,
        description=(
            f"CodeCarbon canada_energy_mix.json: {name}, generation mix x CodeCarbon's fossil factors "
            f"(coal/petroleum/natural gas), = {g:.1f} g/kWh"
        ),
        country_name=_country_name("CAN", d),
        country_iso_code="CAN",
        region=name,
    )


def _china(key: str, raw: str, d: Path | None) -> Lookup:
    data: dict[str, dict[str, Any]] = _json(_CHINA, d)["data"]
    upper = key.upper()
    code = upper if upper in data else f"CN-{upper}" if f"CN-{upper}" in data else None
    if code is None:
        name = _CHINA_REGION_SUFFIX.sub("", key)
        for c, entry in data.items():
            if name in entry.get("names", []) or name == str(entry.get("description", "")).lower():
                code = c
                break
    if code is None:
        names = [n for e in data.values() for n in e.get("names", [])]
        raise _suggest(
            "Chinese province",
            raw,
            [*data, *names],
            hint="Tibet, Hong Kong, Macao and Taiwan are not published: omit region for China's national figure",
        )
    entry = data[code]
    return Lookup(
        g_per_kwh=float(entry["emission_factor"]),
        description=(
            f"CodeCarbon china_provincial_emissions.json (MEE/NBS): {entry.get('description', code)} ({code}), "
            f"{entry.get('year', '')}, CO2 only"
        ),
        country_name=_country_name("CHN", d),
        country_iso_code="CHN",
        region=code,
    )


def cloud_regions(provider: str | None = None, data_dir: str | Path | None = None) -> list[CloudRegion]:
    """Rows of ``impact.csv``, optionally of one provider, sorted by provider then region."""
    rows = _cloud_rows(_dir(data_dir))
    if provider is not None:
        p = _check_provider(provider)
        rows = tuple(r for r in rows if r.provider == p)
    return sorted(rows, key=lambda r: (r.provider, r.region))


def _check_provider(provider: str) -> str:
    p = provider.strip().lower()
    if p not in CLOUD_PROVIDERS:
        raise _suggest("cloud provider", provider, CLOUD_PROVIDERS)
    return p


def cloud_lookup(provider: str, region: str, data_dir: str | Path | None = None) -> CloudRegion:
    """The ``impact.csv`` row for ``provider`` + ``region``; ``ValueError`` naming the nearest regions."""
    p = _check_provider(provider)
    rows = cloud_regions(p, data_dir)
    want = region.strip().lower()
    for r in rows:
        if r.region.lower() == want:
            return r
    if not rows:
        raise ValueError(
            f"CodeCarbon's cloud/impact.csv has no regions for {p!r} (only {', '.join(_providers(data_dir))} "
            f"publish figures); pass the datacenter's country_iso_code (+ region) or carbon_intensity_g_per_kwh"
        )
    raise _suggest(f"{p} region", region, [r.region for r in rows])


def _providers(data_dir: str | Path | None) -> list[str]:
    return sorted({r.provider for r in _cloud_rows(_dir(data_dir))})
