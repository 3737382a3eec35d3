"""The HTML report as a newcomer's first runs make it (issue 25), in a real headless Chromium: one short run on a
CPU-only laptop, a day of runs, a narrow window. Each case is what the page drew wrong before.

Needs Debian's ``chromium``; skipped with the reason otherwise. ``WATTWATCH_SCREENSHOTS=<folder>`` keeps the
screenshots (800 px and 1400 px wide) for a look.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from headless import PageVisit, find_chromium, visit

from wattwatch.report import load_report, write_html
from wattwatch.result import COLUMNS, EmissionsData
from wattwatch.sinks.emissions_file import append_row
from wattwatch.sinks.timeseries import TimeseriesWriter

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")

PROBE = """(() => {
  const scale = (id, axis) => { const c = Chart.getChart(id); return c ? [c.scales[axis].min, c.scales[axis].max] : null; };
  const ticks = id => { const c = Chart.getChart(id); return c ? c.scales.x.ticks.map(t => t.label) : null; };
  const wrap = document.querySelector(".tablewrap");
  const visible = Array.from(document.querySelectorAll("#runs thead th")).filter(th => th.offsetWidth > 0);
  return {
    cumulativeX: scale("cumulative", "x"),
    cumulativeTicks: ticks("cumulative"),
    cumulativePoints: Chart.getChart("cumulative").data.datasets.map(d => d.data.length),
    powerY: scale("power", "y"),
    intensityChart: Chart.getChart("intensity") !== undefined,
    intensityNote: document.getElementById("intensitynote").textContent,
    pageInfo: document.getElementById("pageinfo").textContent,
    headers: visible.map(th => th.textContent),
    tableCut: wrap.scrollWidth - wrap.clientWidth,
    pageCut: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    cards: Array.from(document.querySelectorAll(".card .v")).map(e => e.textContent),
  };
})()"""


def _look(page: Path, width: int, tmp_path: Path) -> PageVisit:
    assert CHROMIUM is not None
    result = visit(page.resolve().as_uri(), chromium=CHROMIUM, probe=PROBE, width=width, timeout_s=60)
    shot = tmp_path / f"{page.stem}-{width}.png"
    shot.write_bytes(result.screenshot_png)
    keep = os.environ.get("WATTWATCH_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
    assert result.errors == [] and result.requests == [page.resolve().as_uri()]
    return result


def _laptop_run(folder: Path, run_id: str, start: datetime, *, seconds: int = 600) -> None:
    """A CPU-only run as a laptop records it: a flat 7 W, Germany's grid (380.95 g/kWh, a figure that sits on a
    rounding edge), a time series from the writer wattwatch uses."""
    g_per_kwh, watts = 380.95, 7.0
    writer = TimeseriesWriter(folder / f"{run_id}.timeseries.csv", ["cpu"])
    kwh = kg = 0.0
    for t in range(1, seconds + 1):
        step = watts / 3.6e6
        kwh += step
        kg += step * g_per_kwh / 1000.0
        writer.write((start + timedelta(seconds=t)).timestamp(), float(t), "train", {"cpu": watts}, kwh, kg)
    writer.close()
    row = EmissionsData(
        run_id=run_id, project_name="first-try", status="completed", duration=float(seconds),
        cpu_energy=kwh, energy_consumed=kwh, emissions=kg, intensity_g_per_kwh=g_per_kwh,
        intensity_source="country: Germany (DEU)", start_time=start.isoformat(),
        timestamp=(start + timedelta(seconds=seconds)).isoformat(), tokens=1000, steps=10,
        phase_energy_kwh={"train": kwh}, phase_emissions_kg={"train": kg},
    )  # fmt: skip
    append_row(folder / "emissions.csv", row.to_row(), COLUMNS)


@pytest.fixture
def one_run(tmp_path: Path) -> Path:
    folder = tmp_path / "one"
    folder.mkdir()
    _laptop_run(folder, "a1b2c3d4-0000", datetime(2026, 5, 4, 9, 30, tzinfo=timezone.utc))
    return write_html(load_report([str(folder)]), tmp_path / "one.html")


def test_one_run_gets_a_footprint_on_its_own_time_axis(one_run: Path, tmp_path: Path) -> None:
    probe = _look(one_run, 1400, tmp_path).probe
    lo, hi = probe["cumulativeX"]
    assert hi - lo <= 4 * 3600e3  # hours around the run, not 2023-2030
    assert probe["cumulativePoints"] == [3, 3]  # zero, the run, held to the axis' end: a step one can see
    assert len(set(probe["cumulativeTicks"])) == len(probe["cumulativeTicks"]) >= 3


def test_a_flat_line_is_not_drawn_on_the_charts_border(one_run: Path, tmp_path: Path) -> None:
    probe = _look(one_run, 1400, tmp_path).probe
    assert probe["powerY"][1] >= 7.0 * 1.05, probe["powerY"]  # 7 W below the top, not on it


def test_a_constant_intensity_is_one_figure_not_a_square_wave(one_run: Path, tmp_path: Path) -> None:
    from wattwatch.report.html import payload

    series = payload(load_report([str(tmp_path / "one")]))["series"][0]["intensity"]
    assert len({g for g in series if g is not None}) == 2  # 380.9 and 381.0: the rounding edge is in the data
    probe = _look(one_run, 1400, tmp_path).probe
    assert not probe["intensityChart"]
    assert probe["intensityNote"].startswith(
        "Constant intensity for this run: 381 g/kWh from country: Germany"
    )


def test_the_table_says_what_it_is_sorted_by(one_run: Path, tmp_path: Path) -> None:
    probe = _look(one_run, 1400, tmp_path).probe
    assert "sorted by J/token ascending" in probe["pageInfo"] and "j_token" not in probe["pageInfo"]


def test_readable_units_on_the_cards(one_run: Path, tmp_path: Path) -> None:
    cards = _look(one_run, 1400, tmp_path).probe["cards"]
    assert cards[1] == "1.17 Wh"  # 7 W for 600 s: 4,200 J
    assert not any("e-" in c for c in cards), cards


def test_runs_of_one_day_have_distinct_ticks(tmp_path: Path) -> None:
    folder = tmp_path / "day"
    folder.mkdir()
    for i in range(6):
        _laptop_run(
            folder, f"run{i:02d}-0000", datetime(2026, 5, 4, 8 + 2 * i, tzinfo=timezone.utc), seconds=60
        )
    page = write_html(load_report([str(folder)]), tmp_path / "day.html")
    ticks = _look(page, 1400, tmp_path).probe["cumulativeTicks"]
    assert len(ticks) >= 4 and len(set(ticks)) == len(ticks), ticks
    assert all(":" in t for t in ticks), ticks  # hours shown, not the date alone


@pytest.mark.parametrize("width", [800, 1400])
def test_the_table_fits_the_window(width: int, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(8):
        _laptop_run(folder, f"{i:08x}-long-run-id", datetime(2026, 5, 4, i, tzinfo=timezone.utc), seconds=30)
    page = write_html(load_report([str(folder)]), tmp_path / "many.html")
    probe = _look(page, width, tmp_path).probe
    assert probe["tableCut"] <= 0 and probe["pageCut"] <= 0, probe
    if width >= 1400:
        assert len(probe["headers"]) == 15  # every column on a wide window
    else:
        assert {"run", "kWh", "J/token", "operational kg", "embodied kg"} <= set(probe["headers"])
