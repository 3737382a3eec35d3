"""``wattwatch levers``: the default sweep's time and table, and what per-request attribution costs.

1. The default sweep -- ``wattwatch levers tiny-gpt2 --batch-sizes 1,8,32 --dtypes fp32,int8`` -- as a fresh
   process (whole command: interpreter start, imports, model builds, every window), goal <= 2 minutes on 2 cores;
   its table. Run as users run it (threads chosen by the command's probe; machine mode: the whole machine's CPU
   model, so on a shared machine other people's work is charged too), then with ``--tracking-mode process
   --threads 1`` (this process's CPU seconds only). The load average is recorded around each run.
2. Attribution overhead: tiny-gpt2 greedy batches (32 new tokens) generated plain and with per-request
   attribution (the step recorder in ``generate``, then feeding and splitting), alternated, ``--rounds`` each;
   the recorder's own time plus the feeding and splitting, over the generation time (goal <= 1 %), and the
   ratio of the two medians (noisy on a shared machine).

    python benchmarks/bench_levers.py            # prints the figures
    python benchmarks/bench_levers.py --write    # and writes the "## Levers" section of RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["HEADING", "attribution_overhead", "default_sweep", "main", "render"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
HEADING = "## Levers"
DEFAULT_ARGS = ["levers", "tiny-gpt2", "--batch-sizes", "1,8,32", "--dtypes", "fp32,int8"]


def default_sweep(extra: list[str] | None = None) -> tuple[float, str, str]:
    """Wall time (s) of the default sweep in a fresh process, its printed table, and the 1-minute load average
    before and after."""
    before = os.getloadavg()[0]
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "wattwatch", *DEFAULT_ARGS, *(extra or []), "--quiet"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(f"levers failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return wall, done.stdout.rstrip(), f"{before:.1f} -> {os.getloadavg()[0]:.1f}"


def attribution_overhead(rounds: int = 7, batch_sizes: tuple[int, ...] = (1, 8, 32), new_tokens: int = 32) -> dict[int, dict[str, float]]:
    """Per batch size: median generation time plain and attributed (s), their ratio, and the attribution's own
    time over the generation time (recorder calls + feeding + splitting)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # generation time not inflated by threads waiting for each other on a busy machine
    try:
        return _overhead(rounds, batch_sizes, new_tokens)
    finally:
        torch.set_num_threads(threads)


def _overhead(rounds: int, batch_sizes: tuple[int, ...], new_tokens: int) -> dict[int, dict[str, float]]:
    from wattwatch.levers.attribution import RequestAttributor
    from wattwatch.levers.generate import GenerateRecorder
    from wattwatch.levers.inputs import default_prompts
    from wattwatch.levers.models import ByteTokenizer, build_builtin
    from wattwatch.levers.window import generate_batch

    model = build_builtin("tiny-gpt2")
    tok = ByteTokenizer()
    prompts = [tok.encode(p) for p in default_prompts()]
    out: dict[int, dict[str, float]] = {}
    for b in batch_sizes:
        batch = [prompts[i % len(prompts)] for i in range(b)]
        gen = dict(new_tokens=new_tokens, pad_id=tok.pad_id, eos_ids=tok.eos_ids, device="cpu")
        generate_batch(model, batch, **gen)  # type: ignore[arg-type]  # warm-up
        plain, attributed, share = [], [], []
        for _ in range(rounds):
            t = time.perf_counter()
            generate_batch(model, batch, **gen)  # type: ignore[arg-type]
            plain.append(time.perf_counter() - t)
            attr = RequestAttributor(lambda: 1.0)
            attr.settle()
            rec = GenerateRecorder(b)
            t = time.perf_counter()
            rows = generate_batch(model, batch, recorder=rec, **gen)  # type: ignore[arg-type]
            a = time.perf_counter()
            ids = list(range(b))
            rec.feed(attr, ids, [len(p) for p in batch], rec.finish_counts(rows, tok.eos_ids))
            attr.finish_many(ids)
            end = time.perf_counter()
            attributed.append(end - t)
            share.append((rec.own_s + end - a) / (a - t))
        out[b] = {
            "plain_s": statistics.median(plain),
            "attributed_s": statistics.median(attributed),
            "ratio": statistics.median(attributed) / statistics.median(plain),
            "own_share": statistics.median(share),
        }
    return out


def render(
    sweep: tuple[float, str, str], steady: tuple[float, str, str], overhead: dict[int, dict[str, float]], rounds: int
) -> str:
    from benchmarks.common import machine_info

    info = machine_info()
    worst = max(v["own_share"] for v in overhead.values())
    sweep_s, table, load = sweep
    steady_s, steady_table, steady_load = steady
    lines = [
        f"Written by `python benchmarks/bench_levers.py --write` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{info['cpu']}, {info['cores']} cores, torch {info['torch']}, no GPU. The machine is shared (other "
        "engineers' tests run at the same time): wall times and machine-mode energy move with their load.",
        "",
        "| figure | value | goal | met |",
        "|---|---|---|---|",
        f"| default sweep `wattwatch {' '.join(DEFAULT_ARGS)}`, whole command (fresh process) | {sweep_s:.0f} s | <= 120 s | "
        f"{'met' if sweep_s <= 120 else 'NOT met (load average ' + load + ' on 2 cores)'} |",
        f"| per-request attribution: its own time / generation time (worst batch size) | {worst * 100:.3f} % | <= 1 % | "
        f"{'met' if worst <= 0.01 else 'NOT met'} |",
        "",
        f"Default sweep ({sweep_s:.0f} s, 1-minute load average {load} on 2 cores; machine mode and threads chosen "
        "by the probe, as a user runs it: the CPU model charges the whole machine, idle share included -- on this "
        "shared machine other people's work too):",
        "",
        "```",
        table,
        "```",
        "",
        f"The same sweep with `--tracking-mode process --threads 1` ({steady_s:.0f} s, load average {steady_load}; "
        "this process's CPU seconds only, one thread: the J/token to compare configurations by on a shared machine):",
        "",
        "```",
        steady_table,
        "```",
        "",
        f"Attribution overhead (tiny-gpt2 fp32, one torch thread, 32 new tokens, median of {rounds} alternated rounds; `own` = the "
        "recorder's calls inside `generate` plus feeding the steps and splitting the energy afterwards):",
        "",
        "| batch | generate, plain | generate + attribution | ratio | own time / generation |",
        "|---|---|---|---|---|",
    ]
    for b, v in overhead.items():
        lines.append(
            f"| {b} | {v['plain_s'] * 1e3:.1f} ms | {v['attributed_s'] * 1e3:.1f} ms | {v['ratio']:.3f} | "
            f"{v['own_share'] * 100:.3f} % |"
        )
    lines += ["", "The ratio of medians is within the machine's noise; the own-time share is the attribution's cost."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--write", action="store_true", help="write the figures into benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    sweep = default_sweep()
    print(f"default sweep: {sweep[0]:.1f} s (load {sweep[2]})\n{sweep[1]}", flush=True)
    steady = default_sweep(["--tracking-mode", "process", "--threads", "1"])
    print(f"process mode, 1 thread: {steady[0]:.1f} s (load {steady[2]})\n{steady[1]}", flush=True)
    overhead = attribution_overhead(args.rounds)
    print(json.dumps(overhead, indent=1), flush=True)
    text = render(sweep, steady, overhead, args.rounds)
    if args.write:
        sys.path.insert(0, str(ROOT))
        from benchmarks.common import write_section

        write_section(HEADING, text, RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
