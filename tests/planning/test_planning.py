"""Library tests for wattwatch.planning, wattwatch.carbon.regions and wattwatch.planning.gpu_specs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from wattwatch import planning
from wattwatch.carbon.regions import BOOK_REGIONS, Region, default_catalog, merge_catalogs, read_catalog_csv
from wattwatch.planning.gpu_specs import GPU_SPECS, gpu_spec

DATA = Path(__file__).resolve().parents[1] / "data"
HOUR = 3600.0


# ------------------------------------------------------------------------------------------ dense vs MoE


def test_book_moe_example_saving_and_honest_absolutes() -> None:
    c = planning.compare_architectures(70e9, 13e9, 2e12, moe_total_params=47e9, g_per_kwh=400.0)  # the book's grid
    assert round(c.energy_saving * 100, 1) == 81.4
    assert c.energy_saving == pytest.approx(1 - 13 / 70)
    assert c.emissions_saving == pytest.approx(c.energy_saving)
    # What the book's formula and defaults give (docs/planning.md notes the book prints another kWh).
    assert c.dense.flops == pytest.approx(8.4e23)
    assert c.dense.gpu_hours == pytest.approx(8.4e23 / (989e12 * 0.40) / 3600)
    assert c.dense.gpu_hours == pytest.approx(589_821.37, rel=1e-7)
    assert c.dense.energy_kwh == pytest.approx(454_162.45, rel=1e-7)
    assert c.dense.emissions_kg == pytest.approx(181_664.98, rel=1e-7)
    assert c.moe.energy_kwh == pytest.approx(84_344.46, rel=1e-7)
    assert c.moe.emissions_kg == pytest.approx(33_737.78, rel=1e-7)
    assert c.moe.total_params == 47e9 and c.dense.total_params == 70e9


def test_inference_flops_are_a_third_of_training() -> None:
    train = planning.estimate_training("m", 7e9, 1e9)
    infer = planning.estimate_training(
        "m", 7e9, 1e9, flops_per_param_token=planning.INFERENCE_FLOPS_PER_PARAM_TOKEN
    )
    assert infer.energy_kwh == pytest.approx(train.energy_kwh / 3)


@pytest.mark.parametrize("mfu", [0.0, -0.1, 1.01, 40.0, math.nan])
def test_mfu_outside_unit_interval_is_refused(mfu: float) -> None:
    with pytest.raises(ValueError, match=r"MFU must be in \(0, 1\]"):
        planning.compare_architectures(70e9, 13e9, 2e12, mfu=mfu)


def test_bad_architecture_inputs() -> None:
    with pytest.raises(ValueError, match="tokens"):
        planning.compare_architectures(70e9, 13e9, -1)
    with pytest.raises(ValueError, match="total parameters"):
        planning.compare_architectures(70e9, 13e9, 2e12, moe_total_params=10e9)
    with pytest.raises(ValueError, match="PUE"):
        planning.compare_architectures(70e9, 13e9, 2e12, pue=0.9)


@settings(max_examples=60, deadline=None)
@given(
    dense=st.floats(1e8, 1e12),
    a=st.floats(0.01, 1.0),
    b=st.floats(0.01, 1.0),
    tokens=st.floats(1e6, 1e13),
    mfu=st.floats(0.05, 1.0),
)
def test_saving_grows_as_active_parameters_shrink(
    dense: float, a: float, b: float, tokens: float, mfu: float
) -> None:
    small, large = sorted((a * dense, b * dense))
    assume(small < large)
    s_small = planning.compare_architectures(dense, small, tokens, mfu=mfu).energy_saving
    s_large = planning.compare_architectures(dense, large, tokens, mfu=mfu).energy_saving
    assert s_small >= s_large
    assert 0 <= s_large < 1


# ------------------------------------------------------------------------------------------ region choice


BOOK_TOP5 = [
    ("swedencentral", 154.0, 34_000.0, 0.95),
    ("eu-north-1", 192.5, 34_000.0, 0.95),
    ("europe-north1", 231.0, 32_200.0, 0.92),
    ("ca-central-1", 231.0, 30_600.0, 0.82),
    ("us-west-2", 924.0, 30_600.0, 0.72),
]


@pytest.mark.parametrize("catalog", [None, BOOK_REGIONS], ids=["default", "book-only"])
def test_book_region_ranking(catalog: tuple[Region, ...] | None) -> None:
    plan = planning.recommend_region(10_000, catalog=catalog, max_cost_usd=50_000, top=5)
    got = [(o.region.region, o.emissions_kg, o.cost_usd, o.region.renewable_share) for o in plan.ranked]
    assert [g[0] for g in got] == [b[0] for b in BOOK_TOP5]
    for (_, kg, usd, share), (_, bkg, busd, bshare) in zip(got, BOOK_TOP5, strict=True):
        assert kg == pytest.approx(bkg) and usd == pytest.approx(busd) and share == bshare
    assert plan.kwh_per_gpu_hour == pytest.approx(0.77)


def test_codecarbon_second_figure_kept_but_not_ranked() -> None:
    catalog = {r.key: r for r in default_catalog()}
    en1 = catalog[("gcp", "europe-north1")]
    assert en1.g_per_kwh == 30.0 and en1.source == "book"
    assert en1.reference_g_per_kwh == 46.0 and "codecarbon" in (en1.reference_source or "")
    assert catalog[("gcp", "us-central1")].reference_g_per_kwh == 430.0
    assert ("gcp", "asia-east1") in catalog  # CodeCarbon's other GCP regions join the catalog
    plan = planning.recommend_region(10_000, max_cost_usd=50_000, top=5)
    opt = next(o for o in plan.ranked if o.region.region == "europe-north1")
    assert opt.reference_emissions_kg == pytest.approx(354.2)
    assert plan.unpriced and all(o.cost_usd is None for o in plan.unpriced)


def test_user_catalog_extends_and_overrides() -> None:
    extra = read_catalog_csv(DATA / "planning_catalog.csv")
    merged = {r.key: r for r in merge_catalogs(BOOK_REGIONS, extra, keep_base_figure=False)}
    assert merged[("ovh", "gra")].usd_per_gpu_hour == 2.0
    west = merged[("aws", "us-west-2")]
    assert west.g_per_kwh == 100 and west.usd_per_gpu_hour == 3.06 and west.renewable_share == 0.72
    assert west.reference_g_per_kwh == 120 and west.reference_source == "book"
    assert merged[("gcp", "northamerica-northeast1")].renewable_share == pytest.approx(0.99)


def test_bad_catalog(tmp_path: Path) -> None:
    bad = tmp_path / "c.csv"
    bad.write_text("provider,region,usd\naws,x,1\n")
    with pytest.raises(ValueError, match="missing column"):
        read_catalog_csv(bad)
    bad.write_text("provider,region,g_per_kwh\naws,x,abc\n")
    with pytest.raises(ValueError, match=":2: g_per_kwh"):
        read_catalog_csv(bad)


def test_negative_gpu_hours_refused() -> None:
    with pytest.raises(ValueError, match="GPU-hours must be a number >= 0"):
        planning.recommend_region(-1)


_region = st.builds(
    Region,
    provider=st.sampled_from(["aws", "gcp", "azure"]),
    region=st.text("abcdefgh-1", min_size=1, max_size=8),
    g_per_kwh=st.floats(0, 1000),
    usd_per_gpu_hour=st.one_of(st.none(), st.floats(0.1, 10)),
    renewable_share=st.one_of(st.none(), st.floats(0, 1)),
    source=st.just("test"),
)


@settings(max_examples=80, deadline=None)
@given(
    regions=st.lists(_region, max_size=15, unique_by=lambda r: r.key),
    hours=st.floats(0, 1e5),
    b1=st.floats(0, 1e6),
    b2=st.floats(0, 1e6),
)
def test_tighter_budget_never_adds_a_region(
    regions: list[Region], hours: float, b1: float, b2: float
) -> None:
    tight, loose = sorted((b1, b2))
    in_tight = {
        o.region.key for o in planning.recommend_region(hours, catalog=regions, max_cost_usd=tight).ranked
    }
    in_loose = {
        o.region.key for o in planning.recommend_region(hours, catalog=regions, max_cost_usd=loose).ranked
    }
    assert in_tight <= in_loose
    ranked = planning.recommend_region(hours, catalog=regions).ranked
    assert [o.emissions_kg for o in ranked] == sorted(o.emissions_kg for o in ranked)


# -------------------------------------------------------------------------------------------- calculator


def test_gpu_table_lookup_and_sources() -> None:
    assert gpu_spec("NVIDIA H100 80GB HBM3").board_power_w == 700
    assert gpu_spec("a100-sxm4-80gb").name == "A100-80GB"
    assert gpu_spec("Tesla T4").board_power_w == 70
    assert gpu_spec("AMD Instinct MI300X").board_power_w == 750
    assert all(s.source and s.board_power_w > 0 for s in GPU_SPECS)
    with pytest.raises(ValueError, match="unknown GPU 'GTX 9000'.*--watts"):
        gpu_spec("GTX 9000")


def test_estimate_energy() -> None:
    e = planning.estimate_energy(8, 24, 700, g_per_kwh=56, pue=1.1)
    assert e.energy_kwh == pytest.approx(147.84)
    assert e.emissions_kg == pytest.approx(147.84 * 0.056)
    with pytest.raises(ValueError, match="hours must be a number >= 0"):
        planning.estimate_energy(1, -1, 700)
    with pytest.raises(ValueError, match="GPU count"):
        planning.estimate_energy(0, 1, 700)


def test_project_from_measured_run() -> None:
    run = planning.read_measured_run(DATA / "planning_emissions.csv")
    assert run.run_id == "run-c" and run.steps == 500  # last *completed* row, not the running one
    p = planning.project_from_run(run, steps=100_000)
    assert p.energy_kwh == pytest.approx(100.0)
    assert p.emissions_kg == pytest.approx(40.0)
    assert p.duration_s == pytest.approx(360_000)
    t = planning.project_from_run(run, tokens=1_024_000 * 3, g_per_kwh=100)
    assert t.energy_kwh == pytest.approx(1.5) and t.emissions_kg == pytest.approx(0.15)
    a = planning.read_measured_run(DATA / "planning_emissions.csv", run_id="run-a")
    assert a.tokens == 4_096_000
    b = planning.read_measured_run(DATA / "planning_emissions.csv", run_id="run-b")
    with pytest.raises(ValueError, match="recorded no steps"):
        planning.project_from_run(b, steps=10)
    with pytest.raises(ValueError, match="exactly one"):
        planning.project_from_run(run)


# ----------------------------------------------------------------------------------- greenest start time

T0 = 1_740_787_200.0  # 2025-03-01T00:00Z


def _hours(values: list[float], t0: float = T0) -> list[tuple[float, float]]:
    return [(t0 + i * HOUR, v) for i, v in enumerate(values)]


def test_schedule_integrates_partial_hours() -> None:
    fc = _hours([400, 100, 100, 300, 500])
    r = planning.best_start(fc, 1.5 * HOUR, T0 + 5 * HOUR, T0 + 0.5 * HOUR, power_w=1000)
    assert r.start_s == T0 + HOUR
    assert r.mean_g_per_kwh == pytest.approx((100 + 0.5 * 100) / 1.5)
    assert r.now_mean_g_per_kwh == pytest.approx((0.5 * 400 + 100) / 1.5)
    assert r.energy_kwh == pytest.approx(1.5)
    assert r.saving_kg == pytest.approx(1.5 * (200 - 100) / 1000)
    assert planning.window_emissions(fc, T0 + 2.5 * HOUR, HOUR) == pytest.approx(200)


def test_schedule_matches_hourly_intensity_integration() -> None:
    from wattwatch.carbon.intensity import read_hourly_csv

    fc = read_hourly_csv(DATA / "planning_forecast.csv")
    for start in (fc.start_s + 1234.0, fc.start_s + 5 * HOUR, fc.start_s + 7.25 * HOUR):
        mine = planning.window_emissions(fc.hours, start, 2.5 * HOUR, step_s=fc.step_s)
        assert mine == pytest.approx(fc.mean_over(start, start + 2.5 * HOUR))


def test_schedule_errors() -> None:
    with pytest.raises(ValueError, match="forecast is empty"):
        planning.best_start([], HOUR, T0 + 10 * HOUR, T0)
    with pytest.raises(ValueError, match="ends after the deadline"):
        planning.best_start(_hours([1, 2, 3]), 2 * HOUR, T0 + HOUR, T0)
    with pytest.raises(ValueError, match="does not cover"):
        planning.best_start(_hours([1, 2, 3]), 2 * HOUR, T0 + 10 * HOUR, T0 - HOUR)
    with pytest.raises(ValueError, match="duration"):
        planning.best_start(_hours([1, 2, 3]), -HOUR, T0 + 10 * HOUR, T0)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.floats(0, 1000), min_size=1, max_size=48),
    duration_h=st.floats(0.1, 12),
    now_off_h=st.floats(0, 6),
    slack_h=st.floats(0, 48),
)
def test_schedule_never_past_deadline_never_worse_than_now(
    values: list[float], duration_h: float, now_off_h: float, slack_h: float
) -> None:
    fc = _hours(values)
    now = T0 + now_off_h * HOUR
    d = duration_h * HOUR
    deadline = now + d + slack_h * HOUR
    assume(now + d <= T0 + len(values) * HOUR)  # the forecast covers starting now
    r = planning.best_start(fc, d, deadline, now)
    assert now <= r.start_s and r.end_s <= deadline + 1e-6
    assert r.emissions_kg <= r.now_emissions_kg + 1e-12
    assert r.saving_kg >= 0 and 0 <= r.saving_fraction <= 1
    # brute force over the same candidates agrees
    cands = [now] + [t for t, _ in fc if now < t <= deadline - d and t + d <= T0 + len(values) * HOUR]
    means = [planning.window_emissions(fc, t, d) for t in cands]
    best = min(m for m in means if m is not None)
    assert r.mean_g_per_kwh == pytest.approx(best, rel=1e-9, abs=1e-9)
