"""Writing a combined run: its row in ``emissions.csv``, the per-node side file ``<stem>.nodes.csv``, and
:func:`merge_directories` (``wattwatch merge``), which recombines part files copied from several machines.
Units: kWh (PUE applied), kg CO2eq.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from wattwatch.distributed.combine import NodeTotals, combine
from wattwatch.distributed.parts import PARTS_DIR, Part, read_parts
from wattwatch.result import EmissionsData

__all__ = ["merge_directories", "node_breakdown_path", "write_node_breakdown"]

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

