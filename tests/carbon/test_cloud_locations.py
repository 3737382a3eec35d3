"""AWS and Azure regions are charged the grid of the place their provider says they are (not the world average)."""

from __future__ import annotations

import pytest

from wattwatch.carbon import intensity_data as data
from wattwatch.carbon.cloud_locations import cloud_location, cloud_locations
from wattwatch.carbon.intensity import WORLD_AVERAGE_G_PER_KWH, cloud_intensity, resolve_intensity


def test_every_row_resolves_to_a_grid_and_cites_its_source() -> None:
    rows = cloud_locations()
    assert {r.provider for r in rows} == {"aws", "azure"}
    assert len(cloud_locations("aws")) >= 30 and len(cloud_locations("azure")) >= 50
    for row in rows:
        got = cloud_intensity(row.provider, row.region)
        assert got.source.kind == "cloud"
        assert (got.source.cloud_provider, got.source.cloud_region) == (row.provider, row.region)
        assert got.source.country_iso_code == row.country_iso_code and got.source.country_name
        assert row.source.startswith("https://") and row.source.split()[0] in got.source.description
        expected = (
            data.region_lookup(row.country_iso_code, row.grid_region)
            if row.grid_region
            else data.country_lookup(row.country_iso_code)
        )
        assert got.g_per_kwh == expected.g_per_kwh


@pytest.mark.parametrize(
    ("provider", "region", "country", "grid"),
    [
        ("aws", "us-east-1", "USA", "virginia"),
        ("aws", "us-west-2", "USA", "oregon"),
        ("aws", "ca-central-1", "CAN", "quebec"),
        ("aws", "eu-north-1", "SWE", "SE3"),
        ("aws", "cn-northwest-1", "CHN", "CN-NX"),
        ("azure", "eastus", "USA", "virginia"),
        ("azure", "westus3", "USA", "arizona"),
        ("azure", "canadacentral", "CAN", "ontario"),
        ("azure", "norwayeast", "NOR", "NO1"),
        ("aws", "eu-west-3", "FRA", ""),
        ("azure", "eastasia", "HKG", ""),
    ],
)
def test_known_regions_sit_on_their_state_province_zone_or_country(
    provider: str, region: str, country: str, grid: str
) -> None:
    got = resolve_intensity(cloud_provider=provider.upper(), cloud_region=region.upper())
    assert (got.source.country_iso_code, got.source.region) == (country, grid)
    assert got.source.cloud_region == region and got.source.cloud_provider == provider
    assert got.g_per_kwh != WORLD_AVERAGE_G_PER_KWH


def test_a_state_grid_differs_from_the_country_figure() -> None:
    """The point of the table: Quebec's hydro grid, not Canada's average; Oregon, not the US average."""
    assert cloud_intensity("aws", "ca-central-1").g_per_kwh < 0.2 * data.country_lookup("CAN").g_per_kwh
    assert cloud_intensity("aws", "us-west-2").g_per_kwh != data.country_lookup("USA").g_per_kwh


def test_gcp_keeps_googles_published_figure() -> None:
    assert cloud_location("gcp", "us-central1") is None
    got = cloud_intensity("gcp", "us-central1")
    assert got.source.description.startswith("CodeCarbon cloud/impact.csv")


def test_an_unknown_region_names_the_nearest() -> None:
    with pytest.raises(ValueError, match="unknown aws region .us-east-7.; nearest valid: us-east-"):
        cloud_intensity("aws", "us-east-7")


def test_estimate_uses_the_trackers_figure_for_an_aws_region(capsys: pytest.CaptureFixture[str]) -> None:
    from wattwatch.cli.main import main

    assert main(["estimate", "--watts", "300", "--hours", "10", "--cloud-provider", "aws",
                 "--cloud-region", "us-east-1"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert f"at {cloud_intensity('aws', 'us-east-1').g_per_kwh:.1f} gCO2eq/kWh" in out and "virginia" in out
