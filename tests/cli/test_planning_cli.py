"""CLI tests for ``wattwatch compare | regions | estimate | schedule`` through :func:`wattwatch.cli.main.main`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wattwatch.cli.main import main

DATA = Path(__file__).resolve().parents[1] / "data"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines()]


def test_compare_book_example(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(
        capsys,
        "compare",
        "--dense-params",
        "70e9",
        "--moe-total-params",
        "47e9",
        "--moe-active-params",
        "13e9",
        "--tokens",
        "2e12",
        "--g-per-kwh",
        "400",  # the book's grid (the default is the tracker's world average, 475)
    )
    assert rc == 0
    lines = _lines(out)
    assert "energy saving: 81.4 % CO2 saving: 81.4 %" in lines
    assert "GPU-hours 589,821 109,538" in lines
    assert "energy (kWh) 454,162 84,344" in lines
    assert "CO2 (kg) 181,665 33,738" in lines
    assert "total params 70.0 B 47.0 B" in lines


def test_compare_bad_mfu_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(
        capsys,
        "compare",
        "--dense-params",
        "70e9",
        "--moe-active-params",
        "13e9",
        "--tokens",
        "2e12",
        "--mfu",
        "40",
    )
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "MFU must be in (0, 1]" in err and "0.40" in err


def test_regions_book_output(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "regions", "--gpu-hours", "10000", "--max-cost", "50000", "--top", "5")
    assert rc == 0
    ranked = [line for line in _lines(out) if re.match(r"\d+\. ", line)]
    expected = [
        "swedencentral 154.0 kg $34,000 95 %",
        "eu-north-1 192.5 kg $34,000 95 %",
        "europe-north1 231.0 kg $32,200 92 %",
        "ca-central-1 231.0 kg $30,600 82 %",
        "us-west-2 924.0 kg $30,600 72 %",
    ]
    assert len(ranked) == 5
    for i, (line, want) in enumerate(zip(ranked, expected, strict=True), start=1):
        assert line.startswith(f"{i}. {want} ")
    assert "ranked on the book figure 30 g/kWh" in out and "gives 46 g/kWh (354.2 kg)" in out


def test_regions_user_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(
        capsys,
        "regions",
        "--gpu-hours",
        "10000",
        "--max-cost",
        "50000",
        "--top",
        "2",
        "--catalog",
        str(DATA / "planning_catalog.csv"),
    )
    assert rc == 0
    ranked = [line for line in _lines(out) if re.match(r"\d+\. ", line)]
    assert ranked[0].startswith("1. northamerica-northeast1 15.4 kg $35,000 99 %")
    assert ranked[1].startswith("2. swedencentral 154.0 kg")


def test_regions_negative_hours(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(capsys, "regions", "--gpu-hours", "-5")
    assert rc == 2 and err.count("\n") == 1 and "GPU-hours" in err


def test_estimate_from_hardware(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(
        capsys, "estimate", "--gpu", "H100-SXM", "--gpus", "8", "--hours", "24", "--g-per-kwh", "50"
    )
    assert rc == 0
    assert "8 x 700 W x 24 h x PUE 1.1: 147.840 kWh" in out
    assert "CO2: 7.392 kg CO2eq at 50.0 gCO2eq/kWh" in out
    rc, out, _ = _run(
        capsys, "estimate", "--watts", "300", "--hours", "10", "--pue", "1.0", "--country-iso-code", "FRA"
    )
    assert rc == 0 and "3.000 kWh" in out and "France" in out
    rc, out, _ = _run(
        capsys,
        "estimate",
        "--gpu",
        "a100",
        "--hours",
        "1",
        "--cloud-provider",
        "gcp",
        "--cloud-region",
        "europe-north1",
    )
    assert rc == 0 and "46.0 gCO2eq/kWh" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--gpu", "GTX 9000", "--hours", "1"], "unknown GPU 'GTX 9000'"),
        (["--gpu", "T4", "--hours", "-3"], "hours must be a number >= 0"),
        (["--hours", "3"], "--gpu MODEL"),
        (["--gpu", "T4", "--hours", "1", "--g-per-kwh", "5", "--country-iso-code", "FRA"], "give one place"),
    ],
)
def test_estimate_bad_input(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    rc, out, err = _run(capsys, "estimate", *argv)
    assert rc == 2 and out == "" and err.count("\n") == 1 and needle in err


def test_estimate_from_measured_run(capsys: pytest.CaptureFixture[str]) -> None:
    csv = str(DATA / "planning_emissions.csv")
    rc, out, _ = _run(capsys, "estimate", "--from", csv, "--scale-steps", "100000")
    assert rc == 0
    assert "measured run run-c: 500 steps" in out
    assert "projected 100,000 steps (x200): 100.000 kWh, 40.000 kg CO2eq, 100.00 h" in out
    rc, _, err = _run(capsys, "estimate", "--from", csv, "--run-id", "run-b", "--scale-steps", "100000")
    assert rc == 2 and err.count("\n") == 1 and "recorded no steps" in err


def test_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(
        capsys,
        "schedule",
        "--forecast",
        str(DATA / "planning_forecast.csv"),
        "--duration-hours",
        "2.5",
        "--deadline",
        "2025-03-01T20:00Z",
        "--now",
        "2025-03-01T00:30Z",
    )
    assert rc == 0
    lines = _lines(out)
    assert "start now 2025-03-01 00:30 UTC: 408.0 gCO2eq/kWh 0.785 kg" in lines
    assert "best start 2025-03-01 09:00 UTC: 118.0 gCO2eq/kWh 0.227 kg (ends 2025-03-01 11:30 UTC)" in lines
    assert "saving: 0.558 kg CO2eq (71.1 %) by waiting" in lines


def test_schedule_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    fc = str(DATA / "planning_forecast.csv")
    cases = [
        (["--forecast", str(empty), "--duration-hours", "1", "--deadline", "2025-03-02T00:00Z"], "empty"),
        (["--forecast", fc, "--duration-hours", "-1", "--deadline", "2025-03-02T00:00Z"], "--duration-hours"),
        (["--forecast", fc, "--duration-hours", "1", "--deadline", "tomorrow"], "ISO-8601"),
        (
            [
                "--forecast",
                fc,
                "--duration-hours",
                "5",
                "--deadline",
                "2025-03-01T02:00Z",
                "--now",
                "2025-03-01T00:00Z",
            ],
            "ends after the deadline",
        ),
    ]
    for argv, needle in cases:
        rc, out, err = _run(capsys, "schedule", *argv)
        assert rc == 2 and out == "" and err.count("\n") == 1 and needle in err, (argv, err)
