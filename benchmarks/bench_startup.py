"""Figures 1 and 3: construct + start + stop latency (s) with 1, 4 and 8 fake GPUs and a country code (and with 4
after ``import torch``, as in a training script), and the peak RSS (MiB) of a process that imports a tracker,
starts and stops it (4 GPUs).

Each run is a fresh process (``child.py cycle``: the tracker is constructed, started and stopped right after
import, ``Tracker(country_iso_code="FRA")`` against ``OfflineEmissionsTracker(country_iso_code="FRA")``); the
tools alternate, and both load the same fake ``libnvidia-ml.so.1`` through pynvml.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import Figure, compile_bytecode, fake_rig, median, run_child

__all__ = ["GOAL_RATIO", "measure"]

GOAL_RATIO = 1 / 20
"""construct + start + stop with 4 GPUs and a country code: at most this fraction of CodeCarbon's (issue 18)."""


def measure(
    rounds: int = 5, gpus: Sequence[int] = (1, 4, 8), rss_gpus: int = 4, after_rounds: int = 5
) -> list[Figure]:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))
    import fakenvml

    compile_bytecode()
    figures: list[Figure] = []
    rss: dict[str, list[float]] = {"ww": [], "cc": [], "none": []}
    with tempfile.TemporaryDirectory() as tmp:
        for n in gpus:
            rig = fake_rig(Path(tmp) / f"rig{n}", fakenvml.square_wave_gpus(n))
            cycle: dict[str, list[float]] = {"ww": [], "cc": []}
            cpu: dict[str, list[float]] = {"ww": [], "cc": []}
            for i in range(rounds):
                order = ("ww", "cc") if i % 2 == 0 else ("cc", "ww")
                for tool in order:
                    out = Path(tmp) / f"{tool}{n}-{i}"
                    out.mkdir()
                    r = run_child("cycle", tool, rig.env, "--out", str(out))
                    cycle[tool].append(r.result["cycle_s"])
                    cpu[tool].append(r.result["cycle_cpu_s"])
                    if n == rss_gpus:
                        rss[tool].append(r.result["vmhwm_mib"])
                if n == rss_gpus:
                    rss["none"].append(run_child("bare", "none", rig.env).result["vmhwm_mib"])
            if n == rss_gpus and after_rounds:
                figures.append(_after_torch(rig.env, Path(tmp), n, after_rounds))
            ww_c, cc_c = median(cycle["ww"]), median(cycle["cc"])
            goal = n == 4
            figures.append(
                Figure(
                    f"1.{n}",
                    f"construct + start + stop, {n} fake GPU{'s' if n > 1 else ''} + country code (fresh process)",
                    ww_c,
                    cc_c,
                    "s",
                    "ratio <= 1/20" if goal else "—",
                    (ww_c / cc_c <= GOAL_RATIO) if goal else None,
                    note=f"median of {rounds} fresh processes per tool, alternated; timed inside the child after "
                    "import (`child.py cycle`). Runs (ms): wattwatch "
                    f"{', '.join(f'{v * 1e3:.0f}' for v in cycle['ww'])}; CodeCarbon "
                    f"{', '.join(f'{v * 1e3:.0f}' for v in cycle['cc'])}. CPU time of the same calls (process "
                    f"CPU, all threads; less sensitive to other load on the machine): wattwatch "
                    f"{median(cpu['ww']) * 1e3:.0f} ms, CodeCarbon {median(cpu['cc']) * 1e3:.0f} ms, ratio "
                    f"{median(cpu['ww']) / median(cpu['cc']):.3f}.",
                    extra={"ww": cycle["ww"], "cc": cycle["cc"], "cpu": cpu},
                )
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


def _after_torch(env: dict[str, str], tmp: Path, n: int, rounds: int) -> Figure:
    """Figure 1.<n>t: the same cycle in a process that imported torch first, as a training script has (torch
    brings the standard-library modules and pynvml that a bare process loads during the cycle)."""
    import importlib.util

    title = f"construct + start + stop, {n} fake GPUs + country code, after `import torch` (training script)"
    if importlib.util.find_spec("torch") is None:
        return Figure(
            f"1.{n}t", title, None, None, "s", "—", None, note="not measured: torch is not installed"
        )
    cycle: dict[str, list[float]] = {"ww": [], "cc": []}
    for i in range(rounds):
        for tool in ("ww", "cc") if i % 2 == 0 else ("cc", "ww"):
            out = tmp / f"{tool}{n}-torch-{i}"
            out.mkdir()
            r = run_child("cycle", tool, env, "--out", str(out), "--after", "torch")
            cycle[tool].append(r.result["cycle_s"])
    ww_c, cc_c = median(cycle["ww"]), median(cycle["cc"])
    return Figure(
        f"1.{n}t",
        title,
        ww_c,
        cc_c,
        "s",
        "—",
        None,
        note="`child.py cycle --after torch`: torch imported and a full garbage collection run (torch leaves one "
        "due, ~70 ms over its objects, that whichever code allocates next would pay; a script's model set-up does), "
        f"then the tool imported, then the timed cycle; median of "
        f"{rounds} fresh processes per tool, alternated. Runs (ms): wattwatch "
        f"{', '.join(f'{v * 1e3:.0f}' for v in cycle['ww'])}; CodeCarbon "
        f"{', '.join(f'{v * 1e3:.0f}' for v in cycle['cc'])}.",
        extra={"ww": cycle["ww"], "cc": cycle["cc"]},
    )
