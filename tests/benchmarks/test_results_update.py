"""``run_all.py --only``: figures measured on their own replace or join their rows in RESULTS.md, leaving the rest."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.common import Figure, update_results, write_results  # noqa: E402


def _fig(key: str, value: float, note: str = "") -> Figure:
    return Figure(key, f"figure {key}", value, 1.0, "%", "goal", True, note=note or f"note {key}")


def test_only_figures_are_inserted_in_order_then_replaced(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    write_results([_fig("4", 1), _fig("S", 2), _fig("5a", 3), _fig("5c", 4), _fig("6", 5)], command="full",
                  elapsed_s=1.0, path=path)  # fmt: skip
    update_results([_fig("5d", 7), _fig("5e", 8)], command="only 5amd", elapsed_s=2.0, path=path)
    text = path.read_text()
    rows = [
        ln.split(" |")[0][2:] for ln in text.splitlines() if ln.startswith("| ") and not ln.startswith("| #")
    ]
    assert rows == ["4", "S", "5a", "5c", "5d", "5e", "6"]
    notes = [ln[4:].split(".")[0] for ln in text.splitlines() if ln.startswith("- **")]
    assert notes == ["4", "S", "5a", "5c", "5d", "5e", "6"]
    assert "Figures 5d, 5e: written by `only 5amd`" in text and "| 5a | figure 5a | 3 % |" in text
    update_results([_fig("5d", 9), _fig("5e", 8)], command="only 5amd", elapsed_s=2.0, path=path)
    again = path.read_text()
    assert again.count("| 5d |") == 1 and "| 5d | figure 5d | 9 % |" in again
    assert again.count("Figures 5d, 5e: written by") == 1
    assert again.count("## GPU") == 1
