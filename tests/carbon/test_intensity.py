"""wattwatch.carbon.intensity: static figures checked against CodeCarbon's data files read here independently, hourly
CSVs in three layouts, interval lookups across hours, clear errors, and no network."""

from __future__ import annotations

import csv
import json
import math
import pickle
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattwatch.carbon.codecarbon_data import installed_codecarbon_data_dir
from wattwatch.carbon.intensity import (
    WORLD_AVERAGE_G_PER_KWH,
    HourlyIntensity,
    IntensitySource,
    StaticIntensity,
    cloud_intensity,
    country_intensity,
    list_cloud_regions,
    list_regions,
    mean_over_interval,
    read_hourly_csv,
    region_intensity,
    resolve_intensity,
)

DATA = Path(__file__).resolve().parents[1] / "data"
CC = installed_codecarbon_data_dir()  # the installed CodeCarbon: an independent truth for the bundled copy
needs_cc = pytest.mark.skipif(CC is None, reason="CodeCarbon is not installed (the truth these tests compare with)")

T0 = 1704067200.0  # 2024-01-01T00:00:00Z
H = 3600.0


def load(relative: str) -> Any:
    assert CC is not None
    with open(CC / relative, encoding="utf-8") as f:
        return json.load(f)


def impact_rows() -> list[dict[str, str]]:
    assert CC is not None
    with open(CC / "cloud/impact.csv", encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


# CodeCarbon 3.3 core/emissions.py, Emissions._region_energy_mix_to_emissions_rate (kg/kWh).
CANADA_FACTORS = {"coal": 0.995725971, "petroleum": 0.8166885263, "naturalGas": 0.7438415916}


def canada_g_per_kwh(mix: dict[str, float]) -> float:
    return 1000.0 * sum(mix[k] / mix["total"] * f for k, f in CANADA_FACTORS.items())


# ------------------------------------------------------------------------------------------ static, vs the files


@needs_cc
@pytest.mark.parametrize("iso3", ["FRA", "DEU", "fra"])
def test_country_matches_global_energy_mix(iso3: str) -> None:
    entry = load("private_infra/global_energy_mix.json")[iso3.upper()]
    got = country_intensity(iso3)
    assert got.g_per_kwh == entry["carbon_intensity"]
    assert got.at(T0) == got.mean_g_per_kwh() == entry["carbon_intensity"]
    assert got.source.kind == "country"
    assert got.source.country_iso_code == iso3.upper()
    assert got.source.country_name == entry["country_name"]
    assert f"{entry['country_name']} ({iso3.upper()}), {entry['year']}" in got.source.description


@needs_cc
@pytest.mark.parametrize("region", ["california", "California", "CA", "ca"])
def test_us_state_converts_egrid_lbs_exactly(region: str) -> None:
    lbs = load("private_infra/2023/usa_emissions.json")["california"]["emissions"]
    got = resolve_intensity(country_iso_code="usa", region=region)
    assert got.mean_g_per_kwh() == pytest.approx(lbs * 453.59237 / 1000.0, rel=1e-12)
    assert got.source.kind == "region"
    assert (got.source.country_iso_code, got.source.region) == ("USA", "california")


@needs_cc
@pytest.mark.parametrize("region", ["europe-west1", "us-central1"])
def test_gcp_region_matches_impact_csv(region: str) -> None:
    row = next(r for r in impact_rows() if r["provider"] == "gcp" and r["region"] == region)
    got = resolve_intensity(cloud_provider="GCP", cloud_region=region)
    assert got.mean_g_per_kwh() == float(row["impact"])
    src = got.source
    assert (src.kind, src.cloud_provider, src.cloud_region) == ("cloud", "gcp", region)
    assert src.country_iso_code == row["countryIsoCode"]
    assert cloud_intensity("gcp", region.upper()) == got


@needs_cc
@pytest.mark.parametrize("region", ["quebec", "QC", "Quebec", "alberta", "ontario", "nova scotia"])
def test_canadian_province_from_energy_mix(region: str) -> None:
    table = load("private_infra/2023/canada_energy_mix.json")
    key = {"qc": "quebec"}.get(region.lower(), region.lower())
    got = region_intensity("CAN", region)
    assert got.g_per_kwh == pytest.approx(canada_g_per_kwh(table[key]), rel=1e-12)
    assert got.source.region == key


@needs_cc
@pytest.mark.parametrize(("iso3", "zone"), [("SWE", "SE3"), ("swe", "se1"), ("NOR", "NO4"), ("FIN", "FI")])
def test_nordic_zone(iso3: str, zone: str) -> None:
    entry = load("private_infra/nordic_emissions.json")["data"][zone.upper()]
    got = resolve_intensity(country_iso_code=iso3, region=zone)
    assert got.mean_g_per_kwh() == entry["emission_factor"]
    assert got.source.region == zone.upper()


@needs_cc
@pytest.mark.parametrize(
    ("region", "code"),
    [
        ("beijing", "CN-BJ"),
        ("CN-BJ", "CN-BJ"),
        ("cn-bj", "CN-BJ"),
        ("Inner Mongolia Autonomous Region", "CN-NM"),
    ],
)
def test_chinese_province(region: str, code: str) -> None:
    entry = load("private_infra/2023/china_provincial_emissions.json")["data"][code]
    got = resolve_intensity(country_iso_code="CHN", region=region)
    assert got.mean_g_per_kwh() == entry["emission_factor"]
    assert got.source.region == code


@needs_cc
def test_every_region_agrees_with_codecarbon_itself() -> None:
    """Cross-check against CodeCarbon's own code (imported here in the test only, never by wattwatch)."""
    emissions_mod = pytest.importorskip("codecarbon.core.emissions")
    from codecarbon.core.units import Energy
    from codecarbon.external.geography import CloudMetadata, GeoMetadata
    from codecarbon.input import DataSource

    cc = emissions_mod.Emissions(DataSource())
    one = Energy.from_energy(kWh=1.0)
    china = load("private_infra/2023/china_provincial_emissions.json")["data"]
    checked = 0
    for iso3 in ("USA", "CAN", "CHN", "SWE", "NOR", "FIN"):
        for region in list_regions(iso3):
            # CodeCarbon matches Chinese provinces by name only (it would take "CN-BJ" for unknown -> national).
            theirs_name = china[region]["names"][0] if iso3 == "CHN" else region
            geo = GeoMetadata(country_iso_code=iso3, region=theirs_name)
            theirs = cc.get_private_infra_emissions(one, geo) * 1000
            assert region_intensity(iso3, region).g_per_kwh == pytest.approx(theirs, rel=1e-9), (iso3, region)
            checked += 1
    for iso3 in ("FRA", "DEU", "IND", "BRA", "USA"):
        theirs = cc.get_private_infra_emissions(one, GeoMetadata(country_iso_code=iso3)) * 1000
        assert country_intensity(iso3).g_per_kwh == pytest.approx(theirs, rel=1e-9)
    for row in list_cloud_regions("gcp"):
        theirs = cc.get_cloud_emissions(one, CloudMetadata(provider="gcp", region=row.region)) * 1000
        assert row.g_per_kwh == pytest.approx(theirs, rel=1e-12)
    assert checked > 100


@needs_cc
def test_default_is_world_average_and_says_so() -> None:
    per_source = load("private_infra/carbon_intensity_per_source.json")
    assert WORLD_AVERAGE_G_PER_KWH == per_source["world_average"]
    got = resolve_intensity()
    assert got.mean_g_per_kwh() == WORLD_AVERAGE_G_PER_KWH
    assert got.source.kind == "default"
    assert "default" in got.source.description and "IEA" in got.source.description


@needs_cc
def test_list_cloud_regions() -> None:
    gcp = list_cloud_regions("gcp")
    assert len(gcp) == sum(r["provider"] == "gcp" for r in impact_rows())
    assert [r.region for r in gcp] == sorted(r.region for r in gcp)
    assert list_cloud_regions("aws") == [r for r in list_cloud_regions() if r.provider == "aws"]


# ------------------------------------------------------------------------------------------------- precedence


@needs_cc
def test_precedence_number_csv_cloud_region_country() -> None:
    everything: dict[str, Any] = dict(
        country_iso_code="USA",
        region="california",
        cloud_provider="gcp",
        cloud_region="europe-west1",
        intensity_csv=DATA / "intensity_plain.csv",
    )
    number = resolve_intensity(carbon_intensity_g_per_kwh=12.5, **everything)
    assert isinstance(number, StaticIntensity) and number.g_per_kwh == 12.5
    assert number.source.kind == "number" and number.source.cloud_region == "europe-west1"
    hourly = resolve_intensity(**everything)
    assert isinstance(hourly, HourlyIntensity) and hourly.source.kind == "hourly-csv"
    del everything["intensity_csv"]
    assert resolve_intensity(**everything).source.kind == "cloud"
    del everything["cloud_provider"], everything["cloud_region"]
    assert resolve_intensity(**everything).source.kind == "region"
    del everything["region"]
    assert resolve_intensity(**everything).source.kind == "country"
    assert resolve_intensity(country_iso_code=" ", region="").source.kind == "default"


def test_number_needs_no_data_files(tmp_path: Path) -> None:
    got = resolve_intensity(carbon_intensity_g_per_kwh=0, data_dir=tmp_path)
    assert got.at(T0) == 0.0 and got.source.kind == "number"
    with pytest.raises(FileNotFoundError, match="WATTWATCH_CODECARBON_DATA"):
        country_intensity("FRA", data_dir=tmp_path)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, True])
def test_bad_number(bad: float) -> None:
    with pytest.raises(ValueError, match="carbon_intensity_g_per_kwh"):
        resolve_intensity(carbon_intensity_g_per_kwh=bad)


def test_data_dir_is_a_parameter(tmp_path: Path) -> None:
    (tmp_path / "private_infra").mkdir()
    mix = {"XYZ": {"country_name": "Testland", "iso_code": "XYZ", "carbon_intensity": 123.0, "year": 2020}}
    (tmp_path / "private_infra/global_energy_mix.json").write_text(json.dumps(mix))
    got = country_intensity("xyz", data_dir=tmp_path)
    assert got.g_per_kwh == 123.0 and got.source.country_name == "Testland"


def test_country_without_carbon_intensity_uses_codecarbons_mix_arithmetic(tmp_path: Path) -> None:
    (tmp_path / "private_infra").mkdir()
    per_source = {"world_average": 475, "coal": 995, "nuclear": 29}
    mix = {
        "AAA": {"country_name": "A", "coal_TWh": 1.0, "nuclear_TWh": 3.0, "total_TWh": 4.0},
        "BBB": {
            "country_name": "B",
            "coal_TWh": 1.0,
            "nuclear_TWh": 3.0,
            "total_TWh": 5.0,
        },  # does not add up
    }
    (tmp_path / "private_infra/global_energy_mix.json").write_text(json.dumps(mix))
    (tmp_path / "private_infra/carbon_intensity_per_source.json").write_text(json.dumps(per_source))
    assert country_intensity("AAA", data_dir=tmp_path).g_per_kwh == pytest.approx(0.25 * 995 + 0.75 * 29)
    assert country_intensity("BBB", data_dir=tmp_path).g_per_kwh == 475


def test_hourly_intensity_pickles_with_its_count() -> None:
    hourly = read_hourly_csv(DATA / "intensity_plain.csv")
    hourly.at(0.0)
    copy = pickle.loads(pickle.dumps(hourly))
    assert copy == hourly and copy.outside_lookups() == 1
    copy.at(0.0)
    assert (copy.outside_lookups(), hourly.outside_lookups()) == (2, 1)


# ----------------------------------------------------------------------------------------------- unknown codes


@needs_cc
@pytest.mark.parametrize(
    ("kwargs", "suggestion"),
    [
        (dict(country_iso_code="FRX"), "FRA"),
        (dict(country_iso_code="France"), "FRA"),
        (dict(country_iso_code="USA", region="californa"), "california"),
        (dict(country_iso_code="CAN", region="quebek"), "quebec"),
        (dict(country_iso_code="SWE", region="SE5"), "SE"),
        (dict(country_iso_code="CHN", region="beijng"), "beijing"),
        (dict(cloud_provider="gcp", cloud_region="europe-west7"), "europe-west"),
        (dict(cloud_provider="gpc", cloud_region="us-central1"), "gcp"),
        (dict(cloud_provider="aws", cloud_region="us-east-9"), "us-east-1"),
        (dict(cloud_provider="azure", cloud_region="eastuss"), "eastus"),
        (dict(cloud_provider="gcp"), "cloud_region"),
        (dict(region="SE3"), "country_iso_code"),
        (dict(country_iso_code="FRA", region="ile-de-france"), "omit region"),
    ],
)
def test_unknown_codes_suggest_nearest(kwargs: dict[str, Any], suggestion: str) -> None:
    with pytest.raises(ValueError, match="nearest valid|use|needs|omit region|no regions") as info:
        resolve_intensity(**kwargs)
    message = str(info.value)
    assert suggestion in message and "\n" not in message


# ------------------------------------------------------------------------------------------------- hourly CSV


def test_electricity_maps_export_prefers_lca() -> None:
    got = read_hourly_csv(DATA / "intensity_electricitymaps.csv")
    assert got.hours == ((T0, 45.25), (T0 + H, 46.0), (T0 + 2 * H, 44.5))
    assert got.step_s == H
    assert "LCA" in got.source.description and "read as UTC" in got.source.description
    assert got.source.country_name == "France"


def test_electricity_maps_direct_column(tmp_path: Path) -> None:
    path = tmp_path / "em.csv"
    path.write_text(
        "Datetime (UTC),Zone Id,Carbon intensity gCO₂eq/kWh (direct)\n2024-01-01 00:00:00,FR,30\n",
        encoding="utf-8",
    )
    got = read_hourly_csv(path)
    assert got.hours == ((T0, 30.0),) and "(direct)" in got.source.description


def test_watttime_export_converts_lbs_per_mwh() -> None:
    got = read_hourly_csv(DATA / "intensity_watttime.csv")
    assert [t for t, _ in got.hours] == [T0, T0 + H, T0 + 2 * H]
    for (_, g), lbs in zip(got.hours, (1000.0, 800.0, 500.0), strict=True):
        assert g == pytest.approx(lbs * 453.59237 / 1000.0, rel=1e-12)
    assert "read as UTC" not in got.source.description


def test_plain_csv_unix_seconds() -> None:
    got = read_hourly_csv(DATA / "intensity_plain.csv")
    assert got.hours == ((T0, 100.0), (T0 + H, 200.0), (T0 + 2 * H, 300.0))


def test_timestamps_with_zones(tmp_path: Path) -> None:
    path = tmp_path / "zones.csv"
    path.write_text(
        "timestamp,g_per_kwh\n2024-01-01T02:00:00+02:00,1\n2024-01-01T01:00:00Z,2\n2024-01-01T02:00,3\n"
    )
    got = read_hourly_csv(path)
    assert [t for t, _ in got.hours] == [T0, T0 + H, T0 + 2 * H]
    assert "without a zone read as UTC" in got.source.description


def test_interval_lookup_across_hours() -> None:
    hourly = read_hourly_csv(DATA / "intensity_plain.csv")  # 100, 200, 300 g/kWh for 00:00, 01:00, 02:00
    assert hourly.at(T0) == 100.0
    assert hourly.at(T0 + H - 1e-6) == 100.0
    assert hourly.at(T0 + H) == 200.0
    # 00:30-01:30 is half at 100, half at 200; 00:45-02:15 is 15 min @100, 60 @200, 15 @300.
    assert hourly.mean_over(T0 + H / 2, T0 + 1.5 * H) == pytest.approx(150.0)
    assert hourly.mean_over(T0 + 0.75 * H, T0 + 2.25 * H) == pytest.approx((25 + 200 + 75) / 1.5)
    assert mean_over_interval(hourly, T0 + H / 2, T0 + 1.5 * H) == pytest.approx(150.0)
    # Energy arithmetic: 2 kWh drawn evenly over 00:30-01:30 -> 2 * 150 g.
    assert 2.0 * hourly.mean_over(T0 + H / 2, T0 + 1.5 * H) == pytest.approx(300.0)
    assert hourly.mean_g_per_kwh() == pytest.approx(200.0)
    assert hourly.outside_lookups() == 0


def test_outside_the_data_is_clamped_and_counted() -> None:
    hourly = read_hourly_csv(DATA / "intensity_plain.csv")
    assert hourly.at(T0 - 1) == 100.0
    assert hourly.at(T0 + 3 * H) == 300.0  # the last hour ends at 03:00
    assert hourly.at(T0 + 2.5 * H) == 300.0
    assert hourly.outside_lookups() == 2
    assert hourly.mean_over(T0 + 2.5 * H, T0 + 3.5 * H) == 300.0
    assert hourly.outside_lookups() == 3


def test_gap_keeps_previous_value() -> None:
    src = IntensitySource(kind="hourly-csv", description="test")
    hourly = HourlyIntensity(hours=((T0, 10.0), (T0 + H, 20.0), (T0 + 5 * H, 30.0)), source=src)
    assert hourly.at(T0 + 3 * H) == 20.0
    assert hourly.outside_lookups() == 0


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(st.floats(0, 1000), min_size=1, max_size=6),
    a=st.floats(-2 * H, 8 * H),
    b=st.floats(-2 * H, 8 * H),
    c=st.floats(-2 * H, 8 * H),
)
def test_mean_over_is_additive(values: list[float], a: float, b: float, c: float) -> None:
    a, b, c = sorted((a, b, c))
    src = IntensitySource(kind="hourly-csv", description="test")
    hourly = HourlyIntensity(hours=tuple((T0 + i * H, v) for i, v in enumerate(values)), source=src)
    whole = hourly.mean_over(T0 + a, T0 + c) * (c - a)
    parts = hourly.mean_over(T0 + a, T0 + b) * (b - a) + hourly.mean_over(T0 + b, T0 + c) * (c - b)
    assert whole == pytest.approx(parts, abs=1e-6 * max(1.0, abs(whole)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ("timestamp,g_per_kwh\n", "no data rows"),
        ("time,co2\n1704067200,1\n", "not recognised"),
        ("timestamp,g_per_kwh\n1704067200,1\nyesterday,2\n", ":3: timestamp 'yesterday'"),
        ("timestamp,g_per_kwh\n1704067200,1\n,2\n", ":3: empty timestamp"),
        ("timestamp,g_per_kwh\n1704067200000,1\n", "milliseconds"),
        ("timestamp,g_per_kwh\n1704067200,abc\n", ":2: intensity 'abc' is not a number"),
        ("timestamp,g_per_kwh\n1704067200,\n", ":2: intensity '' is not a number"),
        ("timestamp,g_per_kwh\n1704067200,nan\n", "not a finite"),
        ("timestamp,g_per_kwh\n1704067200,-5\n", ":2: intensity -5 is negative"),
        (
            "timestamp,g_per_kwh\n1704070800,1\n1704067200,2\n",
            ":3: time 2024-01-01T00:00Z comes before line 2",
        ),
        ("timestamp,g_per_kwh\n1704067200,1\n2024-01-01T00:00:00Z,2\n", ":3: duplicate time"),
        ("timestamp,g_per_kwh\n1704067200\n", "fields"),
    ],
)
def test_bad_csv_gives_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        read_hourly_csv(path)
    message = str(info.value)
    assert expected in message and "\n" not in message and str(path) in message


def test_missing_csv_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="check the path"):
        resolve_intensity(intensity_csv=tmp_path / "nope.csv")


# ---------------------------------------------------------------------------------------------- no network etc


@needs_cc
def test_no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refuse(*args: object, **kwargs: object) -> socket.socket:
        raise AssertionError("wattwatch.carbon.intensity opened a socket")

    assert CC is not None
    fresh = tmp_path / "data"  # a copy of its own, so the files are parsed afresh under the patch
    for sub in ("private_infra", "cloud"):
        shutil.copytree(CC / sub, fresh / sub)
    monkeypatch.setattr(socket, "socket", refuse)
    cases: list[dict[str, Any]] = [
        dict(country_iso_code="FRA"),
        dict(country_iso_code="USA", region="CA"),
        dict(country_iso_code="CAN", region="QC"),
        dict(country_iso_code="NOR", region="NO1"),
        dict(country_iso_code="CHN", region="CN-SH"),
        dict(cloud_provider="gcp", cloud_region="us-central1"),
        dict(),
    ]
    for kwargs in cases:
        assert resolve_intensity(data_dir=fresh, **kwargs).mean_g_per_kwh() >= 0
    assert read_hourly_csv(DATA / "intensity_electricitymaps.csv").at(T0) == 45.25
    assert len(list_cloud_regions(data_dir=fresh)) > 0


def test_import_is_cheap() -> None:
    code = (
        "import sys, wattwatch.carbon.intensity as m, wattwatch.carbon.intensity_data as d\n"
        "assert 'pandas' not in sys.modules and 'codecarbon' not in sys.modules, 'heavy import'\n"
        "assert d._json.cache_info().currsize == 0 and d._cloud_rows.cache_info().currsize == 0, 'parsed at import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_one_country_read_from_the_text_equals_the_whole_table_parsed(tmp_path: Path) -> None:
    """A start looks up one code without parsing global_energy_mix.json whole; every code must read the same
    entry both ways, and a file laid out differently still answers (through the whole parse)."""
    from wattwatch.carbon import intensity_data as data

    directory = data._dir(None)
    table = data._json(data._GLOBAL_MIX, directory)
    assert len(table) > 200
    for code, entry in table.items():
        if code.isalpha():
            assert data._country_mix(code, directory) == entry, code
    odd = tmp_path / "data"
    from wattwatch.carbon.codecarbon_data import BUNDLED_DATA_DIR

    shutil.copytree(BUNDLED_DATA_DIR, odd)
    path = odd / data._GLOBAL_MIX
    path.write_text(json.dumps({"FRA": {**table["FRA"], "iso_code": "XXX"}, "DEU": table["DEU"]}), encoding="utf-8")
    assert data._country_mix("FRA", odd) is None  # the object says it is another country: not trusted
    assert data.country_lookup("FRA", odd).country_name == table["FRA"]["country_name"]  # the whole parse
    assert data.country_lookup("DEU", odd).g_per_kwh == data.country_lookup("DEU").g_per_kwh
