"""The runs a :class:`~wattwatch.report.rollup.Rollup` lists: the most recent (:meth:`RunLists.recent`) and the
cheapest by J/token (:meth:`RunLists.ranking`), found from the readers' shortlists where they settle it, else
from every row that counts; each run listed is read again in full."""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from wattwatch.report.history import ReportRun

if TYPE_CHECKING:
    from wattwatch.report.rollup import Rollup

__all__ = ["RunLists", "counted_values"]


class RunLists:
    """What ``rollup`` lists (``Rollup.recent``, ``Rollup.ranking`` call these)."""

    def __init__(self, rollup: Rollup) -> None:
        self.rollup = rollup

    def _order_key(self, i: int) -> bytes:
        rows = self.rollup.groups.members.get(i)
        if rows is not None:  # a run with several segments: its first segment's start
            return min(self._row_order_key(r) for r in rows)
        return self._row_order_key(i)

    def _row_order_key(self, i: int) -> bytes:
        return (loc := self.rollup.locate(i))[0].order_key(loc[1])

    def _jpt(self, i: int) -> float:
        return self.rollup.value("joules_per_token", i)

    def _candidates(self, which: str, limit: int | None) -> Iterable[int]:
        shortlist = _shortlist(self.rollup, which) if limit is not None and limit <= (self.rollup.keep or 0) else None
        members = self.rollup.groups.member_of
        if shortlist is None:
            rows: Iterable[int] = itertools.compress(range(len(self.rollup.alive)), self.rollup.alive)
            return (i for i in rows if i not in members) if members else rows
        return (i for i in shortlist if self.rollup.alive[i] and i not in members)

    def recent_rows(self, limit: int | None) -> list[int]:
        """The rows of the ``limit`` most recent runs (all with ``None``), oldest first: ``collect_runs``'s
        order (see :meth:`run`)."""
        self.rollup.finish()
        key = self._order_key
        rows = self._candidates("recent", limit)
        chosen = list(rows) if limit is None else heapq.nlargest(limit, rows, key=lambda i: (key(i), i))
        return sorted(chosen, key=key)

    def recent(self, limit: int | None) -> list[ReportRun]:
        """The runs of :meth:`recent_rows`, read again in full."""
        return [self.rollup.run(i) for i in self.recent_rows(limit)]

    def ranking_rows(self, limit: int | None) -> tuple[list[int], int]:
        """The rows of the ``limit`` runs with the lowest J/token (all with ``None``), lowest first (ties keep
        ``collect_runs``'s order), and how many runs recorded tokens."""
        self.rollup.finish()
        members = self.rollup.groups.members
        if members:
            scored = sum(1 for i in self._candidates("cheapest", None) if not math.isnan(self._jpt(i)))
        else:
            scored = sum(1 for v in counted_values(self.rollup, "joules_per_token") if v == v)
        rows = [i for i in self._candidates("cheapest", limit) if not math.isnan(self._jpt(i))]

        def order(i: int) -> tuple[float, bytes]:
            return self._jpt(i), self._order_key(i)

        chosen = sorted(rows, key=order) if limit is None else heapq.nsmallest(limit, rows, key=order)
        return chosen, scored

    def ranking(self, limit: int | None) -> tuple[list[tuple[ReportRun, float]], int]:
        """The runs of :meth:`ranking_rows`, read again in full, with their J/token."""
        rows, scored = self.ranking_rows(limit)
        return [(self.rollup.run(i), self._jpt(i)) for i in rows], scored


def counted_values(rollup: Rollup, name: str) -> Iterator[float]:
    """One of :data:`VALUES` of every row that counts (iterated in C: no Python step per row)."""
    rollup.finish()
    return itertools.chain.from_iterable(
        itertools.compress(part.column(name), rollup.alive_of(k)) for k, part in enumerate(rollup.parts)
    )


def _shortlist(rollup: Rollup, which: str) -> list[int] | None:
    """The rows that may be among the ``keep`` most recent (``"recent"``) or cheapest (``"cheapest"``), from the
    readers' notes, or ``None`` when those notes cannot settle it (a run they kept lost to a duplicate, a tie at
    the edge, a run of several segments): then every row is looked at."""
    if rollup.keep is None or rollup.groups.members:
        return None  # (a run's segments change its order and its J/token: every run is looked at)
    out: list[int] = []
    for base, part, src in zip(rollup.bases, rollup.parts, rollup.sources, strict=True):
        if src < 0:  # a journal's or part files' run
            out.append(base)
            continue
        rows = [base + e[-1] for e in getattr(part, which)]
        if part.overflowed and (part.tied or not all(rollup.alive[i] for i in rows)):
            return None
        out += rows
    return out
