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

__all__ = ["main", "peak_rss_mib"]

J_PER_KWH = 3.6e6


def peak_rss_mib() -> float:
    """This process's peak resident set (``VmHWM`` of ``/proc/self/status``) in MiB; NaN where unreadable.

    Read here rather than from ``os.wait4`` in the parent: a child's ``ru_maxrss`` also counts the pages of the
    parent it was forked from, before ``exec``, which hides anything smaller than the benchmark harness."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


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
    """One construct + start + stop right after the tool's import (after importing ``args.after`` first, as a
    training script has: ``--after torch``). After those imports a full garbage collection is run: torch leaves
    one due, and whichever call allocates next pays it (about 70 ms over torch's objects, measured here); in a
    training script the model and data set-up do, long before a tracker starts."""
    import importlib

    after = [name for name in args.after.split(",") if name]
    for name in after:
        importlib.import_module(name)
    if after:
        import gc

        gc.collect()
    t0 = time.perf_counter()
    _import(args.tool)
    t1, c1 = time.perf_counter(), time.process_time()
    tracker = _make(args.tool, args.out, args.interval)
    ta = time.perf_counter()
    tracker.start()
    tb = time.perf_counter()
    tracker.stop()
    t2, c2 = time.perf_counter(), time.process_time()
    return {
        "import_s": t1 - t0,
        "cycle_s": t2 - t1,
        "cycle_cpu_s": c2 - c1,
        "construct_s": ta - t1,
        "start_s": tb - ta,
        "stop_s": t2 - tb,
    }


def _import_after(args: argparse.Namespace) -> dict[str, Any]:
    """Import time of the tool inside a process that has already imported ``args.after`` (e.g. ``torch``, as a
    training script has), timed in-process with ``perf_counter``."""
    import importlib

    for name in filter(None, args.after.split(",")):
        importlib.import_module(name)
    t0 = time.perf_counter()
    _import(args.tool)
    return {"import_s": time.perf_counter() - t0}


def _stop_latency(args: argparse.Namespace) -> dict[str, Any]:
    """``args.runs`` + 1 start/stop cycles (the first is a warm-up, not reported; with ``--one-folder`` all in
    ``args.out``, as a user's sweep writes into one folder, else each in its own sub-folder; ``--after torch``
    imports torch first, as a training script has); before each ``stop()`` the busy-loop processes ``args.busy``
    (pids, paused by the parent) are resumed, and paused again after it, so every timed ``stop()`` runs with every
    core busy while the set-up does not crawl."""
    import gc
    import importlib
    import signal

    busy = [int(p) for p in args.busy.split(",") if p]
    for name in filter(None, args.after.split(",")):
        importlib.import_module(name)
    gc.collect()  # as in _cycle: what importing left due is not the tracker's
    _import(args.tool)
    times: list[float] = []
    for i in range(args.runs + 1):
        out = args.out if args.one_folder else os.path.join(args.out, f"run{i}")
        os.makedirs(out, exist_ok=True)
        tracker = _make(args.tool, out, args.interval)
        tracker.start()
        for pid in busy:
            os.kill(pid, signal.SIGCONT)
        time.sleep(args.seconds)
        t0 = time.perf_counter()
        tracker.stop()
        dt = time.perf_counter() - t0
        for pid in busy:
            os.kill(pid, signal.SIGSTOP)
        if i:
            times.append(dt)
    return {"stop_s": times}


def _hf(args: argparse.Namespace) -> dict[str, Any]:
    """A tiny GPT-2 (from a config, no download) trained for ``args.steps`` steps by a Hugging Face ``Trainer``
    with the tool's callback: wattwatch's ``WattwatchCallback``, or transformers' own ``CodeCarbonCallback``
    (``report_to="codecarbon"``) with an ``OfflineEmissionsTracker(country_iso_code="FRA")`` in place of the
    online tracker it makes (the online one would look the country up over the network).

    ``setup_s``: importing the callback module and constructing the callback; ``hooks_s``: time spent inside the
    callback's hooks over the whole run (the tracker's construction, start and stop happen there);
    ``train_s``: ``trainer.train()`` wall time."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    class Tokens(torch.utils.data.Dataset):  # type: ignore[misc]
        def __init__(self, n: int = 64, seq: int = 16) -> None:
            g = torch.Generator().manual_seed(0)
            self.ids = torch.randint(0, 128, (n, seq), generator=g)

        def __len__(self) -> int:
            return len(self.ids)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"input_ids": self.ids[i], "labels": self.ids[i]}

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=32, vocab_size=128, n_positions=32))
    spent = [0.0]

    def timed(fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[0] += time.perf_counter() - t

        return wrapper

    def time_hooks(cb: Any) -> None:
        for name in dir(type(cb)):
            if name.startswith("on_") and not getattr(cb, "_timed_" + name, False):
                setattr(cb, name, timed(getattr(cb, name)))
                setattr(cb, "_timed_" + name, True)

    t0 = time.perf_counter()
    callbacks: list[Any] = []
    if args.tool == "ww":
        from wattwatch.callbacks import WattwatchCallback

        callbacks.append(WattwatchCallback(country_iso_code="FRA", log_level="error"))
    elif args.tool == "cc":
        from transformers.integrations import CodeCarbonCallback

        class OfflineCodeCarbonCallback(CodeCarbonCallback):  # type: ignore[misc]
            def on_init_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                if self.tracker is None and state.is_local_process_zero:
                    self.tracker = self._codecarbon.OfflineEmissionsTracker(
                        output_dir=args.output_dir, country_iso_code="FRA", log_level="error"
                    )

        callbacks.append(OfflineCodeCarbonCallback())
    setup = time.perf_counter() - t0
    for cb in callbacks:
        time_hooks(cb)
    targs = TrainingArguments(
        output_dir=args.out,
        per_device_train_batch_size=4,
        max_steps=args.steps,
        logging_steps=max(1, args.steps // 2),
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=targs, train_dataset=Tokens(), callbacks=callbacks)
    for cb in trainer.callback_handler.callbacks:  # helpers a callback added (wattwatch's log injector)
        if type(cb).__module__.startswith(("wattwatch", "callbacks")):
            time_hooks(cb)
    t1 = time.perf_counter()
    trainer.train()
    train = time.perf_counter() - t1
    return {"setup_s": setup, "hooks_s": spent[0], "train_s": train}


def _cli(args: argparse.Namespace) -> dict[str, Any]:
    """``wattwatch ARGS...`` (``--tool ww``; its output thrown away) or, for ``--tool cc`` (CodeCarbon has no
    report command), what its users do with the file: ``pandas.read_csv`` and the totals."""
    import contextlib

    t0 = time.perf_counter()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        if args.tool == "ww":
            from wattwatch.cli.main import main as cli_main

            code = cli_main(args.cli)
        else:
            import pandas

            frame = pandas.read_csv(args.cli[-1])
            print(frame["energy_consumed"].sum(), frame["emissions"].sum(), frame["run_id"].nunique())
            code = 0
    import resource

    # Worker processes (report forks one for a large file): their peak, as the kernel reports it (ru_maxrss
    # of a forked child also counts the pages it shares with this process).
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return {"cli_s": time.perf_counter() - t0, "code": code, "children_maxrss_mib": children}


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
    checkpoints = sorted(float(x) for x in args.cpu_at.split(",") if x) if args.cpu_at else []
    cpu_at: list[list[float]] = []
    while time.monotonic() < deadline:
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        while checkpoints and time.monotonic() - a1 >= checkpoints[0]:
            checkpoints.pop(0)
            cpu_at.append([time.monotonic() - a1, (time.process_time() - p0) - (time.thread_time() - m0)])
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
        "cpu_at": cpu_at,
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
    parser.add_argument(
        "mode", choices=["bare", "import", "import-after", "cycle", "track", "stop-latency", "hf", "cli"]
    )
    parser.add_argument("--tool", default="none", choices=["ww", "cc", "none"])
    parser.add_argument("--out", default=".")
    parser.add_argument("--interval", type=float, default=None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--start-at", type=float, default=0.0, help="monotonic instant to start tracking at")
    parser.add_argument(
        "--cpu-at", default="", help="track: seconds into the run at which to note the tracker's CPU, comma-separated"
    )
    parser.add_argument(
        "--after", default="", help="import-after, cycle, stop-latency: modules imported first, comma-separated"
    )
    parser.add_argument("--runs", type=int, default=50, help="stop-latency: timed start/stop cycles")
    parser.add_argument("--busy", default="", help="stop-latency: pids of paused busy loops, comma-separated")
    parser.add_argument("--one-folder", action="store_true", help="stop-latency: every run in --out itself")
    parser.add_argument("--steps", type=int, default=20, help="hf: training steps")
    parser.add_argument(
        "--cli", nargs=argparse.REMAINDER, default=[], help="cli: the wattwatch command line (last)"
    )
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)
    if args.mode == "bare":
        result: dict[str, Any] = {}
    elif args.mode == "import":
        _import(args.tool)
        result = {}
    elif args.mode == "import-after":
        result = _import_after(args)
    elif args.mode == "cycle":
        result = _cycle(args)
    elif args.mode == "stop-latency":
        result = _stop_latency(args)
    elif args.mode == "hf":
        result = _hf(args)
    elif args.mode == "cli":
        result = _cli(args)
    else:
        result = _track(args)
    result["vmhwm_mib"] = peak_rss_mib()
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown (not part of any figure)


if __name__ == "__main__":
    raise SystemExit(main())
