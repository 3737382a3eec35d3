"""``wattwatch report``'s text output: the table of the runs listed with the TOTAL line over every run, each
listed run's intensity, method and band, the totals' sentence, and the ranking by J/token.

Units: energy kWh (PUE applied), CO2 kg CO2eq, duration h:mm:ss, J per token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from wattwatch.report.history import ReportRun, energy_text, kwh_text, mass_text, row_intensity
from wattwatch.util.terminal import printable, say

if TYPE_CHECKING:
    from wattwatch.report.rollup import Rollup

__all__ = ["print_details", "print_ranking", "print_table", "ranking_cells", "table_cells"]


def _age(stamp: str, now: datetime) -> str:
    try:
        then = datetime.fromisoformat(stamp)
    except ValueError:
        return ""
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    s = max(0.0, (now - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.0f} {unit} ago"
    return f"{s:.0f} s ago"


def _duration(s: float) -> str:
    h, rem = divmod(int(round(s)), 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}"


_HEADER = (
    "run", "project", "status", "duration", "GPU kWh", "CPU kWh", "RAM kWh", "kWh",
    "operational kg CO2eq", "embodied kg CO2eq", "J/token",
)  # fmt: skip


def _printable(cells: tuple[str, ...]) -> tuple[str, ...]:
    """Cells come from files anyone may have written: no control character reaches the terminal."""
    return tuple(map(printable, cells))


def table_cells(rollup: Rollup, i: int) -> tuple[str, ...]:
    """Row ``i``'s line of the table, from the numbers the rollup keeps (nothing read again)."""
    part, n, _ = rollup.locate(i)
    key = part.order_key(n).rpartition(b"\0")[2].decode("utf-8", "surrogatepass")

    def value(name: str) -> float:  # the run's: its segments together (issue 24: one run, one line)
        return rollup.value(name, i)

    jpt = value("joules_per_token")
    return (
        key[:8],
        part.texts[part.projects[n]],
        part.texts[part.statuses[n]],
        _duration(value("duration_s")),
        kwh_text(value("gpu_energy_kwh")),
        kwh_text(value("cpu_energy_kwh")),
        kwh_text(value("ram_energy_kwh")),
        kwh_text(value("energy_kwh")),
        f"{value('emissions_kg'):.4g}",
        f"{value('embodied_emissions_kg'):.4g}{'*' if part.embodied_computed[n] else ''}",
        "" if jpt != jpt else f"{jpt:.4g}",
    )


def print_table(
    rows: Callable[[], Iterable[tuple[str, ...]]], tot: dict[str, Any], *, not_listed: int = 0
) -> bool:
    """One line per run listed (``rows()``: the cells of each, see :func:`table_cells`; called twice, to size
    the columns then to print, so that no run is held) and a TOTAL line over every run (energies kWh, masses kg
    CO2eq); ``not_listed``: the earlier runs the TOTAL counts but the table does not show (a line says so).
    True when an embodied figure was computed here (marked ``*``) because the run's row predates the column."""
    total = _printable((
        "TOTAL",
        f"{tot['runs']} run(s)",
        ", ".join(f"{n} {s}" for s, n in sorted(tot["by_status"].items())),
        _duration(tot["duration_s"]),
        kwh_text(tot["gpu_energy_kwh"]),
        kwh_text(tot["cpu_energy_kwh"]),
        kwh_text(tot["ram_energy_kwh"]),
        kwh_text(tot["energy_kwh"]),
        f"{tot['emissions_kg']:.4g}",
        f"{tot['embodied_emissions_kg']:.4g}",
        "",
    ))
    emb_col = _HEADER.index("embodied kg CO2eq")
    widths = [max(len(h), len(c)) for h, c in zip(_HEADER, total, strict=True)]
    computed_here = False
    for row in map(_printable, rows()):
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
        computed_here = computed_here or row[emb_col].endswith("*")
    numeric = set(range(3, len(_HEADER)))

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    say(fmt(_HEADER))
    say("  ".join("-" * w for w in widths))
    if not_listed:
        say(
            f"... {not_listed} earlier run(s) not listed (counted in the TOTAL): --limit N lists the N most "
            "recent, --all lists every run"
        )
    for row in map(_printable, rows()):
        say(fmt(row))
    say("  ".join("-" * w for w in widths))
    say(fmt(total))
    say()
    return computed_here


def print_details(runs: Iterable[ReportRun], tot: dict[str, Any], computed_here: bool) -> None:
    """Each listed run's intensity, method and band, then the totals' sentence (every run), band and footnote."""
    now = datetime.now(timezone.utc)
    for r in runs:
        d = r.data
        g_per_kwh, source = row_intensity(d)
        extra = ""
        if r.segments > 1:
            extra += f"; {r.segments} segments (resumed), one line: energy of all, counts of the last"
        if d.overlaps_run_id:
            extra += (
                f"; measured the same machine as run {d.overlaps_run_id[:8]} "
                f"({d.overlap_energy_kwh or 0:.4g} kWh counted once)"
            )
        if d.status == "running":
            extra += (
                f"; still running or killed: last flush {d.timestamp} ({_age(d.timestamp, now)}), totals up to then"
            )
        say(
            f"{d.run_id[:8]}: {g_per_kwh:.0f} g/kWh from {source or 'unknown source'}; "
            f"{r.method or 'no method recorded'}{'; ' + r.band if r.band else ''}{extra}"
        )
    if tot["intensity_g_per_kwh"] is not None:
        say(
            f"total: {energy_text(tot['energy_kwh'])}, {mass_text(tot['emissions_kg'])} CO2eq operational "
            f"+ {mass_text(tot['embodied_emissions_kg'])} embodied over {tot['runs']} run(s) "
            "-- every run counts, finished or not: the total is what the atmosphere sees"
        )
    if tot.get("overlap_kwh"):
        say(
            f"overlap: {tot['overlap_kwh']:.6g} kWh measured by two runs on one machine at once is counted once "
            "(runs with overlaps_run_id)"
        )
    if tot["energy_low_kwh"] is not None and tot["energy_high_kwh"] is not None and tot["runs"]:
        say(
            f"total energy band: {energy_text(tot['energy_low_kwh'], tot['energy_high_kwh'])} (docs/accuracy.md)"
        )
    if computed_here:
        say(
            "* embodied CO2 computed here from the run's hardware (its row predates the column): Boavizta data, "
            "4-year life, use ratio 1"
        )


def ranking_cells(rollup: Rollup, i: int) -> tuple[str, float, int, float]:
    """Row ``i``'s place in the ranking: run id, J/token, tokens, kWh (from the numbers the rollup keeps)."""
    part, n, _ = rollup.locate(i)
    run_id = part.order_key(n).rpartition(b"\0")[2].decode("utf-8", "surrogatepass")
    return run_id, rollup.value("joules_per_token", i), int(rollup.value("tokens", i)), rollup.value("energy_kwh", i)


def print_ranking(ranking: Iterable[tuple[str, float, int, float]], *, ranked: int) -> None:
    """Runs that counted tokens, by J/token (lowest first; ``(run id, J/token, tokens, kWh)`` each, see
    :func:`ranking_cells`); ``ranked``: how many runs recorded tokens in all (when more than are shown, a line
    says so)."""
    shown = 0
    for place, (run_id, j, tokens, kwh) in enumerate(ranking, start=1):
        if place == 1:
            say()
            say(
                "ranked by energy per token (J/token: training energy, PUE applied, per token; lowest first):"
            )
        say(f"{place:>4}. {run_id[:8]}  {j:.4g} J/token  ({tokens} tokens, {kwh:.4g} kWh)")
        shown = place
    if shown and ranked > shown:
        say(f"      ... {ranked - shown} more run(s) with tokens (--all ranks every run)")
    elif ranked > shown:
        say()
        say(f"{ranked} run(s) recorded tokens, none ranked here (--limit N ranks the N best, --all every run)")
