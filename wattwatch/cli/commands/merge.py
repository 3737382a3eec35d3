"""``wattwatch merge``: combine the ranks' part files of each run into the run's row in ``emissions.csv``."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Combine the per-rank part files of distributed runs (.wattwatch/parts) into one row per run."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the folders holding part files, where to write."""
    parser.add_argument(
        "directories",
        nargs="+",
        metavar="DIR",
        help="output_dir of a run (or a folder of rank-*.json part files); several for parts copied from nodes",
    )
    parser.add_argument(
        "--output", "-o", help="emissions.csv to update (default: DIR/emissions.csv of the first)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the totals, write nothing")


def run(args: argparse.Namespace) -> int:
    """Print one line per run; write its row (and per-node rows in <stem>.nodes.csv)."""
    from wattwatch.distributed.merge import merge_directories
    from wattwatch.util.terminal import say

    output = Path(args.output) if args.output else Path(args.directories[0]) / "emissions.csv"
    runs = merge_directories(args.directories, output, write=not args.dry_run)
    for d in runs:
        missing = f", missing ranks {d.missing_ranks}" if d.missing_ranks else ""
        say(
            f"{d.run_id}: {d.status}, {d.rank_count} rank(s) on {d.node_count} node(s), {d.gpu_count:g} GPU(s), "
            f"{d.energy_consumed:.6f} kWh, {d.emissions:.6f} kg CO2eq{missing}"
        )
    if not args.dry_run:
        say(f"wrote {output}")
    return 0
