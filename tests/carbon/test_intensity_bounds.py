"""Intensity figures an overflow or a unit mistake would give are refused; files in other encodings are read;
an hourly file that does not cover the run is named in a warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattwatch.carbon.intensity import (
    MAX_INTENSITY_G_PER_KWH,
    coverage_warning,
    read_hourly_csv,
    resolve_intensity,
)


@pytest.mark.parametrize("value", [1e308, MAX_INTENSITY_G_PER_KWH * 1.01, 400_000.0])
def test_an_absurd_number_is_refused_with_what_to_check(value: float) -> None:
    with pytest.raises(ValueError, match="at most 5000 gCO2eq/kWh.*check the unit"):
        resolve_intensity(carbon_intensity_g_per_kwh=value)


def test_the_dirtiest_real_grid_is_accepted() -> None:
    assert resolve_intensity(carbon_intensity_g_per_kwh=1500.0).at(0.0) == 1500.0


def test_an_absurd_hourly_value_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "hourly.csv"
    path.write_text("timestamp,g_per_kwh\n2026-01-01T00:00:00Z,50\n2026-01-01T01:00:00Z,1e308\n")
    with pytest.raises(ValueError, match=r"hourly\.csv:3: intensity 1e308 is above 5000"):
        read_hourly_csv(path)


def test_a_latin1_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    text = "timestamp,g_per_kwh,zone\n2026-01-01T00:00:00Z,50,Île-de-France\n2026-01-01T01:00:00Z,60,Île-de-France\n"
    path.write_bytes(text.encode("latin-1"))
    series = read_hourly_csv(path)
    assert [g for _, g in series.hours] == [50.0, 60.0]


def test_a_file_that_does_not_cover_the_run_is_named(tmp_path: Path) -> None:
    path = tmp_path / "2025.csv"
    path.write_text("timestamp,g_per_kwh\n2025-01-01T00:00:00Z,50\n2025-01-01T01:00:00Z,60\n")
    series = read_hourly_csv(path)
    assert coverage_warning(series, series.start_s + 10) is None
    message = coverage_warning(series, 1_800_000_000.0)  # 2027
    assert message is not None and "2025.csv" in message and "2025-01-01T00:00Z" in message
    assert "2027-01-15" in message
    assert coverage_warning(resolve_intensity(carbon_intensity_g_per_kwh=5.0), 0.0) is None
