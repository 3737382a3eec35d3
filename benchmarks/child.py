"""What one benchmark subprocess does: import a tool, run one start/stop cycle, or track for a while.

Run as ``python benchmarks/child.py MODE --tool ww|cc|none [...]``; prints one JSON line on stdout (the last
line). Fake GPUs come from the environment (``$FAKE_NVML_CONFIG`` + ``LD_LIBRARY_PATH``), so wattwatch and
CodeCarbon both load the same fake ``libnvidia-ml.so.1`` through pynvml's default search.

Units: seconds, joules. Monotonic instants are ``time.monotonic()`` values (CLOCK_MONOTONIC, shared by every
process on the machine, so the parent can compute the fake NVML's exact energy over them).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any

__all__ = ["main"]

J_PER_KWH = 3.6e6


def _make(tool: str, out_dir: str, interval: float | None) -> Any:
    if tool == "ww":
        from wattwatch import Tracker

        return Tracker(
            project_name="bench",
            output_dir=out_dir,
            country_iso_code="FRA",
            measure_power_secs=interval,
            handle_signals=False,
            log_level="error",
            # The fake AMD GPUs have no /dev/kfd to be found by: name their library (see common.fake_amd_rig).
            amd_library=os.environ.get("BENCH_AMD_LIBRARY") or None,
        )
    if tool == "cc":
        from codecarbon import OfflineEmissionsTracker

        kwargs: dict[str, Any] = {}
        if interval is not None:
            kwargs["measure_power_secs"] = interval
        return OfflineEmissionsTracker(
            project_name="bench", output_dir=out_dir, country_iso_code="FRA", log_level="error", **kwargs
        )
    raise ValueError(f"unknown tool {tool!r}")


def _import(tool: str) -> None:
    if tool == "ww":
        from wattwatch import Tracker  # noqa: F401
    elif tool == "cc":
        from codecarbon import OfflineEmissionsTracker  # noqa: F401


def _gpu_j(tool: str, tracker: Any) -> float:
    data = tracker.final_emissions_data
    return float(getattr(data, "gpu_energy", 0.0) or 0.0) * J_PER_KWH


def _cycle(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    _import(args.tool)
    t1 = time.perf_counter()
    tracker = _make(args.tool, args.out, args.interval)
    tracker.start()
    tracker.stop()
    t2 = time.perf_counter()
    return {"import_s": t1 - t0, "cycle_s": t2 - t1}


def _track(args: argparse.Namespace) -> dict[str, Any]:
    """Track ``args.seconds`` of an idle main thread; the tracker's CPU time is the process's CPU time minus
    the main thread's, over the window between ``start()`` returning and ``stop()`` being called (CodeCarbon
    starts a new ``threading.Timer`` thread per tick, so no single thread id would do)."""
    _import(args.tool)
    tracker = _make(args.tool, args.out, args.interval)
    if args.start_at:
        time.sleep(max(0.0, args.start_at - time.monotonic()))
    a0 = time.monotonic()
    tracker.start()
    a1 = time.monotonic()
    p0, m0 = time.process_time(), time.thread_time()
    deadline = a1 + args.seconds
    while time.monotonic() < deadline:
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    p1, m1 = time.process_time(), time.thread_time()
    b0 = time.monotonic()
    tracker.stop()
    b1 = time.monotonic()
    out: dict[str, Any] = {
        "tool": args.tool,
        "tracked_s": b0 - a1,
        "tracker_cpu_s": (p1 - p0) - (m1 - m0),
        "start": [a0, a1],
        "stop": [b0, b1],
        "gpu_j": _gpu_j(args.tool, tracker),
    }
    if args.tool == "ww":
        snap = tracker.snapshot()
        out["windows"] = {
            n: [c.first_t, c.last_t, c.energy_j] for n, c in snap.channels.items() if c.component == "gpu"
        }
        out["interval_s"] = tracker._sampler.interval_s
        out["samples"] = snap.samples
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["bare", "import", "cycle", "track"])
    parser.add_argument("--tool", default="none", choices=["ww", "cc", "none"])
    parser.add_argument("--out", default=".")
    parser.add_argument("--interval", type=float, default=None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--start-at", type=float, default=0.0, help="monotonic instant to start tracking at")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)
    if args.mode == "bare":
        result: dict[str, Any] = {}
    elif args.mode == "import":
        _import(args.tool)
        result = {}
    elif args.mode == "cycle":
        result = _cycle(args)
    else:
        result = _track(args)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown (not part of any figure)


if __name__ == "__main__":
    raise SystemExit(main())
