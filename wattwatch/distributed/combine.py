"""One run's totals from its ranks' parts: the pure function :func:`combine` (no I/O, no clock unless no
``timestamp`` is given).

Each GPU is counted once per node (key: UUID, else channel name) and, in machine mode, each CPU/RAM channel
once per node; the derived figures (powers, rate, water, the "N x GPU model" label) come from
:mod:`wattwatch.run.row`, the same code that builds a single process's row. Units: kWh (PUE applied), kg
CO2eq, seconds.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from wattwatch.distributed.parts import ChannelPart, Part
from wattwatch.result import EmissionsData
from wattwatch.run.row import energy_fields, gpu_model_label
from wattwatch.util.times import utc_codecarbon

__all__ = ["NodeTotals", "combine", "format_ranks"]

_STATUS_RANK = {"completed": 0, "budget-stopped": 1, "interrupted": 1, "failed": 2}
_COMPONENTS = ("gpu", "cpu", "ram")


@dataclass
class NodeTotals:
    """One node's share of a run (kWh with PUE, kg CO2eq)."""

    node_id: str
    ranks: list[int]
    hostname: str = ""
    gpu_count: int = 0
    gpu_model: str = ""
    gpu_energy: float = 0.0
    cpu_energy: float = 0.0
    ram_energy: float = 0.0
    emissions: float = 0.0
    gpu_energy_by_device_kwh: dict[str, float] = field(default_factory=dict)

    @property
    def energy_consumed(self) -> float:
        return self.gpu_energy + self.cpu_energy + self.ram_energy


def _combined_status(parts: Sequence[Part], world_size: int) -> str:
    ranks = {p.rank for p in parts}
    if len(ranks) < world_size or not all(p.final for p in parts):
        return "running"
    return max((p.status for p in parts), key=lambda s: _STATUS_RANK.get(s, 0))


def format_ranks(ranks: Sequence[int]) -> str:
    """Sorted ranks as a short list: runs of three or more become ``a-b`` (``[1, 2, 5, 6, 7]`` -> ``"1,2,5-7"``),
    so a row stays small whatever the world size."""
    parts: list[str] = []
    i = 0
    values = sorted(ranks)
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{values[i]}-{values[j]}")
        else:
            parts.extend(str(v) for v in values[i : j + 1])
        i = j + 1
    return ",".join(parts)



def _latest_by_rank(parts: Sequence[Part]) -> list[Part]:
    """One part per rank (a final part beats a running one, then the newest), in rank order."""
    by_rank: dict[int, Part] = {}
    for p in parts:
        old = by_rank.get(p.rank)
        if old is None or (p.final, p.written_at) >= (old.final, old.written_at):
            by_rank[p.rank] = p
    return [by_rank[r] for r in sorted(by_rank)]


def _owned_channels(ordered: Sequence[Part]) -> dict[int, dict[str, ChannelPart]]:
    """Which part owns each physical channel: the channels each rank's figures count (a channel claimed by
    two parts goes to the larger energy)."""
    owners: dict[tuple[str, ...], tuple[int, str, ChannelPart]] = {}
    for p in ordered:
        for name, c in p.channels.items():
            if c.component == "gpu":
                key: tuple[str, ...] = (p.node_id, "gpu", c.uuid or name)
            elif p.tracking_mode == "process":
                key = (p.node_id, str(p.rank), name)
            else:
                key = (p.node_id, name)
            held = owners.get(key)
            if held is None or c.kwh > held[2].kwh:
                owners[key] = (p.rank, name, c)
    kept: dict[int, dict[str, ChannelPart]] = {p.rank: {} for p in ordered}
    for rank, name, c in owners.values():
        kept[rank][name] = c
    return kept


@dataclass
class _Sums:
    """Running sums over the parts (kWh, kg CO2eq, counts)."""

    energy: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_COMPONENTS, 0.0))
    emissions: float = 0.0
    phase_e: dict[str, float] = field(default_factory=dict)
    phase_g: dict[str, float] = field(default_factory=dict)
    by_device: dict[str, float] = field(default_factory=dict)
    method_by_device: dict[str, str] = field(default_factory=dict)
    gpu_models: list[str] = field(default_factory=list)
    methods: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in _COMPONENTS})
    readings: int = 0
    gaps: int = 0
    gap_s: float = 0.0
    slices: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in _COMPONENTS})
    band_low: float | None = 0.0
    band_high: float | None = 0.0
    bands: set[str] = field(default_factory=set)

    def add(self, p: Part, mine: dict[str, ChannelPart], node: NodeTotals, multi_node: bool) -> None:
        """Add part ``p``, of which only the channels ``mine`` count (its other figures in proportion)."""
        own = sum(c.kwh for c in p.channels.values())
        share = (sum(c.kwh for c in mine.values()) / own) if own > 0 else (1.0 if not p.channels else 0.0)
        part_em = p.data.emissions * share
        self.emissions += part_em
        node.emissions += part_em
        for ph, e in p.data.phase_energy_kwh.items():
            self.phase_e[ph] = self.phase_e.get(ph, 0.0) + e * share
        for ph, g in p.data.phase_emissions_kg.items():
            self.phase_g[ph] = self.phase_g.get(ph, 0.0) + g * share
        for name, c in mine.items():
            if c.component == "gpu":
                node.gpu_energy += c.kwh
                node.gpu_count += 1
                node.gpu_energy_by_device_kwh[name] = c.kwh
                device = f"{p.node_id}/{name}" if multi_node else name
                self.by_device[device] = c.kwh
                if c.method:
                    self.method_by_device[device] = c.method
                self.gpu_models.append(c.model)
            elif c.component == "cpu":
                node.cpu_energy += c.kwh
            elif c.component == "ram":
                node.ram_energy += c.kwh
            if c.component in self.energy:
                self.energy[c.component] += c.kwh
        for comp, value in (("gpu", p.data.gpu_method), ("cpu", p.data.cpu_method), ("ram", p.data.ram_method)):
            if value and any(c.component == comp for c in mine.values()):
                self.methods[comp].update(value.split("+"))
        for comp, value in (("gpu", p.data.gpu_slice), ("cpu", p.data.cpu_slice), ("ram", p.data.ram_slice)):
            if value and any(c.component == comp for c in mine.values()):
                self.slices[comp].update(value.split("+"))
        # The error band of the channels kept: the part's band in proportion (None once a part has none).
        low, high = p.data.energy_low_kwh, p.data.energy_high_kwh
        if self.band_low is None or self.band_high is None or low is None or high is None:
            if own > 0:  # a part with energy and no band: the run's band is unknown
                self.band_low = self.band_high = None
            # (a part without energy adds nothing: each end keeps its own sum -- it set both to the low one)
        else:
            self.band_low += low * share
            self.band_high += high * share
        if p.data.energy_band:
            self.bands.update(p.data.energy_band.split())
        self.readings += p.data.readings
        self.gaps += p.data.gaps
        self.gap_s += p.data.gap_seconds


def combine(
    parts: Sequence[Part],
    *,
    world_size: int | None = None,
    status: str | None = None,
    missing: Sequence[int] | None = None,
    timestamp: str | None = None,
) -> tuple[EmissionsData, list[NodeTotals]]:
    """The run's totals from its ranks' parts, and the per-node breakdown.

    Counts each GPU once per node (key: UUID, else channel name) and, in machine mode, each CPU/RAM channel
    once per node; when two parts claim the same channel the larger energy is kept and the other rank's
    emissions are reduced in proportion. Duration: the longest part's. Steps/samples/tokens, intensity and
    location: global rank 0's (the lowest rank present). ``status`` default: ``running`` until every rank of
    ``world_size`` has a final part, then the worst final status. ``missing`` default: ranks with no part.

    Raises ``ValueError`` when ``parts`` is empty.
    """
    ordered = _latest_by_rank(parts)
    if not ordered:
        raise ValueError("no parts to combine")
    world = max([world_size or 0] + [p.world_size for p in ordered])
    kept = _owned_channels(ordered)
    nodes: dict[str, NodeTotals] = {}
    multi_node = len({p.node_id for p in ordered}) > 1
    sums = _Sums()
    for p in ordered:
        node = nodes.setdefault(p.node_id, NodeTotals(p.node_id, [], hostname=p.data.hostname))
        node.ranks.append(p.rank)
        sums.add(p, kept[p.rank], node, multi_node)
    for node in nodes.values():
        node.gpu_model = gpu_model_label(
            c.model for r in node.ranks for c in kept[r].values() if c.component == "gpu"
        )
    absent = sorted(set(range(world)) - {p.rank for p in ordered}) if missing is None else sorted(set(missing))
    combined = _combined_row(ordered, sums, nodes, world, absent, status=status, timestamp=timestamp)
    return combined, list(nodes.values())


def _combined_row(
    ordered: Sequence[Part],
    sums: _Sums,
    nodes: dict[str, NodeTotals],
    world: int,
    absent: Sequence[int],
    *,
    status: str | None,
    timestamp: str | None,
) -> EmissionsData:
    """Rank 0's row with the combined figures put in."""
    ld = ordered[0].data
    duration = max(p.data.duration for p in ordered)
    emissions = sums.emissions
    figures = energy_fields(
        cpu_kwh=sums.energy["cpu"],
        gpu_kwh=sums.energy["gpu"],
        ram_kwh=sums.energy["ram"],
        emissions_kg=emissions,
        duration_s=duration,
        wue=ld.wue,
    )
    energy = figures["energy_consumed"]
    scale = (ld.projected_energy_kwh / ld.energy_consumed) if ld.projected_energy_kwh and ld.energy_consumed else None
    first_of_node: dict[str, Part] = {}
    for p in ordered:
        first_of_node.setdefault(p.node_id, p)
    return dataclasses.replace(
        ld,
        timestamp=timestamp or utc_codecarbon(time.time()),
        cpu_count=sum(p.data.cpu_count for p in first_of_node.values()),
        cpu_model=ld.cpu_model or next((p.data.cpu_model for p in ordered if p.data.cpu_model), ""),
        gpu_count=len(sums.gpu_models),
        gpu_model=gpu_model_label(sums.gpu_models),
        ram_total_size=sum(p.data.ram_total_size for p in first_of_node.values()),
        status=status or _combined_status(ordered, world),
        start_time=min((p.data.start_time for p in ordered if p.data.start_time), default=ld.start_time),
        gpu_method="+".join(sorted(sums.methods["gpu"])),
        cpu_method="+".join(sorted(sums.methods["cpu"])),
        ram_method="+".join(sorted(sums.methods["ram"])),
        gpu_slice="+".join(sorted(sums.slices["gpu"])),
        cpu_slice="+".join(sorted(sums.slices["cpu"])),
        ram_slice="+".join(sorted(sums.slices["ram"])),
        energy_low_kwh=sums.band_low,
        energy_high_kwh=sums.band_high,
        energy_band=" ".join(sorted(sums.bands)),
        intensity_g_per_kwh=(emissions * 1000.0 / energy) if energy > 0 else ld.intensity_g_per_kwh,
        phase_energy_kwh=sums.phase_e,
        phase_emissions_kg=sums.phase_g,
        gpu_energy_by_device_kwh=sums.by_device,
        gpu_method_by_device=sums.method_by_device,
        readings=sums.readings,
        gaps=sums.gaps,
        gap_seconds=sums.gap_s,
        hostname=",".join(dict.fromkeys(n.hostname for n in nodes.values() if n.hostname)),
        node_count=len(nodes),
        rank_count=world,
        missing_ranks=format_ranks(absent),
        ownership=" | ".join(dict.fromkeys(p.data.ownership for p in ordered if p.data.ownership)),
        projected_energy_kwh=energy * scale if scale is not None else None,
        projected_emissions_kg=emissions * scale if scale is not None else None,
        **figures,
    )
