"""Figure 2: ``import`` wall time (ms) and peak memory (MiB) over bare Python, from fresh subprocesses
(``from wattwatch import Tracker`` against ``from codecarbon import OfflineEmissionsTracker``), alternated."""

from __future__ import annotations

from benchmarks.common import Figure, median, run_child

__all__ = ["measure"]


def measure(rounds: int = 7, env: dict[str, str] | None = None) -> list[Figure]:
    wall: dict[str, list[float]] = {"ww": [], "cc": [], "none": []}
    rss: dict[str, list[float]] = {"ww": [], "cc": [], "none": []}
    for i in range(rounds):
        order = ("none", "ww", "cc") if i % 2 == 0 else ("cc", "ww", "none")
        for tool in order:
            r = run_child("bare" if tool == "none" else "import", tool, env)
            wall[tool].append(r.wall_s)
            rss[tool].append(r.maxrss_mib)
    bare_ms = median(wall["none"]) * 1000
    ww_ms = median(wall["ww"]) * 1000 - bare_ms
    cc_ms = median(wall["cc"]) * 1000 - bare_ms
    ww_mem = median(rss["ww"]) - median(rss["none"])
    cc_mem = median(rss["cc"]) - median(rss["none"])
    return [
        Figure(
            "2a",
            "import time over bare Python",
            ww_ms,
            cc_ms,
            "ms",
            "wattwatch <= 30 ms",
            ww_ms <= 30.0,
            note=f"wall time of `python benchmarks/child.py import` minus `... bare` (median of {rounds}, "
            f"bare = {bare_ms:.0f} ms, which includes argparse/json of the harness).",
        ),
        Figure("2b", "import memory over bare Python", ww_mem, cc_mem, "MiB", "—", None),
    ]
