"""Board power of common data-centre GPUs, for estimates made before a run.

Each figure is the maximum board power (TDP / TGP) in watts that the vendor publishes for that board, with the
document it comes from. A GPU running a real training job usually draws less than this (60-90 %), so an
estimate built on it is an upper bound; pass ``--watts`` (or ``watts=``) when you have a measured figure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["GPU_SPECS", "GpuSpec", "gpu_spec", "known_gpu_names"]


@dataclass(frozen=True)
class GpuSpec:
    """One GPU board: its canonical ``name``, maximum board power in watts, and where that figure comes from."""

    name: str
    board_power_w: float
    source: str
    aliases: tuple[str, ...] = ()


_NV = "NVIDIA"
GPU_SPECS: tuple[GpuSpec, ...] = (
    GpuSpec(
        "V100-SXM2",
        300.0,
        f"{_NV} Tesla V100 datasheet (SXM2: 300 W)",
        ("v100", "v100-sxm", "v100-sxm2-16gb", "v100-sxm2-32gb"),
    ),
    GpuSpec("V100-PCIe", 250.0, f"{_NV} Tesla V100 datasheet (PCIe: 250 W)"),
    GpuSpec(
        "A100-40GB", 400.0, f"{_NV} A100 datasheet (40GB SXM: 400 W)", ("a100", "a100-sxm4-40gb", "a100-40")
    ),
    GpuSpec("A100-80GB", 400.0, f"{_NV} A100 datasheet (80GB SXM: 400 W)", ("a100-sxm4-80gb", "a100-80")),
    GpuSpec("A100-PCIe-40GB", 250.0, f"{_NV} A100 datasheet (40GB PCIe: 250 W)", ("a100-pcie",)),
    GpuSpec("A100-PCIe-80GB", 300.0, f"{_NV} A100 datasheet (80GB PCIe: 300 W)"),
    GpuSpec(
        "H100-SXM",
        700.0,
        f"{_NV} H100 Tensor Core GPU datasheet (SXM: up to 700 W)",
        ("h100", "h100-sxm5", "h100-80gb-hbm3", "h100-sxm5-80gb"),
    ),
    GpuSpec("H100-PCIe", 350.0, f"{_NV} H100 Tensor Core GPU datasheet (PCIe: 300-350 W, upper figure)"),
    GpuSpec("H100-NVL", 400.0, f"{_NV} H100 Tensor Core GPU datasheet (NVL: 350-400 W, upper figure)"),
    GpuSpec(
        "H200-SXM", 700.0, f"{_NV} H200 Tensor Core GPU datasheet (SXM: up to 700 W)", ("h200", "h200-141gb")
    ),
    GpuSpec("H200-NVL", 600.0, f"{_NV} H200 Tensor Core GPU datasheet (NVL: up to 600 W)"),
    GpuSpec("B200", 1000.0, f"{_NV} DGX B200 / HGX B200 specifications (1000 W per GPU)", ("b200-sxm",)),
    GpuSpec("L4", 72.0, f"{_NV} L4 Tensor Core GPU datasheet (72 W)"),
    GpuSpec("T4", 70.0, f"{_NV} T4 Tensor Core GPU datasheet (70 W)", ("tesla-t4",)),
    GpuSpec("A10", 150.0, f"{_NV} A10 Tensor Core GPU datasheet (150 W)"),
    GpuSpec(
        "A10G",
        300.0,
        "AWS EC2 G5 (NVIDIA A10G): power limit 300 W as reported by nvidia-smi; no public NVIDIA datasheet",
    ),
    GpuSpec("L40S", 350.0, f"{_NV} L40S datasheet (350 W)"),
    GpuSpec("L40", 300.0, f"{_NV} L40 datasheet (300 W)"),
    GpuSpec("MI250X", 560.0, "AMD Instinct MI250X datasheet (560 W peak)"),
    GpuSpec("MI300X", 750.0, "AMD Instinct MI300X datasheet (750 W peak)"),
)
"""The table. Sources are the vendors' public datasheets (figures as of 2024-2025)."""


def _key(name: str) -> str:
    """Normalised lookup key: lower case, ``nvidia``/``amd``/``instinct`` dropped, separators as ``-``."""
    text = name.strip().lower().replace("_", " ")
    text = re.sub(r"\b(nvidia|amd|instinct|tesla(?=\s*[a-z]\d)|tensor core gpu)\b", " ", text)
    return re.sub(r"[\s_/]+|-+", "-", text.strip()).strip("-")


def _index() -> dict[str, GpuSpec]:
    out: dict[str, GpuSpec] = {}
    for spec in GPU_SPECS:
        for alias in (spec.name, *spec.aliases):
            out[_key(alias)] = spec
    return out


_INDEX = _index()


def known_gpu_names() -> tuple[str, ...]:
    """Canonical names of every GPU in the table, in table order."""
    return tuple(spec.name for spec in GPU_SPECS)


def gpu_spec(name: str) -> GpuSpec:
    """The table entry for ``name`` (case and separators ignored, e.g. ``"nvidia h100 sxm"`` or ``"a100"``).

    Raises ``ValueError`` naming the known GPUs when ``name`` is not in the table.
    """
    spec = _INDEX.get(_key(name))
    if spec is None:
        raise ValueError(
            f"unknown GPU {name!r}; use one of {', '.join(known_gpu_names())}, or give its board power with --watts"
        )
    return spec
