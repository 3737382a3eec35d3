"""``wattwatch plot RUN --out power.png``: power over time per device, with phase bands, and cumulative CO2.

``RUN`` is a time series file (``<run_id>.timeseries.csv``) or a run id (or its first characters), looked up
in ``--dir`` (default: the current folder, searched recursively). Needs matplotlib (the ``plot`` extra); it
draws off-screen (Agg), so no display is needed.
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path
from typing import TYPE_CHECKING

from wattwatch.errors import UsageError
from wattwatch.measure.figures import UNPHASED
from wattwatch.sinks.timeseries import TIMESERIES_SUFFIX as _SUFFIX
from wattwatch.sinks.timeseries import read_timeseries
from wattwatch.util.names import safe_name
from wattwatch.util.terminal import say

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["HELP", "add_arguments", "find_timeseries", "run"]

HELP = "Plot a run's power per GPU/CPU/RAM over time (phase bands) and its cumulative CO2 to a PNG."


def find_timeseries(run: str, folder: Path) -> Path:
    """The time series file for ``run`` (a path, a run id or a unique run id prefix) under ``folder``."""
    p = Path(run)
    if p.is_file():
        return p
    matches = sorted(folder.rglob(f"{glob.escape(run)}*{_SUFFIX}"))
    if not matches:  # a run id that is not a file name: its file is named by the id's slug
        matches = sorted(folder.rglob(glob.escape(safe_name(run)) + _SUFFIX))
    if not matches:
        raise UsageError(f"no time series for run {run!r} under {folder}; give the {_SUFFIX} file or --dir")
    ids = {m.name[: -len(_SUFFIX)] for m in matches}
    if len(ids) > 1:
        raise UsageError(
            f"run id {run!r} is ambiguous ({', '.join(sorted(ids)[:4])}...); give more characters"
        )
    return matches[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run id (or prefix) or a .timeseries.csv file")
    parser.add_argument("--out", "-o", help="PNG to write (default <run_id>.png)")
    parser.add_argument("--dir", default=".", help="folder to look for the run's time series in (default .)")
    parser.add_argument("--title", help="title of the figure")


def run(args: argparse.Namespace) -> int:
    """Draw and save the figure."""
    path = find_timeseries(args.run, Path(args.dir))
    try:
        series = read_timeseries(path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    run_id = path.name[: -len(_SUFFIX)] if path.name.endswith(_SUFFIX) else path.stem
    out = Path(args.out) if args.out else Path(f"{run_id}.png")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("wattwatch plot needs matplotlib: pip install matplotlib (wattwatch's [plot] extra)") from None

    fig, (ax_p, ax_c) = plt.subplots(
        2, 1, sharex=True, figsize=(10, 6), gridspec_kw={"height_ratios": [3, 1.4]}, constrained_layout=True
    )
    t = series.elapsed_s
    scale, unit = (3600.0, "h") if t[-1] > 3 * 3600 else (60.0, "min") if t[-1] > 180 else (1.0, "s")
    x = [v / scale for v in t]
    colors = plt.get_cmap("tab10")
    for i, (name, values) in enumerate(sorted(series.power_w.items())):
        ys = [float("nan") if v is None else v for v in values]
        # each row is the mean power over the interval that ends at its time: draw it over that interval
        ax_p.plot(x, ys, label=name, color=colors(i % 10), linewidth=1.2, drawstyle="steps-pre")
    phases = sorted({p for p in series.phase if p and p != UNPHASED})  # unphased time: no band, the background
    band = plt.get_cmap("Pastel2")
    phase_color = {p: band(i % 8) for i, p in enumerate(phases)}
    if len(phases) > 1 or (phases and phases[0] != "train"):
        labelled: set[str] = set()
        for name, a, b in series.phase_spans():  # edges are rows taken at each phase change (issue 24)
            if not name or name == UNPHASED:
                continue
            for ax in (ax_p, ax_c):
                ax.axvspan(
                    a / scale,
                    b / scale,
                    color=phase_color[name],
                    alpha=0.5,
                    linewidth=0,
                    label=f"phase: {name}" if ax is ax_p and name not in labelled else None,
                )
            labelled.add(name)
    ax_p.set_ylabel("power (W)")
    peak = max((v for vs in series.power_w.values() for v in vs if v is not None), default=1.0)
    ax_p.set_ylim(0, max(1.0, peak) * 1.3)  # headroom for the legend
    ax_p.grid(alpha=0.3)
    ax_p.legend(loc="upper left", fontsize="small", ncol=min(4, max(1, len(series.power_w) + len(phases))))
    grams = [kg * 1000.0 for kg in series.emissions_kg]
    if x[0] > 0 and series.emissions_kg[0] > 0 and len(x) > 1:
        # the run began one interval before its first row, at zero
        first = x[0] - (x[1] - x[0])
        x_c, g_c = [max(0.0, first), *x], [0.0, *grams]
    else:
        x_c, g_c = x, grams
    ax_c.plot(x_c, g_c, color="#444444", linewidth=1.5)
    ax_c.fill_between(x_c, g_c, color="#999999", alpha=0.3)
    _mark_resumes(series.segment_starts, scale, ax_p, ax_c)
    ax_c.set_ylabel("CO2eq (g), cumulative")
    ax_c.set_xlabel(f"time since start ({unit})")
    ax_c.set_ylim(bottom=0)
    ax_c.grid(alpha=0.3)
    total_kwh = series.energy_kwh[-1]
    segments = f" ({len(series.segment_starts) + 1} segments)" if series.segment_starts else ""
    fig.suptitle(
        args.title
        or f"run {run_id[:8]}: {total_kwh:.4g} kWh, {grams[-1]:.4g} g CO2eq in {t[-1]:.3g} s{segments}"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    say(f"wrote {out}")
    return 0


def _mark_resumes(starts: list[float], scale: float, ax_p: Axes, ax_c: Axes) -> None:
    """A dashed line where each resumed segment of the run begins (``starts`` in seconds, axes in ``scale``)."""
    for start in starts:
        for ax in (ax_p, ax_c):
            ax.axvline(start / scale, color="#555555", linestyle="--", linewidth=1.0)
    if starts:
        ax_c.text(starts[-1] / scale, 0, " resumed", va="bottom", ha="left", fontsize="small", color="#555555")
