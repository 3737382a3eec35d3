"""Issue 24, item 6: a true time series on every kind of host -- every row fresh, each phase's band where the
phase was (within one sample), the last row's cumulative energy the row's -- and ``/metrics`` fresh on a host
without GPUs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor, HostModelSensor

from wattwatch import Tracker
from wattwatch.report.runs import read_series
from wattwatch.sinks.timeseries import read_timeseries, timeseries_path

INTERVAL_S = 0.05


def _run(tmp_path: Path, sensors: list[object]) -> tuple[Tracker, tuple[float, float], HostModelSensor]:
    host = next(s for s in sensors if isinstance(s, HostModelSensor))
    t = Tracker(
        output_dir=tmp_path, sensors=sensors, measure_power_secs=INTERVAL_S, timeseries_every_s=INTERVAL_S,  # type: ignore[arg-type]
        carbon_intensity_g_per_kwh=100.0, handle_signals=False,
    ).start()  # fmt: skip
    assert t._session is not None
    t0 = t._session.outputs._t0
    time.sleep(0.6)
    with t.phase("eval"):
        begin = time.monotonic() - t0
        host.set_watts(120.0)
        time.sleep(0.3)
        host.set_watts(50.0)
        end = time.monotonic() - t0
    time.sleep(0.4)
    t.stop()
    return t, (begin, end), host


@pytest.mark.parametrize("gpus", [0, 2], ids=["cpu-only host", "host with GPUs"])
def test_rows_fresh_bands_true_and_series_ends_at_the_row(tmp_path: Path, gpus: int) -> None:
    sensors: list[object] = [HostModelSensor(50.0)]
    if gpus:
        sensors.insert(0, ConstantPowerSensor(200.0, n=gpus))
    t, (begin, end), host = _run(tmp_path, sensors)
    data = t.final_emissions_data
    assert data is not None
    series = read_timeseries(timeseries_path(tmp_path, t.run_id))
    # fresh: time and energy move at every row (they froze for up to 10 rows on a host without GPUs)
    assert len(series.elapsed_s) >= 15
    assert all(b > a for a, b in zip(series.elapsed_s, series.elapsed_s[1:], strict=False))
    assert all(b > a for a, b in zip(series.energy_kwh, series.energy_kwh[1:], strict=False))
    assert len({p for p in series.power_w["cpu"] if p is not None}) >= 2  # the eval step shows in the CPU column
    # the band: within one sample of the phase's true start and end, in the file and in the HTML report's data
    (eval_span,) = [s for s in series.phase_spans() if s[0] == "eval"]
    assert eval_span[1] == pytest.approx(begin, abs=INTERVAL_S) and eval_span[2] == pytest.approx(end, abs=INTERVAL_S)
    (html_span,) = [s for s in read_series(timeseries_path(tmp_path, t.run_id), t.run_id).phases if s[0] == "eval"]
    assert html_span[1:] == pytest.approx(eval_span[1:])
    # the last row's cumulative energy is the row's (within 0.5 %), and so is the CPU's exact energy
    assert series.energy_kwh[-1] == pytest.approx(data.energy_consumed, rel=5e-3)
    assert data.cpu_energy * 3.6e6 == pytest.approx(host.exact_j(), rel=1e-4)  # stamps: the read call's midpoint
    # the eval phase holds the 120 W stretch: 0.3 s at 120 W (+ the GPUs'), within one sample
    eval_j = data.phase_energy_kwh["eval"] * 3.6e6
    assert eval_j == pytest.approx((120.0 + 200.0 * gpus) * (end - begin), rel=0.2)


def test_a_plain_tracker_phase_gets_a_band_even_shorter_than_a_row(tmp_path: Path) -> None:
    """A short phase between two rows had no row of its own, hence no band."""
    gpu = ConstantPowerSensor(100.0)
    t = Tracker(output_dir=tmp_path, sensors=[gpu], measure_power_secs=0.05, timeseries_every_s=1.0, handle_signals=False)
    t.start()
    time.sleep(0.1)
    with t.phase("eval"):
        time.sleep(0.02)
    time.sleep(0.1)
    t.stop()
    spans = read_timeseries(timeseries_path(tmp_path, t.run_id)).phase_spans()
    assert [s[0] for s in spans] == ["(unphased)", "eval", "(unphased)"]
    assert spans[1][2] - spans[1][1] == pytest.approx(0.02, abs=0.02)


def test_metrics_energy_is_fresh_on_a_host_without_gpus(tmp_path: Path) -> None:
    """/metrics read the host models' energy as of their last read (every 10 s): up to 10 s late when they are
    the whole machine. The page is rendered after a sample with a reading of the host models taken first, so a
    scrape's energy is at most one render (0.25 s) and one tick old."""
    pytest.importorskip("prometheus_client")
    import re
    import urllib.request

    host = HostModelSensor(50.0)
    t = Tracker(
        output_dir=tmp_path, sensors=[host], measure_power_secs=0.05, save_timeseries=False, handle_signals=False,  # type: ignore[list-item]
        prometheus_port=0,
    ).start()  # fmt: skip
    started = time.monotonic()
    try:
        assert t._exporter is not None
        time.sleep(1.5)
        before = time.monotonic() - started
        with urllib.request.urlopen(t._exporter.url, timeout=5) as response:  # noqa: S310 - loopback
            text = response.read().decode()
        (scraped,) = re.findall(r'wattwatch_energy_joules_total\{[^}]*device="cpu"[^}]*\} (\S+)', text)
        # without the reading at the render: the first tick's read only (the 10 s cadence), about 0 J
        assert float(scraped) > 50.0 * (before - 0.25 - 0.05 - 0.5)  # (0.5 s: slack for a loaded machine)
    finally:
        t.stop()
