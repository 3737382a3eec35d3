"""The HTML report in a real headless Chromium: what a person sees, and that the page asks nothing of the network.

Needs Debian's ``chromium`` (``scripts/_env`` installs it where apt-get can); skipped with the reason otherwise.
Set ``WATTWATCH_SCREENSHOTS=<folder>`` to keep the screenshots for a look.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from headless import PageVisit, find_chromium, visit
from reportruns import SeriesPlan, make_project

from wattwatch.report import load_report, render, write_html
from wattwatch.report.runs import Report, summarise
from wattwatch.result import EmissionsData

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")

PROBE = """{
  charts: document.body.dataset.charts.split(" "),
  drawn: Object.values(Chart.instances).map(c => [c.canvas.id, c.canvas.width, c.canvas.height,
         c.data.datasets.reduce((n, d) => n + d.data.filter(v => v !== null).length, 0)]),
  rows: document.querySelectorAll("#runs tbody tr").length,
  firstCells: Array.from(document.querySelectorAll("#runs tbody tr:first-child td")).map(td => td.textContent),
  metrics: Array.from(document.querySelectorAll("#metric option")).map(o => o.value),
  runs: document.querySelectorAll("#run option").length,
  cards: Array.from(document.querySelectorAll(".card .k")).map(e => e.textContent),
  info: document.getElementById("runinfo").textContent
}"""
ALL_CHARTS = [
    "components",
    "cumulative",
    "intensity",
    "jtoken",
    "phases",
    "power",
    "quality",
    "runphases",
    "stacked",
]


def _keep(result: PageVisit, name: str, tmp_path: Path) -> Path:
    shot = tmp_path / name
    shot.write_bytes(result.screenshot_png)
    keep = os.environ.get("WATTWATCH_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / name)
    return shot


def _pixel_spread(png: bytes) -> tuple[float, int]:
    """(standard deviation of grey levels, number of distinct colours) of a PNG."""
    image = pytest.importorskip("PIL.Image", reason="Pillow not installed (it comes with matplotlib)")
    stat = pytest.importorskip("PIL.ImageStat")
    img = image.open(io.BytesIO(png)).convert("RGB")
    grey = img.convert("L")
    colours = img.getcolors(maxcolors=1 << 20) or []
    return stat.Stat(grey).stddev[0], len(colours)


def _open(page: Path) -> PageVisit:
    assert CHROMIUM is not None
    return visit(page.resolve().as_uri(), chromium=CHROMIUM, probe=PROBE, timeout_s=60)


def test_report_as_a_person_sees_it(tmp_path: Path) -> None:
    plan = SeriesPlan(intensity_g_per_kwh=(50.0, 120.0, 80.0, 30.0))
    make_project(tmp_path / "runs", 40, series_runs=3, plan=plan)
    page = write_html(load_report([str(tmp_path / "runs")], series_runs=3), tmp_path / "report.html")
    result = _open(page)
    shot = _keep(result, "report.png", tmp_path)

    # Nothing but the page itself was requested, and nothing went wrong in it.
    assert result.requests == [page.resolve().as_uri()]
    assert result.errors == []
    # Every chart was built, has a size and drew data.
    probe = result.probe
    assert sorted(probe["charts"]) == ALL_CHARTS
    drawn = {cid: (w, h, n) for cid, w, h, n in probe["drawn"]}
    assert sorted(drawn) == ALL_CHARTS
    for cid, (w, h, n) in drawn.items():
        assert w > 100 and h > 100 and n > 0, cid
    # two cumulative lines (operational, + embodied) over the 40 runs, each from zero and held to the axis' end
    assert drawn["cumulative"][2] == 2 * (40 + 2)
    assert drawn["power"][2] == 4 * 150  # 2 GPUs + CPU + RAM, 150 samples each
    # The table shows the runs, the selectors offer the metrics and the runs with series.
    assert probe["rows"] == 40
    assert probe["metrics"] == ["eval_accuracy", "eval_loss"]
    assert probe["runs"] == 3
    assert "embodied CO2eq" in probe["cards"]
    assert "150 samples" in probe["info"]
    # The screenshot is a page with content, not a blank.
    spread, colours = _pixel_spread(result.screenshot_png)
    assert spread > 10 and colours > 50, (spread, colours, shot)


def test_hostile_run_names_stay_text_and_fetch_nothing(tmp_path: Path) -> None:
    evil = "<img src=http://127.0.0.1:9/x onerror=alert(1)></script><script>fetch('http://127.0.0.1:9/y')</script>"
    rows = [
        summarise(
            EmissionsData(
                run_id=f"{evil}{i}", project_name=evil, energy_consumed=1.0 + i, emissions=0.1, duration=60.0,
                start_time=f"2026-01-0{i + 1}T00:00:00+00:00", eval_metrics={"eval_loss": 1.0 / (i + 1)},
            )
        )
        for i in range(3)
    ]  # fmt: skip
    page = tmp_path / "evil.html"
    page.write_text(render(Report(rows, [], [], 4.0, 1.0, 0.0)), encoding="utf-8")
    result = _open(page)
    assert result.requests == [page.resolve().as_uri()]
    assert result.errors == []
    assert result.probe["firstCells"][1] == evil  # shown as the text it is
    assert result.probe["rows"] == 3


def test_the_content_security_policy_blocks_what_a_page_might_try(tmp_path: Path) -> None:
    """Prove the lock works: markup slipped into the page after rendering still cannot reach the network."""
    make_project(tmp_path / "runs", 5, series_runs=1)
    html = render(load_report([str(tmp_path / "runs")]))
    slipped = (
        '<img src="http://127.0.0.1:9/pixel.png"><link rel="stylesheet" href="http://127.0.0.1:9/s.css">'
        "<script>fetch('http://127.0.0.1:9/f')</script></body>"
    )
    page = tmp_path / "tampered.html"
    page.write_text(html.replace("</body>", slipped), encoding="utf-8")
    result = _open(page)
    tried = [u for u in result.requests if u != page.resolve().as_uri()]
    assert (
        tried
    )  # the browser did try: the img and the stylesheet (the script never ran: its hash is not allowed)
    assert all(result.blocked.get(u) == "csp" for u in tried), (tried, result.blocked)
    assert not any("127.0.0.1:9/f" in u for u in result.requests)
    assert any("Content Security Policy" in e for e in result.errors), result.errors


def test_energy_band_is_drawn_beside_the_stacked_bars(tmp_path: Path) -> None:
    make_project(tmp_path / "runs", 6, series_runs=0)
    report = load_report([str(tmp_path / "runs")])
    report.runs = [
        type(r)(**{**r.__dict__, "energy_low_kwh": r.energy_kwh * 0.9, "energy_high_kwh": r.energy_kwh * 1.2})
        for r in report.runs
    ]
    page = write_html(report, tmp_path / "band.html")
    assert CHROMIUM is not None
    result = visit(
        page.resolve().as_uri(),
        chromium=CHROMIUM,
        probe="Chart.getChart('stacked').data.datasets.map(d => [d.label, d.data.filter(v => v !== null).length])",
    )
    assert result.errors == [] and result.requests == [page.resolve().as_uri()]
    labels = dict(result.probe)
    assert labels["operational range (energy low-high)"] == 6 and labels["embodied kg CO2eq"] == 6


def test_a_page_listing_the_most_recent_runs_draws_every_run(tmp_path: Path) -> None:
    """``wattwatch report --html --html-runs 12`` over 40 runs: the table lists 12, the cumulative footprint
    (drawn from the report's downsampled sums over all 40) and the cards cover all 40."""
    from wattwatch.cli.main import main

    plan = SeriesPlan(intensity_g_per_kwh=(50.0, 120.0, 80.0, 30.0))
    make_project(tmp_path / "runs", 40, series_runs=3, plan=plan, seed=4)
    page = tmp_path / "report.html"
    assert main(["report", str(tmp_path / "runs"), "--html", str(page), "--html-runs", "12"]) == 0
    result = _open(page)
    shot = _keep(result, "report-bounded.png", tmp_path)
    assert result.requests == [page.resolve().as_uri()]
    assert result.errors == []
    probe = result.probe
    drawn = {cid: (w, h, n) for cid, w, h, n in probe["drawn"]}
    assert sorted(drawn) == ALL_CHARTS
    for cid, (w, h, n) in drawn.items():
        assert w > 100 and h > 100 and n > 0, cid
    assert drawn["cumulative"][2] == 2 * (40 + 2)  # two lines over every run, not only the 12 listed
    assert probe["rows"] == 12
    assert "runs" in probe["cards"]
    text = page.read_text(encoding="utf-8")
    assert "40 run(s), the 12 most recent listed" in text
    spread, colours = _pixel_spread(result.screenshot_png)
    assert spread > 10 and colours > 50, (spread, colours, shot)
