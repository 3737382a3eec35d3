"""``wattwatch report --db URL [--by project|user|month|host|job] [--json] [--html FILE]``: the ledger's runs.

Without ``--by``: the most recent runs (``--limit``, default 50; ``--all``: every run, streamed in run id order),
one line per run with its segments added up (:mod:`wattwatch.ledger.runlist`), then the TOTAL over every run in
the ledger -- the same totals ``wattwatch report PATH`` prints for the same rows, under the same rules (issue
24): a run counts once whatever its segments, by its latest segment's status, and energy two runs measured at
once counts once (said in an ``overlap:`` line, as the files' report says it). With ``--by``: one line per
project, user, month (UTC, of the start), host or job (Slurm job, ``<array job>_<task>`` for an array task,
else ``k8s:<namespace>/<pod>``) -- a run's group is its latest segment's --, largest CO2 first -- the
``--limit`` largest, every group with ``--all`` (streamed) -- and the TOTAL over all.
Every sum is computed by the database (:mod:`wattwatch.ledger.query`); memory holds only what is printed.
``--json`` prints the same as JSON; ``--html FILE`` writes the report page (the ``--html-runs`` most recent
runs in full, the figures over every run; no power time series: the ledger does not hold them).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from wattwatch.errors import UsageError

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["run_report"]


def _cell(value: object) -> str:
    """Text safe for a terminal (a project name or run id may carry control characters)."""
    text = "" if value is None else str(value)
    return text if text.isprintable() else "".join(c if c.isprintable() else "?" for c in text)


def _num(value: float | None, fmt: str = ".4g") -> str:
    return "" if value is None else format(value, fmt)


def _duration(s: float | None) -> str:
    h, rem = divmod(int(round(s or 0.0)), 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], numeric_from: int) -> None:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i >= numeric_from else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for row in rows[:-1]:
        print(fmt(row))
    print("  ".join("-" * w for w in widths))
    print(fmt(rows[-1]))


def _figure_cells(f: dict[str, Any]) -> tuple[str, ...]:
    return (
        _duration(f["duration_s"]),
        _num(f["gpu_energy_kwh"]),
        _num(f["cpu_energy_kwh"]),
        _num(f["ram_energy_kwh"]),
        _num(f["energy_kwh"]),
        _num(f["emissions_kg"]),
        _num(f["embodied_emissions_kg"]),
    )


_FIGURES = ("duration", "GPU kWh", "CPU kWh", "RAM kWh", "kWh", "operational kg CO2eq", "embodied kg CO2eq")


def _group_cells(key: str, figures: dict[str, Any]) -> tuple[str, ...]:
    return (_cell(key) or "(none)", f"{figures['runs']:,}", *_figure_cells(figures))


def _say_overlap(tot: dict[str, Any]) -> None:
    """The files' report's sentence for energy measured by two runs at once (``wattwatch report PATH``)."""
    if tot.get("overlap_kwh"):
        print(
            f"overlap: {tot['overlap_kwh']:.6g} kWh measured by two runs on one machine at once is counted once "
            "(runs with overlaps_run_id)"
        )


def _report_groups(conn: sa.Connection, args: argparse.Namespace, where: str, limit: int | None) -> None:
    """``--by``: the ``limit`` largest groups (every group, streamed, with ``--all``), then the TOTAL over all."""
    from wattwatch.ledger.query import GroupSums, by_status, groups, top_groups

    if limit is not None:
        top, count, tot = top_groups(conn, args.by, limit, project=args.project)
        tot["by_status"] = by_status(conn, project=args.project)
        _report_top_groups(args, where, top, count, tot)
        return
    sums = GroupSums()
    stream = (sums.add(g) for g in groups(conn, args.by, project=args.project))
    if args.json:
        out = sys.stdout
        out.write(f'{{\n  "ledger": {json.dumps(where)},\n  "by": {json.dumps(args.by)},\n  "groups": [')
        for n, g in enumerate(stream):
            if limit is None or n < limit:
                out.write(("," if n else "") + "\n    " + json.dumps({"key": g.key, **g.figures}, default=str))
        tot = {**sums.totals(), "by_status": by_status(conn, project=args.project)}
        out.write(f'\n  ],\n  "groups_listed": {sums.count if limit is None else min(limit, sums.count)},')
        out.write(f'\n  "groups_total": {sums.count},\n  "totals": {json.dumps(tot, default=str)}\n}}\n')
        return
    header = (args.by, "runs", *_FIGURES)
    print(f"ledger {where}: every group by {args.by}, by CO2")
    if limit is None:  # streamed: fixed widths
        widths = (36, 9, 9, 10, 10, 10, 10, 20, 17)

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

        print(line(header).rstrip())
        for g in stream:
            print(line(_group_cells(g.key, g.figures)).rstrip())
        tot = sums.totals()
        print(line(("TOTAL", f"{sums.runs:,}", *_figure_cells(tot))).rstrip())
        _say_overlap(tot)
        return
    raise AssertionError("unreachable")  # pragma: no cover - a limit goes to _report_top_groups


def _report_top_groups(args: argparse.Namespace, where: str, top: list[Any], count: int, tot: dict[str, Any]) -> None:
    """``--by`` with a ``--limit``: the largest groups and the TOTAL, all computed by the database."""
    tot.pop("embodied_computed", None)
    if args.json:
        doc = {
            "ledger": where,
            "by": args.by,
            "groups": [{"key": g.key, **g.figures} for g in top],
            "groups_listed": len(top),
            "groups_total": count,
            "totals": tot,
        }
        json.dump(doc, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    print(f"ledger {where}: the {len(top)} largest of {count:,} group(s) by {args.by}, by CO2")
    rows = [_group_cells(g.key, g.figures) for g in top]
    if count > len(rows):
        print(f"... {count - len(rows):,} smaller group(s) not listed (counted in the TOTAL): --all lists every group")
    rows.append(("TOTAL", f"{tot['runs']:,}", *_figure_cells(tot)))
    _table((args.by, "runs", *_FIGURES), rows, 1)
    _say_overlap(tot)


def _run_cells(r: dict[str, Any]) -> tuple[str, ...]:
    return (
        _cell(r["run_id"]),
        _cell(r["project_name"]),
        _cell(r["status"]),
        _cell(r["job"]),
        str(r["segments"]),
        *_figure_cells(r),
        _num(r["joules_per_token"]),
    )


def _print_runs(listed: list[dict[str, Any]], tot: dict[str, Any]) -> None:
    rows = [_run_cells(r) for r in listed]
    status = ", ".join(f"{n} {_cell(s)}" for s, n in sorted(tot["by_status"].items()))
    rows.append(("TOTAL", f"{tot['runs']:,} run(s)", status, "", "", *_figure_cells(tot), ""))
    _table(("run", "project", "status", "job", "segments", *_FIGURES, "J/token"), rows, 4)
    _say_overlap(tot)


def run_report(args: argparse.Namespace) -> int:
    """Print (or write) the ledger's report for ``args`` (``report``'s options plus ``--db`` and ``--by``)."""
    from wattwatch.cli.commands.ledger import open_ledger
    from wattwatch.ledger import query, runlist

    if args.paths:
        raise UsageError("give PATH... or --db, not both (wattwatch ledger push PATH... --db URL adds files to it)")
    limit = None if getattr(args, "all", False) else args.limit
    if limit is not None and limit < 0:
        raise UsageError("--limit must be 0 or more (--all lists every run)")
    url, engine = open_ledger(args.db or None)
    try:
        with engine.connect() as conn:
            query.tune(conn)
            if getattr(args, "html", None):
                _write_html(conn, args)
            if args.by:
                _report_groups(conn, args, url.where, limit)
                return 0
            tot = query.totals(conn, project=args.project)
            if limit is None:  # every run, streamed (runs in run id order)
                _stream_all(conn, args, url.where, tot)
                return 0
            listed = runlist.recent_runs(conn, limit, project=args.project)
    finally:
        engine.dispose()
    if args.json:
        doc = {
            "ledger": url.where,
            "by": None,
            "groups": [],
            "runs": listed,
            "runs_listed": len(listed),
            "totals": tot,
        }
        json.dump(doc, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    print(f"ledger {url.where}: {tot['runs']:,} run(s) in {tot['segments']:,} segment(s)")
    if limit is not None and tot["runs"] > len(listed):
        print(f"the {len(listed)} most recent run(s); the TOTAL counts every run (--all lists every run)")
    _print_runs(listed, tot)
    return 0


def _stream_all(conn: sa.Connection, args: argparse.Namespace, where: str, tot: dict[str, Any]) -> None:
    """``--all``: every run, one at a time (fixed column widths, JSON written as it goes), then the TOTAL."""
    from wattwatch.ledger.runlist import all_runs

    runs = all_runs(conn, project=args.project)
    if args.json:
        out = sys.stdout
        out.write(f'{{\n  "ledger": {json.dumps(where)},\n  "by": null,\n  "groups": [],\n  "runs": [')
        n = 0
        for n, r in enumerate(runs, start=1):
            out.write(("," if n > 1 else "") + "\n    " + json.dumps(r, default=str))
        out.write(f'\n  ],\n  "runs_listed": {n},\n  "totals": {json.dumps(tot, default=str)}\n}}\n')
        return
    print(f"ledger {where}: {tot['runs']:,} run(s) in {tot['segments']:,} segment(s); every run, in run id order")
    widths = (36, 16, 11, 12, 8, 9, 10, 10, 10, 10, 20, 17, 9)
    header = ("run", "project", "status", "job", "segments", *_FIGURES, "J/token")

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i >= 4 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    print(line(header).rstrip())
    for r in runs:
        print(line(_run_cells(r)).rstrip())
    status = ", ".join(f"{n} {_cell(s)}" for s, n in sorted(tot["by_status"].items()))
    print(line(("TOTAL", f"{tot['runs']:,} run(s)", status, "", "", *_figure_cells(tot), "")).rstrip())
    _say_overlap(tot)


def _write_html(conn: sa.Connection, args: argparse.Namespace) -> None:
    from wattwatch.ledger.overview import overall_from_ledger
    from wattwatch.ledger.runlist import recent_rows
    from wattwatch.report import load_report, write_html

    if args.html_runs < 1:
        raise UsageError("--html-runs must be 1 or more")
    rows = recent_rows(conn, args.html_runs, project=args.project)
    overall = overall_from_ledger(conn, project=args.project)
    report = load_report([], series_runs=0, rows=rows, notes=["the ledger holds no power time series"], overall=overall)
    title = f"wattwatch ledger report: {args.project}" if args.project else "wattwatch ledger report"
    out = write_html(report, args.html, title=title)
    print(
        f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {len(report.runs)} of {report.runs_total} runs listed)",
        file=sys.stderr,
    )
