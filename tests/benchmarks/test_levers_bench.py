"""benchmarks/bench_levers.py and the levers part of benchmarks/gpu_validate.py, run small: no timing asserted,
only that they run and write well-formed figures; gpu_validate says in one line that there is no GPU."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import bench_levers, gpu_validate  # noqa: E402


def test_gpu_validate_without_a_gpu_says_so_in_one_line() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the sweep would run")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert gpu_validate.main(["--levers-only", "--no-write"]) == 2
    assert err.getvalue().strip().splitlines() == ["gpu_validate: no CUDA or ROCm GPU here; nothing measured"]


def test_gpu_levers_table() -> None:
    data = {
        "energy_method": "gpu:0: counter",
        "configs": [
            {"model": "tiny-gpt2", "dtype": "bf16", "batch_size": 8, "joules_per_token": 0.0012, "tokens_per_s": 900.0,
             "latency_p50_s": 0.1, "perplexity": 245.0, "agreement": 0.9, "pareto": True},
        ],
        "skipped": [{"model": "tiny-gpt2", "dtype": "int4", "reason": "int4 on a GPU needs bitsandbytes"}],
    }  # fmt: skip
    text = gpu_validate.render_levers(data)
    assert "| tiny-gpt2 | bf16 | 8 | 0.0012 | 900 | 0.1 | 245 | 0.900 | * |" in text
    assert "- skipped: tiny-gpt2 int4: int4 on a GPU needs bitsandbytes" in text


def test_attribution_overhead_and_results_section(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    overhead = bench_levers.attribution_overhead(rounds=1, batch_sizes=(2,), new_tokens=3)
    assert set(overhead) == {2}
    v = overhead[2]
    assert v["plain_s"] > 0 and v["attributed_s"] > 0 and 0 < v["own_share"] < 1
    text = bench_levers.render((50.0, "table", "1.0 -> 1.2"), (40.0, "table 2", "1.2 -> 1.1"), overhead, 1)
    assert "| <= 120 s | met |" in text and "| 2 |" in text
    from benchmarks.common import write_section

    path = tmp_path / "RESULTS.md"
    path.write_text("# R\n\n## GPU\n\nx\n\n## Levers\n\nold\n\n## Later\n\ny\n")
    write_section(bench_levers.HEADING, "fresh", path)
    new = path.read_text()
    assert "old" not in new and "## Levers\n\nfresh\n" in new and new.endswith("## Later\n\ny\n")
