"""The tracker's helper for a distributed run (``world_size > 1``): this rank's part, the exchange with the
other ranks, and the run's single row.

How parts meet
  - **torch.distributed initialised**: ``Tracker.flush()`` and ``Tracker.stop()`` are collectives -- every rank
    must call them. Parts are exchanged through the process group's key-value store
    (:mod:`wattwatch.distributed.exchange`). Global rank 0 waits at most ``WATTWATCH_DIST_TIMEOUT_S`` seconds
    (default 120) for the others, names those that did not answer in ``missing_ranks``, adds the last part they
    left on disk when there is one, and publishes the result; every rank returns the same totals and rank 0
    writes the row and the per-node side file (``<output stem>.nodes.csv``). A failed or interrupted stop
    (exception, signal) never waits on peers.
  - **always**, and in particular without torch.distributed: each rank writes its part atomically to
    ``<output_dir>/.wattwatch/parts/<run_id>/rank-<rank>.json`` at every flush (the periodic background flush
    never calls collectives). The parts are the run's live state (``wattwatch report`` combines them): the
    run's one row is appended to ``emissions.csv`` once, under the run's lock, by the rank whose stop makes the
    combined run final (every rank's part final), with the per-node rows; a marker in the parts folder
    (:data:`~wattwatch.distributed.parts.ROW_MARKER`) makes it exactly once. ``wattwatch merge DIR...``
    recombines parts copied from several machines (or of a run some rank never finished).

The aggregator sees the run only through :class:`RunView` (paths, a ledger snapshot, the channels).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from wattwatch.distributed.combine import NodeTotals, combine
from wattwatch.distributed.exchange import Store, default_store, exchange_parts
from wattwatch.distributed.merge import write_node_breakdown_or_warn
from wattwatch.distributed.parts import (
    FINAL_STATUSES,
    ROW_MARKER,
    Part,
    make_part,
    parts_dir,
    read_parts,
    write_part,
)
from wattwatch.distributed.topology import Topology, launcher_run_id
from wattwatch.measure.ledger import LedgerSnapshot
from wattwatch.result import EmissionsData
from wattwatch.sensors.base import ChannelInfo
from wattwatch.sinks.files import atomic_write_text
from wattwatch.util.flock import FileLock
from wattwatch.util.once import WarnOnce

if TYPE_CHECKING:
    from wattwatch.sinks.journal import SaveOutcome

__all__ = ["DEFAULT_TIMEOUT_S", "Aggregator", "RunView"]

log = logging.getLogger("wattwatch")

DEFAULT_TIMEOUT_S = 120.0
"""Seconds global rank 0 waits for the other ranks at a collective flush/stop (``WATTWATCH_DIST_TIMEOUT_S``)."""

_TRACKER_SEQ = [0]


class RunView(Protocol):
    """What the aggregator reads of a run (a :class:`~wattwatch.run.tracker.Tracker` is one)."""

    @property
    def output_dir(self) -> Path: ...

    @property
    def output_path(self) -> Path: ...

    @property
    def channel_infos(self) -> Sequence[ChannelInfo]: ...

    def segment_snapshot(self) -> LedgerSnapshot | None:
        """This process segment's own totals (a resumed run's earlier segments have their own rows)."""
        ...


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
    ``warn`` reports a failing part file or merge once (default: a fresh :class:`~wattwatch.util.once.WarnOnce`).
    """

    def __init__(
        self,
        topology: Topology,
        *,
        environ: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        store: Store | None = None,
        warn: WarnOnce | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.topology = topology
        self.timeout_s = _timeout_from(env) if timeout_s is None else float(timeout_s)
        self._store = store
        self._warn = warn if warn is not None else WarnOnce(log)
        _TRACKER_SEQ[0] += 1
        self._ns = f"wattwatch/{topology.restart}/{_TRACKER_SEQ[0]}"
        self._calls = 0
        self._local: Part | None = None
        self._gathered: tuple[EmissionsData, list[NodeTotals]] | None = None
        self.last_exchange_s: float | None = None
        """Seconds the last collective exchange took (benchmarks)."""

    def store(self) -> Store | None:
        return self._store if self._store is not None else default_store()

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
    def aggregate(self, run: RunView, data: EmissionsData, *, final: bool, collective: bool) -> EmissionsData:
        """The run's totals as this rank can know them now. Collective (when torch.distributed is initialised)
        only when ``collective`` (flush() and stop(), which every rank calls) and the status is ``running`` (a
        flush) or ``completed`` (a normal stop)."""
        part = make_part(run.segment_snapshot(), run.channel_infos, data, self.topology)
        self._local = part
        self._gathered = None
        if collective and data.status in ("running", "completed"):
            store = self.store()
            if store is not None:
                self._calls += 1  # numbers the collectives: the same sequence on every rank
                gathered = self._gather(store, run.output_dir, part)
                if gathered is not None:
                    self._gathered = gathered
                    return gathered[0]
        return self._merge_disk(run.output_dir, part)[0]

    def write(
        self, run: RunView, data: EmissionsData, append_row: Callable[[EmissionsData], SaveOutcome]
    ) -> SaveOutcome | None:
        """Write this rank's part; when ``data`` is final and the combined run has ended, append the run's one
        row (``append_row``) and its per-node rows, exactly once. Returns the append's outcome (``None`` when
        this call appended nothing: the run goes on, or another rank appends or appended it); an outcome
        that is not saved when this rank's part could not be written either. Never raises."""
        part = self._local
        if part is None or part.run_id != data.run_id:
            part = make_part(run.segment_snapshot(), run.channel_infos, data, self.topology)
        directory = parts_dir(run.output_dir, part.run_id, data.resumed_segments)
        part_error = ""
        try:
            write_part(directory, part)
        except OSError as exc:
            part_error = str(exc)
            self._warn("part", f"wattwatch: cannot write this rank's part file in {directory} ({exc})")
        if not part.final:
            return None  # the parts are the live state
        try:
            with FileLock(str(directory) + ".lock", timeout=30.0):
                if self._gathered is not None:
                    if self.topology.rank != 0:
                        return None
                    combined, nodes = self._gathered
                else:
                    combined, nodes = self._merge_disk(run.output_dir, part)
                marker = directory / ROW_MARKER
                if combined.status not in FINAL_STATUSES or marker.exists():
                    return None  # another rank is still running (it appends), or appended already
                outcome = append_row(combined)
                if outcome.saved:
                    write_node_breakdown_or_warn(run.output_path, combined, nodes)
                    atomic_write_text(marker, json.dumps({"csv": str(outcome.saved_in), "status": combined.status}))
                return outcome
        except Exception as exc:  # noqa: BLE001 - never into user code
            self._warn("dist-row", f"wattwatch: cannot merge the ranks' parts into the run's row ({exc})")
            if part_error:
                from wattwatch.sinks.journal import SaveOutcome

                return SaveOutcome(data.run_id, run.output_path, None, error=f"{exc}; {part_error}")
            return None

    # -- internals ------------------------------------------------------------------------------------------
    def _merge_disk(self, output_dir: Path, part: Part) -> tuple[EmissionsData, list[NodeTotals]]:
        folder = parts_dir(output_dir, part.run_id, part.data.resumed_segments)
        others = [p for p in read_parts(folder) if p.rank != part.rank]
        return combine([part, *others], world_size=self.topology.world_size)

    def _gather(self, store: Store, output_dir: Path, part: Part) -> tuple[EmissionsData, list[NodeTotals]] | None:
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
            stale = read_parts(parts_dir(output_dir, part.run_id, part.data.resumed_segments))
            parts.extend(p for p in stale if p.rank in missing)
            log.warning(
                "wattwatch: rank(s) %s did not answer within %.0f s; writing what is known",
                missing,
                self.timeout_s,
            )
        status = part.status if part.final else "running"
        stamp = max(p.data.timestamp for p in parts)
        return combine(parts, world_size=world, status=status, missing=missing, timestamp=stamp)
