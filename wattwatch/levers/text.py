"""The text table of a levers sweep: one line per configuration, the Pareto front marked, the skipped
configurations with their reason, and two models side by side with ``compare``'s estimate."""

from __future__ import annotations

import math

from wattwatch.levers.comparison import Comparison
from wattwatch.levers.results import ConfigResult, SweepResult

__all__ = ["COLUMNS", "clean", "fmt", "render_text", "row_cells", "saving_text"]

COLUMNS = ("model", "dtype", "batch", "J/token", "J/request", "tokens/s", "p50 s", "p90 s", "peak MiB",
           "perplexity", "agreement", "front")  # fmt: skip


def clean(text: str) -> str:
    """Text safe for a terminal: control characters replaced."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def fmt(x: float | None, digits: int = 4) -> str:
    """``digits`` significant digits; ``-`` for a missing or non-finite value."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{digits}g}"


def row_cells(c: ConfigResult) -> tuple[str, ...]:
    """One configuration's cells, in :data:`COLUMNS` order."""
    return (
        clean(c.model), c.dtype, str(c.batch_size), fmt(c.joules_per_token), fmt(c.joules_per_request),
        fmt(c.tokens_per_s), fmt(c.latency_p50_s, 3), fmt(c.latency_p90_s, 3), fmt(c.peak_memory_mb, 4),
        fmt(c.perplexity, 5), f"{c.agreement:.3f}" if math.isfinite(c.agreement) else "-", "*" if c.pareto else "",
    )  # fmt: skip


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    left = {0, 1}
    return [
        "  ".join(cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True))).rstrip()
        for r in rows
    ]


def saving_text(name: str, saving: float) -> str:
    """``"B saves 24.0 %"``, or ``"B uses 15.0 % more"`` for a negative saving."""
    return f"{name} saves {saving * 100:.1f} %" if saving >= 0 else f"{name} uses {-saving * 100:.1f} % more"


def _comparison(cmp: Comparison) -> list[str]:
    a, b = cmp.sizes
    names = f"{clean(a.name)} vs {clean(b.name)}"
    ass = cmp.assumptions
    lines = [
        "",
        f"{names}: compare's estimate beside the measurement",
        f"  parameters, total / active per token: {a.total_params / 1e6:.3g} M / {a.active_params / 1e6:.3g} M vs "
        f"{b.total_params / 1e6:.3g} M / {b.active_params / 1e6:.3g} M",
        f"  estimate ({ass.get('flops_per_param_token', 2):g} FLOPs per active parameter-token on compare's GPU: "
        f"{ass.get('peak_tflops', 0):g} TFLOP/s at MFU {ass.get('mfu', 0):g}, {ass.get('gpu_watts', 0):g} W, PUE "
        f"{ass.get('pue', 1):g}): {fmt(cmp.estimated_joules_per_token[0], 3)} vs "
        f"{fmt(cmp.estimated_joules_per_token[1], 3)} J/token: {saving_text(clean(b.name), cmp.estimated_saving)}",
    ]
    if not cmp.rows:
        lines.append("  measured: no precision and batch size ran for both models")
    for r in cmp.rows:
        lines.append(
            f"  measured here, {r.dtype} batch {r.batch_size}: {fmt(r.joules_per_token[0])} vs "
            f"{fmt(r.joules_per_token[1])} J/token: {saving_text(clean(b.name), r.energy_saving)}"
        )
    return lines


def render_text(result: SweepResult) -> str:
    """The whole report as text (no trailing newline)."""
    threads = f"; {clean(result.threads)}" if result.threads else ""
    head = (
        f"wattwatch levers on {clean(result.device_name) or result.device} ({result.device}{threads}); energy: "
        f"{clean(result.energy_method) or 'unknown'}"
    )
    setup = (
        f"{result.new_tokens} new tokens per request (greedy); each window >= {result.window_s:g} s of whole "
        f"batches after a {result.warmup_s:g} s warm-up; perplexity on {clean(result.eval_text)}"
    )
    lines = [head, setup, ""]
    if result.configs:
        lines += _table([COLUMNS, *(row_cells(c) for c in result.configs)])
        lines += [
            "",
            "front: * = on the Pareto front of J/token against perplexity (no other configuration has both lower).",
            "agreement: share of the highest-precision configuration's greedy tokens reproduced before the first "
            "difference.",
        ]
    else:
        lines.append("no configuration could be measured here")
    for s in result.skipped:
        where = f" batch {s.batch_size}" if s.batch_size is not None else ""
        lines.append(f"skipped: {clean(s.model)} {s.dtype}{where}: {clean(s.reason)}")
    for note in result.notes:
        lines.append(f"note: {clean(note)}")
    if result.comparison is not None:
        lines += _comparison(result.comparison)
    return "\n".join(lines)
