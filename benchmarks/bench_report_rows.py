"""Figure 11: ``wattwatch report`` and ``wattwatch merge`` over an emissions.csv of 200,000 rows (time, peak RSS).

The file: 200,000 rows as a tracker writes them (every column of :data:`wattwatch.result.COLUMNS`, the values of
a real 4-GPU row, each row its own run with its own times, energy and phase cells), about 1.1 kB each.
``report``: ``wattwatch report FILE`` in a fresh process (``child.py cli``: wall time of the whole process,
interpreter start included), cold: the first report over the file (no cache; the file itself in the page
cache, as just written). It lists the 50 most recent runs (the default ``--limit``) and totals all 200,000; a
file this large is read by this process and one forked worker (each half, split at a line break that quote
parity shows is between rows). Peak RSS: the larger of the process's own ``VmHWM`` and its children's
``ru_maxrss`` (the worker's, which also counts the pages it shares with the process it was forked from). CodeCarbon has no report command: its column is what its users do, ``pandas.read_csv`` of the
same file and the totals. ``merge``: a distributed run's 4 part files (ranks run one after another in this
process, no torch.distributed) beside the 200,000-row file, then ``wattwatch merge DIR`` writes the run's row
into it; CodeCarbon has no merge (one file per rank).
"""

from __future__ import annotations

import csv
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, compile_bytecode, median, run_child

__all__ = ["GOAL_MIB", "GOAL_S", "measure", "write_history"]

GOAL_S = 2.0
"""``report`` over 200,000 rows: at most this many seconds (issue 18)."""
GOAL_MIB = 100.0 * 1e6 / 2**20
"""... with a peak RSS under 100 MB."""


def _template_row(directory: Path) -> dict[str, str]:
    """The row a real (short) run writes: 4 constant-power fake GPUs, country code."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))
    from fakesensors import ConstantPowerSensor

    from wattwatch import Tracker
    from wattwatch.sinks.csv import read_rows

    t = Tracker(
        project_name="bench-history",
        sensors=[ConstantPowerSensor(300.0, n=4)],
        output_dir=directory,
        country_iso_code="FRA",
        handle_signals=False,
        save_timeseries=False,
        log_level="error",
    )
    t.start()
    t.stop()
    _, rows = read_rows(directory / "emissions.csv")
    return rows[-1]


def write_history(path: Path, rows: int, template: dict[str, str]) -> int:
    """Write ``rows`` rows shaped like ``template``, each its own run as real runs are: its own run_id, start and
    end times, energy, emissions, and per-row phase cells (``phase_energy_kwh``, ``phase_emissions_kg``,
    ``gpu_energy_by_device_kwh``: JSON that differs from row to row, so that no reader can memoise it). Returns
    the file's size in bytes."""
    import json

    from wattwatch.result import COLUMNS

    header = list(COLUMNS) + [k for k in template if k not in COLUMNS]
    col = {name: i for i, name in enumerate(header)}

    def cell(value: dict[str, float]) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))  # as EmissionsData.to_row writes it

    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        base = [template.get(k, "") for k in header]
        for i in range(rows):
            row = list(base)
            energy, kg = 0.001 * (1 + i % 97) + 1e-7 * i, 0.0001 * (1 + i % 89) + 1e-8 * i
            train = 0.7 + 0.25 * ((i * 7919) % 1000) / 1000.0  # the train phase's share of the run
            day, minute = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}", f"{i % 60:02d}"
            row[col["run_id"]] = str(uuid.UUID(int=i + 1))
            row[col["timestamp"]] = f"{day}T{i % 24:02d}:{minute}:{i % 59:02d}+00:00"
            row[col["start_time"]] = f"{day}T{i % 24:02d}:{minute}:00+00:00"
            row[col["energy_consumed"]] = repr(energy)
            row[col["gpu_energy"]] = repr(energy * 0.9)
            row[col["emissions"]] = repr(kg)
            row[col["phase_energy_kwh"]] = cell({"train": energy * train, "eval": energy * (1 - train)})
            row[col["phase_emissions_kg"]] = cell({"train": kg * train, "eval": kg * (1 - train)})
            row[col["gpu_energy_by_device_kwh"]] = cell(
                {f"gpu:{d}": energy * 0.9 * (0.22 + 0.02 * ((i + d) % 4)) for d in range(4)}
            )
            writer.writerow(row)
    return path.stat().st_size


def _parts(directory: Path, ranks: int) -> None:
    """A distributed run's part files in ``directory``: ``ranks`` trackers with a torchrun-like environment,
    one after another, each with constant-power fake sensors."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))
    from fakesensors import ConstantPowerSensor

    from wattwatch import Tracker

    rid = f"bench-merge-{uuid.uuid4().hex[:8]}"
    for rank in range(ranks):
        environ = {
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(ranks),
            "LOCAL_WORLD_SIZE": str(ranks),
            "TORCHELASTIC_RUN_ID": rid,
        }
        t = Tracker(
            output_dir=directory,
            sensors=[ConstantPowerSensor()],
            environ=environ,
            handle_signals=False,
            save_timeseries=False,
            log_level="error",
        )
        t.start()
        t.stop()


def measure(rows: int = 200_000, rounds: int = 3) -> list[Figure]:
    compile_bytecode()
    times: dict[str, list[float]] = {"report": [], "pandas": [], "merge": []}
    peaks: dict[str, list[float]] = {"report": [], "pandas": [], "merge": []}
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "template").mkdir()
        template = _template_row(base / "template")
        history = base / "history" / "emissions.csv"
        history.parent.mkdir()
        size = write_history(history, rows, template)
        extra["bytes"] = size
        for i in range(rounds):
            for tool, key in (
                (("ww", "report"), ("cc", "pandas")) if i % 2 == 0 else (("cc", "pandas"), ("ww", "report"))
            ):
                r = run_child("cli", tool, None, "--cli", "report", str(history))
                if r.result.get("code") != 0:
                    raise RuntimeError(f"{key} failed: {r.stderr[-500:]}")
                times[key].append(r.wall_s)
                peaks[key].append(max(r.result["vmhwm_mib"], r.result.get("children_maxrss_mib", 0.0)))
        for i in range(rounds):
            run_dir = base / f"merge{i}"
            run_dir.mkdir()
            _parts(run_dir, 4)
            shutil.copyfile(history, run_dir / "emissions.csv")  # parts merged already: give it the history
            r = run_child("cli", "ww", None, "--cli", "merge", str(run_dir))
            if r.result.get("code") != 0:
                raise RuntimeError(f"merge failed: {r.stderr[-500:]}")
            times["merge"].append(r.wall_s)
            peaks["merge"].append(r.result["vmhwm_mib"])
    rep, pan, mer = median(times["report"]), median(times["pandas"]), median(times["merge"])
    rep_m, pan_m, mer_m = median(peaks["report"]), median(peaks["pandas"]), median(peaks["merge"])
    mb = extra["bytes"] / 1e6
    return [
        Figure(
            "11a",
            f"`wattwatch report` over {rows:,} rows ({mb:.0f} MB): time",
            rep,
            pan,
            "s",
            "<= 2 s",
            rep <= GOAL_S,
            cc_text=f"{pan:.2f} s (pandas.read_csv; no report command)",
            note=f"median of {rounds} fresh processes, whole-process wall time (interpreter start included), cold "
            "(first report over the file, no cache): `wattwatch report FILE` lists the 50 most recent runs "
            "(default --limit) and totals every run, reading the file in one pass split between the process and "
            "one forked worker; every row has its own phase cells (no memoisation possible). "
            f"Runs (s): report {', '.join(f'{v:.2f}' for v in times['report'])}; pandas "
            f"{', '.join(f'{v:.2f}' for v in times['pandas'])}.",
            extra={"times": times, "peaks": peaks, **extra},
        ),
        Figure(
            "11b",
            f"`wattwatch report` over {rows:,} rows: peak RSS",
            rep_m,
            pan_m,
            "MiB",
            "< 100 MB",
            rep_m < GOAL_MIB,
            cc_text=f"{pan_m:.1f} MiB (pandas.read_csv)",
            note="the larger of the process's VmHWM (read by itself at its end) and RUSAGE_CHILDREN ru_maxrss "
            "(its forked worker; that figure also counts pages shared with the parent). "
            f"Runs (MiB): report {', '.join(f'{v:.1f}' for v in peaks['report'])}.",
        ),
        Figure(
            "11c",
            f"`wattwatch merge` of a 4-rank run into an emissions.csv of {rows:,} rows",
            mer,
            None,
            "s",
            "—",
            None,
            ww_text=f"{mer:.2f} s, peak RSS {mer_m:.1f} MiB",
            cc_text="— (no merge: one file per rank)",
            note=f"median of {rounds} fresh processes; runs (s): {', '.join(f'{v:.2f}' for v in times['merge'])}.",
        ),
    ]
