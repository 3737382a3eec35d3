"""Smoke test of benchmarks/bench_acting.py with tiny sizes (no timing assertions: the figures live in
benchmarks/RESULTS.md)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import bench_acting  # noqa: E402


def test_pause_vs_oracle_and_coverage_run_and_are_well_formed() -> None:
    cases = bench_acting.pause_vs_oracle(1, lengths=(1, 2), starts=2)
    assert "SYNTHETIC solar 0" in cases and "tests/data/planning_forecast.csv" in cases
    flat = [c for cs in cases.values() for c in cs]
    assert flat and all(c.late_s <= 1 for c in flat)  # the deadline always holds
    assert all(c.oracle_g <= c.policy_g + 1e-9 and c.oracle_g <= c.base_g + 1e-9 for c in flat)
    agg, share, n, late = bench_acting._ratio(flat)
    assert n > 0 and 0 <= share <= 1 and late == 0 and math.isfinite(agg)
    rows = bench_acting.coverage(1)
    assert {r["family"] for r in rows} >= {"steady", "throttle"} and all(r["n"] > 0 for r in rows)
    trace = bench_acting.solar_trace(3, days=2)
    assert len(trace) == 48 and min(trace) >= 20


def test_the_results_section_is_replaced_in_place(tmp_path: Path) -> None:
    from benchmarks.common import write_section

    path = tmp_path / "RESULTS.md"
    path.write_text("# R\n\n## GPU\n\nx\n\n## Acting on carbon\n\nold\n\n## Later\n\ny\n")
    write_section(bench_acting.HEADING, "new", path)
    assert path.read_text() == "# R\n\n## GPU\n\nx\n\n## Acting on carbon\n\nnew\n\n## Later\n\ny\n"
    path.write_text("# R\n")
    write_section(bench_acting.HEADING, "n", path)
    assert path.read_text().endswith("## Acting on carbon\n\nn\n")
