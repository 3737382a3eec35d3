"""Writing a combined run: its row in ``emissions.csv``, the per-node side file ``<stem>.nodes.csv``, and
:func:`merge_directories` (``wattwatch merge``), which recombines part files copied from several machines.
Units: kWh (PUE applied), kg CO2eq.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from wattwatch.distributed.combine import NodeTotals, combine
from wattwatch.distributed.parts import FINAL_STATUSES, PARTS_DIR, ROW_MARKER, Part, read_parts
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
    """Append one row per node of ``data``'s (ended) run to the side file next to ``output_path`` (O(1) in the
    file's history; called once per run). ``OSError`` when a row cannot be written."""
    from wattwatch.sinks.emissions_file import append_row

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
        outcome = append_row(target, row, _NODE_COLUMNS, follow_link=False)  # ours: never through a link
        if not outcome.ok:
            raise OSError(f"cannot write {target}: {outcome.error}")
    return target


def write_node_breakdown_or_warn(
    output_path: str | os.PathLike[str], data: EmissionsData, nodes: Sequence[NodeTotals]
) -> None:
    """:func:`write_node_breakdown`, a failure logged as one warning: the run's row is in, and its marker must
    follow it (else a later merge would append the row again)."""
    try:
        write_node_breakdown(output_path, data, nodes)
    except OSError as exc:
        logging.getLogger("wattwatch").warning("wattwatch: the per-node rows of run %s are not written (%s)", data.run_id, exc)


def merge_directories(
    directories: Sequence[str | os.PathLike[str]],
    output_path: str | os.PathLike[str],
    *,
    write: bool = True,
) -> list[EmissionsData]:
    """Combine the part files found under each directory's ``.wattwatch/parts`` (or in the directory itself)
    into one row per run (and segment) appended to ``output_path`` (plus the per-node side file). Returns the
    runs' totals.

    A run whose parts folder holds the marker of a row already written (:data:`ROW_MARKER`: its ranks finished
    and appended it, or an earlier merge did) is not appended again. Each directory is first opened as a
    tracker's ``start()`` would (journals of gone processes become rows). Raises ``FileNotFoundError`` when no
    part file is found.
    """
    from wattwatch.carbon.embodied import restate_embodied
    from wattwatch.result import COLUMNS
    from wattwatch.sinks.emissions_file import append_row
    from wattwatch.sinks.files import atomic_write_text
    from wattwatch.sinks.journal import finalize_stale

    runs: dict[tuple[str, int], list[Part]] = {}
    folders_of: dict[tuple[str, int], set[Path]] = {}
    for directory in directories:
        if write and Path(directory).is_dir():
            finalize_stale(directory)
        base = Path(directory)
        folders = [base] if any(base.glob("rank-*.json")) else _parts_folders(base)
        for folder in folders:
            for part in read_parts(folder):
                key = (part.run_id, part.data.resumed_segments)
                runs.setdefault(key, []).append(part)
                folders_of.setdefault(key, set()).add(folder)
    if not runs:
        raise FileNotFoundError(
            f"no wattwatch part files under {', '.join(map(str, directories))} (looked in .wattwatch/parts/*/)"
        )
    out: list[EmissionsData] = []
    for key in sorted(runs):
        data, nodes = combine(runs[key])
        data = restate_embodied(data)  # the whole run's hardware, not rank 0's (its slice and life as stated)
        markers = [folder / ROW_MARKER for folder in sorted(folders_of[key])]
        if write and not any(_written_to(m, output_path) for m in markers):
            outcome = append_row(output_path, data.to_row(), COLUMNS)
            if not outcome.ok:
                raise OSError(f"cannot write {output_path}: {outcome.error}")
            write_node_breakdown_or_warn(output_path, data, nodes)
            if data.status in FINAL_STATUSES:  # a run still going gets its final row later
                for marker in markers:
                    try:
                        atomic_write_text(marker, json.dumps({"csv": str(outcome.saved_in), "status": data.status}))
                    except OSError:
                        pass  # parts copied read-only: the row is written; a later merge would repeat it
        out.append(data)
    return out


def _parts_folders(base: Path) -> list[Path]:
    """The run folders under ``base/.wattwatch/parts``: real folders only (a link planted there would make a
    merge read parts from, and write markers into, another folder)."""
    from wattwatch.sinks.files import private_folder

    try:
        root = private_folder(base / PARTS_DIR, len(PARTS_DIR.parts), create=False)
        return sorted(p for p in root.glob("*") if p.is_dir() and not p.is_symlink())
    except OSError:
        return []


def _written_to(marker: Path, output_path: str | os.PathLike[str]) -> bool:
    """Whether ``marker`` says the run's row is already in ``output_path`` (and that file still exists)."""
    from wattwatch.sinks.files import read_regular

    try:
        named = Path(json.loads(read_regular(marker, 64 * 1024).decode("utf-8", "replace"))["csv"])
        out = Path(output_path)
        return out.exists() and os.path.samefile(named, out)
    except (OSError, ValueError, KeyError, TypeError):
        return False
