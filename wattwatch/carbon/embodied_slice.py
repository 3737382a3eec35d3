"""One slice rule for operational and embodied carbon: the share of the hardware a run is charged for its energy
is the share of its manufacturing footprint it is charged (issue 24).

A run on a 2-vCPU VM is charged, for its energy, 2 vCPUs' worth of a host it cannot see (rule ``vm-vcpu``);
charging it a whole Boavizta server for embodied carbon made embodied 33 times the operational figure. Here the
same rule the CPU and RAM channels name (their ``slice`` detail, the row's ``cpu_slice``/``ram_slice``) decides
how much of the CPU sockets, of the server around them, of the memory and of each GPU is charged:

======================  ==================================  ===========================================
energy rule (CPU)       CPU sockets charged                 server around them (SSD, board, PSU, case)
======================  ==================================  ===========================================
``tdp``, RAPL, user     the machine's sockets               the whole server
``vm-slice-tdp``        vCPUs / host threads per socket     vCPUs / (2 x host threads per socket)
``vm-vcpu``             vCPUs / 48 (= 2 sockets x vCPUs/96) vCPUs / 96: Boavizta's platform_compute_medium
                                                            (2 CPUs x 24 cores x 2 threads), the host
                                                            this rule's per-vCPU watts stand for
``.../cgroup``          the above x CPU limit / CPUs        the above x CPU limit / CPUs
``.../process``         the above x the process tree's      the same share
                        mean share of the CPUs (from its
                        dynamic energy)
======================  ==================================  ===========================================

Memory: the memory the RAM channel charges (machine: installed; container: its limit; process: the tree's
mean resident memory, from its energy). GPUs: ``whole-gpu`` 1; ``mig-slice-share`` the instance's slices over
the parent's; ``gpu-process-share`` this process tree's share of the board's energy so far. A distributed run's
combined row applies the slice of the rank that built it to every node.

Units: shares are fractions (0..1], sockets a count, memory GB (GiB, as ``ram_total_size``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from wattwatch.result import EmissionsData
from wattwatch.sensors.base import ChannelInfo
from wattwatch.util.records import record

__all__ = ["PLATFORM_SOCKETS", "PLATFORM_THREADS", "EmbodiedSlice", "embodied_slice", "parse_charged"]

PLATFORM_SOCKETS = 2
"""Sockets of Boavizta's ``platform_compute_medium`` server archetype (its ``CPU.units``)."""
PLATFORM_THREADS = 96
"""Hardware threads of that archetype: 2 CPUs x 24 cores (its ``CPU.core_units``) x 2 threads per core."""
_ROUND = 4
"""Significant digits kept of a share that moves with the run (process mode), so the footprint cache holds."""


@record(frozen=True)
class EmbodiedSlice:
    """What of one node's hardware a run is charged for its manufacture (see the module docstring)."""

    cpu_sockets: float
    """Sockets' worth of CPU manufacture."""
    server_share: float
    """Share of the server around the CPUs."""
    ram_gb: float | None
    """Memory charged (GB); ``None``: the row's ``ram_total_size``."""
    gpu_share: float = 1.0
    """Mean share of each GPU the run measured."""
    rule: str = "machine"
    """The rule, for ``embodied_source`` (``vm-vcpu/machine 2/96 vCPUs of platform_compute_medium, ram machine
    23.54 GB, gpu whole-gpu``...)."""

    @property
    def text(self) -> str:
        """The shares as ``embodied_source`` states them, readable back by :func:`parse_charged`:
        ``cpu:0.04167,server:0.02083,ram_gb:23.540279388,gpu:1`` (CPU in sockets)."""
        ram = "" if self.ram_gb is None else f"{self.ram_gb:.12g}"
        return f"cpu:{self.cpu_sockets:.12g},server:{self.server_share:.12g},ram_gb:{ram},gpu:{self.gpu_share:.12g}"


def parse_charged(source: str) -> EmbodiedSlice | None:
    """The shares an ``embodied_source`` states (its ``charged=`` field), or ``None`` when it has none (a row
    from before issue 24, CodeCarbon's): what ``wattwatch check`` recomputes the embodied figure with."""
    for field in source.split("; "):
        if field.startswith("charged="):
            try:
                parts = dict(p.split(":", 1) for p in field[len("charged="):].split(","))
                ram = parts.get("ram_gb", "")
                return EmbodiedSlice(
                    float(parts["cpu"]), float(parts["server"]), float(ram) if ram else None,
                    float(parts["gpu"]), _rule_of(source),
                )  # fmt: skip
            except (KeyError, ValueError):
                return None
    return None


def _rule_of(source: str) -> str:
    return next((f[len("slice="):] for f in source.split("; ") if f.startswith("slice=")), "")


def _sig(x: float) -> float:
    return float(f"{x:.{_ROUND}g}")


def _num(value: object, default: float = 0.0) -> float:
    """A detail as a number (``default`` when it is missing or not one)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


def _cpu_slice(cpus: Sequence[ChannelInfo], data: EmissionsData) -> tuple[float, float, str]:
    """``(sockets, server share, rule text)`` from the CPU channels' slice detail (RAPL: one channel per
    package, the machine's)."""
    if not cpus:
        return 1.0, 1.0, "cpu none: whole server"
    info = cpus[0]
    if info.method == "counter":
        return float(len(cpus)), 1.0, f"rapl machine {len(cpus)} packages"
    d = info.details or {}
    rule = str(d.get("slice") or info.method)
    scale = str(d.get("scale_rule", rule.split("/")[0]))
    n_cpus = _num(d.get("n_cpus")) or _num(d.get("logical_cpus")) or float(data.cpu_count or 1)
    if scale == "vm-slice-tdp" and d.get("host_threads_per_socket"):
        threads = _num(d["host_threads_per_socket"], 1.0)
        sockets, server = n_cpus / threads, n_cpus / (PLATFORM_SOCKETS * threads)
        text = f"{rule} {n_cpus:g} vCPUs of {threads:g}-thread sockets"
    elif scale == "vm-vcpu":
        sockets, server = PLATFORM_SOCKETS * n_cpus / PLATFORM_THREADS, n_cpus / PLATFORM_THREADS
        text = f"{rule} {n_cpus:g}/{PLATFORM_THREADS} vCPUs of platform_compute_medium"
    else:
        sockets, server = _num(d.get("sockets"), 1.0) or 1.0, 1.0
        text = f"{rule} machine {sockets:g} sockets"
    attribution = rule.rsplit("/", 1)[-1] if "/" in rule else "machine"
    if attribution == "cgroup" and d.get("cpu_limit_used"):
        limit = _num(d["cpu_limit_used"], n_cpus)
        part = min(1.0, limit / n_cpus)
        sockets, server = sockets * part, server * part
        text += f" x limit {limit:g}/{n_cpus:g} CPUs"
    elif attribution == "process":
        full_w, idle = _num(d.get("tdp_w")), _num(d.get("idle_fraction"))
        dynamic_w = full_w * (1.0 - idle)
        mean_w = data.cpu_energy * 3.6e6 / (data.pue or 1.0) / data.duration if data.duration > 0 else 0.0
        part = _sig(min(1.0, mean_w / dynamic_w)) if dynamic_w > 0 else 0.0
        sockets, server = sockets * part, server * part
        text += f" x tree's mean CPU share {part:g}"
    return sockets, server, text


def _ram_gb(info: ChannelInfo | None, data: EmissionsData) -> tuple[float | None, str]:
    """Memory charged (GB) and its rule text, from the RAM channel."""
    if info is None:
        return None, "ram row"
    d = info.details or {}
    attribution = str(d.get("attribution") or d.get("slice") or "machine")
    if attribution == "process":
        per_gib = _num(d.get("watts_per_gb"))
        mean_w = data.ram_energy * 3.6e6 / (data.pue or 1.0) / data.duration if data.duration > 0 else 0.0
        gb = _sig(mean_w / per_gib) if per_gib > 0 else 0.0
        return gb, f"ram tree's mean RSS {gb:g} GB"
    charged = d.get("charged_gib")
    if isinstance(charged, int | float) and charged > 0:
        return float(charged), f"ram {attribution} {float(charged):.4g} GB"
    return None, f"ram {attribution}"


def _gpu_share(infos: Sequence[ChannelInfo], data: EmissionsData, board_j: Mapping[str, float]) -> tuple[float, str]:
    """Mean share of each GPU charged, and its rule text."""
    shares: list[float] = []
    rules: set[str] = set()
    for info in infos:
        d = info.details or {}
        rule = str(d.get("slice") or "whole-gpu")
        rules.add(rule)
        if rule == "mig-slice-share" and isinstance(d.get("fraction"), int | float):
            shares.append(_num(d["fraction"], 1.0))
        elif rule == "gpu-process-share":
            board = board_j.get(info.channel, 0.0)
            ours = data.gpu_energy_by_device_kwh.get(info.channel, 0.0) * 3.6e6 / (data.pue or 1.0)
            shares.append(_sig(min(1.0, ours / board)) if board > 0 else 1.0)
        else:
            shares.append(1.0)
    if not shares:
        return 1.0, ""
    mean = sum(shares) / len(shares)
    return mean, f"gpu {'+'.join(sorted(rules))}" + ("" if mean == 1.0 else f" x{mean:.4g}")


def embodied_slice(
    infos: Sequence[ChannelInfo], data: EmissionsData, *, board_j: Mapping[str, float] | None = None
) -> EmbodiedSlice:
    """The slice of its hardware the run in ``data`` is charged, by the rules its channels name (``infos``);
    ``board_j``: each shared GPU's whole-board joules so far (``gpu-process-share``)."""
    cpus = [i for i in infos if i.component == "cpu"]
    ram = next((i for i in infos if i.component == "ram"), None)
    gpus = [i for i in infos if i.component == "gpu"]
    sockets, server, cpu_text = _cpu_slice(cpus, data)
    ram_gb, ram_text = _ram_gb(ram, data)
    gpu, gpu_text = _gpu_share(gpus, data, board_j or {})
    rule = ", ".join(t for t in (cpu_text, ram_text, gpu_text) if t)  # "; " separates embodied_source's fields
    return EmbodiedSlice(_sig(sockets), _sig(server), ram_gb, _sig(gpu), rule)
