"""Figure 11: ``wattwatch report`` and ``wattwatch merge`` over an emissions.csv of 200,000 rows (time, peak RSS).

The file: 200,000 rows as a tracker writes them (every column of :data:`wattwatch.result.COLUMNS`, the values of
a real 4-GPU row, each row its own run), about 1 kB each. ``report``: ``wattwatch report FILE`` in a fresh
process (``child.py cli``: wall time of the whole process, interpreter start included; peak RSS read by the
process itself). CodeCarbon has no report command: its column is what its users do, ``pandas.read_csv`` of the
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
    """Write ``rows`` rows shaped like ``template`` (each its own run_id and timestamp); returns the file's
    size in bytes."""
    from wattwatch.result import COLUMNS

    header = list(COLUMNS) + [k for k in template if k not in COLUMNS]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        base = [template.get(k, "") for k in header]
        i_run, i_ts = header.index("run_id"), header.index("timestamp")
        i_e, i_kg = header.index("energy_consumed"), header.index("emissions")
        for i in range(rows):
            row = list(base)
            row[i_run] = str(uuid.UUID(int=i + 1))
            row[i_ts] = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00+00:00"
            row[i_e] = repr(0.001 * (1 + i % 97))
            row[i_kg] = repr(0.0001 * (1 + i % 89))
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
                peaks[key].append(r.result["vmhwm_mib"])
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
            note=f"median of {rounds} fresh processes, whole-process wall time (interpreter start included). "
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
            note="VmHWM read by the process itself at its end.",
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
