"""stop() never waits on the sampler thread for longer than its tick in flight (issue 25: switching never costs
time): a periodic flush that wants the tracker's lock while stop() holds it gives way instead of stalling stop()
for the sampler's whole ``stop_timeout_s``."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor

from wattwatch import Tracker
from wattwatch.result import EmissionsData


def test_a_periodic_flush_due_while_stop_waits_for_its_tick_gives_way(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The sampler thread is inside a tick (a listener) when stop() begins; that tick's periodic flush is due and
    needs the tracker's lock, which stop() holds while it waits for the tick to end. Used to: wait for each other
    until the sampler's stop_timeout_s (5 s), then end the run without waiting for the tick. Now: the flush sees
    the run stopping and gives way; stop() takes the final read after the tick, and the row is the final one."""
    caplog.set_level(logging.WARNING, logger="wattwatch")
    t = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()], measure_power_secs=0.005,  # type: ignore[list-item]
                flush_every_s=0.001, save_timeseries=False, handle_signals=False, carbon_intensity_g_per_kwh=100)  # fmt: skip
    armed, inside, release = threading.Event(), threading.Event(), threading.Event()

    def listener(tracker: object, now: float) -> None:
        if armed.is_set() and not inside.is_set():
            inside.set()
            release.wait(30.0)

    t.add_listener(listener)
    t.start()
    armed.set()
    assert inside.wait(30.0)
    result: list[EmissionsData | None] = []
    worker = threading.Thread(target=lambda: result.append(t.stop()), name="user")
    worker.start()
    session = t._session
    assert session is not None
    while not session.sampler.stopping:  # stop() holds the tracker's lock and waits for the tick
        time.sleep(0.001)
    release.set()
    worker.join(30.0)
    assert not worker.is_alive()
    assert not [r for r in caplog.records if "did not end in time" in r.getMessage()]
    assert result and result[0] is not None and result[0].status == "completed"
    rows = (tmp_path / "emissions.csv").read_text().splitlines()
    assert len(rows) == 2 and ",completed," in rows[1]
