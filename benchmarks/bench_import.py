"""Figure 2: import cost.

2a/2b: wall time (ms) and peak memory (MiB) of ``python -c "from wattwatch import Tracker"`` over ``python -c
pass``, against ``from codecarbon import OfflineEmissionsTracker``, in fresh processes, alternated, on an
interpreter that starts like a user's (:func:`~benchmarks.common.user_python`: no ``.pth`` pre-imports; wattwatch's
bytecode compiled as ``pip install`` leaves it).

2c: the same imports inside a training script, which has imported ``torch`` first (timed in-process with
``perf_counter``; ``child.py import-after``).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import Figure, compile_bytecode, median, run_child, user_python

__all__ = ["GOAL_MS", "measure"]

GOAL_MS = 15.0
"""``from wattwatch import Tracker``: at most this many ms over bare Python (issue 18)."""

STATEMENTS = {
    "none": "pass",
    "ww": "from wattwatch import Tracker",
    "cc": "from codecarbon import OfflineEmissionsTracker",
}


_PEAK = "\nimport sys\nfor line in open('/proc/self/status'):\n    if line.startswith('VmHWM:'): sys.stdout.write(line)"
"""Appended to each statement: the process's own peak RSS (``ru_maxrss`` from ``wait4`` would also count the
harness's pages the child was forked from, before ``exec``). Costs the same in every variant."""


def _run(python: str, env: dict[str, str], statement: str) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system, from ``wait4``) and peak RSS (MiB) of ``python -c statement``."""
    t = time.perf_counter()
    proc = subprocess.Popen(
        [python, "-c", statement + _PEAK],
        env=env,
        cwd=tempfile.gettempdir(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()  # (tiny outputs) then reap it with wait4 for its rusage
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"`python -c {statement!r}` failed: {err[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime, int(out.split()[-2]) / 1024.0


def measure(rounds: int = 15, after_rounds: int = 5) -> list[Figure]:
    compile_bytecode()
    wall: dict[str, list[float]] = {k: [] for k in STATEMENTS}
    cpu: dict[str, list[float]] = {k: [] for k in STATEMENTS}
    rss: dict[str, list[float]] = {k: [] for k in STATEMENTS}
    with tempfile.TemporaryDirectory() as tmp:
        python, extra = user_python(Path(tmp))
        env = (
            {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            | extra
            | {"CODECARBON_LOG_LEVEL": "error"}
        )
        for tool in ("none", "ww", "cc"):  # warm the page cache and write no figure
            _run(python, env, STATEMENTS[tool])
        for i in range(rounds):
            order = ("none", "ww", "cc") if i % 2 == 0 else ("cc", "ww", "none")
            for tool in order:
                w, c, m = _run(python, env, STATEMENTS[tool])
                wall[tool].append(w)
                cpu[tool].append(c)
                rss[tool].append(m)
    after: dict[str, list[float]] = {"ww": [], "cc": []}
    for i in range(after_rounds):
        for tool in ("ww", "cc") if i % 2 == 0 else ("cc", "ww"):
            after[tool].append(run_child("import-after", tool, None, "--after", "torch").result["import_s"])
    bare_ms = median(wall["none"]) * 1000
    ww_ms = median(wall["ww"]) * 1000 - bare_ms
    cc_ms = median(wall["cc"]) * 1000 - bare_ms
    ww_mem = median(rss["ww"]) - median(rss["none"])
    cc_mem = median(rss["cc"]) - median(rss["none"])
    ww_after, cc_after = median(after["ww"]) * 1000, median(after["cc"]) * 1000
    return [
        Figure(
            "2a",
            "import time over bare Python (`from wattwatch import Tracker`)",
            ww_ms,
            cc_ms,
            "ms",
            f"wattwatch <= {GOAL_MS:g} ms",
            ww_ms <= GOAL_MS,
            note="wall time of `python -c 'from wattwatch import Tracker'` minus"
            f" `python -c pass` (median of "
            f"{rounds}, alternated; bare = {bare_ms:.1f} ms) on a fresh venv that runs no .pth file at start-up "
            "(as a user's install), wattwatch's bytecode compiled. Runs (ms, minus bare): wattwatch "
            f"{', '.join(f'{w * 1e3 - bare_ms:.0f}' for w in wall['ww'])}. CPU time over bare (user + system, "
            f"less sensitive to other load): wattwatch {(median(cpu['ww']) - median(cpu['none'])) * 1e3:.0f} ms, "
            f"CodeCarbon {(median(cpu['cc']) - median(cpu['none'])) * 1e3:.0f} ms.",
            extra={"wall": wall, "cpu": cpu},
        ),
        Figure("2b", "import memory over bare Python", ww_mem, cc_mem, "MiB", "—", None),
        Figure(
            "2c",
            "import time inside a training script (after `import torch`)",
            ww_after,
            cc_after,
            "ms",
            "—",
            None,
            note=f"`child.py import-after --after torch`: perf_counter around the import, median of {after_rounds} "
            "fresh processes per tool.",
        ),
    ]
