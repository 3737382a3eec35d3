"""Python side of the fake-amdsmi test rig (AMD GPUs through ROCm's ``amdsmi`` binding).

``tests/support/fake_amdsmi/fake_amdsmi.c`` stands in for ROCm's ``libamd_smi.so``. The real ``amdsmi`` package
from PyPI is a ctypes binding that, **when it is imported**, loads ``libamd_smi.so`` (from ``$ROCM_HOME/lib``, else
``$ROCM_PATH/lib``, else the linker's search path, else its own folder, else ``/opt/rocm/lib``) and binds about
180 functions by name. So the rig:

1. generates ``fake_amdsmi_abi.h`` (status codes and the packed structs the fake fills) from the ctypes
   declarations in the *installed* ``amdsmi/amdsmi_wrapper.py`` -- the layout the binding will read -- and
   ``fake_amdsmi_stubs.c`` (a weak ``NOT_SUPPORTED`` definition of every symbol the binding binds);
2. compiles them with the fake into ``<build>/<hash>/lib/libamd_smi.so`` (soname ``libamd_smi.so``);
3. points ``$ROCM_HOME`` at ``<build>/<hash>`` before ``amdsmi`` is first imported (the binding's own search),
   and ``$FAKE_AMDSMI_CONFIG`` at a text config describing the GPUs, re-read at every ``amdsmi_init``.

The GPUs' power traces reuse :mod:`fakenvml`'s terms (:class:`Constant`, :class:`Ramp`, :class:`Square`), so the
exact energy between two ``time.monotonic()`` instants is known in closed form. Units: watts, seconds, joules.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import fakenvml
from fakenvml import Constant, Ramp, Square, Term, _f, _integral, steps

__all__ = [
    "CONFIG_ENV",
    "Constant",
    "FakeAmdGpu",
    "FakeAmdSmi",
    "Ramp",
    "Square",
    "Term",
    "abi_header",
    "build_library",
    "bound_symbols",
    "default_build_dir",
    "exact_energy_j",
    "find_wrapper",
    "install",
    "make_gpus",
    "mi250_package",
    "reload",
    "square_wave_gpus",
    "steps",
    "write_config",
]

CONFIG_ENV = "FAKE_AMDSMI_CONFIG"
SOURCE = Path(__file__).parent / "fake_amdsmi" / "fake_amdsmi.c"
LIBRARY_NAME = "libamd_smi.so"
ABI_STRUCTS = (
    "amdsmi_power_info_t",
    "amdsmi_asic_info_t",
    "amdsmi_board_info_t",
    "amdsmi_power_cap_info_t",
    "amdsmi_enumeration_info_t",
    "amdsmi_kfd_info_t",
    "amdsmi_driver_info_t",
    "amdsmi_vram_usage_t",
    "amdsmi_engine_usage_t",
)
"""The structs the fake fills, generated from the installed binding's ctypes declarations."""


# ---------------------------------------------------------------------------------------------- GPUs


@dataclass(frozen=True)
class FakeAmdGpu:
    """One scripted AMD GPU (one amdsmi processor handle). Fault times are seconds after t0; ``None``: never."""

    trace: tuple[Term, ...] = (Constant(100.0),)
    name: str = "AMD Instinct MI300X"
    uuid: str = ""
    hip_uuid: str = ""
    serial: str = ""
    bdf: str = ""
    oam_id: int | None = None
    """Dies of one package share it; ``None``: the GPU's index; ``-1``: N/A (a PCIe card)."""
    hip_id: int | None = None
    """HIP / ROCr enumeration index; ``None``: the GPU's amdsmi index."""
    partition_id: int = 0
    power_cap_w: float = 750.0
    counter: bool = True
    """False: amdsmi_get_energy_count answers NOT_SUPPORTED."""
    counter_bits: int = 64
    resolution_uj: float = 15.259
    energy_offset_uj: float = 0.0
    current: bool = True
    """False: current_socket_power is N/A (MI210 and older)."""
    average: bool = True
    """False: average_socket_power is N/A (MI300X)."""
    secondary: bool = False
    """A package's second die (MI250's second GCD): reads 0 W and a counter stuck at 0."""
    lost_after_s: float | None = None
    lost_status: int = 14  # AMDSMI_STATUS_FILE_ERROR
    counter_reset_at_s: float | None = None
    counter_unsupported_after_s: float | None = None
    counter_frozen_after_s: float | None = None
    glitch: tuple[float, float, float] | None = None
    """``(start_s, end_s, watts)``: power reads ``watts`` during the window."""
    counter_glitch: tuple[float, float, float] | None = None
    """``(start_s, end_s, joules)``: the counter reads that much too high during the window, then recovers."""

    def lines(self, index: int) -> list[str]:
        out = [
            "gpu",
            f"name {self.name}",
            f"uuid {self.uuid or default_uuid(index)}",
            f"hip_uuid {self.hip_uuid or default_hip_uuid(index)}",
            f"serial {self.serial or default_serial(index)}",
            f"bdf {self.bdf or default_bdf(index)}",
            f"oam_id {index if self.oam_id is None else self.oam_id}",
            f"hip_id {index if self.hip_id is None else self.hip_id}",
            f"partition_id {self.partition_id}",
            f"power_cap_w {_f(self.power_cap_w)}",
            f"counter {int(self.counter)}",
            f"counter_bits {self.counter_bits}",
            f"resolution_uj {_f(self.resolution_uj)}",
            f"energy_offset_uj {_f(self.energy_offset_uj)}",
            f"current {int(self.current)}",
            f"average {int(self.average)}",
            f"secondary {int(self.secondary)}",
            f"lost_status {self.lost_status}",
        ]
        if self.lost_after_s is not None:
            out.append(f"lost_after {_f(self.lost_after_s)}")
        if self.counter_reset_at_s is not None:
            out.append(f"counter_reset_at {_f(self.counter_reset_at_s)}")
        if self.counter_unsupported_after_s is not None:
            out.append(f"counter_unsupported_after {_f(self.counter_unsupported_after_s)}")
        if self.counter_frozen_after_s is not None:
            out.append(f"counter_frozen_after {_f(self.counter_frozen_after_s)}")
        if self.glitch is not None:
            out.append("glitch " + " ".join(_f(x) for x in self.glitch))
        if self.counter_glitch is not None:
            out.append("counter_glitch " + " ".join(_f(x) for x in self.counter_glitch))
        out.extend(term.line() for term in self.trace)
        return out


def default_uuid(index: int) -> str:
    return f"{0xA3D00000 + index:08x}-0000-1000-8000-{index:012x}"


def default_serial(index: int) -> str:
    return f"{0x5A3D000000000000 + index:016x}"


def default_hip_uuid(index: int) -> str:
    return "GPU-" + default_serial(index)


def default_bdf(index: int) -> str:
    return f"0000:{0x10 + index:02x}:00.0"


def make_gpus(n: int, trace: Sequence[Term] = (Constant(100.0),), **kwargs: object) -> list[FakeAmdGpu]:
    """``n`` identical GPUs with distinct ids; ``kwargs`` go to :class:`FakeAmdGpu`."""
    return [FakeAmdGpu(trace=tuple(trace), **kwargs) for _ in range(n)]  # type: ignore[arg-type]


def square_wave_gpus(
    n: int = 4,
    low_w: float = 80.0,
    high_w: float = 350.0,
    period_s: float = 2.3,
    duty: float = 0.5,
    **kwargs: object,
) -> list[FakeAmdGpu]:
    """``n`` GPUs drawing staggered square waves (GPU i shifted by ``i * period_s / n``)."""
    return [
        FakeAmdGpu(trace=(Square(low_w, high_w, period_s, duty, phase_s=i * period_s / n),), **kwargs)  # type: ignore[arg-type]
        for i in range(n)
    ]


def mi250_package(trace: Sequence[Term], oam_id: int, **kwargs: object) -> list[FakeAmdGpu]:
    """The two GCDs of one MI250X OAM: the first reports the package's power and energy (``trace``), the second
    reads 0 W."""
    name = "AMD Instinct MI250X"
    return [
        FakeAmdGpu(trace=tuple(trace), name=name, oam_id=oam_id, power_cap_w=560.0, **kwargs),  # type: ignore[arg-type]
        FakeAmdGpu(trace=tuple(trace), name=name, oam_id=oam_id, power_cap_w=560.0, secondary=True, **kwargs),  # type: ignore[arg-type]
    ]


# ---------------------------------------------------------------------------------------------- exact maths


def exact_energy_j(gpu: FakeAmdGpu, t_start: float, t_end: float, *, t0: float) -> float:
    """Exact joules ``gpu``'s trace draws between monotonic instants (0 for a secondary die)."""
    if gpu.secondary:
        return 0.0
    if t_end < t_start:
        return -_integral(gpu.trace, t_end - t0, t_start - t0)
    return _integral(gpu.trace, t_start - t0, t_end - t0)


# ---------------------------------------------------------------------------------------------- config


def write_config(
    path: Path,
    gpus: Sequence[FakeAmdGpu],
    *,
    t0: float | None = None,
    init_error: int | None = None,
    driver_version: str = "6.10.5",
) -> float:
    """Write the fake's config for ``gpus``; returns ``t0`` (default: ``time.monotonic()`` now). Same form as the
    fake NVML's (:func:`fakenvml.write_config`)."""
    return fakenvml.write_config(
        path, gpus, t0=t0, init_error=init_error, driver_version=driver_version, library="amdsmi"
    )


@dataclass
class FakeAmdSmi:
    """An installed fake."""

    library_path: Path
    gpus: list[FakeAmdGpu]
    t0: float
    config_path: Path
    env: dict[str, str] = field(default_factory=dict)
    """Environment for a subprocess that should load the fake through amdsmi's own search."""

    def __iter__(self) -> Iterator[object]:
        return iter((self.library_path, self.gpus, self.t0))

    def energy_j(self, index: int, t_start: float, t_end: float) -> float:
        """Exact joules die ``index`` reports between two monotonic instants (a package's, on its first die)."""
        return exact_energy_j(self.gpus[index], t_start, t_end, t0=self.t0)

    def change(self, gpus: Sequence[FakeAmdGpu]) -> None:
        """Rewrite the config (same ``t0``) and make the loaded fake re-read it now (handles stay valid)."""
        self.gpus = list(gpus)
        write_config(self.config_path, self.gpus, t0=self.t0)
        reload(self.library_path)


def install(
    directory: Path,
    gpus: Sequence[FakeAmdGpu],
    library_path: Path,
    *,
    environ: dict[str, str] | None = None,
    t0: float | None = None,
    init_error: int | None = None,
) -> FakeAmdSmi:
    """Write a config into ``directory`` and set ``$FAKE_AMDSMI_CONFIG`` and ``$ROCM_HOME`` in ``environ``."""
    config = directory / "fake_amdsmi.conf"
    t0 = write_config(config, gpus, t0=t0, init_error=init_error)
    target = os.environ if environ is None else environ
    rocm_home = str(library_path.parent.parent)
    target[CONFIG_ENV] = str(config)
    target["ROCM_HOME"] = rocm_home
    return FakeAmdSmi(library_path, list(gpus), t0, config, {CONFIG_ENV: str(config), "ROCM_HOME": rocm_home})


def reload(library_path: Path) -> None:
    """Make the loaded fake re-read ``$FAKE_AMDSMI_CONFIG`` (one amdsmi_init + amdsmi_shut_down)."""
    lib = ctypes.CDLL(str(library_path))  # the same dlopen handle amdsmi holds, so the same static state
    lib.amdsmi_init.argtypes = [ctypes.c_uint64]
    rc = lib.amdsmi_init(2)
    if rc != 0:
        raise RuntimeError(f"fake amdsmi_init failed with {rc}")
    lib.amdsmi_shut_down()


def struct_size(library_path: Path, name: str) -> int:
    """``sizeof(name)`` as compiled into the fake (0 when it does not know the struct)."""
    lib = ctypes.CDLL(str(library_path))
    lib.fake_amdsmi_sizeof.restype = ctypes.c_size_t
    lib.fake_amdsmi_sizeof.argtypes = [ctypes.c_char_p]
    return int(lib.fake_amdsmi_sizeof(name.encode()))


# ---------------------------------------------------------------------------------------------- build


def find_wrapper() -> Path | None:
    """The installed ``amdsmi/amdsmi_wrapper.py`` (found without importing amdsmi, which needs the library)."""
    spec = importlib.util.find_spec("amdsmi")
    if spec is None:
        return None
    for base in spec.submodule_search_locations or []:
        path = Path(base) / "amdsmi_wrapper.py"
        if path.exists():
            return path
    return None


_BOUND = re.compile(r"_libraries\['libamd_smi\.so'\]\.(\w+)")
_STATUS = re.compile(r"^(AMDSMI_(?:STATUS|PROCESSOR_TYPE)_\w+) = (\d+)$", re.M)
_CTYPES = {
    "c_uint8": "uint8_t",
    "c_ubyte": "uint8_t",
    "c_int8": "int8_t",
    "c_char": "char",
    "c_uint16": "uint16_t",
    "c_int16": "int16_t",
    "c_uint32": "uint32_t",
    "c_int32": "int32_t",
    "c_uint64": "uint64_t",
    "c_int64": "int64_t",
    "c_float": "float",
    "c_double": "double",
}


def bound_symbols(wrapper_text: str) -> list[str]:
    """Every ``libamd_smi.so`` function the binding binds at import, in order."""
    return list(dict.fromkeys(_BOUND.findall(wrapper_text)))


def abi_header(wrapper_text: str, structs: Sequence[str] = ABI_STRUCTS) -> str:
    """C declarations (status codes, processor types, packed structs) read from the binding's ctypes source.

    Only plain fields are supported (``ctypes.c_X`` and ``ctypes.c_X * N``); anything else raises ``ValueError``
    so a binding whose layout this generator cannot express fails the build loudly instead of miscompiling.
    """
    out = [
        "/* Generated by tests/support/fakeamdsmi.py from the installed amdsmi_wrapper.py: do not edit. */",
        "#pragma once",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "typedef uint32_t amdsmi_status_t;",
    ]
    out += [f"#define {name} {value}u" for name, value in _STATUS.findall(wrapper_text)]
    for typedef in structs:
        struct = "struct_" + typedef
        block = re.search(rf"^{struct}\._fields_ = \[\n(.*?)^\]", wrapper_text, re.M | re.S)
        if block is None:
            raise ValueError(f"{struct} not found in the amdsmi binding")
        fields = []
        for name, ctype, count in re.findall(r"\('(\w+)', ctypes\.(\w+)(?: \* (\d+))?\)", block.group(1)):
            if ctype not in _CTYPES:
                raise ValueError(f"{struct}.{name}: unsupported ctypes type {ctype}")
            fields.append(f"    {_CTYPES[ctype]} {name}{f'[{count}]' if count else ''};")
        if len(fields) != block.group(1).count("('"):
            raise ValueError(f"{struct}: a field this generator cannot express")
        out.append("typedef struct __attribute__((packed)) {\n" + "\n".join(fields) + f"\n}} {typedef};")
    return "\n".join(out) + "\n"


def stubs_source(symbols: Sequence[str]) -> str:
    """Weak ``NOT_SUPPORTED`` definitions of ``symbols`` (the fake's strong definitions win at link time)."""
    lines = ['#include "fake_amdsmi_abi.h"']
    lines += [
        f"__attribute__((weak)) amdsmi_status_t {s}(void) {{ return AMDSMI_STATUS_NOT_SUPPORTED; }}"
        for s in symbols
    ]
    return "\n".join(lines) + "\n"


def default_build_dir() -> Path:
    """A per-user cache directory for compiled fakes (survives between pytest sessions)."""
    return Path(tempfile.gettempdir()) / f"wattwatch-fake-amdsmi-{os.getuid()}"


def build_library(dest_dir: Path, *, wrapper: Path | None = None, cc: str = "gcc") -> Path:
    """Compile the fake into ``dest_dir/<hash>/lib/libamd_smi.so`` unless it exists; returns its path.

    The hash covers the C source, the binding's wrapper and the flags. ``RuntimeError`` when amdsmi is not
    installed, the compiler is missing or compilation fails.
    """
    wrapper = wrapper or find_wrapper()
    if wrapper is None:
        raise RuntimeError("the amdsmi package is not installed (pip install amdsmi)")
    text = wrapper.read_text()
    flags = ["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", f"-Wl,-soname,{LIBRARY_NAME}"]
    digest = hashlib.sha256()
    digest.update(SOURCE.read_bytes())
    digest.update(text.encode())
    digest.update(Path(__file__).read_bytes())
    digest.update(" ".join([cc, *flags]).encode())
    root = Path(dest_dir) / digest.hexdigest()[:16]
    target = root / "lib" / LIBRARY_NAME
    if target.exists():
        return target
    gen = root / "src"
    gen.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    (gen / "fake_amdsmi_abi.h").write_text(abi_header(text))
    (gen / "fake_amdsmi_stubs.c").write_text(stubs_source(bound_symbols(text)))
    tmp = target.parent / f".{LIBRARY_NAME}.{os.getpid()}.tmp"
    cmd = [cc, *flags, f"-I{gen}", "-o", str(tmp), str(SOURCE), str(gen / "fake_amdsmi_stubs.c"), "-lm"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise RuntimeError(f"C compiler {cc!r} not found") from exc
    if proc.returncode != 0:
        raise RuntimeError(f"building the fake amdsmi failed:\n{' '.join(cmd)}\n{proc.stderr}")
    if proc.stderr.strip():
        print(proc.stderr, file=sys.stderr)
    os.replace(tmp, target)
    return target

