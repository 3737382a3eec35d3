"""Boavizta's reference data as wattwatch ships it, and the lookups of a run's GPU and CPU names in it.

``data/embodied/boavizta.json`` is copied from one boaviztapi release by ``scripts/embodied_data.py``;
:func:`load_data` reads it (cached), :func:`match_gpu` and :func:`match_cpu` find the spec Boavizta has for a
name as NVML, ROCm or ``/proc/cpuinfo`` write it. Die areas are mm2, densities GB/cm2. The arithmetic on these
figures is :mod:`wattwatch.carbon.embodied`'s.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from wattwatch.util.records import record

__all__ = ["SHIPPED_DATA", "EmbodiedData", "cpu_key", "load_data", "match_cpu", "match_gpu"]

SHIPPED_DATA = Path(__file__).resolve().parent / "data" / "embodied" / "boavizta.json"
"""The Boavizta data wattwatch ships (a file beside this module, as ``codecarbon_data.BUNDLED_DATA_DIR``)."""


@record(frozen=True, eq=False)  # hashed by identity: results are cached per (hardware, data)
class EmbodiedData:
    """Boavizta's reference data as shipped (see ``scripts/embodied_data.py``)."""

    version: str
    factors: dict[str, Any]
    gpu_default: dict[str, Any]
    gpus: tuple[dict[str, Any], ...]
    cpu_default_die_mm2: tuple[float, float, float]
    cpu_index: dict[str, tuple[str, int, int | None]]
    """:func:`cpu_key` -> (Boavizta's CPU name, total die area mm2, threads or ``None``)."""
    ram_density: tuple[float, float, float]
    ssd_density: tuple[float, float, float]
    server: dict[str, Any]

    @functools.cached_property
    def gpu_index(self) -> dict[str, dict[str, Any]]:
        return {g["name"]: g for g in self.gpus}


@functools.lru_cache(maxsize=4)
def load_data(path: str | None = None) -> EmbodiedData:
    """The shipped Boavizta data (or the JSON file at ``path``, in the same format)."""
    if path is None:
        path = str(SHIPPED_DATA)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    raw = json.loads(text)
    return EmbodiedData(
        version=str(raw["boaviztapi_version"]),
        factors=raw["factors"],
        gpu_default=raw["gpu_default"],
        gpus=tuple(raw["gpus"]),
        cpu_default_die_mm2=tuple(raw["cpu_default_die_mm2"]),  # type: ignore[arg-type]
        cpu_index={str(k): (str(n), int(d), None if t is None else int(t)) for k, (n, d, t) in raw["cpus"].items()},
        ram_density=tuple(raw["ram_density_gb_per_cm2"]),  # type: ignore[arg-type]
        ssd_density=tuple(raw["ssd_density_gb_per_cm2"]),  # type: ignore[arg-type]
        server=raw["server"],
    )


# -- name matching -----------------------------------------------------------------------------------------

_GPU_RULES: tuple[tuple[str, str, str], ...] = (
    # (a substring the name must contain, a regular expression on the lower-cased NVML/ROCm name, Boavizta GPU
    # spec); first match wins. The substring spares compiling and running the expressions that cannot match.
    ("h100", r"h100.*nvl", "NVIDIA H100 NVL 94GB"),
    ("h100", r"h100.*pcie", "NVIDIA H100 PCIe 80GB"),
    ("h100", r"h100", "NVIDIA H100 SXM 80GB"),  # "NVIDIA H100 80GB HBM3" is the SXM board
    ("h200", r"h200", "NVIDIA H200 SXM 141GB"),
    ("b200", r"b200", "NVIDIA B200 180GB"),
    ("b300", r"b300", "NVIDIA B300 288GB"),
    ("a100", r"a100.*80.*pcie|a100.*pcie.*80", "NVIDIA A100 PCIe 80GB"),
    ("a100", r"a100.*80", "NVIDIA A100 SXM4 80GB"),
    ("a100", r"a100.*pcie", "NVIDIA A100 PCIe 40GB"),
    ("a100", r"a100", "NVIDIA A100 SXM4 40GB"),
    ("v100s", r"v100s", "NVIDIA Tesla V100S PCIe 32GB"),
    ("v100", r"v100.*pcie.*32", "NVIDIA Tesla V100 PCIe 32GB"),
    ("v100", r"v100.*pcie", "NVIDIA Tesla V100 PCIe 16GB"),
    ("v100", r"v100.*32", "NVIDIA Tesla V100 SXM2 32GB"),
    ("v100", r"v100", "NVIDIA Tesla V100 SXM2 16GB"),
    ("l40s", r"l40s", "NVIDIA L40S 48GB"),
    ("l4", r"\bl4\b", "NVIDIA L4"),
    ("t4", r"\bt4\b", "NVIDIA T4"),
    ("a10", r"\ba10g?\b", "NVIDIA A10"),
    ("p100", r"p100", "NVIDIA P100"),
    ("p4", r"\bp4\b", "NVIDIA Tesla P4"),
    ("m60", r"\bm60\b", "NVIDIA Tesla M60"),
    ("mi300x", r"mi300x", "AMD Instinct MI300X 192GB"),
    ("rtx a4500", r"rtx a4500", "NVIDIA RTX A4500"),
    ("titan rtx", r"titan rtx", "NVIDIA Titan RTX"),
    ("1080 ti", r"1080 ti", "NVIDIA GTX 1080 Ti"),
    ("quadro rtx 5000", r"quadro rtx 5000", "NVIDIA Quadro RTX 5000"),
)


def match_gpu(name: str, data: EmbodiedData | None = None) -> dict[str, Any] | None:
    """Boavizta's spec for a GPU name (``None``: unknown, the archetype applies)."""
    data = data or load_data()
    low = name.lower()
    for literal, pattern, spec in _GPU_RULES:
        if literal in low and re.search(pattern, low):
            return data.gpu_index.get(spec)
    for spec_name, found in data.gpu_index.items():
        if spec_name.lower() == low:
            return found
    return None


def cpu_key(name: str) -> str:
    """A CPU name as looked up: lower case, without ``(R)``, ``(TM)``, ``CPU``, ``Processor``, ``NN-Core`` and
    ``@ frequency``."""
    s = name.lower()
    s = re.sub(r"\((r|tm)\)", " ", s)
    s = re.sub(r"@.*$", " ", s)
    s = re.sub(r"\b\d+-core\b|\bprocessor\b|\bcpu\b", " ", s)
    return " ".join(s.split())


def match_cpu(name: str, data: EmbodiedData | None = None) -> tuple[str, int, int | None] | None:
    """``(Boavizta name, total die area mm2, threads or None)`` for a CPU model string, or ``None``.

    The name is normalised (``(R)``, ``(TM)``, ``CPU``, ``Processor``, ``NN-Core`` and ``@ frequency`` dropped)
    and looked up exactly; failing that, the longest Boavizta name whose words all occur in it, provided it
    has a model number (a word with a digit).
    """
    if not name.strip():
        return None
    data = data or load_data()
    key = cpu_key(name)
    hit = data.cpu_index.get(key)
    if hit is not None:
        return hit
    words = set(key.split())
    numbers = [w for w in words if any(ch.isdigit() for ch in w)]
    # A substring test first (1,520 names, no split): a name whose words are all in ``words`` and which contains
    # a model number contains it as one of its words, so this keeps exactly the names that can match.
    candidates = [k for k in data.cpu_index if any(n in k for n in numbers)]
    best: tuple[str, int, int | None] | None = None
    best_len = 0
    for spec_key in sorted(candidates):
        spec_words = spec_key.split()
        if set(spec_words) <= words and len(spec_words) > best_len:
            best, best_len = data.cpu_index[spec_key], len(spec_words)
    return best
