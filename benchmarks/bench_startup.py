"""Figures 1 and 3: construct + start + stop latency (s) and the peak RSS (MiB) of a process that imports a
tracker, starts and stops it. Each run is a fresh process; wattwatch and CodeCarbon alternate."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import Figure, median, run_child

__all__ = ["measure"]


def measure(rounds: int = 5, env: dict[str, str] | None = None) -> list[Figure]:
    cycle: dict[str, list[float]] = {"ww": [], "cc": []}
    rss: dict[str, list[float]] = {"ww": [], "cc": [], "none": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            order = ("ww", "cc") if i % 2 == 0 else ("cc", "ww")
            for tool in order:
                out = Path(tmp) / f"{tool}{i}"
                out.mkdir()
                r = run_child("cycle", tool, env, "--out", str(out))
                cycle[tool].append(r.result["cycle_s"])
                rss[tool].append(r.maxrss_mib)
            rss["none"].append(run_child("bare", "none", env).maxrss_mib)
    ww_c, cc_c = median(cycle["ww"]), median(cycle["cc"])
    ww_m, cc_m, bare = median(rss["ww"]), median(rss["cc"]), median(rss["none"])
    return [
        Figure(
            "1",
            "construct + start + stop (fresh process)",
            ww_c,
            cc_c,
            "s",
            "ratio < 0.1",
            ww_c / cc_c < 0.1,
            note=f"median of {rounds} fresh processes per tool, alternated; timed inside the child after import.",
        ),
        Figure(
            "3",
            "peak RSS, process that starts + stops a tracker",
            ww_m,
            cc_m,
            "MiB",
            "wattwatch <= 40 MB",
            ww_m <= 40.0 * 1e6 / 2**20,
            note=f"ru_maxrss of the whole child (os.wait4); bare `python` here: {bare:.1f} MiB.",
        ),
    ]
