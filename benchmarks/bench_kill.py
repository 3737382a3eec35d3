"""Figure K: what a ``kill -9`` loses 5 s, 25 s and 300 s into a run (issue 24, item 7), each tool at its defaults.

Every child tracks 8 fake GPUs (energy counters, ``child.py track``) and is sent SIGKILL the given number of
seconds after it started tracking (all children start at one instant, each killed at its own). Then the folder is
opened as the next run would open it (wattwatch: :func:`wattwatch.sinks.journal.finalize_stale` turns the
journal into its row; CodeCarbon: nothing to do, it has no journal) and the row is read: the loss is the time
from the start to the kill minus the ``duration`` the row covers (the whole time when there is no row), and the
share of the GPU energy drawn by then (the fake's exact integral) that is missing. wattwatch's promise: at most
max(2 s, 10 % of the elapsed time), never more than ``flush_every_s`` (10 s by default); a kill lands anywhere in the
flush cycle, so one kill shows one point at or under the bound. The 300 s kill is measured for real (a 300 s
child), not from a shortened run: the grid's gaps depend on the elapsed time itself.
"""

from __future__ import annotations

import csv
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, fake_rig, spawn_child

__all__ = ["KILL_AT_S", "measure"]

KILL_AT_S = (5.0, 25.0, 300.0)


def _row(folder: Path) -> dict[str, str] | None:
    path = folder / "emissions.csv"
    if not path.exists():
        return None
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return rows[-1] if rows else None


def measure(kill_at: tuple[float, ...] = KILL_AT_S) -> list[Figure]:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))
    import fakenvml

    from wattwatch.measure.ledger import J_PER_KWH
    from wattwatch.run.defaults import DEFAULT_FLUSH_EVERY_S
    from wattwatch.run.outputs import loss_bound_s
    from wattwatch.sinks.journal import finalize_stale

    results: dict[tuple[str, float], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        gpus = fakenvml.make_gpus(8, (fakenvml.Constant(250.0),))
        rig = fake_rig(base, gpus)
        start_at = time.monotonic() + 5.0
        children = []
        for tool in ("ww", "cc"):
            for t in kill_at:
                out = base / f"{tool}-{t:g}"
                out.mkdir()
                proc = spawn_child("track", tool, rig.env, "--out", str(out), "--interval", "1", "--seconds",
                                   str(t + 600.0), "--start-at", repr(start_at))  # fmt: skip
                children.append((tool, t, out, proc))
        for tool, t, out, proc in sorted(children, key=lambda c: c[1]):
            time.sleep(max(0.0, start_at + t - time.monotonic()))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed = time.monotonic()
            if tool == "ww":
                finalize_stale(out)
            row = _row(out)
            elapsed = killed - start_at
            covered = float(row["duration"]) if row else 0.0
            gpu_j = float(row["gpu_energy"]) * J_PER_KWH if row else 0.0
            truth_j = sum(rig.energy_j(i, start_at, killed) for i in range(len(gpus)))
            results[(tool, t)] = {
                "elapsed_s": elapsed, "covered_s": covered, "lost_s": max(0.0, elapsed - covered),
                "lost_energy_pct": 100.0 * (1.0 - gpu_j / truth_j) if truth_j > 0 else 0.0, "row": row is not None,
            }  # fmt: skip
    figs: list[Figure] = []
    for t in kill_at:
        ww, cc = results[("ww", t)], results[("cc", t)]
        bound = loss_bound_s(t, DEFAULT_FLUSH_EVERY_S)
        figs.append(
            Figure(
                f"K{t:g}",
                f"`kill -9` {t:g} s into a run: time lost (defaults, 8 fake GPUs)",
                ww["lost_s"],
                cc["lost_s"],
                "s",
                f"<= {bound:g} s (max(2 s, 10 %), <= flush_every_s)",
                ww["lost_s"] <= bound + 0.1,  # (0.1 s: the scheduler's lateness on a busy machine)
                ww_text=f"{ww['lost_s']:.2f} s ({ww['lost_energy_pct']:.1f} % of the GPU energy)",
                cc_text=f"{cc['lost_s']:.2f} s ({cc['lost_energy_pct']:.1f} % of the GPU energy"
                + (")" if cc["row"] else "; no row at all)"),
                note=f"killed {ww['elapsed_s']:.2f} s after tracking started; wattwatch's row (from its journal, "
                f"added by finalize_stale as the next run in the folder would) covers {ww['covered_s']:.2f} s; "
                f"CodeCarbon's {'covers ' + format(cc['covered_s'], '.2f') + ' s' if cc['row'] else 'is missing'} "
                "(it writes its CSV at stop() and at each flush() it is asked for).",
                extra={"ww": ww, "cc": cc},
            )
        )
    return figs
