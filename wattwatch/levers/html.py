"""The levers sweep as HTML: a ``<section>`` (a chart of J/token against perplexity with the Pareto front, the
table, the skipped configurations, two models side by side) for the report page, and a page of its own.

Static markup only: the chart is inline SVG drawn here, so the page needs no script at all, and its
Content-Security-Policy forbids every request. Every piece of user text (model names, reasons) is escaped.
"""

from __future__ import annotations

import html
import math
import os
from importlib import resources
from pathlib import Path

from wattwatch.levers.results import ConfigResult, SweepResult
from wattwatch.levers.text import COLUMNS, fmt, row_cells, saving_text

__all__ = ["PAGE_CSP", "levers_section", "render_page", "write_page"]

PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
"""The stand-alone page's policy: no script, no request."""

_COLOURS = ("#2f6fdf", "#d9730d", "#2e9e5b", "#b03fa0")
_W, _H, _L, _R, _T, _B = 760, 320, 64, 16, 14, 46
_STYLE = (
    ".levers svg{width:100%;max-width:900px;height:auto;display:block}"
    ".levers td.front,.levers th.front{text-align:center}.levers tr.front td{font-weight:600}"
    ".levers .legend span{display:inline-block;margin-right:14px}.levers .sw{display:inline-block;width:10px;"
    "height:10px;border-radius:5px;margin-right:4px;vertical-align:-1px}"
)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        return [10.0**k for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)]
    step = 10 ** math.floor(math.log10((hi - lo) / 4 or 1.0))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= 5:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _chart(configs: list[ConfigResult]) -> str:
    pts = [c for c in configs if math.isfinite(c.joules_per_token) and c.joules_per_token > 0 and math.isfinite(c.perplexity)]
    if not pts:
        return '<p class="empty">nothing to draw</p>'
    xs = [c.joules_per_token for c in pts]
    ys = [c.perplexity for c in pts]
    log = max(xs) / min(xs) > 20
    x_lo, x_hi = (min(xs) / 1.3, max(xs) * 1.3) if log else (0.0, max(xs) * 1.1)
    pad = (max(ys) - min(ys)) * 0.1 or max(abs(max(ys)) * 0.01, 0.01)
    y_lo, y_hi = min(ys) - pad, max(ys) + pad

    def px(x: float) -> float:
        f = (math.log10(x) - math.log10(x_lo)) / (math.log10(x_hi) - math.log10(x_lo)) if log else (x - x_lo) / (x_hi - x_lo)
        return _L + f * (_W - _L - _R)

    def py(y: float) -> float:
        return _T + (1 - (y - y_lo) / (y_hi - y_lo)) * (_H - _T - _B)

    out = [f'<svg viewBox="0 0 {_W} {_H}" role="img" aria-label="J per token against perplexity" id="levers-chart">']
    out.append(f'<rect x="{_L}" y="{_T}" width="{_W - _L - _R}" height="{_H - _T - _B}" fill="#fff" stroke="#d9dee7"/>')
    for t in _ticks(x_lo, x_hi, log):
        if x_lo <= t <= x_hi:
            out.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{_T}" y2="{_H - _B}" stroke="#eef0f4"/>'
                       f'<text x="{px(t):.1f}" y="{_H - _B + 16}" font-size="11" text-anchor="middle" fill="#5b6475">{fmt(t, 3)}</text>')  # fmt: skip
    for t in _ticks(y_lo, y_hi, False):
        if y_lo <= t <= y_hi:
            out.append(f'<line x1="{_L}" x2="{_W - _R}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#eef0f4"/>'
                       f'<text x="{_L - 6}" y="{py(t) + 4:.1f}" font-size="11" text-anchor="end" fill="#5b6475">{fmt(t, 4)}</text>')  # fmt: skip
    out.append(f'<text x="{(_L + _W - _R) / 2}" y="{_H - 8}" font-size="12" text-anchor="middle" fill="#1d2330">'
               f'J per generated token{" (log scale)" if log else ""} -- lower is better</text>')  # fmt: skip
    out.append(f'<text transform="translate(14 {(_T + _H - _B) / 2}) rotate(-90)" font-size="12" text-anchor="middle" '
               'fill="#1d2330">perplexity -- lower is better</text>')  # fmt: skip
    front = sorted((c for c in pts if c.pareto), key=lambda c: c.joules_per_token)
    if len(front) > 1:
        path = " ".join(f"{px(c.joules_per_token):.1f},{py(c.perplexity):.1f}" for c in front)
        out.append(f'<polyline points="{path}" fill="none" stroke="#1d2330" stroke-width="1.5" stroke-dasharray="5 3"/>')
    colour = {m: _COLOURS[i % len(_COLOURS)] for i, m in enumerate(dict.fromkeys(c.model for c in pts))}
    labels: list[tuple[float, float]] = []
    for c in pts:
        x, y = px(c.joules_per_token), py(c.perplexity)
        ly = y - 6
        while any(abs(x - ox) < 48 and abs(ly - oy) < 11 for ox, oy in labels):  # keep labels apart
            ly += 12
        labels.append((x, ly))
        ring = ' stroke="#1d2330" stroke-width="2"' if c.pareto else ""
        out.append(
            f'<circle class="pt{" front" if c.pareto else ""}" cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour[c.model]}"{ring}>'
            f"<title>{_e(c.model)} {_e(c.dtype)} batch {c.batch_size}: {fmt(c.joules_per_token)} J/token, "
            f"perplexity {fmt(c.perplexity, 5)}</title></circle>"
            f'<text x="{x + 7:.1f}" y="{ly:.1f}" font-size="10" fill="#5b6475">{_e(c.dtype)} b{c.batch_size}</text>'
        )
    out.append("</svg>")
    legend = "".join(f'<span><i class="sw" style="background:{col}"></i>{_e(m)}</span>' for m, col in colour.items())
    return "".join(out) + f'<div class="legend note">{legend}<span>dashed: Pareto front</span></div>'


def _table(configs: list[ConfigResult]) -> str:
    head = "".join(f'<th class="{"t" if i < 2 else ("front" if h == "front" else "")}">{_e(h)}</th>' for i, h in enumerate(COLUMNS))
    rows = []
    for c in configs:
        cells = row_cells(c)
        tds = "".join(
            f'<td class="{"t" if i < 2 else ("front" if i == len(cells) - 1 else "")}">{_e(v)}</td>' for i, v in enumerate(cells)
        )
        rows.append(f'<tr class="{"front" if c.pareto else ""}">{tds}</tr>')
    return f'<div class="tablewrap"><table id="levers-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _comparison(result: SweepResult) -> str:
    cmp = result.comparison
    if cmp is None:
        return ""
    a, b = cmp.sizes
    rows = [
        ("total parameters", f"{a.total_params / 1e6:.3g} M", f"{b.total_params / 1e6:.3g} M", ""),
        ("active per token", f"{a.active_params / 1e6:.3g} M", f"{b.active_params / 1e6:.3g} M", ""),
        ("compare's estimate, J/token", fmt(cmp.estimated_joules_per_token[0], 3), fmt(cmp.estimated_joules_per_token[1], 3),
         saving_text(b.name, cmp.estimated_saving)),
    ] + [
        (f"measured, {r.dtype} batch {r.batch_size}, J/token", fmt(r.joules_per_token[0]), fmt(r.joules_per_token[1]),
         saving_text(b.name, r.energy_saving))
        for r in cmp.rows
    ]  # fmt: skip
    body = "".join(f'<tr><td class="t">{_e(k)}</td><td>{_e(x)}</td><td>{_e(y)}</td><td>{_e(s)}</td></tr>' for k, x, y, s in rows)
    ass = cmp.assumptions
    return (
        f'<h3>{_e(a.name)} vs {_e(b.name)}</h3><div class="tablewrap"><table id="levers-compare"><thead><tr>'
        f'<th class="t"></th><th>{_e(a.name)}</th><th>{_e(b.name)}</th><th>difference</th></tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
        f'<p class="note">Estimate: <code>wattwatch compare</code>\'s formula, {ass.get("flops_per_param_token", 2):g} FLOPs per '
        f'active parameter-token on its default GPU ({ass.get("peak_tflops", 0):g} TFLOP/s at MFU {ass.get("mfu", 0):g}, '
        f'{ass.get("gpu_watts", 0):g} W, PUE {ass.get("pue", 1):g}); its saving does not depend on the hardware. '
        "Measured: this machine, same prompts and tokens.</p>"
    )


def levers_section(result: SweepResult) -> str:
    """The sweep as one ``<section class="wide levers" id="levers">`` (with its own small style block)."""
    skipped = "".join(
        f"<li>{_e(s.model)} {_e(s.dtype)}{'' if s.batch_size is None else f' batch {s.batch_size}'}: {_e(s.reason)}</li>"
        for s in result.skipped
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in result.notes)
    setup = (
        f"Measured on {result.device_name or result.device} ({result.device}"
        f"{'; ' + result.threads if result.threads else ''}); energy from the tracker: "
        f"{result.energy_method or 'unknown'}. {result.new_tokens} new tokens per request, greedy; each window is "
        f"at least {result.window_s:g} s of whole batches after a {result.warmup_s:g} s warm-up; perplexity on "
        f"{result.eval_text}."
    )
    return (
        f'<section class="wide levers" id="levers"><style>{_STYLE}</style>'
        "<h2>Levers: energy per token against quality, measured on this machine</h2>"
        f'<p class="note">{_e(setup)}</p>{_chart(result.configs)}{_table(result.configs)}'
        '<p class="note">Bold rows: the Pareto front of J/token against perplexity. Agreement: share of the '
        "highest-precision configuration's greedy tokens reproduced before the first difference. J/request and "
        "the per-request energies in <code>--json</code> add up to the window's measured energy.</p>"
        + (f'<h3>Skipped</h3><ul class="notes" id="levers-skipped">{skipped}</ul>' if skipped else "")
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + _comparison(result)
        + "</section>"
    )


def render_page(result: SweepResult, *, title: str = "wattwatch levers") -> str:
    """A self-contained page holding only the levers section, styled like the report."""
    css = resources.files("wattwatch.report").joinpath("assets/report.css").read_text("utf-8")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{PAGE_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{css}</style></head>"
        f'<body data-ready="1" data-ready-ms="0"><header><h1>{_e(title)}</h1>'
        '<div class="sub">generated by wattwatch levers</div></header>'
        f"<main>{levers_section(result)}</main></body></html>\n"
    )


def write_page(result: SweepResult, path: str | os.PathLike[str], *, title: str = "wattwatch levers") -> Path:
    """Write :func:`render_page` to ``path`` atomically (a temporary file renamed over it)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.wattwatch-tmp")
    tmp.write_text(render_page(result, title=title), encoding="utf-8")
    os.replace(tmp, out)
    return out
