"""HTML report of a folder with 10,000 runs: time to generate it, and time for a browser to open it (goal < 3 s).

A synthetic project (``tests/support/reportruns.py``: rows as wattwatch writes them, 20 runs with a 150-row time
series) is reported with ``wattwatch report DIR --html FILE`` in a fresh process (generation: wall time of the
whole command, import included), then the page is opened in headless Chromium over the DevTools pipe
(``tests/support/headless.py``), fresh profile each time. Load time: ``performance.now()`` when the page's script
has built every chart and the table (ms since navigation start: HTML parse, Chart.js, JSON, charts), and the
wall time from the navigate command to the page saying it is ready. Medians of ``--repeat``.

    python benchmarks/bench_report.py                # 10,000 runs, prints the figures
    python benchmarks/bench_report.py --write        # and writes the "## HTML report" section of RESULTS.md
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["HEADING", "main"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
HEADING = "## HTML report"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--series-runs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="write the figures into benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests" / "support"))
    from headless import find_chromium, visit
    from reportruns import make_project

    chromium = find_chromium()
    if chromium is None:
        print("chromium not installed (apt-get install chromium): cannot measure the load time", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="wattwatch-bench-report-") as tmp:
        folder = Path(tmp) / "runs"
        make_project(folder, args.runs, series_runs=args.series_runs, seed=1)
        page = Path(tmp) / "report.html"
        gen: list[float] = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "wattwatch", "report", str(folder), "--html", str(page)],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            gen.append(time.perf_counter() - t0)
        size_mb = page.stat().st_size / 1e6
        ready_ms: list[float] = []
        wall_s: list[float] = []
        for _ in range(args.repeat):
            v = visit(page.as_uri(), chromium=chromium, probe="document.querySelectorAll('#runs tbody tr').length")
            if v.errors or v.requests != [page.as_uri()]:
                print(f"page misbehaved: errors {v.errors[:3]}, requests {v.requests[:3]}", file=sys.stderr)
                return 1
            ready_ms.append(float(v.ready_ms or 0.0))
            wall_s.append(v.wall_s)
    figures = {
        "generate_s": statistics.median(gen),
        "ready_ms": statistics.median(ready_ms),
        "wall_s": statistics.median(wall_s),
        "size_mb": size_mb,
    }
    met = "met" if figures["wall_s"] < 3.0 else "NOT met"
    version = subprocess.run([chromium, "--version"], capture_output=True, text=True).stdout.strip()
    text = "\n".join(
        [
            f"Written by `python benchmarks/bench_report.py --write` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
            f"{args.runs:,} runs ({args.series_runs} with a 150-row time series), medians of {args.repeat}; {version}.",
            "",
            "| figure | value | goal | met |",
            "|---|---|---|---|",
            f"| `wattwatch report DIR --html FILE`, whole command (fresh process) | {figures['generate_s']:.2f} s | — | — |",
            f"| page size | {figures['size_mb']:.2f} MB | — | — |",
            f"| browser: script done (performance.now(), from navigation start) | {figures['ready_ms']:.0f} ms | — | — |",
            f"| browser: navigate command to page ready (wall) | {figures['wall_s']:.2f} s | < 3 s | {met} |",
        ]
    )
    print(text)
    if args.write:
        sys.path.insert(0, str(ROOT))
        from benchmarks.common import write_section

        write_section(HEADING, text, RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
