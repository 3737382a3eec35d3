"""Shared pieces of the benchmarks: subprocess runs with their peak RSS, the fake NVML rig, medians, figures
and the RESULTS.md writer.

Units: seconds, joules, megabytes (MB = 10**6 bytes is not used: RSS is in MiB, 2**20 bytes).
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "write_section",
    "readme_from_results",
    "CHILD",
    "Figure",
    "ROOT",
    "RunResult",
    "BusyCores",
    "burst_amd_gpus",
    "burst_gpus",
    "compile_bytecode",
    "fake_amd_rig",
    "fake_rig",
    "gpu_error",
    "fmt",
    "machine_info",
    "median",
    "percentile",
    "print_figures",
    "render_table",
    "run_child",
    "spawn_child",
    "user_python",
    "spread",
    "track_together",
    "update_results",
    "wait_child",
    "write_readme_table",
    "write_results",
]

ROOT = Path(__file__).resolve().parent.parent
CHILD = ROOT / "benchmarks" / "child.py"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
README = ROOT / "README.md"
TABLE_START, TABLE_END = "<!-- bench-table -->", "<!-- /bench-table -->"
GPU_HEADING = "## GPU"


@dataclass
class RunResult:
    """One finished subprocess: its JSON result, wall time (s) and peak RSS (MiB)."""

    result: dict[str, Any]
    wall_s: float
    maxrss_mib: float
    returncode: int
    stderr: str = ""


@dataclass
class Figure:
    """One row of the table. ``ratio`` is wattwatch / CodeCarbon when both are numbers."""

    key: str
    name: str
    ww: float | None
    cc: float | None
    unit: str
    goal: str
    met: bool | None
    note: str = ""
    ww_text: str = ""
    cc_text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.ww is None or self.cc is None or self.cc == 0:
            return None
        return self.ww / self.cc


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else math.nan


def percentile(xs: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``xs``, nearest-rank (an observed value: with 50 runs, p99 is the
    largest)."""
    if not xs:
        return math.nan
    s = sorted(xs)
    return float(s[max(0, math.ceil(q / 100.0 * len(s)) - 1)])


def compile_bytecode() -> None:
    """Write the ``.pyc`` files of wattwatch (and its callbacks) as ``pip install`` does, so no benchmark child
    compiles wattwatch's sources while CodeCarbon's come compiled from site-packages. Needed because this
    checkout is an editable install and ``PYTHONDONTWRITEBYTECODE`` may be set (the caches land in the
    git-ignored ``__pycache__`` folders)."""
    import compileall

    for folder in ("wattwatch", "callbacks"):
        compileall.compile_dir(str(ROOT / folder), quiet=1)


def user_python(directory: Path) -> tuple[str, dict[str, str]]:
    """An interpreter that starts like a user's: a fresh venv (no pip, nothing installed) in ``directory``, and
    the environment that lets it import wattwatch (from this checkout, bytecode compiled) and this environment's
    packages through ``PYTHONPATH``. Unlike this checkout's own venv, its start-up runs no ``.pth`` file (the
    editable install's finder pre-imports ``pathlib``, ``re``, ``typing``-sized modules, which would hide their
    cost from an import figure). Returns ``(python, extra environment)``."""
    import sysconfig
    import venv

    target = Path(directory) / "user-venv"
    python = target / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=False, symlinks=True).create(target)
    paths = sysconfig.get_paths()
    entries = [str(ROOT), paths["purelib"]] + (
        [paths["platlib"]] if paths["platlib"] != paths["purelib"] else []
    )
    return str(python), {"PYTHONPATH": os.pathsep.join(entries)}


class BusyCores:
    """``n`` busy-loop processes (default: one per core) that load the machine while a measurement runs.

    They start paused (SIGSTOP) so setting up the measured process is not slowed; :meth:`resume` and
    :meth:`pause` (SIGCONT/SIGSTOP) bracket the measured call, and a child can do it itself from :attr:`pids`.
    Use as a context manager: the processes are killed (by their own pids) on exit."""

    def __init__(self, n: int | None = None) -> None:
        self.n = n if n is not None else (os.cpu_count() or 1)
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> BusyCores:
        import signal

        for _ in range(self.n):
            p = subprocess.Popen([sys.executable, "-S", "-c", "while True: pass"])
            self.procs.append(p)
            os.kill(p.pid, signal.SIGSTOP)
            os.waitpid(p.pid, os.WUNTRACED)  # returns once it is stopped
        return self

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def resume(self) -> None:
        import signal

        for p in self.procs:
            os.kill(p.pid, signal.SIGCONT)
            os.waitpid(p.pid, os.WCONTINUED)  # returns once it runs again

    def pause(self) -> None:
        import signal

        for p in self.procs:
            os.kill(p.pid, signal.SIGSTOP)
            os.waitpid(p.pid, os.WUNTRACED)

    def __exit__(self, *exc: object) -> None:
        import signal

        for p in self.procs:
            try:
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
                p.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.procs.clear()


def spread(xs: Sequence[float]) -> float:
    """Half the range between the 25th and 75th percentiles (or half the range for fewer than 4 values)."""
    if len(xs) < 2:
        return 0.0
    s = sorted(xs)
    if len(s) < 4:
        return (s[-1] - s[0]) / 2.0
    q = statistics.quantiles(s, n=4)
    return (q[2] - q[0]) / 2.0


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "not measured"
    if x == 0:
        return "0"
    if abs(x) >= 1000 or abs(x) < 0.001:
        return f"{x:.{digits}g}"
    return f"{x:.{digits}g}" if abs(x) < 1 else f"{x:.{max(digits - 1, 1)}f}".rstrip("0").rstrip(".")


_REGISTRY: list[str] = []


def _private_registry() -> str:
    """A registry of running trackers of this benchmark's own (wattwatch/run/host_registry.py): the children see
    each other, as a user's trackers on one machine do, but not the trackers of whoever else shares the build
    machine (other sessions' tests and benchmarks), whose entries would add overlap warnings and reads."""
    if not _REGISTRY:
        _REGISTRY.append(tempfile.mkdtemp(prefix="wattwatch-bench-registry-"))  # mode 0700
    return _REGISTRY[0]


def spawn_child(
    mode: str, tool: str, env: dict[str, str] | None = None, *extra: str
) -> subprocess.Popen[str]:
    """Start ``benchmarks/child.py MODE --tool TOOL EXTRA...`` with ``env`` added to this environment."""
    full = dict(os.environ)
    full.update(env or {})
    full.setdefault("PYTHONPATH", str(ROOT))
    full.setdefault("WATTWATCH_REGISTRY_DIR", _private_registry())
    full["CODECARBON_LOG_LEVEL"] = "error"
    return subprocess.Popen(
        [sys.executable, str(CHILD), mode, "--tool", tool, *extra],
        env=full,
        cwd=tempfile.gettempdir(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_child(proc: subprocess.Popen[str], started: float | None = None) -> RunResult:
    """Wait for ``proc`` with ``os.wait4`` (its own peak RSS) and parse its last stdout line as JSON."""
    import time

    out, err = "", ""
    # Read the pipes first (a full pipe would block the child), then reap it with wait4.
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started if started is not None else math.nan
    lines = [ln for ln in out.splitlines() if ln.strip()]
    try:
        result = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {}
    if proc.returncode != 0 or not isinstance(result, dict):
        raise RuntimeError(f"benchmark child failed ({proc.returncode}):\n{err[-3000:]}")
    return RunResult(result, wall, usage.ru_maxrss / 1024.0, proc.returncode, err)


def run_child(mode: str, tool: str, env: dict[str, str] | None = None, *extra: str) -> RunResult:
    """Run one child to completion; ``wall_s`` is the whole process's wall time (s)."""
    import time

    t = time.perf_counter()
    return wait_child(spawn_child(mode, tool, env, *extra), t)


def fake_rig(directory: Path, gpus: Sequence[Any], t0: float | None = None) -> Any:
    """Build the fake NVML (cached) and write a config for ``gpus``; returns the ``FakeNvml`` whose ``env``
    makes a subprocess load it through pynvml's default search."""
    tests = str(ROOT / "tests" / "support")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import fakenvml

    library = fakenvml.build_library(fakenvml.default_build_dir())
    Path(directory).mkdir(parents=True, exist_ok=True)
    rig = fakenvml.install(directory, list(gpus), library, environ={}, t0=t0)
    # CodeCarbon only looks for NVIDIA GPUs when `nvidia-smi --help` runs: give it one that does.
    bin_dir = Path(directory) / "bin"
    bin_dir.mkdir(exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\nexit 0\n")
    smi.chmod(0o755)
    rig.env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    return rig


def fake_amd_rig(directory: Path, gpus: Sequence[Any], t0: float | None = None) -> Any:
    """Build the fake libamd_smi.so (cached) and write a config for ``gpus``; returns the ``FakeAmdSmi`` whose
    ``env`` makes a subprocess's amdsmi binding load it (``ROCM_HOME``) -- the binding of wattwatch and of
    CodeCarbon alike."""
    tests = str(ROOT / "tests" / "support")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import fakeamdsmi

    library = fakeamdsmi.build_library(fakeamdsmi.default_build_dir())
    rig = fakeamdsmi.install(directory, list(gpus), library, environ={}, t0=t0)
    # CodeCarbon only looks for AMD GPUs when `rocm-smi --help` runs: give it one that does.
    bin_dir = Path(directory) / "bin"
    bin_dir.mkdir(exist_ok=True)
    smi = bin_dir / "rocm-smi"
    smi.write_text("#!/bin/sh\nexit 0\n")
    smi.chmod(0o755)
    rig.env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    rig.env["BENCH_AMD_LIBRARY"] = str(
        library
    )  # wattwatch asks amdsmi when a host shows an AMD GPU (child.py)
    return rig


def machine_info() -> dict[str, str]:
    """CPU model, cores, RAM, Python and the versions of the tools compared."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        import psutil

        ram = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    except Exception:  # noqa: BLE001
        pass
    versions = {}
    for name in ("wattwatch", "codecarbon", "torch", "nvidia-ml-py", "psutil"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # noqa: BLE001
            versions[name] = "not installed"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        **versions,
    }


def render_table(figures: Sequence[Figure]) -> str:
    """A Markdown table: figure, wattwatch, CodeCarbon, ratio, goal, met."""
    rows = [
        "| # | figure | wattwatch | CodeCarbon | ratio ww/cc | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        ww = f.ww_text or (fmt(f.ww) + (f" {f.unit}" if f.ww is not None else ""))
        cc = f.cc_text or (fmt(f.cc) + (f" {f.unit}" if f.cc is not None else ""))
        ratio = fmt(f.ratio) if f.ratio is not None else "—"
        met = {True: "met", False: "NOT met", None: "—"}[f.met]
        rows.append(f"| {f.key} | {f.name} | {ww} | {cc} | {ratio} | {f.goal} | {met} |")
    return "\n".join(rows)


def print_figures(figures: Sequence[Figure]) -> None:
    """Print ``figures`` as a benchmark's own command does: the table, then each figure's note."""
    print(render_table(figures))
    for f in figures:
        print(f"- {f.key}: {f.note}")


def write_results(
    figures: Sequence[Figure],
    *,
    command: str,
    elapsed_s: float,
    notes: Sequence[str] = (),
    path: Path = RESULTS,
) -> str:
    """Rewrite ``path`` with the table, the machine and the notes; keeps an existing "## GPU" section (written
    by ``benchmarks/gpu_validate.py``). Returns the text written."""
    info = machine_info()
    gpu_section = f"{GPU_HEADING}\n\nnot yet run (needs a machine with an NVIDIA or AMD GPU: `python benchmarks/gpu_validate.py`).\n"
    if path.exists():
        old = path.read_text()
        if GPU_HEADING + "\n" in old:
            gpu_section = old[old.index(GPU_HEADING + "\n") :]
    lines = [
        "# wattwatch against CodeCarbon",
        "",
        f"Written by `{command}` on {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} "
        f"in {elapsed_s:.0f} s. Medians over alternated runs; every number below was measured in that run.",
        "",
        "Machine: " + f"{info['cpu']}, {info['cores']} cores, {info['ram']} RAM, {info['os']}, "
        f"Python {info['python']}; wattwatch {info['wattwatch']}, CodeCarbon {info['codecarbon']}, "
        f"torch {info['torch']}, nvidia-ml-py {info['nvidia-ml-py']}. GPUs: the fake `libnvidia-ml.so.1` of "
        "`tests/support/fake_nvml/` (scripted power, exact integrals), loaded by both tools through pynvml.",
        "",
        "The machine is shared with other engineers running tests at the same time: timings are noisy.",
        "",
        render_table(figures),
        "",
        "## Notes",
        "",
    ]
    for f in figures:
        if f.note:
            lines.append(f"- **{f.key}. {f.name}**: {f.note}")
    lines.extend(f"- {n}" for n in notes)
    lines.append("")
    text = "\n".join(lines) + "\n" + gpu_section
    path.write_text(text)
    return text


def write_readme_table(figures: Sequence[Figure], *, command: str, path: Path = README) -> bool:
    """Replace the README's table between ``<!-- bench-table -->`` and ``<!-- /bench-table -->`` with these
    figures and a line naming the machine; ``False`` (nothing written) when the markers are missing."""
    if not path.exists():
        return False
    text = path.read_text()
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        return False
    info = machine_info()
    head = (
        f"`{command}` on {info['cpu']}, {info['cores']} cores, Python {info['python']}, CodeCarbon "
        f"{info['codecarbon']}, {datetime.now(timezone.utc).strftime('%Y-%m-%d')}; GPUs are the fake NVML board "
        "(exact truth), read by both tools:"
    )
    block = f"{TABLE_START}\n{head}\n\n{render_table(figures)}\n"
    path.write_text(text[:start] + block + text[end:])
    return True


def readme_from_results(*, results: Path = RESULTS, path: Path = README) -> bool:
    """Copy RESULTS.md's table (every figure, as its own run last wrote it) into the README's table block, with a
    line saying so (after ``--only`` runs updated some rows); ``False`` when either is missing."""
    if not results.exists() or not path.exists():
        return False
    rows = [ln for ln in results.read_text().split("\n") if ln.startswith("|")]
    end_of_table = next((i for i, ln in enumerate(rows[2:], 2) if not ln.startswith("| ")), len(rows))
    text = path.read_text()
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start or len(rows) < 3:
        return False
    info = machine_info()
    head = (
        f"From benchmarks/RESULTS.md (each figure as its last `scripts/bench` run measured it, on {info['cpu']}, "
        f"{info['cores']} cores, Python {info['python']}, CodeCarbon {info['codecarbon']}); GPUs are the fake NVML "
        "board (exact truth), read by both tools:"
    )
    block = f"{TABLE_START}\n{head}\n\n" + "\n".join(rows[:end_of_table]) + "\n"
    path.write_text(text[:start] + block + text[end:])
    return True


def update_results(figures: Sequence[Figure], *, command: str, elapsed_s: float, path: Path = RESULTS) -> str:
    """Replace (or insert, after the last row whose key sorts before theirs) these figures' table rows and notes in
    an existing ``path``, leaving every other figure as its own run wrote it, and say under the header which
    command measured them and when. Returns the text written (``path`` must exist: run the full set first)."""
    text = path.read_text()
    lines = text.split("\n")
    keys = {f.key for f in figures}
    stamp = (
        f"Figures {', '.join(f.key for f in figures)}: written by `{command}` on "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} in {elapsed_s:.0f} s, on the machine below."
    )
    lines = [ln for ln in lines if not (ln.startswith("Figures ") and ln.endswith("on the machine below.")
                                        and set(ln[8:].split(":")[0].split(", ")) == keys)]  # fmt: skip
    header_end = next(i for i, ln in enumerate(lines) if ln.startswith("Written by"))
    lines[header_end + 1 : header_end + 1] = ["", stamp]
    for rendered, prefix in (
        ([ln for ln in render_table(figures).split("\n")[2:]], "| "),
        ([f"- **{f.key}. {f.name}**: {f.note}" for f in figures if f.note], "- **"),
    ):
        for new in rendered:
            key = new[len(prefix) :].split(" |" if prefix == "| " else ". ")[0]
            lo, hi = _figures_region(lines, prefix)  # the figures' table, or the notes under it: no other section's
            rows = [i for i in range(lo, hi) if lines[i].startswith(prefix) and not lines[i].startswith("|---")]
            row_keys = {i: lines[i][len(prefix) :].split(" |" if prefix == "| " else ". ")[0] for i in rows}
            same = [i for i in rows if row_keys[i] == key]
            if same:
                lines[same[0]] = new
                continue
            before = [i for i in rows if row_keys[i] < key and row_keys[i] != "#"]
            at = (before[-1] + 1) if before else (rows[-1] + 1 if rows else len(lines))
            lines.insert(at, new)
    out = "\n".join(lines)
    path.write_text(out)
    return out


def _figures_region(lines: list[str], prefix: str) -> tuple[int, int]:
    """Where the figures' rows (``"| "``: the table after the first ``| # | figure`` header) or their notes
    (``"- **"``: the lines under ``## Notes`` up to the next section) are in RESULTS.md: ``(first, end)``."""
    if prefix == "| ":
        start = next((i for i, ln in enumerate(lines) if ln.startswith("| # | figure")), len(lines))
    else:
        start = next((i for i, ln in enumerate(lines) if ln.strip() == "## Notes"), len(lines))
    end = start + 1
    while end < len(lines) and not (lines[end].startswith("## ") or (prefix == "| " and not lines[end].strip())):
        end += 1
    return start, end


def track_together(
    specs: Sequence[tuple[str, Sequence[str], dict[str, str]]],
    out_dir: Path,
    *,
    lead_s: float = 3.0,
    start_at: float | None = None,
) -> list[RunResult]:
    """Start one ``child.py track`` per ``(tool, extra_args, env)`` at once; all begin tracking at the same monotonic
    instant (``lead_s`` from now, time enough to import) and each reports its own window."""
    import time

    if start_at is None:
        start_at = time.monotonic() + lead_s
    procs = []
    for i, (tool, extra, env) in enumerate(specs):
        out = out_dir / f"{tool}-{i}-{time.monotonic_ns()}"
        out.mkdir(parents=True)
        procs.append(
            (
                spawn_child("track", tool, env, "--out", str(out), "--start-at", repr(start_at), *extra),
                time.perf_counter(),
            )
        )
    return [wait_child(p, t) for p, t in procs]


def gpu_error(
    result: dict[str, Any], rig: Any, burst: tuple[float, float] | None = None
) -> tuple[float, float]:
    """Relative error of a ``track`` result's GPU energy against the fake's exact truth, and the half-width of
    the truth's uncertainty from the window (0 for wattwatch, which reports each channel's exact first and last
    reading; for CodeCarbon, with ``burst`` (seconds after t0 outside which the GPUs draw 0 W) inside its
    window, the truth is exact too; otherwise it is taken from the middle of ``start()`` to the middle of
    ``stop()``, and the uncertainty is half the difference between the widest and the narrowest window)."""
    n = len(rig.gpus)
    if "windows" in result:
        truth = 0.0
        for name, (first, last, _e) in result["windows"].items():
            truth += rig.energy_j(int(name.split(":")[1]), first, last)
        return result["gpu_j"] / truth - 1.0, 0.0
    (a0, a1), (b0, b1) = result["start"], result["stop"]
    if burst is not None:
        s_abs, e_abs = rig.t0 + burst[0], rig.t0 + burst[1]
        if a1 <= s_abs and b0 >= e_abs:
            truth = sum(rig.energy_j(i, s_abs, e_abs) for i in range(n))
            return result["gpu_j"] / truth - 1.0, 0.0
    mid = sum(rig.energy_j(i, (a0 + a1) / 2, (b0 + b1) / 2) for i in range(n))
    outer = sum(rig.energy_j(i, a0, b1) for i in range(n))
    inner = sum(rig.energy_j(i, a1, b0) for i in range(n))
    return result["gpu_j"] / mid - 1.0, (outer - inner) / 2.0 / mid


def burst_amd_gpus(n: int, start_s: float, end_s: float, *, counter: bool = True) -> list[Any]:
    """:func:`burst_gpus` for the fake amdsmi: the same square waves on AMD Instinct MI300X boards (power path:
    the energy counter answers NOT_SUPPORTED and ``current_socket_power`` is read)."""
    tests = str(ROOT / "tests" / "support")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import fakeamdsmi

    return [
        fakeamdsmi.FakeAmdGpu(
            trace=(fakeamdsmi.Square(80.0, 350.0, 2.3, 0.35, phase_s=0.53 * i, start=start_s, end=end_s),),
            counter=counter,
            energy_offset_uj=3.6e12 * (i + 1),  # a real accumulator counts from boot: 1 kWh per GPU index
        )
        for i in range(n)
    ]


def burst_gpus(n: int, start_s: float, end_s: float, *, counter: bool = True) -> list[Any]:
    """``n`` fake GPUs drawing 80/350 W square waves (period 2.3 s, duty 0.35, phases 0.53 s apart, so their sum
    is not constant and per-GPU errors cannot cancel) during ``[start_s, end_s)`` after t0, and 0 W outside.

    Zero outside the burst makes the truth independent of when exactly a tool takes its first and last reading,
    as long as they fall outside the burst: CodeCarbon's happen somewhere inside its ~1 s ``start()``."""
    tests = str(ROOT / "tests" / "support")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import fakenvml

    return [
        fakenvml.FakeGpu(
            trace=(fakenvml.Square(80.0, 350.0, 2.3, 0.35, phase_s=0.53 * i, start=start_s, end=end_s),),
            counter=counter,
        )
        for i in range(n)
    ]


def write_section(heading: str, text: str, path: Path | None = None) -> None:
    """Replace the section of ``path`` (default ``benchmarks/RESULTS.md``) under ``heading`` (a ``## `` line, up
    to the next one) by ``text``, or add it at the end: each benchmark that writes a section of its own."""
    path = path or ROOT / "benchmarks" / "RESULTS.md"
    old = path.read_text() if path.exists() else ""
    block = f"{heading}\n\n{text.strip()}\n"
    if heading + "\n" not in old:
        path.write_text(old.rstrip("\n") + "\n\n" + block)
        return
    start = old.index(heading + "\n")
    nxt = old.find("\n## ", start + len(heading))
    tail = old[nxt + 1 :] if nxt >= 0 else ""
    path.write_text(old[:start] + block + ("\n" + tail if tail else ""))
