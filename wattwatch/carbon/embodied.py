"""Embodied carbon: the manufacturing footprint of the hardware a run used, and the run's share of it.

Boavizta's open methodology (https://doc.api.boavizta.org), re-implemented on the reference data of one
boaviztapi release copied into ``data/embodied/boavizta.json`` (``scripts/embodied_data.py`` regenerates it;
:mod:`wattwatch.carbon.embodied_data` reads it and matches GPU and CPU names in it), so that a run never imports
boaviztapi (pandas and scipy: seconds of import). ``tests/carbon/test_embodied.py`` checks every figure against
boaviztapi's own result for the same hardware. All masses of CO2 are kg CO2eq
(Boavizta's ``gwp`` criterion: climate change).

What is counted, per part (Boavizta's "embedded" phase: manufacture; for GPUs also transport and end of life):

- each **GPU** the run measured: casing, heatsink, board, GPU die and VRAM dies (by wafer area, with yield
  losses), upstream transport, shipping by boat/truck/plane and end of life -- the spec found by its name in
  Boavizta's GPU table, or Boavizta's "Large GPU" archetype when the name is unknown;
- the **CPU** sockets: die area x factor + package; die area from Boavizta's CPU table, or its all-CPU average;
- the **RAM** the run saw: per module of 32 GB (Boavizta's server archetype), die area from capacity and the
  mean DRAM density, plus the module;
- the **server around them** (Boavizta's ``platform_compute_medium`` archetype): one 1 TB SSD, motherboard,
  two power supplies, a rack case, assembly.

The run's share is ``duration / (lifetime x use ratio)`` (at most 1): hardware that is busy only part of its
life carries its footprint on fewer hours. With ``use_ratio=1`` that is Boavizta's own allocation
(``duration / hours_life_time``). Default lifetime: 4 years (Boavizta's server archetype, 35,040 h).

The run's slice (issue 24): a row the tracker writes carries the slice its energy was charged by -- the VM's
vCPU share, the container's CPU limit, the process tree's share, the memory the RAM channel charges, a GPU's
MIG or process share -- and the same shares apply to the footprint (:mod:`wattwatch.carbon.embodied_slice`);
``embodied_source`` states them (``slice=...``). A row without one (written before, or CodeCarbon's) keeps the
older rule: on a VM whose CPU Boavizta knows, the CPU and the server around it are charged by the share of its
threads the run saw (Boavizta's cloud-instance rule: vCPUs / platform vCPUs); the RAM and GPUs whole.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from dataclasses import field
from typing import Any

from wattwatch.carbon.embodied_data import EmbodiedData, cpu_key, load_data, match_cpu, match_gpu
from wattwatch.carbon.embodied_slice import EmbodiedSlice
from wattwatch.errors import ConfigurationError
from wattwatch.result import EmissionsData
from wattwatch.util.records import record

__all__ = [
    "DEFAULT_LIFETIME_YEARS",
    "DEFAULT_USE_RATIO",
    "EmbodiedData",
    "EmbodiedShare",
    "Hardware",
    "HardwareFootprint",
    "Part",
    "amortise",
    "check_lifetime",
    "cpu_key",
    "embodied_for_run",
    "load_data",
    "manufacture_footprint",
    "match_cpu",
    "match_gpu",
    "restate_embodied",
    "with_embodied",
]

DEFAULT_LIFETIME_YEARS = 4.0
"""Service life assumed for the hardware: Boavizta's server archetype (35,040 h)."""
DEFAULT_USE_RATIO = 1.0
"""Share of its life the hardware is busy (Boavizta's default ``use_time_ratio``)."""
HOURS_PER_YEAR = 8760.0

# Boavizta's GPU model: wafer geometry and VRAM die area per GB (boaviztapi models/component/gpu.py).
_KERF_MM = 0.2
_WAFER_DIAMETER_MM = 300.0
_WAFER_SURFACE_MM2 = math.pi * (_WAFER_DIAMETER_MM / 2) ** 2
_VRAM_DIE_MM2_PER_GB = 15.5


@record(frozen=True)
class Hardware:
    """The machines a run used. ``cpu_threads`` and ``ram_gb`` are per node; 0 means unknown."""

    gpu_models: tuple[str, ...] = ()
    """One entry per GPU (all nodes), as NVML names them."""
    cpu_model: str = ""
    cpu_threads: int = 0
    """Logical CPUs the run saw on one node."""
    ram_gb: float = 0.0
    """RAM the run saw on one node, GB."""
    nodes: int = 1
    charged: EmbodiedSlice | None = None
    """The share of each part the run is charged (per node); ``None``: the older rule (module docstring)."""

    @classmethod
    def from_emissions(cls, data: EmissionsData, charged: EmbodiedSlice | None = None) -> Hardware:
        """The hardware a row describes (``gpu_model`` is ``"4 x NVIDIA H100 80GB HBM3, 1 x ..."``)."""
        nodes = max(1, int(data.node_count or 1))
        gpus: list[str] = []
        for chunk in (data.gpu_model or "").split(", "):
            m = re.fullmatch(r"\s*(\d+) x (.+?)\s*", chunk)
            if m:
                gpus += [m.group(2)] * int(m.group(1))
            elif chunk.strip():
                gpus.append(chunk.strip())
        if not gpus and data.gpu_count:
            gpus = ["unknown GPU"] * int(data.gpu_count)
        return cls(
            gpu_models=tuple(gpus),
            cpu_model=data.cpu_model or "",
            cpu_threads=int(round((data.cpu_count or 0) / nodes)),
            ram_gb=float(data.ram_total_size or 0.0) / nodes,
            nodes=nodes,
            charged=charged,
        )


@record
class Part:
    """The manufacturing footprint of all units of one part (kg CO2eq over the hardware's whole life)."""

    name: str
    """``gpu``, ``cpu``, ``ram``, ``ssd``, ``motherboard``, ``power_supply``, ``case`` or ``assembly``."""
    spec: str
    """What Boavizta's data matched (a GPU or CPU name, or the archetype used)."""
    units: float
    kg: float
    low_kg: float
    high_kg: float


@record
class HardwareFootprint:
    """Manufacturing footprint of a run's hardware, before any share of its life is taken."""

    parts: tuple[Part, ...]
    host_share: float
    """Share of the server around the CPUs charged to the run (1 unless it saw part of the host)."""
    data_version: str
    slice_rule: str = ""
    """The slice rule applied (``embodied_source``'s ``slice=``); ``""`` for the older rule."""
    charged_text: str = ""
    """The shares applied (``embodied_source``'s ``charged=``, see ``EmbodiedSlice.text``)."""

    @property
    def kg(self) -> float:
        return sum(p.kg for p in self.parts)

    @property
    def low_kg(self) -> float:
        return sum(p.low_kg for p in self.parts)

    @property
    def high_kg(self) -> float:
        return sum(p.high_kg for p in self.parts)

    def by_part(self) -> dict[str, float]:
        """kg CO2eq per part name."""
        out: dict[str, float] = {}
        for p in self.parts:
            out[p.name] = out.get(p.name, 0.0) + p.kg
        return out


@record
class EmbodiedShare:
    """A run's share of its hardware's manufacturing footprint (kg CO2eq)."""

    kg: float
    low_kg: float
    high_kg: float
    share: float
    """Fraction of the hardware's useful life the run took: duration / (lifetime x use ratio), at most 1."""
    lifetime_years: float
    use_ratio: float
    footprint: HardwareFootprint
    by_part: dict[str, float] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """The ``embodied_source`` column: method, data version, lifetime and use ratio assumed."""
        f = self.footprint
        gpus = sorted({p.spec for p in f.parts if p.name == "gpu"})
        cpus = sorted({p.spec for p in f.parts if p.name == "cpu"})
        bits = [
            "method=boavizta-manufacture",
            f"data=boaviztapi-{f.data_version}",
            f"lifetime_y={self.lifetime_years:g}",
            f"use_ratio={self.use_ratio:g}",
            f"host_share={f.host_share:.3g}",
        ]
        if f.slice_rule:
            bits.append(f"slice={f.slice_rule}")
        if f.charged_text:
            bits.append(f"charged={f.charged_text}")
        if gpus:
            bits.append("gpu=" + "+".join(gpus))
        if cpus:
            bits.append("cpu=" + "+".join(cpus))
        return "; ".join(bits)


# -- Boavizta's per-part arithmetic ------------------------------------------------------------------------


def _effective_die_area(die_mm2: float) -> float:
    """Wafer area one die costs, yield losses included (Boavizta's ``_calculate_effective_area_on_circular_wafer``)."""
    width = math.sqrt(die_mm2) + _KERF_MM
    actual = width**2
    per_wafer = _WAFER_SURFACE_MM2 / actual - (math.pi * _WAFER_DIAMETER_MM) / math.sqrt(2 * actual)
    effective = actual * (_WAFER_SURFACE_MM2 / (per_wafer * actual))
    usable = math.exp(-math.sqrt((actual / 100) * 0.1))
    return effective / usable


def gpu_kg(spec: dict[str, Any] | None, data: EmbodiedData) -> float:
    """One GPU's manufacture + transport + end-of-life footprint, kg CO2eq (Boavizta's ``gpu_impact_embedded``)."""
    f = data.factors["gpu"]
    d = data.gpu_default
    if spec is None:
        s = dict(d)
        s["die_surface_mm2"] = _effective_die_area(d["die_area_mm2"])
    else:
        s = {k: (d.get(k) if v is None else v) for k, v in spec.items()}
        if spec.get("die_surface_mm2") is None:
            s["die_surface_mm2"] = _effective_die_area(d["die_area_mm2"])
    vram, dies = s["vram_gb"], s["vram_dies"]
    vram_surface = dies * _effective_die_area(vram * _VRAM_DIE_MM2_PER_GB / dies) if vram and dies else 0.0
    mass = s["mass_kg"]
    return (
        f["casing"]["manufacture"] * s["casing_kg"]
        + f["heatsink"]["manufacture"] * s["heatsink_kg"]
        + f["pwb"]["manufacture"] * s["pwb_surface_cm2"]
        + f["gpu"]["manufacture"] * s["die_surface_mm2"]
        + f["vram"]["manufacture"] * vram_surface
        + f["upstream_transport"]["manufacture"] * mass
        + f["transport_boat"]["distribution"] * s["boat_km"] * mass
        + f["transport_truck"]["distribution"] * s["truck_km"] * mass
        + f["transport_plane"]["distribution"] * s["plane_km"] * mass
        + f["end_of_life"]["eol"] * mass
    )


def _die_and_package(die: float, factor: dict[str, float]) -> float:
    return die * factor["die_impact"] + factor["impact"]


def manufacture_footprint(hw: Hardware, data: EmbodiedData | None = None) -> HardwareFootprint:
    """The manufacturing footprint of ``hw`` (whole life, no share taken). Cached per hardware."""
    return _footprint(hw, data or load_data())


def _gpu_parts(models: tuple[str, ...], data: EmbodiedData, share: float) -> list[Part]:
    """The GPUs' parts, one per Boavizta spec matched, each GPU charged ``share`` of its footprint."""
    by_spec: dict[str, tuple[dict[str, Any] | None, int]] = {}
    for name in models:
        spec = match_gpu(name, data)
        label = spec["name"] if spec else f"{data.gpu_default['name']} (Boavizta archetype; {name} unknown)"
        old = by_spec.get(label)
        by_spec[label] = (spec, (old[1] if old else 0) + 1)
    parts = []
    for label, (spec, n) in by_spec.items():
        one = gpu_kg(spec, data) * share
        parts.append(Part("gpu", label, n * share, one * n, one * n, one * n))
    return parts


@functools.lru_cache(maxsize=64)
def _footprint(hw: Hardware, data: EmbodiedData) -> HardwareFootprint:
    f = data.factors
    srv = data.server
    nodes = max(1, hw.nodes)
    sl = hw.charged
    parts = _gpu_parts(hw.gpu_models, data, sl.gpu_share if sl is not None else 1.0)

    cpu = match_cpu(hw.cpu_model, data)
    share = 1.0
    sockets = 1
    if cpu is not None:
        cpu_label, die, threads = cpu
        die_lo = die_hi = float(die)
        if threads and hw.cpu_threads:
            sockets = max(1, math.ceil(hw.cpu_threads / threads))
            share = min(1.0, hw.cpu_threads / (sockets * threads))
        dies = (float(die), die_lo, die_hi)
    else:
        cpu_label = "CPU average (Boavizta archetype" + (f"; {hw.cpu_model} unknown)" if hw.cpu_model else ")")
        dies = data.cpu_default_die_mm2
    units = sockets * nodes * share
    if sl is not None:  # the slice the run's energy was charged by (issue 24)
        units, share = sl.cpu_sockets * nodes, sl.server_share
    cpu_kgs = [_die_and_package(d, f["cpu"]) * units for d in dies]
    parts.append(Part("cpu", cpu_label, units, cpu_kgs[0], min(cpu_kgs), max(cpu_kgs)))

    ram_gb = hw.ram_gb if hw.ram_gb > 0 else float(srv["ram_module_gb"])
    if sl is not None and sl.ram_gb is not None:
        ram_gb = max(sl.ram_gb, 1e-3)
    modules = max(1, math.ceil(ram_gb / srv["ram_module_gb"] - 1e-9))
    dens, dens_lo, dens_hi = data.ram_density
    ram = f["ram"]
    ram_vals = [(ram_gb / d) * ram["die_impact"] + modules * ram["impact"] for d in (dens, dens_hi, dens_lo)]
    parts.append(
        Part(
            "ram",
            f"{modules} x {ram_gb / modules:.4g} GB" + ("" if hw.ram_gb > 0 else " (size unknown: one module)"),
            modules * nodes,
            ram_vals[0] * nodes,
            ram_vals[1] * nodes,
            ram_vals[2] * nodes,
        )
    )

    base = share * nodes
    ssd = f["ssd"]
    cap, ssd_units = srv["ssd_capacity_gb"], srv["ssd_units"]
    s_val, s_lo_d, s_hi_d = data.ssd_density
    ssd_vals = [((cap / d) * ssd["die_impact"] + ssd["impact"]) * ssd_units * base for d in (s_val, s_hi_d, s_lo_d)]
    parts.append(Part("ssd", f"{ssd_units:g} x {cap:g} GB (server archetype)", ssd_units * nodes, *ssd_vals))
    mb = f["motherboard"]["impact"] * base
    parts.append(Part("motherboard", "server archetype", nodes, mb, mb, mb))
    psu_n = srv["power_supply_units"]
    psu_w, psu_lo, psu_hi = srv["power_supply_kg"]
    psu = [w * f["power_supply"]["impact"] * psu_n * base for w in (psu_w, psu_lo, psu_hi)]
    parts.append(Part("power_supply", f"{psu_n:g} x {psu_w:g} kg (server archetype)", psu_n * nodes, *psu))
    rack = f["case"]["rack"]["impact"]
    blade = f["case"]["blade"]["impact_blade_server"] + f["case"]["blade"]["impact_blade_16_slots"] / 16
    parts.append(
        Part("case", "rack (server archetype)", nodes, rack * base, min(rack, blade) * base, max(rack, blade) * base)
    )
    asm = f["assembly"]["impact"] * base
    parts.append(Part("assembly", "server archetype", nodes, asm, asm, asm))
    return HardwareFootprint(
        parts=tuple(parts),
        host_share=share,
        data_version=data.version,
        slice_rule=sl.rule if sl is not None else "",
        charged_text=sl.text if sl is not None else "",
    )


def check_lifetime(lifetime_years: float, use_ratio: float) -> None:
    """Raise :class:`~wattwatch.errors.ConfigurationError` unless both are usable."""
    if not (isinstance(lifetime_years, int | float) and math.isfinite(lifetime_years) and lifetime_years > 0):
        raise ConfigurationError(
            f"embodied lifetime must be a positive number of years (Boavizta assumes 4); got {lifetime_years!r}"
        )
    if not (isinstance(use_ratio, int | float) and math.isfinite(use_ratio) and 0 < use_ratio <= 1):
        raise ConfigurationError(
            f"embodied use ratio must be in (0, 1] (the share of its life the hardware is busy); got {use_ratio!r}"
        )


def amortise(
    footprint: HardwareFootprint,
    duration_s: float,
    *,
    lifetime_years: float = DEFAULT_LIFETIME_YEARS,
    use_ratio: float = DEFAULT_USE_RATIO,
) -> EmbodiedShare:
    """The run's share of ``footprint``: ``duration / (lifetime x use ratio)``, at most the whole footprint."""
    check_lifetime(lifetime_years, use_ratio)
    useful_s = lifetime_years * HOURS_PER_YEAR * 3600.0 * use_ratio
    share = min(1.0, max(0.0, float(duration_s)) / useful_s)
    return EmbodiedShare(
        kg=footprint.kg * share,
        low_kg=footprint.low_kg * share,
        high_kg=footprint.high_kg * share,
        share=share,
        lifetime_years=float(lifetime_years),
        use_ratio=float(use_ratio),
        footprint=footprint,
        by_part={k: v * share for k, v in footprint.by_part().items()},
    )


def with_embodied(
    data: EmissionsData,
    *,
    lifetime_years: float = DEFAULT_LIFETIME_YEARS,
    use_ratio: float = DEFAULT_USE_RATIO,
    charged: EmbodiedSlice | None = None,
) -> EmissionsData:
    """A copy of the row with ``embodied_emissions`` and ``embodied_source`` computed from its hardware, its
    ``charged`` slice (the shares its energy was charged by) and its duration."""
    share = embodied_for_run(data, lifetime_years=lifetime_years, use_ratio=use_ratio, charged=charged)
    return dataclasses.replace(data, embodied_emissions=share.kg, embodied_source=share.source)


def restate_embodied(data: EmissionsData) -> EmissionsData:
    """``data`` with its embodied CO2 recomputed for its own hardware columns and duration, at the lifetime, use
    ratio and slice its ``embodied_source`` states: a row combined from several ranks' parts keeps rank 0's
    source but describes every rank's hardware (``wattwatch merge``). Unchanged when the source says too little."""
    from wattwatch.carbon.embodied_slice import parse_charged

    fields = dict(f.split("=", 1) for f in data.embodied_source.split("; ") if "=" in f)
    try:
        lifetime, ratio = float(fields["lifetime_y"]), float(fields["use_ratio"])
    except (KeyError, ValueError):
        return data
    return with_embodied(data, lifetime_years=lifetime, use_ratio=ratio, charged=parse_charged(data.embodied_source))


def embodied_for_run(
    data: EmissionsData,
    *,
    lifetime_years: float = DEFAULT_LIFETIME_YEARS,
    use_ratio: float = DEFAULT_USE_RATIO,
    embodied: EmbodiedData | None = None,
    charged: EmbodiedSlice | None = None,
) -> EmbodiedShare:
    """The embodied share of the run a row describes (its hardware and ``charged`` slice, its duration)."""
    hw = Hardware.from_emissions(data, charged)
    return amortise(
        manufacture_footprint(hw, embodied), data.duration, lifetime_years=lifetime_years, use_ratio=use_ratio
    )
