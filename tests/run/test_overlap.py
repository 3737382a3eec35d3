"""Issue 24, item 8: two trackers measuring one machine at once -- a second tracker in one process, a tracker
inside ``wattwatch run`` -- say so once, record the overlap, stay visible as their own runs, and ``report``
counts the overlap once."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor

from wattwatch import Tracker
from wattwatch.cli.main import main

SUPPORT = Path(__file__).resolve().parents[1] / "support"


def _report(folder: Path) -> dict[str, object]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["report", str(folder), "--json"]) == 0
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


def _tracker(folder: Path, watts: float) -> Tracker:
    return Tracker(output_dir=folder, sensors=[ConstantPowerSensor(watts)], carbon_intensity_g_per_kwh=100.0,
                   save_timeseries=False, handle_signals=False)  # fmt: skip


def test_a_second_tracker_in_one_process_says_so_and_is_counted_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = _tracker(tmp_path, 100.0).start()
    with caplog.at_level(logging.WARNING):
        second = _tracker(tmp_path, 100.0).start()
        time.sleep(0.3)
        second.flush()
        second.flush()
    overlap_warnings = [r for r in caplog.records if "is already measuring this machine" in r.getMessage()]
    assert len(overlap_warnings) == 1 and first.run_id in overlap_warnings[0].getMessage()
    a = first.stop()
    time.sleep(0.3)
    b = second.stop()
    assert a is not None and b is not None and a.overlaps_run_id == ""
    assert b.overlaps_run_id == first.run_id
    assert b.overlap_energy_kwh is not None and 0 < b.overlap_energy_kwh < b.energy_consumed
    assert b.overlap_energy_kwh == pytest.approx(b.energy_consumed * 0.5, rel=0.35)  # about half of its time
    doc = _report(tmp_path)
    assert doc["runs_total"] == 2  # both visible
    tot = doc["totals"]
    assert isinstance(tot, dict)
    assert tot["overlap_kwh"] == pytest.approx(b.overlap_energy_kwh)
    assert tot["energy_kwh"] == pytest.approx(a.energy_consumed + b.energy_consumed - b.overlap_energy_kwh)
    # the CSV holds both rows; the overlap is in the row, for anyone reading it
    from wattwatch.report.history import collect_runs, totals

    runs, _ = collect_runs([str(tmp_path)])
    assert totals(runs)["energy_kwh"] == pytest.approx(tot["energy_kwh"])


def test_a_tracker_inside_wattwatch_run_is_its_own_visible_run(tmp_path: Path) -> None:
    """Its row took the outer run's id (WATTWATCH_RUN_ID) and hid behind the outer run's row in report."""
    inner = (
        f"import sys, time; sys.path.insert(0, {str(SUPPORT)!r}); from fakesensors import ConstantPowerSensor;"
        "from wattwatch import Tracker;"
        f"t = Tracker(output_dir={str(tmp_path)!r}, sensors=[ConstantPowerSensor(50.0)], carbon_intensity_g_per_kwh=100.0,"
        " save_timeseries=False); t.start(); time.sleep(0.3); d = t.stop(); print(d.run_id, d.overlaps_run_id)"
    )
    done = subprocess.run(
        [sys.executable, "-m", "wattwatch", "run", "--quiet", "--output-dir", str(tmp_path),
         "--carbon-intensity-g-per-kwh", "100", "--no-save-timeseries", "--", sys.executable, "-c", inner],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    inner_id, outer_id = done.stdout.split()
    assert inner_id == f"{outer_id}.inner"
    assert "is already measuring this machine (wattwatch run" in done.stderr
    doc = _report(tmp_path)
    runs = {r["run_id"]: r for r in doc["runs"]}  # type: ignore[attr-defined]
    assert set(runs) == {outer_id, inner_id}
    assert runs[inner_id]["overlaps_run_id"] == outer_id
    assert runs[inner_id]["overlap_energy_kwh"] == pytest.approx(runs[inner_id]["energy_kwh"])  # all of it
    tot = doc["totals"]
    assert isinstance(tot, dict)
    assert tot["energy_kwh"] == pytest.approx(runs[outer_id]["energy_kwh"])  # the inner run's energy, once
