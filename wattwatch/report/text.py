"""``wattwatch report``'s text output: the table of the runs listed with the TOTAL line over every run, each
listed run's intensity, method and band, the totals' sentence, and the ranking by J/token.

Units: energy kWh (PUE applied), CO2 kg CO2eq, duration h:mm:ss, J per token.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from wattwatch.cli.commands.report import ReportRun, _kwh, embodied_kg, joules_per_token

__all__ = ["print_details", "print_ranking", "print_table"]


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


def print_table(runs: list[ReportRun], tot: dict[str, Any], *, not_listed: int = 0) -> bool:
    """One line per run listed and a TOTAL line over every run (energies kWh, masses kg CO2eq); ``not_listed``:
    the earlier runs the TOTAL counts but the table does not show (a line says so). True when an embodied
    figure was computed here (marked ``*``) because the run's row predates the column."""
    rows: list[tuple[str, ...]] = []
    for r in runs:
        d = r.data
        rows.append(
            (
                d.run_id[:8],
                d.project_name,
                d.status,
                _duration(d.duration),
                _kwh(d.gpu_energy),
                _kwh(d.cpu_energy),
                _kwh(d.ram_energy),
                _kwh(d.energy_consumed),
                f"{d.emissions:.4g}",
                f"{(emb := embodied_kg(d))[0]:.4g}{'*' if emb[1] else ''}",
                "" if (jt := joules_per_token(d)) is None else f"{jt:.4g}",
            )
        )
    rows.append(
        (
            "TOTAL",
            f"{tot['runs']} run(s)",
            ", ".join(f"{n} {s}" for s, n in sorted(tot["by_status"].items())),
            _duration(tot["duration_s"]),
            _kwh(tot["gpu_energy_kwh"]),
            _kwh(tot["cpu_energy_kwh"]),
            _kwh(tot["ram_energy_kwh"]),
            _kwh(tot["energy_kwh"]),
            f"{tot['emissions_kg']:.4g}",
            f"{tot['embodied_emissions_kg']:.4g}",
            "",
        )
    )
    emb_col = _HEADER.index("embodied kg CO2eq")
    computed_here = any(r[emb_col].endswith("*") for r in rows)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(_HEADER)]
    numeric = set(range(3, len(_HEADER)))

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(fmt(_HEADER))
    print("  ".join("-" * w for w in widths))
    if not_listed:
        print(
            f"... {not_listed} earlier run(s) not listed (counted in the TOTAL): --limit N lists the N most "
            "recent, --all lists every run"
        )
    for row in rows[:-1]:
        print(fmt(row))
    print("  ".join("-" * w for w in widths))
    print(fmt(rows[-1]))
    print()
    return computed_here


def print_details(runs: list[ReportRun], tot: dict[str, Any], computed_here: bool) -> None:
    """Each listed run's intensity, method and band, then the totals' sentence (every run), band and footnote."""
    now = datetime.now(timezone.utc)
    for r in runs:
        d = r.data
        extra = ""
        if d.status == "running":
            extra = f"; still running or killed: last flush {d.timestamp} ({_age(d.timestamp, now)}), totals up to then"
        print(
            f"{d.run_id[:8]}: {d.intensity_g_per_kwh:.0f} g/kWh from {d.intensity_source or 'unknown source'}; "
            f"{r.method or 'no method recorded'}{'; ' + r.band if r.band else ''}{extra}"
        )
    if tot["intensity_g_per_kwh"] is not None:
        print(
            f"total: {tot['energy_kwh']:.6g} kWh, {tot['emissions_kg']:.6g} kg CO2eq operational "
            f"+ {tot['embodied_emissions_kg']:.6g} embodied over {tot['runs']} run(s) "
            "-- every run counts, finished or not: the total is what the atmosphere sees"
        )
    if tot["energy_low_kwh"] is not None and tot["energy_high_kwh"] is not None and runs:
        print(
            f"total energy band: {tot['energy_low_kwh']:.6g}-{tot['energy_high_kwh']:.6g} kWh (docs/accuracy.md)"
        )
    if computed_here:
        print(
            "* embodied CO2 computed here from the run's hardware (its row predates the column): Boavizta data, "
            "4-year life, use ratio 1"
        )


def print_ranking(ranking: list[tuple[ReportRun, float]], *, ranked: int | None = None) -> None:
    """Runs that counted tokens, by J/token (lowest first); ``ranked``: how many runs recorded tokens in all
    (when more than are shown, a line says so)."""
    if ranking:
        print()
        print("ranked by energy per token (J/token: training energy, PUE applied, per token; lowest first):")
        for place, (r, j) in enumerate(ranking, start=1):
            d = r.data
            print(
                f"{place:>4}. {d.run_id[:8]}  {j:.4g} J/token  ({d.tokens} tokens, {d.energy_consumed:.4g} kWh)"
            )
        if ranked is not None and ranked > len(ranking):
            print(f"      ... {ranked - len(ranking)} more run(s) with tokens (--all ranks every run)")
