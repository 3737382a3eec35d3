"""What the HTML report computes: run summaries, J per unit, Pareto fronts, downsampled series, phases."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from reportruns import PHASE_WATTS, SeriesPlan, make_project, write_series

from wattwatch.carbon.embodied import embodied_for_run
from wattwatch.report.runs import (
    downsample,
    load_report,
    lower_is_better,
    pareto_front,
    read_series,
    summarise,
)
from wattwatch.result import EmissionsData

ROW = EmissionsData(
    run_id="r1",
    duration=3600.0,
    energy_consumed=2.0,
    emissions=0.1,
    gpu_count=4,
    gpu_model="4 x NVIDIA H100 80GB HBM3",
    cpu_model="Intel(R) Xeon(R) Platinum 8480+",
    cpu_count=224,
    ram_total_size=1024.0,
    steps=100,
    samples=3200,
    tokens=1_000_000,
)


def test_embodied_from_the_row_when_it_has_one() -> None:
    row = EmissionsData(**{**ROW.values, "embodied_emissions": 0.5, "embodied_source": "method=x"})
    s = summarise(row)
    assert (s.embodied_kg, s.embodied_source, s.embodied_computed_here) == (0.5, "method=x", False)
    assert s.total_kg == pytest.approx(0.6)


def test_embodied_computed_for_an_older_row_and_said_so() -> None:
    s = summarise(ROW, lifetime_years=5, use_ratio=0.5)
    expected = embodied_for_run(ROW, lifetime_years=5, use_ratio=0.5)
    assert s.embodied_kg == pytest.approx(expected.kg)
    assert s.embodied_computed_here and s.embodied_source.endswith("computed at report time")
    assert "lifetime_y=5" in s.embodied_source


def test_joules_per_step_sample_token() -> None:
    s = summarise(ROW)
    assert s.j_per_step == pytest.approx(2.0 * 3.6e6 / 100)
    assert s.j_per_sample == pytest.approx(2.0 * 3.6e6 / 3200)
    assert s.j_per_token == pytest.approx(7.2)
    none = summarise(EmissionsData(**{**ROW.values, "tokens": None, "steps": 0}))
    assert none.j_per_token is None and none.j_per_step is None
    # with phases, the training phase's energy (evaluation and checkpoints excluded), as the callbacks log it
    phased = summarise(EmissionsData(**{**ROW.values, "phase_energy_kwh": {"train": 1.5, "eval": 0.5}}))
    assert phased.j_per_token == pytest.approx(1.5 * 3.6e6 / 1_000_000)


@pytest.mark.parametrize(
    ("points", "minimize", "front"),
    [
        # (kg, loss): (2, 0.5) is beaten by (1, 0.4); (3, 0.3) buys a better loss for more carbon
        ([(1.0, 0.4), (2.0, 0.5), (3.0, 0.3), (4.0, 0.3)], True, [(1.0, 0.4), (3.0, 0.3)]),
        # accuracy: higher is better
        ([(1.0, 0.7), (2.0, 0.6), (3.0, 0.9), (0.5, 0.5)], False, [(0.5, 0.5), (1.0, 0.7), (3.0, 0.9)]),
        # same carbon: only the better quality counts
        ([(1.0, 0.4), (1.0, 0.3)], True, [(1.0, 0.3)]),
        ([], True, []),
    ],
)
def test_pareto_front(points: list[tuple[float, float]], minimize: bool, front: list[tuple[float, float]]) -> None:
    assert pareto_front(points, minimize_y=minimize) == front


@pytest.mark.parametrize(
    ("name", "lower"),
    [("eval_loss", True), ("eval_perplexity", True), ("eval_wer", True), ("eval_accuracy", False), ("eval_f1", False)],
)
def test_metric_direction(name: str, lower: bool) -> None:
    assert lower_is_better(name) is lower


def test_downsample_means_and_gaps() -> None:
    t = [float(i) for i in range(10)]
    v: list[float | None] = [1.0, 3.0, None, None, 5.0, 7.0, 2.0, 2.0, 4.0, 6.0]
    out_t, out_v = downsample(t, v, 5)
    assert out_t == [0.5, 2.5, 4.5, 6.5, 8.5]
    assert out_v == [2.0, None, 6.0, 2.0, 5.0]  # an all-gap bucket stays a gap
    assert downsample(t, v, 50) == (t, v)  # fewer points than buckets: unchanged


def test_series_phases_power_and_intensity(tmp_path: Path) -> None:
    plan = SeriesPlan(intensity_g_per_kwh=(50.0, 120.0, 80.0, 30.0), gpus=2)
    path = tmp_path / "r.timeseries.csv"
    write_series(path, plan, datetime(2026, 1, 1, tzinfo=timezone.utc))
    s = read_series(path, "r", max_points=1000)
    assert s.rows == 150
    assert s.phases == [("train", 0.0, 60.0), ("eval", 60.0, 80.0), ("checkpoint", 80.0, 90.0), ("train", 90.0, 150.0)]
    assert set(s.power_w) == {"gpu:0", "gpu:1", "cpu", "ram"}
    assert s.power_w["gpu:0"][0] == PHASE_WATTS["train"][0]
    # Per interval, kg/kWh is the stretch's intensity (the first row has no interval before it; the file keeps
    # 9 significant digits of the running totals, so differences carry ~1e-6 relative rounding).
    stretch_of = [0] * 60 + [1] * 20 + [2] * 10 + [3] * 60
    for g, k in list(zip(s.intensity_g_per_kwh, stretch_of, strict=True))[1:]:
        assert g == pytest.approx(plan.intensity_g_per_kwh[k], rel=1e-5)
    assert s.intensity_g_per_kwh[0] is None


def test_downsampled_series_keeps_energy(tmp_path: Path) -> None:
    """Bucket means x bucket widths integrate to the exact energy the trace carries (equal ticks)."""
    plan = SeriesPlan(stretches=(("train", 600.0), ("eval", 300.0)), gpus=1)
    path = tmp_path / "r.timeseries.csv"
    kwh, _ = write_series(path, plan, datetime(2026, 1, 1, tzinfo=timezone.utc))
    s = read_series(path, "r", max_points=90)  # 900 rows into 90 buckets of 10
    assert len(s.elapsed_s) == 90
    joules = sum(sum(w for w in s.power_w[c] if w is not None) * 10.0 for c in s.power_w)
    assert joules / 3.6e6 == pytest.approx(kwh, rel=1e-9)


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "r.timeseries.csv"
    write_series(path, SeriesPlan(stretches=(("train", 5.0),)), datetime(2026, 1, 1, tzinfo=timezone.utc))
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("2026-01-01T00:00:06.000+00:00,6.0")  # killed mid-write
    assert read_series(path, "r").rows == 5


def test_load_report_keeps_series_for_the_latest_runs_only(tmp_path: Path) -> None:
    rows = make_project(tmp_path / "p", 12, series_runs=4)
    report = load_report([str(tmp_path / "p")], series_runs=2)
    assert len(report.runs) == 12
    latest = sorted(rows, key=lambda d: d.start_time)[-2:]
    assert {s.run_id for s in report.series} == {d.run_id for d in latest}
    assert any("computed here" in n for n in report.notes)
    totals = report.totals()
    assert totals["operational_kg"] == pytest.approx(sum(d.emissions for d in rows))
    assert totals["total_kg"] == pytest.approx(totals["operational_kg"] + totals["embodied_kg"])
    assert report.metrics() == ["eval_accuracy", "eval_loss"]
    assert set(report.by_phase()) == {"train", "eval", "checkpoint"}


def test_load_report_by_project(tmp_path: Path) -> None:
    make_project(tmp_path / "p", 9, series_runs=0)
    report = load_report([str(tmp_path / "p")], project="llm-pretrain")
    assert len(report.runs) == 3 and {r.project for r in report.runs} == {"llm-pretrain"}


def test_co2_by_component_adds_up(tmp_path: Path) -> None:
    rows = make_project(tmp_path / "p", 6, series_runs=0)
    report = load_report([str(tmp_path / "p")])
    comp = report.by_component()
    assert set(comp) == {"gpu", "cpu", "ram", "server"}
    assert sum(o for o, _ in comp.values()) == pytest.approx(sum(d.emissions for d in rows))
    assert sum(e for _, e in comp.values()) == pytest.approx(report.totals()["embodied_kg"])
    assert comp["server"][0] == 0.0 and comp["server"][1] > 0  # a chassis uses no electricity of its own here
    # GPU share of operational CO2 = GPU share of kWh (0.8 in these rows)
    assert comp["gpu"][0] == pytest.approx(0.8 * sum(d.emissions for d in rows))


def test_a_series_with_no_samples_is_noted_not_fatal(tmp_path: Path) -> None:
    rows = make_project(tmp_path / "p", 3, series_runs=0)
    (tmp_path / "p" / f"{rows[-1].run_id}.timeseries.csv").write_text("timestamp,elapsed_s,phase,gpu:0_w\n")
    report = load_report([str(tmp_path / "p")])
    assert report.series == [] and len(report.runs) == 3
    assert any("no samples" in n for n in report.notes)
