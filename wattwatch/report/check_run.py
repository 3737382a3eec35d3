"""``wattwatch check``'s checks of a run as a whole: its segments and its time series (see
:mod:`wattwatch.report.check`, which reads the rows)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from wattwatch.report.check import REL, SERIES_TOLERANCE, Problem

if TYPE_CHECKING:
    from wattwatch.report.check import Segment

__all__ = ["check_run", "distinct_segments"]

_COUNTS = ("steps", "samples", "tokens")


_NOT_ENDED = ("running", "interrupted")
"""Statuses whose row may hold an earlier state than the time series' last line: a run still going, or one
whose process died (``kill -9``: its row is its journal's last flush, the series' last line was written at
another moment)."""

def distinct_segments(segments: list[Segment]) -> list[Segment]:
    """One row per segment, in order: a segment found twice (CodeCarbon's columns beside the full row, a journal
    beside its row) is its fullest, latest row, and two retries from one checkpoint are two segments, as
    ``wattwatch report`` counts them (:class:`~wattwatch.report.segments.SegmentWinners`)."""
    from wattwatch.report.segments import SegmentWinners

    found: SegmentWinners[Segment] = SegmentWinners()
    for seg in segments:
        found.add(seg, "", seg.segment, seg.start, (seg.full, seg.timestamp))
    return sorted(found.winners(), key=lambda s: (s.segment, s.start, s.timestamp))


def check_run(run_id: str, segments: list[Segment], series: Path | None) -> list[Problem]:
    """What disagrees in the run ``run_id`` (its rows ``segments``; its time series file ``series``)."""
    rows = distinct_segments(segments)
    out: list[Problem] = []
    for earlier, later in zip(rows, rows[1:], strict=False):
        for name, a, b in zip(_COUNTS, earlier.counts, later.counts, strict=True):
            if a is not None and b is not None and b < a and later.segment > earlier.segment:
                out.append(Problem(later.path, later.line, run_id, f"segment {later.segment}'s {name} ({b:g}) "
                                   f"are fewer than segment {earlier.segment}'s ({a:g}): not the run's counts"))  # fmt: skip
    if len(rows) > 1:
        out += _jpt(run_id, rows)
    if series is not None and all(r.status not in _NOT_ENDED for r in rows) and all(r.full for r in rows):
        out += _series(run_id, rows, series)
    return out


def _jpt(run_id: str, rows: list[Segment]) -> list[Problem]:
    """The run's J/token as ``report`` shows it = the training energy of every segment over the last tokens."""
    from wattwatch.measure.figures import run_joules_per
    from wattwatch.report.segments import combine_segments, segments_training_kwh

    datas = [r.data for r in rows]
    tokens = rows[-1].counts[2]
    if any(d is None for d in datas) or not tokens:
        return []
    found = [d for d in datas if d is not None]
    shown = run_joules_per(segments_training_kwh(found), combine_segments(found).tokens)
    expected = math.fsum(r.train for r in rows) * 3.6e6 / tokens
    if shown is None or not math.isclose(shown, expected, rel_tol=REL):
        return [Problem(rows[-1].path, rows[-1].line, run_id, f"J/token across its {len(rows)} segments is "
                        f"{shown}, their training energy over the last tokens gives {expected:.9g}")]  # fmt: skip
    return []


def _series(run_id: str, rows: list[Segment], path: Path) -> list[Problem]:
    """The series' last cumulative energy is the rows' (every segment's: the reader joins them), and its time
    goes forward."""
    from wattwatch.sinks.timeseries import read_timeseries

    try:
        s = read_timeseries(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return [Problem(path, None, run_id, f"cannot read the time series ({exc})")]
    out: list[Problem] = []
    energy = math.fsum(r.energy for r in rows)
    last = s.energy_kwh[-1]
    if not math.isclose(last, energy, rel_tol=SERIES_TOLERANCE, abs_tol=1e-12):
        out.append(Problem(path, None, run_id, f"the time series ends at {last:.9g} kWh, its rows hold {energy:.9g} "
                           f"(more than {SERIES_TOLERANCE:.1%} apart)"))  # fmt: skip
    if len(s.segment_starts) > len(rows) - 1:  # the reader starts a segment where time goes back
        out.append(Problem(path, None, run_id, f"the time series goes back in time ({len(s.segment_starts)} "
                           f"restart(s) for {len(rows)} segment(s))"))  # fmt: skip
    return out
