"""Figures 1 and 3: construct + start + stop latency (s) with 1, 4 and 8 fake GPUs and a country code, in the
users' set-up (an output folder with history, time series and the journals of runs still going,
:mod:`benchmarks.userdir`), with and without ``import torch`` first (as in a training script), and the peak RSS
(MiB) of a process that imports a tracker, starts and stops it (4 GPUs). Figure 1.4k: the first start in that
folder after two runs were killed there -- the start that adds their rows from their journals (every later
start finds no journal of theirs); it pays two more appends, each with its pending record, and their fsyncs.

Each run is a fresh process (``child.py cycle``: the tracker is constructed, started and stopped right after
import, ``Tracker(country_iso_code="FRA")`` against ``OfflineEmissionsTracker(country_iso_code="FRA")``) in its
own fresh copy of the tool's users' folder (written to disk before the process starts); the tools alternate,
and both load the same fake ``libnvidia-ml.so.1`` through pynvml (CodeCarbon sees the same GPUs: its row says
``4 x NVIDIA H100 80GB HBM3`` with 4 of them).

``python benchmarks/bench_startup.py [--rounds 9]`` prints the figures; ``run_all.py --only 1`` writes them.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Figure, compile_bytecode, fake_rig, median, run_child, spread
from benchmarks.userdir import fresh_copy, user_folders

__all__ = ["GOAL_RATIO", "measure"]

GOAL_RATIO = 1 / 20
"""construct + start + stop with 4 GPUs and a country code: at most this fraction of CodeCarbon's (issues 18,
25), in the users' set-up (folder with history and journals, ``import torch`` first) and without torch."""


def _ms(values: Sequence[float]) -> str:
    return ", ".join(f"{v * 1e3:.0f}" for v in values)


def _load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def measure(
    rounds: int = 9,
    gpus: Sequence[int] = (1, 4, 8),
    rss_gpus: int = 4,
    after_rounds: int = 9,
    rows: int = 10_000,
) -> list[Figure]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))
    import fakenvml

    compile_bytecode()
    figures: list[Figure] = []
    rss: dict[str, list[float]] = {"ww": [], "cc": [], "none": []}
    with tempfile.TemporaryDirectory() as tmp:
        base = fake_rig(Path(tmp) / "rig-setup", fakenvml.square_wave_gpus(4))
        # a start as most are: history, time series, the journals of runs still going (a killed run's journal
        # becomes a row at the first start after it, once: figure 1.4k)
        with user_folders(Path(tmp) / "templates", base.env, rows=rows, dead=0) as folders:
            template = {"ww": folders.ww, "cc": folders.cc}
            setup = folders.describe()
            for n in gpus:
                rig = fake_rig(Path(tmp) / f"rig{n}", fakenvml.square_wave_gpus(n))
                runs = _alternate(rig.env, template, Path(tmp) / f"n{n}", rounds)
                if n == rss_gpus:
                    rss["ww"] += [r["vmhwm_mib"] for r in runs["ww"]]
                    rss["cc"] += [r["vmhwm_mib"] for r in runs["cc"]]
                    rss["none"] += [run_child("bare", "none", rig.env).result["vmhwm_mib"] for _ in range(3)]
                    if after_rounds:
                        figures.append(_after_torch(rig.env, template, Path(tmp), n, after_rounds, setup))
                figures.append(_figure(f"1.{n}", n, runs, setup, torch=False))
        if after_rounds and rss_gpus in gpus:
            with user_folders(Path(tmp) / "templates-killed", base.env, rows=rows, dead=2) as killed:
                rig = fake_rig(Path(tmp) / "rig-killed", fakenvml.square_wave_gpus(rss_gpus))
                template = {"ww": killed.ww, "cc": killed.cc}
                figures.append(
                    _after_torch(rig.env, template, Path(tmp), rss_gpus, after_rounds, killed.describe(), killed=True)
                )
    ww_m, cc_m, bare = median(rss["ww"]), median(rss["cc"]), median(rss["none"])
    figures.append(
        Figure(
            "3",
            f"peak RSS, process that starts + stops a tracker ({rss_gpus} fake GPUs)",
            ww_m,
            cc_m,
            "MiB",
            "wattwatch <= 40 MB",
            ww_m <= 40.0 * 1e6 / 2**20,
            note=f"VmHWM of the child (/proc/self/status, read by the child at its end); the harness's bare child "
            f"(`child.py bare`) here: {bare:.1f} MiB.",
        )
    )
    return figures


def _alternate(
    env: dict[str, str], template: dict[str, Path], where: Path, rounds: int, *after: str
) -> dict[str, list[dict[str, float]]]:
    """``rounds`` fresh processes per tool, alternated (ww first in even rounds), each in its own fresh copy of
    the tool's users' folder; their results."""
    runs: dict[str, list[dict[str, float]]] = {"ww": [], "cc": []}
    for i in range(rounds):
        for tool in ("ww", "cc") if i % 2 == 0 else ("cc", "ww"):
            out = fresh_copy(template[tool], where / f"{tool}-{i}")
            extra = ("--after", ",".join(after)) if after else ()
            runs[tool].append(run_child("cycle", tool, env, "--out", str(out), *extra).result)
    return runs


def _figure(
    key: str, n: int, runs: dict[str, list[dict[str, float]]], setup: str, *, torch: bool, killed: bool = False
) -> Figure:
    cycle = {tool: [r["cycle_s"] for r in rs] for tool, rs in runs.items()}
    cpu = {tool: [r["cycle_cpu_s"] for r in rs] for tool, rs in runs.items()}
    ww_c, cc_c = median(cycle["ww"]), median(cycle["cc"])
    ratios = sorted(w / c for w, c in zip(cycle["ww"], cycle["cc"], strict=True))
    goal = n == 4 and not killed
    parts = "; ".join(
        f"{name} {median([r[name + '_s'] for r in runs['ww']]) * 1e3:.1f} ms"
        f" (CodeCarbon {median([r[name + '_s'] for r in runs['cc']]) * 1e3:.0f} ms)"
        for name in ("construct", "start", "stop")
    )
    where = (
        "`child.py cycle --after torch`: torch imported and a full garbage collection run (torch leaves one due, "
        "~70 ms over its objects, that whichever code allocates next would pay; a script's model set-up does), "
        "then the tool imported, then the timed cycle"
        if torch
        else "timed inside the child after import (`child.py cycle`)"
    )
    name = f"construct + start + stop, {n} fake GPU{'s' if n > 1 else ''} + country code, folder with history"
    name += ", after `import torch` (users' set-up)" if torch else " (fresh process)"
    if killed:
        name += ": the first start after two runs were killed there (it adds their rows, once)"
    return Figure(
        key,
        name,
        ww_c,
        cc_c,
        "s",
        "ratio <= 1/20" if goal else "—",
        (ww_c / cc_c <= GOAL_RATIO) if goal else None,
        note=f"{setup}; a fresh copy per process. Median of {len(cycle['ww'])} fresh processes per tool, "
        f"alternated; {where}. Runs (ms): wattwatch {_ms(cycle['ww'])}; CodeCarbon {_ms(cycle['cc'])}. Ratio per "
        f"pair: median {median(ratios):.4f}, from {ratios[0]:.4f} to {ratios[-1]:.4f} (half IQR "
        f"{spread(ratios):.4f}). Medians by call: {parts}. CPU time of the same calls (process CPU, all threads; "
        f"less sensitive to other load on the machine): wattwatch {median(cpu['ww']) * 1e3:.0f} ms, CodeCarbon "
        f"{median(cpu['cc']) * 1e3:.0f} ms, ratio {median(cpu['ww']) / median(cpu['cc']):.3f}. Load average "
        f"(1/5/15 min) at the end: {_load()}.",
        extra={"ww": cycle["ww"], "cc": cycle["cc"], "cpu": cpu, "runs": runs},
    )


def _after_torch(
    env: dict[str, str], template: dict[str, Path], tmp: Path, n: int, rounds: int, setup: str, *, killed: bool = False
) -> Figure:
    """Figure 1.<n>t: the same cycle in a process that imported torch first, as a training script has (torch
    brings the standard-library modules and pynvml that a bare process loads during the cycle)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        title = (
            f"construct + start + stop, {n} fake GPUs + country code, after `import torch` (users' set-up)"
        )
        return Figure(
            f"1.{n}t", title, None, None, "s", "—", None, note="not measured: torch is not installed"
        )
    key = f"1.{n}k" if killed else f"1.{n}t"
    runs = _alternate(env, template, tmp / f"n{n}-torch{'-killed' if killed else ''}", rounds, "torch")
    return _figure(key, n, runs, setup, torch=True, killed=killed)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from benchmarks.common import print_figures

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--gpus", type=int, nargs="+", default=[4])
    parser.add_argument("--rows", type=int, default=10_000, help="earlier rows in the users' emissions.csv")
    args = parser.parse_args(argv)
    figures = measure(args.rounds, tuple(args.gpus), 4, args.rounds, args.rows)
    print_figures(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
