"""Figure 8: GPU energy reported for one run with 2 and 4 ranks (one fake GPU per rank), against the truth.

Both tools run under torchrun at the same time on the same fake node. wattwatch: ``wattwatch/distributed.py``
(each rank reads the GPU it owns, rank 0's ``stop()`` returns the run's total). CodeCarbon: one tracker per
rank, their GPU energies summed, as its users do. The GPUs draw a burst of square waves with 0 W around it,
inside every rank's window, so the truth is exact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import ROOT, Figure, burst_gpus, fake_rig

__all__ = ["measure", "run_ranks"]

WORKER = ROOT / "benchmarks" / "rank_worker.py"


def run_ranks(n: int, seconds: float = 10.0, lead_s: float = 20.0, margin_s: float = 3.0) -> dict[str, float]:
    """Reported / true GPU energy for ``n`` ranks: ``{"ww": ratio, "cc": ratio}`` (1.0 is exact)."""
    burst = (lead_s + margin_s, lead_s + margin_s + seconds)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        rig = fake_rig(Path(tmp), burst_gpus(n, *burst), t0=t0)
        env = {**os.environ, **rig.env, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        procs = []
        for port, tool in ((29611, "ww"), (29623, "cc")):
            cmd = [
                sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}",
                f"--master-port={port}", str(WORKER), "--tool", tool, "--out", tmp,
                "--seconds", str(seconds + 2 * margin_s), "--start-at", repr(t0 + lead_s),
            ]  # fmt: skip
            env_t = dict(env)
            env_t.pop("MASTER_PORT", None)
            procs.append(
                subprocess.Popen(cmd, env=env_t, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            )
        for p in procs:
            out, _ = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"torchrun failed ({p.returncode}):\n{out[-3000:]}")
        s_abs, e_abs = t0 + burst[0], t0 + burst[1]
        truth = sum(rig.energy_j(i, s_abs, e_abs) for i in range(n))
        results = [json.loads(f.read_text()) for f in Path(tmp).glob("result-*.json")]
    late = [r for r in results if r["start"][1] > s_abs or r["stop"][0] < e_abs]
    if late:
        raise RuntimeError(f"{len(late)} rank(s) started after the burst began: raise lead_s")
    ww = next(r["gpu_j"] for r in results if r["tool"] == "ww" and r["rank"] == 0)
    cc = sum(r["gpu_j"] for r in results if r["tool"] == "cc")
    return {"ww": ww / truth, "cc": cc / truth, "truth_j": truth}


def measure(ranks: Sequence[int] = (2, 4), seconds: float = 10.0) -> list[Figure]:
    figs = []
    for n in ranks:
        r = run_ranks(n, seconds)
        figs.append(
            Figure(
                f"8.{n}",
                f"GPU energy reported / truth, {n} ranks (1 GPU each)",
                r["ww"],
                r["cc"],
                "x truth",
                "wattwatch = 1.000 (+-0.1 %)",
                abs(r["ww"] - 1.0) <= 0.001,
                ww_text=f"{r['ww']:.5f} x truth",
                cc_text=f"{r['cc']:.5f} x truth",
                note=f"truth {r['truth_j']:.0f} J over a {seconds:.0f} s burst; wattwatch via wattwatch.distributed "
                "(torchrun, gloo), rank 0's total; CodeCarbon: the sum of its per-rank trackers (each sees every "
                "GPU of the node).",
            )
        )
    return figs
