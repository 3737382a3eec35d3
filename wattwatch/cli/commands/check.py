"""``wattwatch check PATH...``: recompute every run's figures from the energy they come from and print what
disagrees (exit 1 if anything does). See :mod:`wattwatch.report.check` for the checks.

Output: one line per disagreement (file, line, run, what), then one summary line; ``--json`` prints the same as
JSON. Folders are searched as ``wattwatch report`` searches them (emissions files, journals of runs still going,
time series beside them).
"""

from __future__ import annotations

import argparse
import json
import sys

from wattwatch.errors import UsageError

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Recompute every run's figures (components, phases, powers, CO2, band, embodied, segments, time series) and print what disagrees; exit 1 if anything does."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="emissions.csv files or folders holding them")
    parser.add_argument("--json", action="store_true", help="print the disagreements and counts as JSON")


def run(args: argparse.Namespace) -> int:
    """Check the paths; 0 when every figure agrees, 1 otherwise."""
    from wattwatch.report.check import check_paths

    try:
        report = check_paths(list(args.paths))
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        doc = {
            "ok": report.ok,
            "rows": report.rows,
            "runs": report.runs,
            "series": report.series,
            "problems": [
                {"file": str(p.path), "line": p.line, "run_id": p.run_id, "what": p.what} for p in report.problems
            ],
            "notes": report.notes,
        }
        print(json.dumps(doc, indent=2))
        return 0 if report.ok else 1
    for problem in report.problems:
        print(problem)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    verdict = "every figure agrees" if report.ok else f"{len(report.problems)} disagreement(s)"
    print(f"checked {report.rows} row(s) of {report.runs} run(s), {report.series} time series: {verdict}")
    return 0 if report.ok else 1
