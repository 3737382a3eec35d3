"""Aggregation time at ``stop()`` for 2, 4 and 8 ranks (gloo, CPU, fake NVML node with one GPU per rank).

Usage: ``python benchmarks/bench_aggregation.py [--ranks 2 4 8] [--repeat 2]``

Starts N processes (``init_process_group("gloo")`` over 127.0.0.1, no torchrun agent), each tracking 1 s with
``tests/support/dist_worker.py``, and prints the seconds the store exchange at ``stop()`` took on global rank 0 (it
waits for the slowest rank, so this includes the ranks' arrival skew) and the worst of the other ranks.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

import fakenvml  # noqa: E402


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_once(n: int, library: Path, work: Path) -> tuple[float, float]:
    """One run of ``n`` ranks; returns (rank 0 exchange s, slowest other rank's exchange s)."""
    rig = fakenvml.install(work, fakenvml.square_wave_gpus(n=n), library, environ={})
    out = work / "out"
    port = str(_port())
    procs = []
    for r in range(n):
        env = dict(os.environ)
        env.update(
            RANK=str(r),
            LOCAL_RANK=str(r),
            WORLD_SIZE=str(n),
            LOCAL_WORLD_SIZE=str(n),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
            OMP_NUM_THREADS="1",
            WATTWATCH_RUN_ID=work.name,
            **{fakenvml.CONFIG_ENV: str(rig.config_path)},
        )
        cmd = [sys.executable, str(ROOT / "tests" / "support" / "dist_worker.py"), str(out), str(library), "1.0"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for p in procs:
        if p.wait(timeout=300) != 0:
            raise RuntimeError(f"a rank failed (exit {p.returncode})")
    results = [json.loads(p.read_text()) for p in out.glob("result-*.json")]
    lead = next(r["exchange_s"] for r in results if r["rank"] == 0)
    others = max(r["exchange_s"] for r in results if r["rank"] != 0)
    return float(lead), float(others)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    library = fakenvml.build_library(fakenvml.default_build_dir())
    print(f"{'ranks':>5}  {'rank 0 exchange (ms)':>21}  {'slowest other (ms)':>19}  runs")
    with tempfile.TemporaryDirectory(prefix="wattwatch-bench-agg-") as tmp:
        for n in args.ranks:
            lead, other = [], []
            for i in range(args.repeat):
                work = Path(tmp) / f"n{n}-{i}"
                work.mkdir()
                a, b = run_once(n, library, work)
                lead.append(a * 1000)
                other.append(b * 1000)
            print(
                f"{n:>5}  {statistics.median(lead):>21.1f}  {statistics.median(other):>19.1f}  {args.repeat}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
