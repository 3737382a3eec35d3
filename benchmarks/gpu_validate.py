"""Validation on a real GPU, NVIDIA or AMD (torch CUDA, or torch's ROCm build, which exposes HIP as
``torch.cuda``), under 5 minutes: ``python benchmarks/gpu_validate.py``.

1. A matmul load with idle gaps (~40 s) while a thread polls the vendor library every 10 ms: the energy counter,
   the instantaneous power and the averaged power -- NVML: ``nvmlDeviceGetTotalEnergyConsumption``,
   ``NVML_FI_DEV_POWER_INSTANT``, ``nvmlDeviceGetPowerUsage`` (a 1 s average on Ampere and newer); amdsmi:
   ``amdsmi_get_energy_count`` x its resolution, ``current_socket_power``, ``average_socket_power``. The
   counter's delta is compared with the trapezoid integral of each power kind, subsampled at 10 ms, 100 ms, 1 s.
2. wattwatch and CodeCarbon tracking the same ~30 s window of that load (two subprocesses started together),
   each against the counter's delta over its own window.
3. Tracker overhead on a real training loop on the GPU (none / wattwatch / CodeCarbon windows, rotated).
4. A small ``wattwatch levers`` sweep on the GPU (tiny-gpt2 and tiny-mixtral, every precision, batch 1/8/32):
   ``--levers-only`` runs just this part. Without a GPU the script says so in one line and exits 2.

Writes the figures to ``benchmarks/RESULTS.md`` under "## GPU", in the vendor's own "### NVIDIA" / "### AMD"
subsection (replacing that subsection only). The vendor is AMD when ``torch.version.hip`` is set. The analysis
functions (:func:`integrate`, :func:`subsample`, :func:`compare_power_to_counter`) take plain samples and are
unit-tested without a GPU; :func:`amd_reader` is tested against the fake libamd_smi.so.

Units: seconds, watts, joules.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import GPU_HEADING, RESULTS, ROOT, machine_info, median

__all__ = [
    "Reader",
    "Sample",
    "amd_reader",
    "compare_power_to_counter",
    "counter_between",
    "integrate",
    "levers_sweep",
    "main",
    "nvidia_reader",
    "render_levers",
    "subsample",
    "write_gpu_section",
]


@dataclass(frozen=True)
class Sample:
    """One poll: monotonic time (s), counter (J, cumulative), instantaneous and averaged power (W; NaN if n/a)."""

    t: float
    counter_j: float
    instant_w: float
    average_w: float


def integrate(ts: Sequence[float], ws: Sequence[float]) -> float:
    """Trapezoid integral (J) of power samples ``ws`` (W) at times ``ts`` (s); NaN samples are skipped."""
    pts = [(t, w) for t, w in zip(ts, ws, strict=True) if not math.isnan(w)]
    return sum((t1 - t0) * (w0 + w1) / 2.0 for (t0, w0), (t1, w1) in zip(pts, pts[1:], strict=False))


def subsample(samples: Sequence[Sample], period_s: float) -> list[Sample]:
    """Every sample at least ``period_s`` after the previous kept one (the first and last always kept)."""
    if not samples:
        return []
    out = [samples[0]]
    for s in samples[1:]:
        if s.t - out[-1].t >= period_s * 0.999:
            out.append(s)
    if out[-1] is not samples[-1]:
        out.append(samples[-1])
    return out


def counter_between(samples: Sequence[Sample], t0: float, t1: float) -> float:
    """Counter energy (J) between ``t0`` and ``t1``, linearly interpolated between polls."""

    def at(t: float) -> float:
        for a, b in zip(samples, samples[1:], strict=False):
            if a.t <= t <= b.t:
                f = 0.0 if b.t == a.t else (t - a.t) / (b.t - a.t)
                return a.counter_j + f * (b.counter_j - a.counter_j)
        return samples[0].counter_j if t < samples[0].t else samples[-1].counter_j

    return at(t1) - at(t0)


def compare_power_to_counter(
    samples: Sequence[Sample], periods_s: Sequence[float] = (0.01, 0.1, 1.0)
) -> dict[str, dict[str, float]]:
    """Relative error of the power integrals against the counter's delta over the same span:
    ``{"0.01": {"instant": e, "average": e}, ...}`` (e = integral / counter - 1)."""
    truth = samples[-1].counter_j - samples[0].counter_j
    out: dict[str, dict[str, float]] = {}
    for p in periods_s:
        sub = subsample(samples, p)
        ts = [s.t for s in sub]
        row = {}
        for kind in ("instant", "average"):
            ws = [getattr(s, f"{kind}_w") for s in sub]
            row[kind] = (
                math.nan if all(math.isnan(w) for w in ws) or truth <= 0 else integrate(ts, ws) / truth - 1
            )
        out[f"{p:g}"] = row
    return out


# ------------------------------------------------------------------------------------------------ GPU side


Reader = Callable[[], tuple[float, float, float]]
"""One poll of a GPU: (counter J cumulative, instantaneous W, averaged W); NaN for what the board lacks."""

VENDORS = {"nvidia": "NVIDIA", "amd": "AMD"}
LIBRARY = {"nvidia": "NVML", "amd": "amdsmi"}


def nvidia_reader(index: int) -> tuple[str, Reader]:
    """The name of NVML GPU ``index`` and a reader of its counter, instantaneous and averaged power."""
    import pynvml

    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(index)
    name = pynvml.nvmlDeviceGetName(h)
    name = name.decode() if isinstance(name, bytes) else str(name)
    fid = getattr(pynvml, "NVML_FI_DEV_POWER_INSTANT", None)

    def read() -> tuple[float, float, float]:
        e = pynvml.nvmlDeviceGetTotalEnergyConsumption(h) / 1000.0
        inst = math.nan
        if fid is not None:
            try:
                v = pynvml.nvmlDeviceGetFieldValues(h, [fid])[0]
                if v.nvmlReturn == 0:
                    inst = v.value.uiVal / 1000.0
            except pynvml.NVMLError:
                pass
        return e, inst, pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0

    return name, read


def amd_reader(hip_index: int) -> tuple[str, Reader]:
    """The name of the AMD GPU that HIP numbers ``hip_index`` (amdsmi's ``hip_id``; amdsmi's own order on
    libraries without it) and a reader of its energy counter (joules), current and average socket power (W)."""
    import amdsmi

    amdsmi.amdsmi_init(amdsmi.AmdSmiInitFlags.INIT_AMD_GPUS)
    handles = amdsmi.amdsmi_get_processor_handles()
    handle = handles[hip_index]
    for h in handles:
        try:
            if amdsmi.amdsmi_get_gpu_enumeration_info(h).get("hip_id") == hip_index:
                handle = h
                break
        except Exception:  # noqa: BLE001 - libraries before ROCm 7 have no enumeration info
            break
    name = str(amdsmi.amdsmi_get_gpu_asic_info(handle).get("market_name") or "AMD GPU")

    def watts(value: object) -> float:
        return float(value) if isinstance(value, int | float) and value not in (0xFFFF, 0xFFFFFFFF) else math.nan

    def read() -> tuple[float, float, float]:
        count = amdsmi.amdsmi_get_energy_count(handle)
        raw = count.get("energy_accumulator", count.get("power", 0))
        e = float(raw) * float(count["counter_resolution"]) / 1e6
        power = amdsmi.amdsmi_get_power_info(handle)
        return e, watts(power.get("current_socket_power")), watts(power.get("average_socket_power"))

    return name, read


def _poll(read: Reader, stop: threading.Event, out: list[Sample], period_s: float = 0.01) -> None:
    next_t = time.monotonic()
    while not stop.is_set():
        t = time.monotonic()
        e, inst, avg = read()
        out.append(Sample((t + time.monotonic()) / 2, e, inst, avg))
        next_t += period_s
        time.sleep(max(0.0, next_t - time.monotonic()))


def _load(seconds: float, stop: threading.Event | None = None) -> None:
    """Matmuls in bursts of 0.3-2 s separated by idle gaps of 0.2-1.5 s, for ``seconds``."""
    import random

    import torch

    rng = random.Random(0)
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (stop and stop.is_set()):
        burst_end = time.monotonic() + rng.uniform(0.3, 2.0)
        while time.monotonic() < burst_end:
            a = (a @ a).clamp_(-1, 1)
            torch.cuda.synchronize()
        time.sleep(rng.uniform(0.2, 1.5))


def _section_counter(read: Reader, seconds: float) -> tuple[dict[str, dict[str, float]], list[Sample]]:
    samples: list[Sample] = []
    stop = threading.Event()
    th = threading.Thread(target=_poll, args=(read, stop, samples), daemon=True)
    th.start()
    _load(seconds)
    stop.set()
    th.join()
    return compare_power_to_counter(samples), samples


def _section_tools(read: Reader, seconds: float) -> dict[str, dict[str, float]]:
    """Both tools track the same window of the load; each against the counter over its own window."""
    samples: list[Sample] = []
    stop = threading.Event()
    th = threading.Thread(target=_poll, args=(read, stop, samples, 0.05), daemon=True)
    th.start()
    start_at = time.monotonic() + 8.0
    # Device 0 for CUDA and for HIP alike (on ROCm, HIP_VISIBLE_DEVICES wins over CUDA_VISIBLE_DEVICES).
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "0", "HIP_VISIBLE_DEVICES": "0"}
    with tempfile.TemporaryDirectory() as tmp:
        procs = {}
        for tool in ("ww", "cc"):
            out_dir = Path(tmp) / tool
            out_dir.mkdir()
            cmd = [sys.executable, str(ROOT / "benchmarks" / "child.py"), "track", "--tool", tool, "--out", str(out_dir),
                   "--seconds", str(seconds), "--start-at", repr(start_at)]  # fmt: skip
            procs[tool] = subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        load_stop = threading.Event()
        loader = threading.Thread(target=_load, args=(seconds + 20.0, load_stop), daemon=True)
        loader.start()
        results = {}
        for tool, p in procs.items():
            out_s, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"{tool} child failed: {err[-2000:]}")
            results[tool] = json.loads(out_s.strip().splitlines()[-1])
        load_stop.set()
        loader.join()
    stop.set()
    th.join()
    out: dict[str, dict[str, float]] = {}
    for tool, r in results.items():
        if "windows" in r:
            first, last, _ = next(iter(r["windows"].values()))
            truth = counter_between(samples, first, last)
        else:
            truth = counter_between(samples, sum(r["start"]) / 2, sum(r["stop"]) / 2)
        out[tool] = {
            "gpu_j": r["gpu_j"],
            "counter_j": truth,
            "error": r["gpu_j"] / truth - 1 if truth else math.nan,
        }
    return out


def _section_overhead(rounds: int, window_s: float) -> dict[str, float]:
    from benchmarks.bench_throughput import child

    with tempfile.TemporaryDirectory() as tmp:
        rates = child(rounds, window_s, tmp, device="cuda", width=4096)
    return {t: median([r / n for r, n in zip(rates[t], rates["none"], strict=True)]) for t in ("ww", "cc")}


def write_gpu_section(text: str, path: Path = RESULTS, vendor: str | None = None) -> None:
    """Replace the "## GPU" section of ``path`` (from its heading to the next "## " heading; later sections stay)
    with ``text``; with a ``vendor`` ("nvidia", "amd"), replace only that vendor's "### NVIDIA" / "### AMD"
    subsection of it, keeping the other vendor's."""
    old = path.read_text() if path.exists() else ""
    head = old[: old.index(GPU_HEADING + "\n")] if GPU_HEADING + "\n" in old else old + "\n"
    rest = old[len(head) :] if GPU_HEADING + "\n" in old else ""
    nxt = rest.find("\n## ", len(GPU_HEADING))
    section = rest[len(GPU_HEADING) + 1 : nxt + 1] if nxt >= 0 else rest[len(GPU_HEADING) + 1 :]
    tail = rest[nxt + 1 :] if nxt >= 0 else ""
    if vendor is None:
        body = text.strip()
    else:
        parts = _subsections(section)
        parts[VENDORS[vendor]] = text.strip()
        body = "\n\n".join(f"### {name}\n\n{parts[name]}" for name in VENDORS.values() if name in parts)
    path.write_text(head + GPU_HEADING + "\n\n" + body + "\n" + ("\n" + tail if tail else ""))


def _subsections(section: str) -> dict[str, str]:
    """``{"NVIDIA": text, "AMD": text}`` from a "## GPU" section body; text before any "### " heading (an older,
    NVIDIA-only section) counts as NVIDIA's unless it says the section was never run."""
    out: dict[str, str] = {}
    name, lines = "NVIDIA", []
    for line in section.splitlines():
        if line.startswith("### "):
            if "\n".join(lines).strip():
                out[name] = "\n".join(lines).strip()
            name, lines = line[4:].strip(), []
        else:
            lines.append(line)
    if "\n".join(lines).strip():
        out[name] = "\n".join(lines).strip()
    if out.get("NVIDIA", "").startswith("not yet run"):
        del out["NVIDIA"]
    return out


def render(
    gpu_name: str,
    power: dict[str, dict[str, float]],
    tools: dict[str, dict[str, float]],
    overhead: dict[str, float],
    vendor: str = "nvidia",
) -> str:
    info = machine_info()
    columns = (
        "| sampling | instantaneous power (current_socket_power) | averaged power (average_socket_power) |"
        if vendor == "amd"
        else "| sampling | instantaneous power (field) | averaged power (GetPowerUsage) |"
    )
    lines = [
        f"Written by `python benchmarks/gpu_validate.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"GPU: {gpu_name}; host: {info['cpu']}, {info['cores']} cores.",
        "",
        f"Power integrals against the {LIBRARY[vendor]} energy counter (matmul bursts with idle gaps):",
        "",
        columns,
        "|---|---|---|",
    ]
    for p, row in power.items():
        lines.append(f"| {p} s | {row['instant'] * 100:+.2f} % | {row['average'] * 100:+.2f} % |")
    lines += ["", "| same window | wattwatch | CodeCarbon |", "|---|---|---|"]
    ww, cc = tools.get("ww", {}), tools.get("cc", {})
    lines.append(
        f"| GPU energy vs counter | {ww.get('error', math.nan) * 100:+.3f} % | {cc.get('error', math.nan) * 100:+.3f} % |"
    )
    lines.append(
        f"| training throughput with / without | {overhead.get('ww', math.nan):.4f} | {overhead.get('cc', math.nan):.4f} |"
    )
    return "\n".join(lines)


LEVERS_ARGS = ["levers", "tiny-gpt2", "tiny-mixtral", "--device", "cuda", "--batch-sizes", "1,8,32",
               "--window-s", "3", "--warmup-s", "1", "--json", "--quiet"]  # fmt: skip
"""4. A small levers sweep on the GPU: both built-in models, every precision (bf16/fp16 on the GPU, int8/int4
through bitsandbytes when installed), batch 1/8/32; energy from the GPU's counter."""


def levers_sweep(args: Sequence[str] = LEVERS_ARGS, timeout_s: float = 600.0) -> dict[str, object]:
    """``wattwatch levers`` on the GPU in a fresh process; its ``--json`` output."""
    done = subprocess.run(
        [sys.executable, "-m", "wattwatch", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout_s, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wattwatch levers failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    return dict(json.loads(done.stdout))


def render_levers(data: dict[str, object]) -> str:
    """The sweep as Markdown: one row per configuration, then what was skipped and why."""
    lines = [
        f"Levers (`wattwatch {' '.join(LEVERS_ARGS[:-2])}`; energy: {data.get('energy_method', '?')}):",
        "",
        "| model | dtype | batch | J/token | tokens/s | p50 s | perplexity | agreement | front |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in data.get("configs") or []:  # type: ignore[attr-defined]
        p50 = c.get("latency_p50_s")
        lines.append(
            f"| {c['model']} | {c['dtype']} | {c['batch_size']} | {c['joules_per_token']:.4g} | {c['tokens_per_s']:.4g} | "
            f"{'-' if p50 is None else f'{p50:.3g}'} | {c['perplexity']:.5g} | {c.get('agreement') or 0:.3f} | "
            f"{'*' if c.get('pareto') else ''} |"
        )
    for s in data.get("skipped") or []:  # type: ignore[attr-defined]
        lines.append(f"- skipped: {s['model']} {s['dtype']}: {s['reason']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--levers-only", action="store_true", help="only the levers sweep (printed, not written)")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu_validate: no CUDA or ROCm GPU here; nothing measured", file=sys.stderr)
        return 2
    if args.levers_only:
        print(render_levers(levers_sweep()), flush=True)
        return 0
    vendor = detect_vendor(torch)
    name, read = amd_reader(0) if vendor == "amd" else nvidia_reader(0)
    print(f"gpu_validate: {VENDORS[vendor]} GPU 0: {name}", flush=True)
    t = time.monotonic()
    power, _ = _section_counter(read, 40.0)
    print("power vs counter:", json.dumps(power), f"({time.monotonic() - t:.0f} s)", flush=True)
    tools = _section_tools(read, 30.0)
    print("tools:", json.dumps(tools), f"({time.monotonic() - t:.0f} s)", flush=True)
    overhead = _section_overhead(4, 5.0)
    print("overhead:", json.dumps(overhead), f"({time.monotonic() - t:.0f} s)", flush=True)
    text = render(name, power, tools, overhead, vendor)
    try:
        text += "\n\n" + render_levers(levers_sweep())
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
        text += f"\n\nLevers sweep failed: {str(exc).splitlines()[0][:300]}"
    print(f"levers: ({time.monotonic() - t:.0f} s)", flush=True)
    print(text)
    if not args.no_write:
        write_gpu_section(text, vendor=vendor)
    return 0


def detect_vendor(torch: object) -> str:
    """``"amd"`` when ``torch`` is a ROCm build (``torch.version.hip`` set), else ``"nvidia"``."""
    version = getattr(torch, "version", None)
    return "amd" if getattr(version, "hip", None) else "nvidia"


if __name__ == "__main__":
    raise SystemExit(main())
