"""One rank of the multi-rank benchmark (started by torchrun): tracks until ``--seconds`` after ``--start-at``
and writes ``OUT/result-<tool>-<rank>.json`` (GPU joules this rank's tracker reported, its window).

wattwatch: ``torch.distributed`` (gloo) is initialised, so each rank reads the GPU it owns and rank 0's
``stop()`` returns the run's total. CodeCarbon: one ``OfflineEmissionsTracker`` per rank at its defaults, as
its users run it under torchrun (it has no notion of ranks).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--tool", choices=["ww", "cc"], required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--start-at", type=float, default=0.0)
    args = p.parse_args(argv)
    logging.disable(logging.CRITICAL)
    rank = int(os.environ.get("RANK", "0"))
    out = Path(args.out)
    tracker: Any
    if args.tool == "ww":
        import torch.distributed as dist

        dist.init_process_group("gloo")
        from wattwatch import Tracker

        tracker = Tracker(
            project_name="bench-ranks",
            output_dir=out / "ww",
            country_iso_code="FRA",
            handle_signals=False,
            save_timeseries=False,
        )
    else:
        from codecarbon import OfflineEmissionsTracker

        tracker = OfflineEmissionsTracker(
            project_name="bench-ranks", output_dir=str(out), country_iso_code="FRA", log_level="error"
        )
    time.sleep(max(0.0, args.start_at - time.monotonic()))
    a0 = time.monotonic()
    tracker.start()
    a1 = time.monotonic()
    time.sleep(max(0.0, a1 + args.seconds - time.monotonic()))
    b0 = time.monotonic()
    tracker.stop()
    b1 = time.monotonic()
    data = tracker.final_emissions_data
    result = {
        "rank": rank,
        "tool": args.tool,
        "gpu_j": float(data.gpu_energy or 0.0) * 3.6e6,
        "start": [a0, a1],
        "stop": [b0, b1],
    }
    (out / f"result-{args.tool}-{rank}.json").write_text(json.dumps(result))
    if args.tool == "ww":
        import torch.distributed as dist

        dist.destroy_process_group()
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
