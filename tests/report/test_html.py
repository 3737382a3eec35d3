"""The HTML page: self-contained, locked by its CSP, user text escaped, data small however many runs."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from reportruns import make_project

from wattwatch.cli.main import main
from wattwatch.report import load_report, render, write_html
from wattwatch.report.html import COLUMNS, payload
from wattwatch.report.runs import Report, summarise
from wattwatch.result import EmissionsData


def _report(tmp_path: Path, runs: int = 12, series_runs: int = 3) -> Report:
    make_project(tmp_path / "p", runs, series_runs=series_runs)
    return load_report([str(tmp_path / "p")], series_runs=series_runs)


def _scripts(page: str) -> list[str]:
    return re.findall(r"<script>(.*?)</script>", page, flags=re.S)


def test_page_is_self_contained_and_its_scripts_are_the_ones_the_csp_allows(tmp_path: Path) -> None:
    page = render(_report(tmp_path))
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing loaded from anywhere
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp and "default-src 'none'" in csp.group(1) and "connect-src 'none'" in csp.group(1)
    scripts = _scripts(page)
    assert len(scripts) == 2  # Chart.js, then the page's own
    for body in scripts:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp.group(1)
    assert "Chart.js v4" in scripts[0]


def test_user_text_cannot_break_out_of_the_data_block(tmp_path: Path) -> None:
    evil = "</script><script>fetch('http://example.invalid/x')</script><!--"
    row = EmissionsData(run_id=evil, project_name=evil, energy_consumed=1.0, emissions=0.1, duration=60.0)
    report = Report([summarise(row)], [], [], 4.0, 1.0, 0.0)
    page = render(report)
    assert page.count("</script>") == 3  # the data block's, Chart.js's and the app's: none from the text
    assert "<!--" not in page.split('id="wattwatch-data">', 1)[1]
    block = re.search(r'<script type="application/json" id="wattwatch-data">(.*?)</script>', page, re.S)
    assert block is not None
    assert evil in json.loads(block.group(1))["strings"]  # the text survives, as data


def test_payload_layout(tmp_path: Path) -> None:
    report = _report(tmp_path)
    data = payload(report)
    assert data["cols"] == list(COLUMNS)
    assert len(data["runs"]) == 12 and all(len(r) == len(COLUMNS) for r in data["runs"])
    strings = data["strings"]
    assert len(strings) == len(set(strings))  # each string stored once
    proj = data["cols"].index("project")
    assert {strings[r[proj]] for r in data["runs"]} == {"llm-finetune", "llm-pretrain"}
    assert len(data["series"]) == 3
    for m in data["metrics"].values():
        assert m["front"] and len(m["front"]) <= len(m["points"])
    assert data["metrics"]["eval_loss"]["lower"] is True


def test_energy_band_becomes_a_co2_band() -> None:
    row = EmissionsData(run_id="b", energy_consumed=2.0, emissions=0.2, duration=60.0)
    s = summarise(row)
    banded = type(s)(**{**s.__dict__, "energy_low_kwh": 1.5, "energy_high_kwh": 2.5})
    data = payload(Report([banded], [], [], 4.0, 1.0, 0.0))
    r = data["runs"][0]
    assert r[COLUMNS.index("op_lo")] == pytest.approx(0.15) and r[COLUMNS.index("op_hi")] == pytest.approx(0.25)
    plain = payload(Report([s], [], [], 4.0, 1.0, 0.0))["runs"][0]
    assert plain[COLUMNS.index("op_lo")] is None


def test_page_size_grows_by_a_bounded_amount_per_run(tmp_path: Path) -> None:
    small = len(render(_report(tmp_path / "a", runs=50, series_runs=2)))
    large = len(render(_report(tmp_path / "b", runs=2050, series_runs=2)))
    per_run = (large - small) / 2000
    assert per_run < 300, f"{per_run:.0f} bytes per run"


def test_write_html_replaces_atomically(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "report.html"
    out.parent.mkdir()
    write_html(_report(tmp_path), out)
    first = out.read_text(encoding="utf-8")
    assert first.startswith("<!DOCTYPE html>") and not list(out.parent.glob(".*tmp"))


def test_cli_html_and_ranking_by_joules_per_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = make_project(tmp_path / "p", 8, series_runs=1)
    out = tmp_path / "r.html"
    assert main(["report", str(tmp_path / "p"), "--html", str(out)]) == 0
    assert out.is_file() and "wattwatch-data" in out.read_text(encoding="utf-8")
    text = capsys.readouterr().out
    ranked = [line.split()[1] for line in text.splitlines() if re.match(r"\s+\d+\. ", line)]
    # J/token divides the training phase's energy (evaluation and checkpoints excluded), as the callbacks' logs
    expected = sorted((d for d in rows if d.tokens), key=lambda d: d.phase_energy_kwh["train"] / (d.tokens or 1))
    assert ranked == [d.run_id[:8] for d in expected]
    assert main(["report", str(tmp_path / "p"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ranking_by_joules_per_token"] == [d.run_id for d in expected]
    j = {r["run_id"]: r["joules_per_token"] for r in doc["runs"]}
    d0 = expected[0]
    assert j[d0.run_id] == pytest.approx(d0.phase_energy_kwh["train"] * 3.6e6 / (d0.tokens or 1))
    assert d0.phase_energy_kwh["train"] < d0.energy_consumed


def test_report_of_runs_a_tracker_wrote(tmp_path: Path) -> None:
    """Rows and time series as the Tracker writes them (not the synthetic helper's) make a full page."""
    from fakesensors import ConstantPowerSensor

    from wattwatch import Tracker

    clock = {"t": 0.0}

    def tick() -> float:
        return clock["t"]

    for k in range(2):
        sensor = ConstantPowerSensor(300.0, n=2, clock=tick)
        t = Tracker(
            output_dir=tmp_path, sensors=[sensor], carbon_intensity_g_per_kwh=100.0, clock=tick,
            measure_power_secs=3600.0, timeseries_every_s=1.0, handle_signals=False,
        )  # fmt: skip
        t.start()
        for phase in ("train", "eval", "train"):
            t.set_phase(phase)
            clock["t"] += 10.0
            t.flush()
        t.set_counts(steps=10, samples=40, tokens=4000)
        t.set_eval_metrics({"eval_loss": 2.0 - k})
        t.stop()
    report = load_report([str(tmp_path)])
    assert len(report.runs) == 2 and len(report.series) == 2
    s = report.series[0]
    assert set(s.power_w) == {"gpu:0", "gpu:1"} and s.rows >= 1  # the series' rows come from sampler ticks
    data = payload(report)
    assert data["metrics"]["eval_loss"]["front"]
    assert all(r[COLUMNS.index("emb")] > 0 for r in data["runs"])  # written by the tracker, not computed here
    assert not any("computed here" in n for n in report.notes)
    assert render(report).startswith("<!DOCTYPE html>")


def _page_data(page: str) -> dict[str, object]:
    block = re.search(r'<script type="application/json" id="wattwatch-data">(.*?)</script>', page, flags=re.S)
    assert block is not None
    return json.loads(block.group(1))  # type: ignore[no-any-return]


def test_the_page_says_how_much_overlap_its_totals_count_once(tmp_path: Path) -> None:
    """Two runs measured one machine at once (issue 24, item 8): the page's totals take the overlap off as the
    text and ``--json`` reports do, and -- like them -- say how much (it used to take it off silently)."""
    from wattwatch.result import COLUMNS as ROW_COLUMNS
    from wattwatch.sinks.emissions_file import append_row

    folder = tmp_path / "p"
    a = EmissionsData(run_id="outer-run", status="completed", start_time="2026-01-01T00:00:00+00:00", duration=100.0,
                      gpu_energy=1.5, cpu_energy=0.5, energy_consumed=2.0, emissions=0.2)  # fmt: skip
    b = EmissionsData(run_id="inner-run", status="completed", start_time="2026-01-01T00:00:10+00:00", duration=50.0,
                      gpu_energy=0.6, cpu_energy=0.2, energy_consumed=0.8, emissions=0.08,
                      overlaps_run_id="outer-run", overlap_energy_kwh=0.4)  # fmt: skip
    for d in (a, b):
        append_row(folder / "emissions.csv", d.to_row(), ROW_COLUMNS, durable=False)
    report = load_report([str(folder)])
    tot = report.totals()
    assert tot["overlap_kwh"] == pytest.approx(0.4) and tot["energy_kwh"] == pytest.approx(2.4)
    assert tot["gpu_kwh"] == pytest.approx(1.8) and tot["operational_kg"] == pytest.approx(0.24)
    assert "overlap: 0.4 kWh measured by two runs on one machine at once is counted once" in report.overlap_sentence()
    out = tmp_path / "r.html"
    assert main(["report", str(folder), "--html", str(out)]) == 0  # the CLI's page: totals over every run
    data = _page_data(out.read_text(encoding="utf-8"))
    totals = data["totals"]
    assert isinstance(totals, dict) and totals["overlap_kwh"] == pytest.approx(0.4)
    assert totals["energy_kwh"] == pytest.approx(2.4)
    assert any("0.4 kWh measured by two runs" in n for n in data["notes"])  # type: ignore[attr-defined]
    alone = load_report([str(folder)], rows=[a])  # the other run not listed: nothing counted twice, nothing said
    assert alone.totals()["overlap_kwh"] == 0 and alone.overlap_sentence() == ""


def test_the_cumulative_footprint_ends_at_the_totals_with_the_overlap_counted_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two runs measured one machine at once: the cumulative chart's last point is ``--json``'s TOTAL (energy,
    operational and total CO2), the overlap taken off when the overlapping run is added (it used to be added
    twice: the chart ended 0.4 kWh and its CO2 above the TOTAL)."""
    from wattwatch.result import COLUMNS as ROW_COLUMNS
    from wattwatch.sinks.emissions_file import append_row

    folder = tmp_path / "p"
    a = EmissionsData(run_id="outer-run", status="completed", start_time="2026-01-01T00:00:00+00:00", duration=100.0,
                      gpu_energy=1.5, cpu_energy=0.5, energy_consumed=2.0, emissions=0.2, embodied_emissions=0.05)  # fmt: skip
    b = EmissionsData(run_id="inner-run", status="completed", start_time="2026-01-01T00:00:10+00:00", duration=50.0,
                      gpu_energy=0.6, cpu_energy=0.2, energy_consumed=0.8, emissions=0.12, embodied_emissions=0.01,
                      overlaps_run_id="outer-run", overlap_energy_kwh=0.4)  # fmt: skip
    for d in (a, b):
        append_row(folder / "emissions.csv", d.to_row(), ROW_COLUMNS, durable=False)
    assert main(["report", str(folder), "--json"]) == 0
    tot = json.loads(capsys.readouterr().out)["totals"]
    assert tot["energy_kwh"] == pytest.approx(2.4) and tot["emissions_kg"] == pytest.approx(0.26)  # b: half taken off
    want = (tot["emissions_kg"], tot["emissions_kg"] + tot["embodied_emissions_kg"], tot["energy_kwh"])

    out = tmp_path / "r.html"
    assert main(["report", str(folder), "--html", str(out)]) == 0  # the CLI's page: figures over every run
    curve = _page_data(out.read_text(encoding="utf-8"))["cumulative"]
    assert isinstance(curve, list) and len(curve) == 2
    assert tuple(curve[-1][1:]) == tuple(pytest.approx(w, rel=1e-5) for w in want)  # 5 digits on the page
    assert tuple(curve[0][1:]) == (pytest.approx(0.2), pytest.approx(0.25), pytest.approx(2.0))  # a: whole

    listed = load_report([str(folder)])  # the page of the listed runs alone (no overall figures)
    assert tuple(listed.cumulative()[-1][1:]) == tuple(pytest.approx(w, rel=1e-12) for w in want)
    page = _page_data(render(listed))["cumulative"]
    assert isinstance(page, list) and tuple(page[-1][1:]) == tuple(pytest.approx(w, rel=1e-5) for w in want)
