"""Tracker.energy_j: the segment's joules (PUE applied), all phases or one, with or without a reading first --
what per-request attribution reads at each settle, so it must agree with the row's figures."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor

from wattwatch import Tracker


def test_energy_j_agrees_with_the_row(tmp_path: Path) -> None:
    t = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor(100.0)], carbon_intensity_g_per_kwh=100.0,
                pue=1.5, save_timeseries=False, handle_signals=False)  # fmt: skip
    assert t.energy_j() == 0.0  # before start()
    t.start()
    with t.phase("inference"):
        time.sleep(0.05)
    inference = t.energy_j("inference", refresh=False)
    time.sleep(0.05)
    assert t.energy_j("inference") == inference  # a later reading adds nothing to a closed phase
    data = t.stop()
    assert data is not None
    assert t.energy_j() == pytest.approx(data.energy_consumed * 3.6e6, rel=1e-9)
    assert inference == pytest.approx(data.phase_energy_kwh["inference"] * 3.6e6, rel=1e-9)
    assert inference > 0 and t.energy_j("no-such-phase") == 0.0
