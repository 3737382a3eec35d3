"""The team's ledger: every run's rows in one SQL database (SQLite embedded by default, PostgreSQL by URL).

Fed by ``wattwatch ledger push PATH...`` and, with ``Tracker(ledger_url=...)`` / ``--ledger-url`` /
``$WATTWATCH_DB``, by each run's ``stop()``; read by ``wattwatch report --db``. See ``docs/ledger.md``.

Modules: :mod:`.urls` (which database, checked without importing SQLAlchemy), :mod:`.schema` (the tables, the
schema version, rows <-> columns), :mod:`.engine` (connections: SQLite WAL + busy timeout, PostgreSQL through
psycopg 3; faults as one line), :mod:`.migrate` (create, refuse newer, migrate forward), :mod:`.push` (idempotent
upserts keyed by run, segment and start), :mod:`.sources` (the rows under some paths, as ``report`` finds them),
:mod:`.sink` (the tracker's background pusher), :mod:`.query` (``report --db``'s totals and groups, aggregated in
SQL), :mod:`.runlist` (its one line per run), :mod:`.overview` (its HTML page's figures), :mod:`.report` (its
output). ``report --db`` counts as ``report PATH`` does (issues 24 and 28): a segment is ``(run_id,
resumed_segments, start_time)``, a run once whatever its segments, by its latest segment's status and group,
and energy two runs measured at once once.

SQLAlchemy, psycopg and platformdirs are the ``ledger`` extra; nothing here is imported by ``import wattwatch``
or by a tracker without a ledger URL.
"""

from __future__ import annotations

__all__: list[str] = []
