"""A rank's *part*: its own totals for a run, per channel, with its rank and node -- the unit the ranks of a
distributed run exchange and leave on disk.

Format: JSON ``{"format": "wattwatch.part", "version": 1, ...}`` written atomically as
``<output_dir>/.wattwatch/parts/<run_id>/rank-<rank>.json`` at every flush. Units: kWh with PUE applied.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattwatch.distributed.topology import Topology
from wattwatch.measure.ledger import J_PER_KWH, LedgerSnapshot
from wattwatch.result import EmissionsData
from wattwatch.sensors.base import ChannelInfo
from wattwatch.sinks.csv import atomic_write_text
from wattwatch.sinks.files import private_folder, read_regular

__all__ = [
    "FINAL_STATUSES",
    "PARTS_DIR",
    "ROW_MARKER",
    "ChannelPart",
    "Part",
    "make_part",
    "parts_dir",
    "read_parts",
    "write_part",
]

log = logging.getLogger("wattwatch")

PARTS_DIR = Path(".wattwatch") / "parts"
"""Where, under ``output_dir``, each rank's part files live (one folder per run id)."""
MAX_PART_BYTES = 4 << 20
"""Largest part file read (4 MiB; a part is a few KB): anything larger is skipped unread."""

FINAL_STATUSES = ("completed", "failed", "interrupted", "budget-stopped")
_PART_FORMAT = "wattwatch.part"


@dataclass(frozen=True)
class ChannelPart:
    """One channel's energy in a part: kWh with PUE applied; ``uuid`` for GPUs (dedupe key); ``method`` how it
    was obtained (``counter``, ``power-integral``...)."""

    component: str
    kwh: float
    model: str = ""
    uuid: str = ""
    method: str = ""


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
        return self.status in FINAL_STATUSES

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


def make_part(
    snap: LedgerSnapshot | None, infos: Sequence[ChannelInfo], data: EmissionsData, topology: Topology
) -> Part:
    """This rank's part from its ledger snapshot, its channels and its (local) :class:`EmissionsData`."""
    channels: dict[str, ChannelPart] = {}
    by_name = {i.channel: i for i in infos}
    if snap is not None:
        for name, c in snap.channels.items():
            info = by_name.get(name)
            details = info.details if info is not None else {}
            channels[name] = ChannelPart(
                component=c.component,
                kwh=c.energy_j * snap.pue / J_PER_KWH,
                model=info.model if info is not None else "",
                uuid=str(details.get("uuid") or "") if c.component == "gpu" else "",
                method=c.method,
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


def parts_dir(output_dir: str | os.PathLike[str], run_id: str, segment: int = 0) -> Path:
    """The folder holding ``run_id``'s part files under ``output_dir``; a resumed run's later process segments
    (``segment`` = how many came before, ``resumed_segments``) have their own (``<run_id>.seg2``...), so a
    resumed segment never overwrites the parts of the one that crashed."""
    from wattwatch.util.names import safe_name

    safe = safe_name(run_id)  # "../x" or "/abs" never leave the parts folder
    if segment > 0:
        safe += f".seg{segment + 1}"
    return Path(output_dir) / PARTS_DIR / safe


ROW_MARKER = "row-written.json"
"""File in a run's parts folder saying its combined row is in a CSV (so it is appended exactly once)."""


def write_part(directory: str | os.PathLike[str], part: Part) -> Path:
    """Write ``part`` atomically as ``directory/rank-<rank>.json``; returns its path."""
    d = Path(directory)
    if d.parent.name == PARTS_DIR.name and d.parent.parent.name == PARTS_DIR.parent.name:
        private_folder(d, len(PARTS_DIR.parts) + 1)  # .wattwatch/parts/<run>: never a planted link
    else:
        d.mkdir(parents=True, exist_ok=True)  # a folder the caller chose
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
        try:  # outside data: a regular file of bounded size, any fault skips it
            out.append(Part.from_dict(json.loads(read_regular(path, MAX_PART_BYTES).decode("utf-8", "replace"))))
        except Exception as exc:  # noqa: BLE001 - OSError, ValueError, RecursionError...: never blocks
            log.warning("wattwatch: skipping part file %s (%s)", path, str(exc)[:200] or type(exc).__name__)
    return out

