"""scripts/example_energy_server.py: a small HTTP server (loopback) answers each completion with the energy that
request used; requests batched together get different energies, and every joule the tracker measured in the
inference phase is a request's or the server's idle energy."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One thread: on a machine busy with other work, two OpenMP threads wait for each other at every step."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _load() -> Any:
    path = ROOT / "scripts" / "example_energy_server.py"
    spec = importlib.util.spec_from_file_location("example_energy_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_each_response_carries_its_energy(tmp_path: Path) -> None:
    example = _load()
    server = example.EnergyServer("tiny-gpt2", out_dir=str(tmp_path), max_batch=8, port=0).start_http()
    host, port = server.address
    url = f"http://{host}:{port}"
    asks = [("Hi", 12), ("A much longer prompt, to see its prefill share grow with its length.", 4), ("Tell me", 8)]
    answers: list[Any] = [None] * len(asks)

    def ask(i: int) -> None:
        prompt, n = asks[i]
        answers[i] = _post(f"{url}/generate", json.dumps({"prompt": prompt, "max_tokens": n}).encode())

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(asks))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while server.jobs.qsize() < len(asks) and time.monotonic() < deadline:  # all queued: they form one batch
        time.sleep(0.01)
    time.sleep(0.2)  # the server idles a moment: energy that is no request's
    server.start_worker()
    for t in threads:
        t.join(120)
    bad = _post(f"{url}/generate", b'{"prompt": 3}')
    with urllib.request.urlopen(f"{url}/stats", timeout=30) as resp:
        stats = json.loads(resp.read())
    server.stop()
    phase_j = server.tracker.energy_j("inference", refresh=False)

    assert all(a is not None and a[0] == 200 for a in answers), answers
    hi, long, tell = (a[1] for a in answers)
    assert [r["new_tokens"] for r in (hi, long, tell)] == [12, 4, 8]
    assert {r["batch"] for r in (hi, long, tell)} == {3}
    assert long["prefill_j"] > tell["prefill_j"] > hi["prefill_j"] > 0  # prompts of 69, 7 and 2 bytes
    assert hi["decode_j"] > tell["decode_j"] > long["decode_j"] > 0  # 12, 8 and 4 new tokens
    for r in (hi, long, tell):
        assert r["energy_j"] == pytest.approx(r["prefill_j"] + r["decode_j"])
    assert bad[0] == 400 and "prompt" in bad[1]["error"]
    assert stats["requests"] == 3
    served = sum(r["energy_j"] for r in (hi, long, tell))
    assert served == pytest.approx(stats["attributed_j"], rel=1e-9)
    assert stats["attributed_j"] + stats["idle_j"] == pytest.approx(phase_j, rel=0.01)
