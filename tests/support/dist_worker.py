"""One rank of a distributed test run (started by torchrun or directly by tests/test_distributed.py).

Usage: ``python dist_worker.py OUT_DIR NVML_LIBRARY SECONDS [--die-after S] [--no-dist] [--flush]``

Tracks ``SECONDS`` of sleep with the fake NVML node named by ``$FAKE_NVML_CONFIG`` and writes
``OUT_DIR/result-<rank>.json``: what ``stop()`` returned and, per GPU channel this rank read, the monotonic
instants of its first and last reading (so the test can compute the exact truth).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    out, library, seconds = Path(argv[0]), argv[1], float(argv[2])
    die_after = float(argv[argv.index("--die-after") + 1]) if "--die-after" in argv else None
    use_dist = "--no-dist" not in argv
    if use_dist:
        import torch.distributed as dist

        dist.init_process_group("gloo")
    from wattwatch.run.tracker import Tracker

    tracker = Tracker(
        project_name="dist-test",
        output_dir=out,
        nvml_library=library,
        carbon_intensity_g_per_kwh=100.0,
        measure_power_secs=0.1,
        flush_every_s=0.5,
        handle_signals=False,
        save_timeseries=False,
    )
    tracker.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if die_after is not None and time.monotonic() > deadline - seconds + die_after:
            os._exit(3)  # a rank that dies before stop()
        time.sleep(0.05)
    if "--flush" in argv:
        tracker.flush()
    data = tracker.stop()
    snap = tracker.snapshot()
    assert data is not None and snap is not None
    windows = {n: [c.first_t, c.last_t] for n, c in snap.channels.items() if c.component == "gpu"}
    rank = tracker.topology.rank
    result = {
        "rank": rank,
        "run_id": data.run_id,
        "gpu_energy": data.gpu_energy,
        "cpu_energy": data.cpu_energy,
        "ram_energy": data.ram_energy,
        "energy_consumed": data.energy_consumed,
        "emissions": data.emissions,
        "gpu_count": data.gpu_count,
        "node_count": data.node_count,
        "rank_count": data.rank_count,
        "missing_ranks": data.missing_ranks,
        "ownership": tracker.ownership.rule,
        "own_gpus": [i.details.get("uuid") for i in tracker._infos if i.component == "gpu"],
        "measures_host": any(i.component != "gpu" for i in tracker._infos),
        "node_id": tracker.topology.node_id,
        "windows": windows,
        "exchange_s": tracker._dist.last_exchange_s if tracker._dist is not None else None,
    }
    (out / f"result-{rank}.json").write_text(json.dumps(result))
    if use_dist:
        import torch.distributed as dist

        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
