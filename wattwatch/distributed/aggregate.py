"""One total per run, however many processes and nodes measured it.

Every rank of a distributed run (``world_size > 1``) measures only what it owns (see
:mod:`wattwatch.distributed.topology`) and keeps a *part*: its own totals, per channel, with its rank and node. Parts are
combined into the run's single row in ``emissions.csv`` by :func:`combine`, which counts every GPU once per node
(by UUID) and CPU/RAM once per node (``tracking_mode="machine"``).

How parts meet
  - **torch.distributed initialised**: ``Tracker.flush()`` and ``Tracker.stop()`` are collectives -- every rank
    must call them. Parts are exchanged through the process group's key-value store (the c10d ``Store``: a few
    KB of JSON per rank, no tensor, nothing on the training's CUDA streams, any backend: gloo or NCCL). Global
    rank 0 waits at most ``WATTWATCH_DIST_TIMEOUT_S`` seconds (default 120) for the others, names those that did
    not answer in ``missing_ranks``, adds the last part they left on disk when there is one, and publishes the
    result; every rank returns the same totals and rank 0 writes the row and the per-node side file
    (``<output stem>.nodes.csv``). A failed or interrupted stop (exception, signal) never waits on peers.
  - **always**, and in particular without torch.distributed: each rank writes its part atomically to
    ``<output_dir>/.wattwatch/parts/<run_id>/rank-<rank>.json`` at every flush (the periodic background flush
    never calls collectives) and re-merges the parts present on disk into the run's row under a file lock, so
    on a shared file system the row is complete once every rank has stopped. ``wattwatch merge DIR...``
    recombines parts copied from several machines.

Units: kWh (PUE applied), kg CO2eq, seconds, as in :class:`~wattwatch.result.EmissionsData`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock

from wattwatch.distributed.topology import Topology
from wattwatch.measure.ledger import J_PER_KWH
from wattwatch.result import EmissionsData
from wattwatch.sinks.csv import atomic_write_text

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "PARTS_DIR",
    "Aggregator",
    "ChannelPart",
    "NodeTotals",
    "Part",
    "combine",
    "format_ranks",
    "exchange_parts",
    "launcher_run_id",
    "make_part",
    "merge_directories",
    "node_breakdown_path",
    "parts_dir",
    "read_parts",
    "write_node_breakdown",
    "write_part",
]

log = logging.getLogger("wattwatch")

DEFAULT_TIMEOUT_S = 120.0
"""Seconds global rank 0 waits for the other ranks at a collective flush/stop (``WATTWATCH_DIST_TIMEOUT_S``)."""
PARTS_DIR = Path(".wattwatch") / "parts"
"""Where, under ``output_dir``, each rank's part files live (one folder per run id)."""

_FINAL = ("completed", "failed", "interrupted")
_STATUS_RANK = {"completed": 0, "interrupted": 1, "failed": 2}
_PART_FORMAT = "wattwatch.part"
_RUN_SEQ: dict[str, int] = {}
_TRACKER_SEQ = [0]


# ---------------------------------------------------------------------------------------------- parts


@dataclass(frozen=True)
class ChannelPart:
    """One channel's energy in a part: kWh with PUE applied; ``uuid`` for GPUs (dedupe key)."""

    component: str
    kwh: float
    model: str = ""
    uuid: str = ""


@dataclass
class Part:
    """One rank's own totals for a run (what it measured itself)."""

    run_id: str
    rank: int
    world_size: int
    node_id: str
    local_rank: int = 0
    status: str = "running"
    tracking_mode: str = "machine"
    written_at: float = 0.0
    """Unix time the part was taken (s)."""
    data: EmissionsData = field(default_factory=EmissionsData)
    channels: dict[str, ChannelPart] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.status in _FINAL

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _PART_FORMAT,
            "version": 1,
            "run_id": self.run_id,
            "rank": self.rank,
            "world_size": self.world_size,
            "node_id": self.node_id,
            "local_rank": self.local_rank,
            "status": self.status,
            "tracking_mode": self.tracking_mode,
            "written_at": self.written_at,
            "data": dataclasses.asdict(self.data),
            "channels": {n: dataclasses.asdict(c) for n, c in self.channels.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Part:
        """Raises ``ValueError`` for anything that is not a wattwatch part."""
        if not isinstance(d, Mapping) or d.get("format") != _PART_FORMAT or d.get("version") != 1:
            raise ValueError("not a wattwatch part (expected format 'wattwatch.part', version 1)")
        try:
            names = {f.name for f in dataclasses.fields(EmissionsData)}
            data = EmissionsData(**{k: v for k, v in dict(d["data"]).items() if k in names})
            return cls(
                run_id=str(d["run_id"]),
                rank=int(d["rank"]),
                world_size=int(d["world_size"]),
                node_id=str(d["node_id"]),
                local_rank=int(d.get("local_rank", 0)),
                status=str(d.get("status", "running")),
                tracking_mode=str(d.get("tracking_mode", "machine")),
                written_at=float(d.get("written_at", 0.0)),
                data=data,
                channels={str(n): ChannelPart(**c) for n, c in dict(d.get("channels", {})).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"corrupt wattwatch part ({exc!r})") from None


def make_part(tracker: Any, data: EmissionsData, topology: Topology) -> Part:
    """This rank's part from a tracker's ledger and its (local) :class:`EmissionsData`."""
    channels: dict[str, ChannelPart] = {}
    ledger = getattr(tracker, "_ledger", None)
    infos = {i.channel: i for i in getattr(tracker, "_infos", [])}
    if ledger is not None:
        snap = ledger.snapshot()
        for name, c in snap.channels.items():
            info = infos.get(name)
            details = info.details if info is not None else {}
            channels[name] = ChannelPart(
                component=c.component,
                kwh=c.energy_j * snap.pue / J_PER_KWH,
                model=info.model if info is not None else "",
                uuid=str(details.get("uuid") or "") if c.component == "gpu" else "",
            )
    return Part(
        run_id=data.run_id,
        rank=topology.rank,
        world_size=topology.world_size,
        node_id=topology.node_id,
        local_rank=topology.local_rank,
        status=data.status,
        tracking_mode=data.tracking_mode,
        written_at=time.time(),
        data=data,
        channels=channels,
    )


def parts_dir(output_dir: str | os.PathLike[str], run_id: str) -> Path:
    """The folder holding ``run_id``'s part files under ``output_dir``."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id) or "_"
    return Path(output_dir) / PARTS_DIR / safe


def write_part(directory: str | os.PathLike[str], part: Part) -> Path:
    """Write ``part`` atomically as ``directory/rank-<rank>.json``; returns its path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    target = d / f"rank-{part.rank:05d}.json"
    atomic_write_text(target, json.dumps(part.to_dict(), separators=(",", ":")))
    return target


def read_parts(directory: str | os.PathLike[str]) -> list[Part]:
    """Every readable part file in ``directory`` (unreadable ones are logged and skipped)."""
    out: list[Part] = []
    d = Path(directory)
    if not d.is_dir():
        return out
    for path in sorted(d.glob("rank-*.json")):
        try:
            out.append(Part.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError) as exc:
            log.warning("wattwatch: skipping part file %s (%s)", path, exc)
    return out


# ---------------------------------------------------------------------------------------------- combine


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


def combine(
    parts: Iterable[Part],
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
    by_rank: dict[int, Part] = {}
    for p in parts:
        old = by_rank.get(p.rank)
        if old is None or (p.final, p.written_at) >= (old.final, old.written_at):
            by_rank[p.rank] = p
    if not by_rank:
        raise ValueError("no parts to combine")
    ordered = [by_rank[r] for r in sorted(by_rank)]
    lead = ordered[0]
    world = max([world_size or 0] + [p.world_size for p in ordered])

    # Which part owns each physical channel.
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

    nodes: dict[str, NodeTotals] = {}
    multi_node = len({p.node_id for p in ordered}) > 1
    cpu = gpu = ram = emissions = 0.0
    phase_e: dict[str, float] = {}
    phase_g: dict[str, float] = {}
    by_device: dict[str, float] = {}
    models: dict[str, int] = {}
    methods: dict[str, set[str]] = {"gpu": set(), "cpu": set(), "ram": set()}
    readings = gaps = 0
    gap_s = 0.0
    for p in ordered:
        node = nodes.setdefault(p.node_id, NodeTotals(p.node_id, [], hostname=p.data.hostname))
        node.ranks.append(p.rank)
        own = sum(c.kwh for c in p.channels.values())
        mine = kept[p.rank]
        share = (sum(c.kwh for c in mine.values()) / own) if own > 0 else (1.0 if not p.channels else 0.0)
        part_em = p.data.emissions * share
        emissions += part_em
        node.emissions += part_em
        for ph, e in p.data.phase_energy_kwh.items():
            phase_e[ph] = phase_e.get(ph, 0.0) + e * share
        for ph, g in p.data.phase_emissions_kg.items():
            phase_g[ph] = phase_g.get(ph, 0.0) + g * share
        for name, c in mine.items():
            if c.component == "gpu":
                gpu += c.kwh
                node.gpu_energy += c.kwh
                node.gpu_count += 1
                node.gpu_energy_by_device_kwh[name] = c.kwh
                by_device[f"{p.node_id}/{name}" if multi_node else name] = c.kwh
                label = c.model or "unknown GPU"
                models[label] = models.get(label, 0) + 1
            elif c.component == "cpu":
                cpu += c.kwh
                node.cpu_energy += c.kwh
            elif c.component == "ram":
                ram += c.kwh
                node.ram_energy += c.kwh
        for comp, value in (
            ("gpu", p.data.gpu_method),
            ("cpu", p.data.cpu_method),
            ("ram", p.data.ram_method),
        ):
            if value and any(c.component == comp for c in mine.values()):
                methods[comp].update(value.split("+"))
        readings += p.data.readings
        gaps += p.data.gaps
        gap_s += p.data.gap_seconds
    for node in nodes.values():
        counts: dict[str, int] = {}
        part = next(p for p in ordered if p.node_id == node.node_id)
        for r in node.ranks:
            for c in kept[r].values():
                if c.component == "gpu":
                    counts[c.model or "unknown GPU"] = counts.get(c.model or "unknown GPU", 0) + 1
        node.gpu_model = ", ".join(f"{n} x {m}" for m, n in counts.items())
        node.hostname = node.hostname or part.data.hostname

    duration = max(p.data.duration for p in ordered)
    energy = cpu + gpu + ram
    per_w = (J_PER_KWH / duration) if duration > 0 else 0.0
    first_of_node: dict[str, Part] = {}
    for p in ordered:
        first_of_node.setdefault(p.node_id, p)
    absent = sorted(set(range(world)) - set(by_rank)) if missing is None else sorted(set(missing))
    ld = lead.data
    scale = (
        (ld.projected_energy_kwh / ld.energy_consumed)
        if ld.projected_energy_kwh and ld.energy_consumed
        else None
    )
    rules = list(dict.fromkeys(p.data.ownership for p in ordered if p.data.ownership))
    combined = dataclasses.replace(
        ld,
        timestamp=timestamp or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        duration=duration,
        emissions=emissions,
        emissions_rate=emissions / duration if duration > 0 else 0.0,
        cpu_power=cpu * per_w,
        gpu_power=gpu * per_w,
        ram_power=ram * per_w,
        cpu_energy=cpu,
        gpu_energy=gpu,
        ram_energy=ram,
        energy_consumed=energy,
        water_consumed=energy * ld.wue,
        cpu_count=sum(p.data.cpu_count for p in first_of_node.values()),
        cpu_model=ld.cpu_model or next((p.data.cpu_model for p in ordered if p.data.cpu_model), ""),
        gpu_count=float(sum(models.values())),
        gpu_model=", ".join(f"{n} x {m}" for m, n in models.items()),
        ram_total_size=sum(p.data.ram_total_size for p in first_of_node.values()),
        status=status or _combined_status(ordered, world),
        start_time=min((p.data.start_time for p in ordered if p.data.start_time), default=ld.start_time),
        gpu_method="+".join(sorted(methods["gpu"])),
        cpu_method="+".join(sorted(methods["cpu"])),
        ram_method="+".join(sorted(methods["ram"])),
        intensity_g_per_kwh=(emissions * 1000.0 / energy) if energy > 0 else ld.intensity_g_per_kwh,
        phase_energy_kwh=phase_e,
        phase_emissions_kg=phase_g,
        gpu_energy_by_device_kwh=by_device,
        readings=readings,
        gaps=gaps,
        gap_seconds=gap_s,
        hostname=",".join(dict.fromkeys(n.hostname for n in nodes.values() if n.hostname)),
        node_count=len(nodes),
        rank_count=world,
        missing_ranks=format_ranks(absent),
        ownership=" | ".join(rules),
        projected_energy_kwh=energy * scale if scale is not None else None,
        projected_emissions_kg=emissions * scale if scale is not None else None,
    )
    return combined, list(nodes.values())


_NODE_COLUMNS = (
    "run_node",
    "run_id",
    "node_id",
    "hostname",
    "ranks",
    "gpu_count",
    "gpu_model",
    "gpu_energy",
    "cpu_energy",
    "ram_energy",
    "energy_consumed",
    "emissions",
    "gpu_energy_by_device_kwh",
    "status",
    "timestamp",
)


def node_breakdown_path(output_path: str | os.PathLike[str]) -> Path:
    """``emissions.csv`` -> ``emissions.nodes.csv`` (one row per run and node)."""
    p = Path(output_path)
    return p.with_name(f"{p.stem}.nodes{p.suffix or '.csv'}")


def write_node_breakdown(
    output_path: str | os.PathLike[str], data: EmissionsData, nodes: Sequence[NodeTotals]
) -> Path:
    """Upsert one row per node of ``data``'s run into the side file next to ``output_path``."""
    from wattwatch.sinks.csv import upsert_row

    target = node_breakdown_path(output_path)
    for n in nodes:
        row = {
            "run_node": f"{data.run_id}/{n.node_id}",
            "run_id": data.run_id,
            "node_id": n.node_id,
            "hostname": n.hostname,
            "ranks": " ".join(str(r) for r in sorted(n.ranks)),
            "gpu_count": str(n.gpu_count),
            "gpu_model": n.gpu_model,
            "gpu_energy": repr(n.gpu_energy),
            "cpu_energy": repr(n.cpu_energy),
            "ram_energy": repr(n.ram_energy),
            "energy_consumed": repr(n.energy_consumed),
            "emissions": repr(n.emissions),
            "gpu_energy_by_device_kwh": json.dumps(
                n.gpu_energy_by_device_kwh, sort_keys=True, separators=(",", ":")
            ),
            "status": data.status,
            "timestamp": data.timestamp,
        }
        upsert_row(target, row, _NODE_COLUMNS, key="run_node")
    return target


def merge_directories(
    directories: Sequence[str | os.PathLike[str]],
    output_path: str | os.PathLike[str],
    *,
    write: bool = True,
) -> list[EmissionsData]:
    """Combine the part files found under each directory's ``.wattwatch/parts`` (or in the directory itself)
    into one row per run id in ``output_path`` (plus the per-node side file). Returns the runs' totals.

    Raises ``FileNotFoundError`` when no part file is found.
    """
    from wattwatch.result import COLUMNS
    from wattwatch.sinks.csv import upsert_row

    runs: dict[str, list[Part]] = {}
    for directory in directories:
        base = Path(directory)
        folders = (
            [base]
            if any(base.glob("rank-*.json"))
            else sorted(p for p in (base / PARTS_DIR).glob("*") if p.is_dir())
        )
        for folder in folders:
            for part in read_parts(folder):
                runs.setdefault(part.run_id, []).append(part)
    if not runs:
        raise FileNotFoundError(
            f"no wattwatch part files under {', '.join(map(str, directories))} (looked in .wattwatch/parts/*/)"
        )
    out: list[EmissionsData] = []
    for run_id in sorted(runs):
        data, nodes = combine(runs[run_id])
        if write:
            upsert_row(output_path, data.to_row(), COLUMNS)
            write_node_breakdown(output_path, data, nodes)
        out.append(data)
    return out


# ---------------------------------------------------------------------------------------------- collectives


def _default_store() -> Any | None:
    """The initialised default process group's key-value store, or ``None`` (torch never imported here)."""
    if "torch" not in sys.modules:
        return None
    try:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return None
        from torch.distributed import distributed_c10d

        return distributed_c10d._get_default_store()
    except Exception:  # noqa: BLE001
        return None


def exchange_parts(
    store: Any,
    key: str,
    rank: int,
    world_size: int,
    payload: Mapping[str, Any],
    timeout_s: float,
) -> tuple[dict[int, dict[str, Any]], list[int]] | None:
    """All ranks' payloads through ``store`` (a c10d ``Store``), every rank getting the same answer.

    Rank 0 waits at most ``timeout_s`` for the others, then publishes what it has and which ranks did not
    answer; the other ranks wait at most ``2 * timeout_s + 5`` for that. Returns ``(payloads by rank, missing
    ranks)``, or ``None`` when this rank could not take part (store error, rank 0 silent).
    """
    try:
        store.set(f"{key}/{rank}", json.dumps(payload, separators=(",", ":")))
        if rank == 0:
            keys = [f"{key}/{r}" for r in range(world_size)]
            try:
                store.wait(keys, timedelta(seconds=timeout_s))
            except Exception:  # noqa: BLE001 - timeout: some rank is late or dead
                pass
            got: dict[int, dict[str, Any]] = {}
            missing: list[int] = []
            for r in range(world_size):
                if store.check([f"{key}/{r}"]):
                    got[r] = json.loads(store.get(f"{key}/{r}"))
                    _delete(store, f"{key}/{r}")
                else:
                    missing.append(r)
            result = {"parts": {str(r): v for r, v in got.items()}, "missing": missing}
            store.set(f"{key}/result", json.dumps(result, separators=(",", ":")))
            if len(got) > 1:
                # Rank 0 often hosts the store: stay until every reader has the result, then clean up.
                try:
                    store.wait([f"{key}/done"], timedelta(seconds=min(timeout_s, 30.0)))
                except Exception:  # noqa: BLE001
                    pass
            for suffix in ("result", "read", "done"):
                _delete(store, f"{key}/{suffix}")
            return got, missing
        store.wait([f"{key}/result"], timedelta(seconds=2 * timeout_s + 5))
        result = json.loads(store.get(f"{key}/result"))
        readers = len(result["parts"]) - 1
        if int(store.add(f"{key}/read", 1)) >= readers:
            store.set(f"{key}/done", "1")
        return {int(r): v for r, v in result["parts"].items()}, [int(r) for r in result["missing"]]
    except Exception as exc:  # noqa: BLE001 - never into user code
        log.warning(
            "wattwatch: exchanging totals with the other ranks failed (%s); using the part files", exc
        )
        return None


def _delete(store: Any, key: str) -> None:
    try:
        store.delete_key(key)
    except Exception:  # noqa: BLE001 - FileStore and old stores may not delete
        pass


def launcher_run_id(topology: Topology) -> str | None:
    """The launcher's run id for this tracker: the first tracker of a process gets it as is, later ones get
    ``<id>.2``, ``<id>.3``... (the same on every rank when every rank starts its trackers in the same order)."""
    base = topology.run_id
    if not base:
        return None
    n = _RUN_SEQ.get(base, 0) + 1
    _RUN_SEQ[base] = n
    return base if n == 1 else f"{base}.{n}"


def _timeout_from(environ: Mapping[str, str]) -> float:
    raw = environ.get("WATTWATCH_DIST_TIMEOUT_S", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"WATTWATCH_DIST_TIMEOUT_S must be a number of seconds; got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"WATTWATCH_DIST_TIMEOUT_S must be > 0; got {raw!r}")
    return value


class Aggregator:
    """The tracker's helper for a distributed run: parts, collectives, the run's row.

    ``store`` (a c10d ``Store``) and ``timeout_s`` are parameters for tests; defaults: the default process
    group's store when ``torch.distributed`` is initialised, and ``WATTWATCH_DIST_TIMEOUT_S`` (120 s).
    """

    def __init__(
        self,
        topology: Topology,
        *,
        environ: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        store: Any | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.topology = topology
        self.timeout_s = _timeout_from(env) if timeout_s is None else float(timeout_s)
        self._store = store
        _TRACKER_SEQ[0] += 1
        self._ns = f"wattwatch/{topology.restart}/{_TRACKER_SEQ[0]}"
        self._calls = 0
        self._local: Part | None = None
        self._gathered: tuple[EmissionsData, list[NodeTotals]] | None = None
        self.last_exchange_s: float | None = None
        """Seconds the last collective exchange took (benchmarks)."""

    def store(self) -> Any | None:
        return self._store if self._store is not None else _default_store()

    def shared_run_id(self, fallback: str) -> str:
        """The run id every rank agrees on: the launcher's, else rank 0's ``fallback`` through the store (when
        torch.distributed is initialised), else ``fallback``."""
        rid = launcher_run_id(self.topology)
        if rid:
            return rid
        store = self.store()
        if store is None:
            return fallback
        key = f"{self._ns}/run_id"
        try:
            if self.topology.rank == 0:
                store.set(key, fallback)
                return fallback
            store.wait([key], timedelta(seconds=self.timeout_s))
            got = store.get(key)
            return got.decode() if isinstance(got, bytes) else str(got)
        except Exception as exc:  # noqa: BLE001
            log.warning("wattwatch: could not learn rank 0's run id (%s); this rank uses its own", exc)
            return fallback

    # -- called by the tracker ------------------------------------------------------------------------------
    def aggregate(self, tracker: Any, data: EmissionsData, *, final: bool, collective: bool) -> EmissionsData:
        """The run's totals as this rank can know them now. Collective (when torch.distributed is initialised)
        only when ``collective`` (flush() and stop(), which every rank calls) and the status is ``running`` (a flush) or ``completed`` (a normal stop)."""
        part = make_part(tracker, data, self.topology)
        self._local = part
        self._gathered = None
        if collective and data.status in ("running", "completed"):
            store = self.store()
            if store is not None:
                self._calls += 1  # numbers the collectives: the same sequence on every rank
                gathered = self._gather(store, tracker, part)
                if gathered is not None:
                    self._gathered = gathered
                    return gathered[0]
        return self._merge_disk(tracker, part)[0]

    def write(self, tracker: Any, data: EmissionsData, write_row: Callable[[EmissionsData], None]) -> None:
        """Write this rank's part and, under the run's lock, the run's row (``write_row``) and node side file."""
        part = self._local
        if part is None or part.run_id != data.run_id:
            part = make_part(tracker, data, self.topology)
        directory = parts_dir(tracker.output_dir, part.run_id)
        try:
            write_part(directory, part)
        except OSError as exc:
            tracker._warn_once(
                "part", f"wattwatch: cannot write this rank's part file in {directory} ({exc})"
            )
        try:
            with FileLock(str(directory) + ".lock", timeout=30.0):
                if self._gathered is not None:
                    if self.topology.rank != 0:
                        return
                    combined, nodes = self._gathered
                else:
                    combined, nodes = self._merge_disk(tracker, part)
                write_row(combined)
                write_node_breakdown(tracker.output_path, combined, nodes)
        except Exception as exc:  # noqa: BLE001 - never into user code
            tracker._warn_once(
                "dist-row", f"wattwatch: cannot merge the ranks' parts into the run's row ({exc})"
            )

    # -- internals ------------------------------------------------------------------------------------------
    def _merge_disk(self, tracker: Any, part: Part) -> tuple[EmissionsData, list[NodeTotals]]:
        others = [p for p in read_parts(parts_dir(tracker.output_dir, part.run_id)) if p.rank != part.rank]
        return combine([part, *others], world_size=self.topology.world_size)

    def _gather(self, store: Any, tracker: Any, part: Part) -> tuple[EmissionsData, list[NodeTotals]] | None:
        import torch.distributed as dist

        rank, world = int(dist.get_rank()), int(dist.get_world_size())
        key = f"{self._ns}/{self._calls}"
        started = time.perf_counter()
        got = exchange_parts(store, key, rank, world, part.to_dict(), self.timeout_s)
        self.last_exchange_s = time.perf_counter() - started
        if got is None:
            return None
        payloads, missing = got
        parts = [Part.from_dict(v) for v in payloads.values()]
        if missing:
            # What the silent ranks left on disk (their last background flush), if this file system has it.
            stale = read_parts(parts_dir(tracker.output_dir, part.run_id))
            parts.extend(p for p in stale if p.rank in missing)
            log.warning(
                "wattwatch: rank(s) %s did not answer within %.0f s; writing what is known",
                missing,
                self.timeout_s,
            )
        status = part.status if part.final else "running"
        stamp = max(p.data.timestamp for p in parts)
        return combine(parts, world_size=world, status=status, missing=missing, timestamp=stamp)
