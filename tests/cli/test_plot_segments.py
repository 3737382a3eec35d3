"""``wattwatch plot`` of a run resumed in another process: its segments are joined end to end."""

from __future__ import annotations

from pathlib import Path

from wattwatch.sinks.timeseries import read_timeseries

HEADER = "timestamp,elapsed_s,phase,gpu:0_w,energy_kwh,emissions_kg\n"


def _segment(start_s: float, seconds: int, watts: float) -> str:
    lines = []
    for i in range(1, seconds + 1):
        kwh = watts * i / 3.6e6
        lines.append(f"2026-01-01T00:00:{i:02d}.000+00:00,{float(i):.3f},train,{watts},{kwh:.9g},{kwh * 0.05:.9g}\n")
    return "".join(lines)


def test_two_segments_are_joined_without_going_backwards(tmp_path: Path) -> None:
    path = tmp_path / "r.timeseries.csv"
    path.write_text(HEADER + _segment(0, 25, 300.0) + _segment(0, 30, 200.0))
    s = read_timeseries(path)
    assert s.segment_starts == [25.0]
    assert all(b > a for a, b in zip(s.elapsed_s, s.elapsed_s[1:], strict=False))
    assert all(b >= a for a, b in zip(s.emissions_kg, s.emissions_kg[1:], strict=False))
    assert s.elapsed_s[-1] == 55.0  # the whole tracked time, not the last segment's 30 s
    assert abs(s.energy_kwh[-1] - (300.0 * 25 + 200.0 * 30) / 3.6e6) < 1e-12


def test_one_segment_is_read_as_is(tmp_path: Path) -> None:
    path = tmp_path / "r.timeseries.csv"
    path.write_text(HEADER + _segment(0, 5, 300.0))
    s = read_timeseries(path)
    assert s.segment_starts == [] and s.elapsed_s == [1.0, 2.0, 3.0, 4.0, 5.0]
