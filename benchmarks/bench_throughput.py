"""Figure 6: steps per second of a small CPU torch training loop with and without each tracker.

Runs in a child process (``python -m benchmarks.bench_throughput --child``, one torch thread) that rotates
windows of equal length -- no tracker, wattwatch, CodeCarbon, in an order that changes each round -- with each
tracker at its defaults (4 fake GPUs with energy counters: wattwatch samples every 1 s, CodeCarbon every 15 s
plus its 1 s power monitor). A tracker's ``start()`` and ``stop()`` sit outside its window. The figure is the
median over rounds of (tool window / neighbouring no-tracker window) and its spread.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Figure, fake_rig, median, spread

__all__ = ["child", "measure"]


def child(
    rounds: int, window_s: float, out_dir: str, device: str = "cpu", width: int = 512
) -> dict[str, list[float]]:
    """In this process: steps/s per window for ``none``, ``ww`` and ``cc`` (``device`` "cuda" for a GPU)."""
    import torch

    from wattwatch import Tracker

    logging.disable(logging.CRITICAL)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, width), torch.nn.ReLU(), torch.nn.Linear(width, 10)).to(
        device
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(64, 256, device=device), torch.randint(0, 10, (64,), device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def window() -> float:
        n, t_end = 0, time.perf_counter() + window_s
        t0 = time.perf_counter()
        while time.perf_counter() < t_end:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            n += 1
            if n % 20 == 0:
                sync()
        sync()
        return n / (time.perf_counter() - t0)

    def make(tool: str) -> Any:
        if tool == "ww":
            return Tracker(
                output_dir=out_dir, country_iso_code="FRA", handle_signals=False, log_level="error"
            )
        from codecarbon import OfflineEmissionsTracker

        return OfflineEmissionsTracker(output_dir=out_dir, country_iso_code="FRA", log_level="error")

    window()  # warm-up
    rates: dict[str, list[float]] = {"none": [], "ww": [], "cc": []}
    orders = [("none", "ww", "cc"), ("cc", "none", "ww"), ("ww", "cc", "none")]
    for i in range(rounds):
        for tool in orders[i % 3]:
            if tool == "none":
                rates[tool].append(window())
                continue
            tracker = make(tool)
            tracker.start()
            rates[tool].append(window())
            tracker.stop()
    return rates


def measure(rounds: int = 6, window_s: float = 3.0) -> list[Figure]:
    sys.path.insert(0, str(ROOT / "tests" / "support"))
    import fakenvml

    with tempfile.TemporaryDirectory() as tmp:
        rig = fake_rig(Path(tmp), fakenvml.square_wave_gpus(4))
        env = {**os.environ, **rig.env, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_throughput", "--child", str(rounds), str(window_s), tmp],
            env=env, cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"throughput child failed:\n{proc.stderr[-3000:]}")
        rates = json.loads(proc.stdout.strip().splitlines()[-1])
    ratios = {t: [r / n for r, n in zip(rates[t], rates["none"], strict=True)] for t in ("ww", "cc")}
    ww, cc = median(ratios["ww"]), median(ratios["cc"])
    ww_s, cc_s = spread(ratios["ww"]), spread(ratios["cc"])
    slow = 1.0 - ww
    return [
        Figure(
            "6",
            "training throughput with tracker / without",
            ww,
            cc,
            "x",
            "wattwatch slowdown <= 0.5 % or within noise",
            slow <= 0.005 or slow <= ww_s,
            ww_text=f"{ww:.4f} ± {ww_s:.4f}",
            cc_text=f"{cc:.4f} ± {cc_s:.4f}",
            note=f"{rounds} rounds x 3 windows of {window_s:g} s (none/ww/cc rotated), 1 torch thread, MLP "
            f"256-512-10, batch 64; median no-tracker rate {median(rates['none']):.0f} steps/s; ± is half the "
            "interquartile range of the per-round ratios.",
        )
    ]


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--child":
        result = child(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
        print(json.dumps(result))
        sys.stdout.flush()
        os._exit(0)
