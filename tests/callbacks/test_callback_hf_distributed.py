"""A 2-rank Trainer run (torchrun, gloo, CPU) on a fake 2-GPU node: the energy in the Trainer's logs is the
run's total on every rank (each rank owns one GPU), not each rank's own share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import fakenvml
import pytest

from wattwatch.sinks.csv import read_rows

WORKER = str(Path(__file__).resolve().parents[1] / "support" / "hf_dist_worker.py")
pytestmark = pytest.mark.timeout(180)


def test_logged_energy_is_the_runs_total_on_every_rank(fake_nvml_library: Path, tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    gpus = fakenvml.make_gpus(2, (fakenvml.Constant(300.0),))
    rig = fakenvml.install(tmp_path, gpus, fake_nvml_library, environ={})
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "LOCAL_", "WORLD_", "TORCHELASTIC"))}
    env.update({fakenvml.CONFIG_ENV: str(rig.config_path), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
                "WATTWATCH_NODE_ID": "n0"})
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", WORKER, str(out),
           str(rig.library_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = [json.loads((out / f"logs-{r}.json").read_text()) for r in (0, 1)]
    logs = [[h for h in r["logged"] if "wattwatch/energy_kwh" in h] for r in results]
    assert len(logs[0]) >= 3 and len(logs[0]) == len(logs[1])
    for a, b in zip(logs[0], logs[1], strict=True):
        assert a["wattwatch/energy_kwh"] == pytest.approx(b["wattwatch/energy_kwh"], rel=1e-9)  # same run total
    own = [r["own_gpu_kwh"] for r in results]
    assert all(o > 0 for o in own)  # each rank read its own GPU
    final_logged = logs[0][-1]["wattwatch/energy_kwh"]
    assert final_logged > 1.5 * max(own) * 0.9  # both GPUs are in the logged figure, not one rank's share
    _, rows = read_rows(out / "emissions.csv")
    assert len(rows) == 1 and rows[0]["gpu_count"] == "2" and rows[0]["rank_count"] == "2"
