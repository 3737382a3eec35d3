"""Compare import time and start-up cost of wattwatch between source trees, in fresh processes.

    python scripts/compare_startup.py [--rounds 41] TREE [TREE...]

For each TREE (a checkout of this repository; its folder is put first on ``PYTHONPATH``), alternating the order
round by round: the wall and CPU (``time.process_time``, all threads) time of ``from wattwatch import Tracker``
(figure 2's import), then of ``Tracker(...)`` + ``start()`` + ``stop()`` (figure 1's cycle, same options as
``benchmarks/child.py``). Prints the median and the minimum of each, in milliseconds. On a loaded machine the CPU
times are the steadier figures. CodeCarbon is not run (``scripts/bench`` compares with it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

__all__ = ["main"]

_CHILD = r"""
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from wattwatch import Tracker
t1, c1 = time.perf_counter(), time.process_time()
t = Tracker(project_name="bench", output_dir=sys.argv[1], country_iso_code="FRA", handle_signals=False,
            log_level="error")
t.start()
t.stop()
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"import": t1 - t0, "import_cpu": c1 - c0, "cycle": t2 - t1, "cycle_cpu": c2 - c1}))
"""


def _one(tree: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, out], env=env, capture_output=True, text=True, cwd=tempfile.gettempdir()
        )
    if proc.returncode != 0:
        raise RuntimeError(f"{tree}: the child failed:\n{proc.stderr[-2000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", nargs="+", metavar="TREE")
    parser.add_argument("--rounds", type=int, default=41, help="fresh processes per tree (default 41)")
    args = parser.parse_args(argv)
    samples: dict[str, dict[str, list[float]]] = {t: {} for t in args.trees}
    for i in range(args.rounds):
        for tree in args.trees if i % 2 == 0 else args.trees[::-1]:
            for key, value in _one(tree).items():
                samples[tree].setdefault(key, []).append(value * 1000.0)
    for tree in args.trees:
        cells = [
            f"{key} {statistics.median(values):.1f} / {min(values):.1f}" for key, values in samples[tree].items()
        ]
        print(f"{tree}: (ms, median / min of {args.rounds})  " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
