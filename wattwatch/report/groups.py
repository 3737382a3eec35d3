"""Which rows a :class:`~wattwatch.report.rollup.Rollup` reads are segments of one run, and which runs overlap
another on the same machine (issue 24: one run, one line; the overlap counted once).

Segments: a run resumed from a checkpoint has one row per process segment, all with its run id (see
:mod:`wattwatch.report.segments` for how they add up). Rows are told apart by a hash of their run id; only ids
hashed more than once are compared exactly (on the run ids the rollup keeps in its order keys), so a history of
single-segment runs costs nothing more: only the run ids of rows with ``resumed_segments`` > 0 are candidates. The row standing for a run (its *head*) is its
latest segment; the others are its *members*, listed with it, never alone.

Overlaps: a row whose run measured the same machine while another run did (``overlaps_run_id``: a second
tracker in one process, a tracker inside ``wattwatch run``) holds the energy of that time twice, once in each
run. When the other run is among those counted, the row's ``overlap_energy_kwh`` is taken off the totals (its
components and CO2 in proportion), and the report says how much.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wattwatch.report.scan import VALUES, RunColumns

if TYPE_CHECKING:
    from wattwatch.report.rollup import Rollup

__all__ = ["ADDED_VALUES", "RunGroups"]

ADDED_VALUES = frozenset(VALUES) - {"joules_per_token", "tokens"}
"""Values a run's segments add up (the counts are the last segment's; J/token is recomputed)."""


@dataclass
class RunGroups:
    """The segments and overlaps of a rollup's counted rows (built by :meth:`build` after ``finish()``)."""

    members: dict[int, list[int]] = field(default_factory=dict)
    """Head row -> every row of its run, head included, in segment order (runs of more than one row only)."""
    member_of: dict[int, int] = field(default_factory=dict)
    """Row -> its head, for the rows that are not heads."""
    overlapping: list[tuple[int, str]] = field(default_factory=list)
    """``(row, run id)``: counted rows that overlapped a run also counted (their overlap is taken off once)."""

    @classmethod
    def build(cls, rollup: Rollup) -> RunGroups:
        out = cls()
        twice = _ids_twice(rollup.parts)  # candidates: checked exactly (the counted rows, their run ids) below
        if twice:
            out._group(rollup, twice)
        for base, part in zip(rollup.bases, rollup.parts, strict=True):
            for n, target in part.overlaps:
                if rollup.alive[base + n] and _counted(rollup, target):
                    out.overlapping.append((base + n, target))
        return out

    def _group(self, rollup: Rollup, twice: set[int]) -> None:
        by_id: dict[bytes, list[int]] = {}
        for base, part in zip(rollup.bases, rollup.parts, strict=True):
            lone = set(part.no_run_id)
            for n in itertools.compress(range(len(part)), map(twice.__contains__, part.id_hashes)):
                if n not in lone and rollup.alive[base + n]:
                    by_id.setdefault(part.order_key(n).rpartition(b"\0")[2], []).append(base + n)
        for rows in by_id.values():
            if len(rows) < 2:
                continue
            rows.sort(key=rollup.segment_key)
            head = rows[-1]
            self.members[head] = rows
            for i in rows[:-1]:
                self.member_of[i] = head

    def value(self, rollup: Rollup, name: str, i: int) -> float:
        """One of ``VALUES`` for the run whose head is row ``i`` (its segments' sum, or the last segment's count,
        or their J/token: training energy of every segment over the last segment's tokens)."""
        rows = self.members.get(i)
        if rows is None:
            part, n, _ = rollup.locate(i)
            return part.value(name, n)
        if name in ADDED_VALUES:
            return math.fsum(rollup.row_value(r, name) for r in rows)
        if name == "tokens":
            return rollup.row_value(i, "tokens")
        from wattwatch.measure.figures import run_joules_per

        tokens = rollup.row_value(i, "tokens")
        if not tokens > 0:  # nan (no tokens) or zero
            return math.nan
        jpt = run_joules_per((_train_kwh(rollup, r) for r in rows), tokens)  # each segment's own training energy
        return math.nan if jpt is None else jpt

    def overlap_shares(self, rollup: Rollup) -> dict[int, float]:
        """Row -> the share of its figures counted twice (its ``overlap_kwh``, at most its energy, over its
        energy) for each counted row that overlapped another counted run; rows with nothing to take off are left
        out. The one rule of :meth:`take_off_overlaps` and of the cumulative footprint
        (:func:`wattwatch.report.overall.overall_of`)."""
        out: dict[int, float] = {}
        for i, _ in self.overlapping:
            kwh = rollup.row_value(i, "energy_kwh")
            overlap = min(rollup.row_value(i, "overlap_kwh"), kwh)
            if overlap > 0:
                out[i] = overlap / kwh
        return out

    def take_off_overlaps(self, rollup: Rollup, out: dict[str, Any]) -> float:
        """Take off the totals ``out`` the energy counted twice by runs that overlapped another counted run (each
        such row's ``overlap_kwh``; its components, CO2 and water in the row's own proportions: see
        :meth:`overlap_shares`). Returns it (kWh)."""
        taken = 0.0
        for i, share in self.overlap_shares(rollup).items():
            kwh = rollup.row_value(i, "energy_kwh")
            for name in ("gpu_energy_kwh", "cpu_energy_kwh", "ram_energy_kwh", "energy_kwh", "emissions_kg", "water_l"):
                out[name] -= rollup.row_value(i, name) * share
            taken += min(rollup.row_value(i, "overlap_kwh"), kwh)
        return taken

    def heads(self, rows: Sequence[int]) -> list[int]:
        """``rows`` without the members that are not heads."""
        return [i for i in rows if i not in self.member_of]


def _ids_twice(parts: Sequence[RunColumns]) -> set[int]:
    """The run-id hashes that may have several rows: those of a resumed run's later segments (a run has several
    rows only if one of them is a later segment's; each part lists them as it reads: no sort or set of every
    hash, the report's peak memory)."""
    return {h for part in parts for h in part.resumed_ids}


def _train_kwh(rollup: Rollup, i: int) -> float:
    """Row ``i``'s training energy (kWh): kept when the row has tokens, else read again (a run's earlier
    segment that counted none)."""
    kwh = rollup.row_value(i, "train_kwh")
    if kwh == kwh:
        return kwh
    from wattwatch.report.history import per_unit_energy_kwh

    return per_unit_energy_kwh(rollup.row(i).data)


def _counted(rollup: Rollup, run_id: str) -> bool:
    """Whether a counted row has run id ``run_id`` (exactly: the hash only said it may)."""
    key = run_id.encode("utf-8", "surrogatepass")
    want = hash(run_id)
    for k, part in enumerate(rollup.parts):
        alive = rollup.alive_of(k)
        for n in itertools.compress(range(len(part)), map(want.__eq__, part.id_hashes)):
            if alive[n] and part.order_key(n).rpartition(b"\0")[2] == key:
                return True
    return False
