"""``wattwatch plot``: a PNG of power per channel with phase bands and cumulative CO2, from a real time series."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from wattwatch.cli.commands.plot import find_timeseries
from wattwatch.cli.main import main
from wattwatch.run.tracker import Tracker
from wattwatch.sensors.base import POWER, ChannelInfo, Reading
from wattwatch.sinks.timeseries import read_timeseries


class Rig:
    """Two GPUs and a CPU whose power follows the phase the test sets."""

    def __init__(self) -> None:
        self.watts = {"gpu:0": 300.0, "gpu:1": 280.0, "cpu": 60.0}

    def channels(self) -> list[str]:
        return list(self.watts)

    def describe(self) -> list[ChannelInfo]:
        return [ChannelInfo(c, "gpu" if c.startswith("gpu") else "cpu", "power-integral") for c in self.watts]

    def read(self, t: float) -> dict[str, Reading]:
        return {c: Reading(w, POWER) for c, w in self.watts.items()}

    def close(self) -> None:
        pass


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    rig = Rig()
    tracker = Tracker(
        output_dir=tmp_path,
        run_id="0123abcd-run",
        sensors=[rig],
        measure_power_secs=0.01,
        timeseries_every_s=0.04,
        carbon_intensity_g_per_kwh=300,
        handle_signals=False,
    ).start()
    for phase, gpu_w, seconds in (("train", 300.0, 0.4), ("eval", 120.0, 0.2), ("train", 310.0, 0.4)):
        tracker.set_phase(phase)
        rig.watts.update({"gpu:0": gpu_w, "gpu:1": gpu_w - 20})
        time.sleep(seconds)
    tracker.stop()
    return tmp_path


def test_reads_the_series(run_dir: Path) -> None:
    path = find_timeseries("0123", run_dir)
    s = read_timeseries(path)
    assert set(s.power_w) == {"gpu:0", "gpu:1", "cpu"}
    spans = s.phase_spans()
    # the moment between start() and the first set_phase is unphased, and its own (tiny) band: issue 24
    assert [p for p, _, _ in spans] == ["(unphased)", "train", "eval", "train"]
    assert spans[0][2] - spans[0][1] < 0.05
    assert spans[2][2] - spans[2][1] == pytest.approx(0.2, abs=0.05)  # the eval band: its edges are rows
    assert s.emissions_kg[-1] > s.emissions_kg[0]


def test_writes_a_png(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "figs" / "power.png"
    assert main(["plot", "0123abcd", "--dir", str(run_dir), "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a drawn figure, not an empty canvas
    assert f"wrote {out}" in capsys.readouterr().out
    by_file = tmp_path / "by_file.png"
    assert main(["plot", str(run_dir / "0123abcd-run.timeseries.csv"), "--out", str(by_file)]) == 0
    assert by_file.exists()


def test_unknown_run_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", "nope", "--dir", str(tmp_path)]) == 2
    assert "no time series for run 'nope'" in capsys.readouterr().err
