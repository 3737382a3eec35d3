"""Python side of the fake-NVML test rig.

``tests/support/fake_nvml/fake_nvml.c`` is a stand-in for ``libnvidia-ml.so.1``, compiled here against the real
``nvml.h`` from the ``nvidia-nvml-dev`` wheel and driven by a small text config named by ``$FAKE_NVML_CONFIG``
(re-read at every ``nvmlInit``). This module describes fake GPUs and their power traces as dataclasses, writes
the config, builds the library, and computes -- in closed form, with the same arithmetic as the C side -- the
exact energy each GPU drew between two ``time.monotonic()`` instants.

Units: watts, seconds, joules. Trace and fault times are seconds relative to the config's ``t0`` (a
``time.monotonic()`` value).

Typical use::

    gpus = square_wave_gpus(n=4, low_w=80, high_w=350, period_s=2.3)
    rig = install(tmp_path, gpus, library_path)      # or the ``fake_nvml`` fixture in conftest.py
    ... NvmlSensor(library_path=rig.library_path) ...
    rig.energy_j(0, t_first, t_last)                 # exact joules drawn by gpu 0
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = [
    "CONFIG_ENV",
    "ConfigLines",
    "Constant",
    "FakeGpu",
    "FakeNvml",
    "FakeProcess",
    "Ramp",
    "Square",
    "Term",
    "build_library",
    "default_build_dir",
    "exact_energy_j",
    "find_nvml_header",
    "install",
    "make_gpus",
    "power_w",
    "reload",
    "square_wave_gpus",
    "steps",
    "trailing_average_w",
    "write_config",
]

CONFIG_ENV = "FAKE_NVML_CONFIG"
"""Environment variable the fake library reads its config path from."""

SOURCE = Path(__file__).parent / "fake_nvml" / "fake_nvml.c"
LIBRARY_NAME = "libnvidia-ml.so.1"

INF = math.inf


# ---------------------------------------------------------------------------------------------- traces


@dataclass(frozen=True)
class Constant:
    """``watts`` during ``[start, end)`` (seconds after t0; ±inf allowed)."""

    watts: float
    start: float = -INF
    end: float = INF

    def value(self, x: float) -> float:
        return self.watts

    def antiderivative(self, x: float) -> float:
        return self.watts * x

    def line(self) -> str:
        return f"term const {_f(self.start)} {_f(self.end)} {_f(self.watts)}"


@dataclass(frozen=True)
class Ramp:
    """``start_w + slope_w_per_s * (x - anchor)`` during ``[start, end)``; anchor is ``start`` (or 0 if -inf)."""

    start_w: float
    slope_w_per_s: float
    start: float = 0.0
    end: float = INF

    @property
    def anchor(self) -> float:
        return self.start if math.isfinite(self.start) else 0.0

    def value(self, x: float) -> float:
        return self.start_w + self.slope_w_per_s * (x - self.anchor)

    def antiderivative(self, x: float) -> float:
        d = x - self.anchor
        return self.start_w * d + 0.5 * self.slope_w_per_s * d * d

    def line(self) -> str:
        return f"term ramp {_f(self.start)} {_f(self.end)} {_f(self.start_w)} {_f(self.slope_w_per_s)}"


@dataclass(frozen=True)
class Square:
    """Square wave: ``high_w`` for the first ``duty`` of each ``period_s`` (shifted by ``phase_s``), else ``low_w``."""

    low_w: float
    high_w: float
    period_s: float
    duty: float = 0.5
    phase_s: float = 0.0
    start: float = -INF
    end: float = INF

    def __post_init__(self) -> None:
        if self.period_s <= 0 or not 0.0 <= self.duty <= 1.0:
            raise ValueError("Square needs period_s > 0 and 0 <= duty <= 1")

    def value(self, x: float) -> float:
        u = x - self.phase_s
        f = u - math.floor(u / self.period_s) * self.period_s
        return self.high_w if f < self.duty * self.period_s else self.low_w

    def antiderivative(self, x: float) -> float:
        u = x - self.phase_s
        n = math.floor(u / self.period_s)
        f = u - n * self.period_s
        hi = self.duty * self.period_s
        per_cycle = self.high_w * hi + self.low_w * (self.period_s - hi)
        part = self.high_w * f if f < hi else self.high_w * hi + self.low_w * (f - hi)
        return n * per_cycle + part

    def line(self) -> str:
        return (
            f"term square {_f(self.start)} {_f(self.end)} {_f(self.low_w)} {_f(self.high_w)} "
            f"{_f(self.period_s)} {_f(self.duty)} {_f(self.phase_s)}"
        )


Term = Constant | Ramp | Square


def steps(points: Sequence[tuple[float, float]]) -> tuple[Constant, ...]:
    """A staircase: ``[(t, watts), ...]`` holds each ``watts`` from its ``t`` to the next ``t`` (the last forever).

    Before the first ``t`` the power is that of the first step.
    """
    ordered = sorted(points)
    terms = []
    for i, (t, w) in enumerate(ordered):
        start = -INF if i == 0 else t
        end = ordered[i + 1][0] if i + 1 < len(ordered) else INF
        terms.append(Constant(w, start, end))
    return tuple(terms)


def _f(x: float) -> str:
    """Format a float so C's strtod reads back the same double (``inf``/``-inf`` included)."""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


# ---------------------------------------------------------------------------------------------- GPUs


@dataclass(frozen=True)
class FakeProcess:
    """A compute process on a fake GPU during ``[start, end)`` (seconds after t0): listed by
    ``nvmlDeviceGetComputeRunningProcesses``; while ``sm_util`` (percent) is above 0 it has one sample per
    ``nvmlDeviceGetProcessUtilization`` call."""

    pid: int
    sm_util: int
    mem_mib: int = 1024
    start: float = -INF
    end: float = INF

    def line(self) -> str:
        return f"proc {self.pid} {self.sm_util} {self.mem_mib} {_f(self.start)} {_f(self.end)}"


@dataclass(frozen=True)
class FakeGpu:
    """One scripted GPU. Fault times are seconds after t0; ``None`` means never."""

    trace: tuple[Term, ...] = (Constant(100.0),)
    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = ""
    pci_bus_id: str = ""
    power_limit_w: float = 700.0
    energy_offset_j: float = 0.0
    counter: bool = True
    """False: nvmlDeviceGetTotalEnergyConsumption answers NOT_SUPPORTED (pre-Volta)."""
    instant: bool = True
    """False: the NVML_FI_DEV_POWER_INSTANT field answers NOT_SUPPORTED."""
    lost_after_s: float | None = None
    counter_reset_at_s: float | None = None
    counter_unsupported_after_s: float | None = None
    latency_ms: float = 0.0
    mig_mode: bool = False
    mig_uuids: tuple[str, ...] = ()
    mig_slices: tuple[int, ...] = ()
    """GPU-instance slices of each MIG device, in ``mig_uuids`` order (missing entries: 1)."""
    gpu_slices: int = 7
    """Slices of the whole GPU (7 on A100/H100, 4 on A30)."""
    procs: tuple[FakeProcess, ...] = ()
    util_period_s: float = 0.0
    """The driver's per-process utilisation sampling period: within one period of the last query there is no
    new sample (NOT_FOUND), as on real boards; 0 gives a fresh sample at every call."""

    def lines(self, index: int) -> list[str]:
        uuid = self.uuid or default_uuid(index)
        pci = self.pci_bus_id or default_pci_bus_id(index)
        out = [
            "gpu",
            f"name {self.name}",
            f"uuid {uuid}",
            f"pci_bus_id {pci}",
            f"power_limit_mw {round(self.power_limit_w * 1000)}",
            f"energy_offset_mj {round(self.energy_offset_j * 1000)}",
            f"counter {int(self.counter)}",
            f"instant {int(self.instant)}",
            f"latency_ms {_f(self.latency_ms)}",
            f"mig_mode {int(self.mig_mode)}",
            f"gpu_slices {self.gpu_slices}",
            f"util_period {_f(self.util_period_s)}",
        ]
        if self.lost_after_s is not None:
            out.append(f"lost_after {_f(self.lost_after_s)}")
        if self.counter_reset_at_s is not None:
            out.append(f"counter_reset_at {_f(self.counter_reset_at_s)}")
        if self.counter_unsupported_after_s is not None:
            out.append(f"counter_unsupported_after {_f(self.counter_unsupported_after_s)}")
        for i, m in enumerate(self.mig_uuids):
            out.append(f"mig_uuid {m}")
            if i < len(self.mig_slices):
                out.append(f"mig_slices {self.mig_slices[i]}")
        out.extend(p.line() for p in self.procs)
        out.extend(term.line() for term in self.trace)
        return out


def default_uuid(index: int) -> str:
    """The UUID ``write_config`` gives GPU ``index`` when its ``uuid`` is empty."""
    return f"GPU-{0xFA4E0000 + index:08x}-1111-2222-3333-{index:012x}"


def default_pci_bus_id(index: int) -> str:
    return f"00000000:{0x10 + index:02X}:00.0"


def make_gpus(n: int, trace: Sequence[Term] = (Constant(100.0),), **kwargs: object) -> list[FakeGpu]:
    """``n`` identical GPUs with distinct default UUIDs/PCI ids; ``kwargs`` go to :class:`FakeGpu`."""
    return [FakeGpu(trace=tuple(trace), **kwargs) for _ in range(n)]  # type: ignore[arg-type]


def square_wave_gpus(
    n: int = 4,
    low_w: float = 80.0,
    high_w: float = 350.0,
    period_s: float = 2.3,
    duty: float = 0.5,
    *,
    stagger: bool = True,
    **kwargs: object,
) -> list[FakeGpu]:
    """``n`` GPUs each drawing a square wave; with ``stagger`` GPU i is shifted by ``i * period_s / n``.

    ``kwargs`` go to :class:`FakeGpu` (e.g. ``counter=False`` for the power-integral path).
    """
    return [
        FakeGpu(
            trace=(Square(low_w, high_w, period_s, duty, phase_s=(i * period_s / n) if stagger else 0.0),),
            **kwargs,  # type: ignore[arg-type]
        )
        for i in range(n)
    ]


# ---------------------------------------------------------------------------------------------- exact maths


def _integral(trace: Sequence[Term], x1: float, x2: float) -> float:
    total = 0.0
    for term in trace:
        lo, hi = max(x1, term.start), min(x2, term.end)
        if hi > lo:
            total += term.antiderivative(hi) - term.antiderivative(lo)
    return total


def exact_energy_j(gpu: FakeGpu, t_start: float, t_end: float, *, t0: float) -> float:
    """Exact joules ``gpu``'s trace draws between monotonic instants ``t_start`` and ``t_end``.

    ``t0`` is the config's origin. This is the physical energy: counter resets or a lost GPU do not change it.
    """
    if t_end < t_start:
        return -_integral(gpu.trace, t_end - t0, t_start - t0)
    return _integral(gpu.trace, t_start - t0, t_end - t0)


def power_w(gpu: FakeGpu, t: float, *, t0: float) -> float:
    """Instantaneous power (W) of ``gpu``'s trace at monotonic instant ``t``."""
    x = t - t0
    return sum(term.value(x) for term in gpu.trace if term.start <= x < term.end)


def trailing_average_w(gpu: FakeGpu, t: float, *, t0: float) -> float:
    """Mean power (W) over ``[t - 1 s, t]``: what the fake's nvmlDeviceGetPowerUsage reports."""
    return _integral(gpu.trace, t - t0 - 1.0, t - t0)


# ---------------------------------------------------------------------------------------------- config


class ConfigLines(Protocol):
    """A fake device that writes its own lines of a fake library's config (``FakeGpu``, ``FakeAmdGpu``)."""

    def lines(self, index: int) -> list[str]: ...


def write_config(
    path: Path,
    gpus: Sequence[ConfigLines],
    *,
    t0: float | None = None,
    init_error: int | None = None,
    driver_version: str = "550.54.15",
    library: str = "NVML",
) -> float:
    """Write the fake ``library``'s config for ``gpus`` to ``path`` (atomically: the loaded fake may re-read it at
    any moment); returns ``t0`` (default: ``time.monotonic()`` now). The fake amdsmi's config has the same form."""
    if t0 is None:
        t0 = time.monotonic()
    lines = [f"# wattwatch fake {library} config", f"t0 {_f(t0)}", f"driver_version {driver_version}"]
    if init_error is not None:
        lines.append(f"init_error {int(init_error)}")
    for i, gpu in enumerate(gpus):
        lines.extend(gpu.lines(i))
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return t0


@dataclass
class FakeNvml:
    """An installed fake: iterate it to unpack ``(library_path, gpus, t0)``."""

    library_path: Path
    gpus: list[FakeGpu]
    t0: float
    config_path: Path
    env: dict[str, str] = field(default_factory=dict)
    """Environment for a subprocess that should load the fake through pynvml's default search."""

    def __iter__(self) -> Iterator[object]:
        return iter((self.library_path, self.gpus, self.t0))

    def energy_j(self, index: int, t_start: float, t_end: float) -> float:
        """Exact joules GPU ``index`` draws between two monotonic instants."""
        return exact_energy_j(self.gpus[index], t_start, t_end, t0=self.t0)

    def total_energy_j(self, t_start: float, t_end: float) -> float:
        return sum(self.energy_j(i, t_start, t_end) for i in range(len(self.gpus)))

    def uuid(self, index: int) -> str:
        return self.gpus[index].uuid or default_uuid(index)

    def change(self, gpus: Sequence[FakeGpu]) -> None:
        """Rewrite the config (same ``t0``) and make the loaded fake re-read it now.

        Handles a sensor already holds keep working and see the new behaviour: a deterministic way to inject a
        fault mid-run (``lost_after_s=0``, ``counter=False``...) without sleeping.
        """
        self.gpus = list(gpus)
        write_config(self.config_path, self.gpus, t0=self.t0)
        reload(self.library_path)


def install(
    directory: Path,
    gpus: Sequence[FakeGpu],
    library_path: Path,
    *,
    environ: dict[str, str] | None = None,
    t0: float | None = None,
    init_error: int | None = None,
) -> FakeNvml:
    """Write a config into ``directory`` and point ``environ`` (default ``os.environ``) at it."""
    config = directory / "fake_nvml.conf"
    t0 = write_config(config, gpus, t0=t0, init_error=init_error)
    target = os.environ if environ is None else environ
    target[CONFIG_ENV] = str(config)
    sub_env = {
        CONFIG_ENV: str(config),
        "LD_LIBRARY_PATH": os.pathsep.join(
            p for p in (str(library_path.parent), os.environ.get("LD_LIBRARY_PATH", "")) if p
        ),
    }
    return FakeNvml(library_path, list(gpus), t0, config, sub_env)


def reload(library_path: Path) -> None:
    """Make the loaded fake re-read ``$FAKE_NVML_CONFIG`` (one nvmlInit + nvmlShutdown through ctypes)."""
    lib = ctypes.CDLL(str(library_path))  # the same dlopen handle pynvml holds, so the same static state
    rc = lib.nvmlInit_v2()
    if rc != 0:
        raise RuntimeError(f"fake nvmlInit_v2 failed with {rc}")
    lib.nvmlShutdown()


# ---------------------------------------------------------------------------------------------- build


def find_nvml_header(search_paths: Sequence[str] | None = None) -> Path | None:
    """The real ``nvml.h`` from the nvidia-nvml-dev wheel (``nvidia/*/include/nvml.h``), or None."""
    if search_paths is None:
        import importlib.util

        spec = importlib.util.find_spec("nvidia")
        search_paths = list(spec.submodule_search_locations or []) if spec is not None else []
    for base in search_paths:
        found = sorted(Path(base).glob("*/include/nvml.h"))
        if found:
            return found[-1]
    return None


def default_build_dir() -> Path:
    """A per-user cache directory for compiled fakes (survives between pytest sessions)."""
    return Path(tempfile.gettempdir()) / f"wattwatch-fake-nvml-{os.getuid()}"


def build_library(dest_dir: Path, *, header: Path | None = None, cc: str = "gcc") -> Path:
    """Compile the fake into ``dest_dir/<hash>/libnvidia-ml.so.1`` unless that file already exists.

    The hash covers the C source, the header and the compiler flags. Raises ``RuntimeError`` when the header or
    the compiler is missing or compilation fails.
    """
    header = header or find_nvml_header()
    if header is None:
        raise RuntimeError("nvml.h not found: install nvidia-nvml-dev")
    flags = ["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", f"-I{header.parent}"]
    digest = hashlib.sha256()
    digest.update(SOURCE.read_bytes())
    digest.update(header.read_bytes())
    digest.update(" ".join([cc, *flags]).encode())
    out_dir = Path(dest_dir) / digest.hexdigest()[:16]
    target = out_dir / LIBRARY_NAME
    if target.exists():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{LIBRARY_NAME}.{os.getpid()}.tmp"
    cmd = [cc, *flags, "-o", str(tmp), str(SOURCE), "-lm"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise RuntimeError(f"C compiler {cc!r} not found") from exc
    if proc.returncode != 0:
        raise RuntimeError(f"building the fake NVML failed:\n{' '.join(cmd)}\n{proc.stderr}")
    if proc.stderr.strip():
        print(proc.stderr, file=sys.stderr)
    os.replace(tmp, target)
    return target
