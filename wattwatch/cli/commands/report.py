"""``wattwatch report PATH...``: the runs in emissions.csv files (or folders of them), and their total.

The table lists the most recent runs (50 by default; ``--limit N``, or ``--all`` for every run) and says how
many earlier runs it leaves out -- status, duration, kWh by component (GPU, CPU, RAM, total with PUE), kg
CO2eq, the carbon intensity's source and the measurement method -- then the totals across EVERY run: a
project's cumulative footprint (every rerun and abandoned run counts; the total is what the planet sees).
``--json`` prints the same as JSON (the same listed runs, totals over all).

A run still going is read from its journal (``.wattwatch/runs/``); a run whose process died without writing its
end (``kill -9``, out of memory, lost node) has its journal turned into its row when report opens the folder
(as a tracker's ``start()`` would). The first shows as ``running``, the second as ``interrupted`` (its
process is gone); both with the time of the last flush (``timestamp``) and the totals up to then, which the
totals include.

Folders are searched recursively for ``*.csv`` files with wattwatch/CodeCarbon columns (time series files are
skipped). Each file is read in one column-selective pass (a large one by two processes; see
:mod:`wattwatch.report.rollup`), each run kept as a few numbers: 200,000 runs in under 2 s and 100 MB
(``benchmarks/RESULTS.md``, figure 11). A resumed run has one row per process segment, each with its own
energy, and they add up. A segment found in several files is counted once (the fuller row, then the latest
``timestamp``, wins).

Runs that recorded a token count are ranked by energy per token (J/token: the training phase's energy, PUE
applied, over the tokens; lowest first): the figure to pick a model by. ``--html FILE`` writes one
self-contained page with charts (power over time with phases, operational and embodied CO2, the cumulative
footprint, quality against carbon): the ``--html-runs`` most recent runs in full, totals and charts over every
run; see ``docs/report.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

from wattwatch.errors import UsageError
from wattwatch.report.history import run_json
from wattwatch.util.terminal import say

if TYPE_CHECKING:
    from wattwatch.report.rollup import Rollup

__all__ = ["DEFAULT_LIMIT", "HELP", "add_arguments", "run"]

HELP = (
    "Table of the most recent tracked runs (status, duration, kWh by component, kg CO2; --limit N, --all) "
    "and the totals over every run."
)

DEFAULT_LIMIT = 50
"""Runs the table (and ``--json``) lists by default: the most recent ones; the totals count every run."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="emissions.csv files or folders holding them"
    )
    parser.add_argument(
        "--db",
        nargs="?",
        const="",
        metavar="URL",
        help="report the ledger database instead of files (sqlite:///PATH or postgresql://...; --db alone: "
        "$WATTWATCH_DB, else the SQLite ledger in the user's data folder); see docs/ledger.md",
    )
    parser.add_argument(
        "--by",
        choices=("project", "user", "month", "host", "job"),
        help="with --db: one line per project, user, month, host or job (Slurm / Kubernetes)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the listed runs, the totals over every run and the ranking as JSON",
    )
    parser.add_argument("--project", help="only runs of this project")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"list the N most recent runs and the N best by J/token (default {DEFAULT_LIMIT}); "
        "the totals always count every run",
    )
    shown.add_argument(
        "--all", action="store_true", help="list and rank every run (slower on a large history)"
    )
    parser.add_argument(
        "--html",
        metavar="FILE",
        help="also write a self-contained HTML report (charts, no network needed to view it) to FILE",
    )
    parser.add_argument(
        "--html-runs",
        type=int,
        default=2000,
        metavar="N",
        help="HTML: list the N most recent runs in full (default 2000); totals, components, phases, the "
        "cumulative footprint and the Pareto fronts cover every run",
    )
    parser.add_argument(
        "--levers",
        metavar="FILE",
        help="HTML: add the section of a `wattwatch levers --json` result (J/token against perplexity)",
    )
    parser.add_argument(
        "--series-runs",
        type=int,
        default=20,
        metavar="N",
        help="HTML: draw the power time series of the N most recent runs (default 20)",
    )


def run(args: argparse.Namespace) -> int:
    """Print the table and the totals (or JSON); with ``--html``, also write the page."""
    if getattr(args, "db", None) is not None:
        from wattwatch.ledger.report import run_report

        return run_report(args)
    if not args.paths:
        raise UsageError("give the emissions.csv files or folders to report (or --db URL for the ledger)")
    if getattr(args, "by", None):
        raise UsageError("--by groups the ledger's runs: use it with --db")
    from wattwatch.report.rollup import collect_rollup

    if getattr(args, "html", None):
        if args.series_runs < 0 or args.html_runs < 1:
            raise UsageError("--series-runs must be 0 or more, --html-runs 1 or more")
        from wattwatch.report.html import check_output_path

        try:
            check_output_path(args.html)  # before reading anything: a bad --html loses no work
        except ValueError as exc:
            raise UsageError(f"--html {exc}") from None
    levers = _levers_section(args.levers) if getattr(args, "levers", None) else ""
    if levers and not getattr(args, "html", None):
        raise UsageError("--levers adds a section to the HTML report: give --html FILE too")
    limit = None if getattr(args, "all", False) else getattr(args, "limit", DEFAULT_LIMIT)
    if limit is not None and limit < 0:
        raise UsageError("--limit must be 0 or more (--all lists every run)")
    rollup = collect_rollup(list(args.paths), keep=limit)
    found = rollup.project_counts() if args.project else None
    if args.project:
        rollup.keep_project(args.project)
    count = rollup.count
    if not count and not args.json:
        raise UsageError(_nothing_found(args.paths, args.project, found))
    tot = rollup.totals()
    listed = rollup.recent_rows(limit)
    ranking, ranked = rollup.ranking_rows(limit)
    notes = rollup.notes
    if getattr(args, "html", None):
        _write_html(args, rollup, notes, levers)
    if args.json:
        _print_json(rollup, listed, ranking, ranked, count, tot, notes)
        return 0
    from wattwatch.report.text import print_details, print_ranking, print_table, ranking_cells, table_cells

    computed_here = print_table(
        lambda: (table_cells(rollup, i) for i in listed), tot, not_listed=count - len(listed)
    )
    print_details((rollup.run(i) for i in listed), tot, computed_here)
    print_ranking((ranking_cells(rollup, i) for i in ranking), ranked=ranked)
    for note in notes:
        say(f"note: {note}", file=sys.stderr)
    return 0


def _nothing_found(paths: list[str], project: str | None, found: Counter[str] | None) -> str:
    """Why the report is empty: no runs at all, or none of ``project`` (then which projects there are)."""
    where = ", ".join(paths)
    if project is None or not found:
        return f"no wattwatch runs found in {where}"
    names = ", ".join(f"{name or '(no project name)'!r} ({n} run(s))" for name, n in found.most_common(10))
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    return f"no runs of project {project!r} in {where}; its runs belong to {names}{more}"


def _print_json(
    rollup: Rollup,
    listed: list[int],
    ranking: list[int],
    ranked: int,
    count: int,
    tot: dict[str, Any],
    notes: list[str],
) -> None:
    """The JSON document, streamed: each listed run is read, written and let go (``--all`` holds no run)."""
    from wattwatch.report.text import ranking_cells

    out = sys.stdout
    out.write('{\n  "runs": [')
    for n, i in enumerate(listed):
        item = json.dumps(run_json(rollup.run(i)), indent=2).replace("\n", "\n    ")
        out.write(("," if n else "") + "\n    " + item)
    rest = {
        "runs_listed": len(listed),
        "runs_total": count,
        "totals": tot,
        "ranking_by_joules_per_token": [ranking_cells(rollup, i)[0] for i in ranking],
        "runs_with_tokens": ranked,
        "notes": notes,
    }
    out.write("\n  ],\n" + json.dumps(rest, indent=2)[2:] + "\n")


def _levers_section(path: str) -> str:
    """The HTML section of a ``wattwatch levers --json`` file, checked (one-line :class:`UsageError` if not)."""
    from wattwatch.levers.html import levers_section
    from wattwatch.levers.results import sweep_from_json

    try:
        with open(path, "rb") as f:
            raw = f.read(64 * 2**20 + 1)
        if len(raw) > 64 * 2**20:
            raise ValueError("larger than 64 MiB")
        return levers_section(sweep_from_json(json.loads(raw)))
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0][:200]
        raise UsageError(f"--levers {path!r}: {reason}") from None


def _write_html(args: argparse.Namespace, rollup: Rollup, notes: list[str], levers: str = "") -> None:
    """The HTML report (``--html FILE``): the most recent runs in full, the figures over every run."""
    from wattwatch.report import load_report, write_html
    from wattwatch.report.overall import overall_of

    listed = rollup.recent(args.html_runs)
    report = load_report(
        list(args.paths),
        series_runs=args.series_runs,
        rows=listed,
        notes=notes,
        overall=overall_of(rollup),
    )
    title = f"wattwatch report: {args.project}" if args.project else "wattwatch report"
    out = write_html(report, args.html, title=title, levers=levers)
    say(
        f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {len(report.runs)} of {report.runs_total} runs listed)",
        file=sys.stderr,
    )
