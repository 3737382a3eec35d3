"""Who this process is in a (possibly distributed) run, and which hardware it measures.

Single-process default; the distributed work extends this from the launchers' environments.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Ownership", "Topology", "detect_topology", "resolve_ownership"]


@dataclass(frozen=True)
class Topology:
    """Rank facts of this process. ``run_id`` is the launcher's shared job/run id when it has one."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    node_id: str = ""
    run_id: str | None = None
    launcher: str = "none"

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


@dataclass(frozen=True)
class Ownership:
    """What this process measures. ``gpu_ids`` ``None`` means every visible GPU; ``[]`` none."""

    gpu_ids: list[int | str] | None
    measure_host: bool
    rule: str


def detect_topology(environ: Mapping[str, str] | None = None) -> Topology:
    """This process's rank facts from the environment (single process when no launcher is found)."""
    env = os.environ if environ is None else environ
    return Topology(node_id=env.get("WATTWATCH_NODE_ID") or socket.gethostname())


def resolve_ownership(
    topology: Topology,
    gpu_ids: Sequence[int | str] | None,
    environ: Mapping[str, str] | None = None,
) -> Ownership:
    """Which GPUs and whether CPU/RAM this process measures."""
    if gpu_ids is not None:
        return Ownership(list(gpu_ids), True, "explicit gpu_ids")
    return Ownership(None, True, "single process: all visible GPUs")
