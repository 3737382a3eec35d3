"""``wattwatch ledger push``'s progress bar: redrawn in place on a terminal, a line per 10 % in a log."""

from __future__ import annotations

import io

from wattwatch.cli.commands.ledger import ProgressBar


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_per_tenth() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, "pushing", clock=iter(range(1000)).__next__)
    for i in range(101):
        bar.update(i / 100, f"{i} rows")
    bar.update(1.0, "100 rows", force=True)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 12 and lines[0].startswith("pushing:   0%") and lines[-1].startswith("pushing: 100%")


def test_a_terminal_gets_one_line_redrawn() -> None:
    out = _Tty()
    clock = iter(x * 0.05 for x in range(1000)).__next__
    bar = ProgressBar(out, "pushing", clock=clock)
    for i in range(101):
        bar.update(i / 100, f"{i} rows")
    bar.update(1.0, "100 rows", force=True)
    bar.close()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.count("\r") > 10 and "100.0%" in text and "[" + "#" * 30 + "]" in text


def test_quiet_prints_nothing() -> None:
    out = _Tty()
    bar = ProgressBar(out, "pushing", enabled=False)
    bar.update(0.5, "x")
    bar.close()
    assert out.getvalue() == ""
