"""The team ledger (issue 28): ``ledger push`` of 200,000 rows, ``report --db`` over 1,000,000 runs, and what a
ledger URL adds to ``stop()`` -- into SQLite and into a real PostgreSQL (Debian's server, started here in a temp
folder with its production defaults: fsync and synchronous commits on).

L1/L2 push: the figure-11 history (200,000 rows as a tracker writes them, every row its own run with its own
phase and per-GPU cells, 4 GPUs) pushed into an empty ledger by ``wattwatch ledger push FILE --db URL`` in a
fresh process (wall time of the whole command; peak RSS: ``wait4``'s ``ru_maxrss``, the largest of the process
and its forked worker), then pushed again (nothing added). Goals: 30 s (SQLite), 60 s (PostgreSQL), < 150 MB.

L3/L4 report: a ledger of 1,000,000 runs in 1,100,000 segments (every table filled: segments, details, 2 phases
and 4 GPUs per segment; 20 projects, 50 users, 60 hosts, 12 months, 125,000 Slurm jobs; one run in 10 resumed
from a checkpoint, so two segments -- one in 10 of those begun the month before --, one in 1,000 overlapping
another run), then ``wattwatch report --db URL``
(the 50 most recent runs and the totals over all: runs counted once, the overlaps once) and ``--by
project|user|month|host|job``, each in a fresh process, medians of ``--repeat``. Goals: 3 s on SQLite, 2 s on
PostgreSQL, < 100 MB.

L5 stop: construct, start, 1 s of "training" (the ledger's thread imports SQLAlchemy and connects meanwhile; on a
loaded machine the run waits until it is ready, as any run longer than that set-up does), then ``stop()`` timed, with ``ledger_url`` and without, alternated, fresh processes; whether the row was in the
database when ``stop()`` returned. Goal: at most 100 ms more.

    python -m benchmarks.bench_ledger                 # all figures, prints them
    python -m benchmarks.bench_ledger --write         # and writes the "## Ledger" section of RESULTS.md
    python -m benchmarks.bench_ledger --quick         # tiny sizes, to try it
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["HEADING", "fill_ledger", "main", "measure_push", "measure_report", "measure_stop"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
HEADING = "## Ledger"
sys.path.insert(0, str(ROOT / "tests" / "support"))


def _run(argv: list[str]) -> tuple[float, float, str]:
    """``argv`` in a fresh process: (wall s, peak RSS MiB of it and its children, stdout)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    # communicate() reaped it; its peak RSS is in this process's children usage (the largest child so far)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:6])} failed: {err[-2000:]}")
    import resource

    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return wall, peak, out


def _fresh_peak(argv: list[str]) -> tuple[float, float, str]:
    """Like :func:`_run`, but the peak RSS of this command alone (a helper process runs it and reports)."""
    code = (
        "import json, resource, subprocess, sys, time\n"
        "t0 = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t0\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "peak, cpu = u.ru_maxrss / 1024.0, u.ru_utime + u.ru_stime\n"
        "print(json.dumps({'wall': wall, 'peak': peak, 'cpu': cpu, 'code': p.returncode, 'out': p.stdout,"
        " 'err': p.stderr[-2000:]}))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, check=True)
    r = json.loads(done.stdout.strip().splitlines()[-1])
    if r["code"] != 0:
        raise RuntimeError(f"{' '.join(argv[:6])} failed: {r['err']}")
    _CPU.append(float(r["cpu"]))
    return float(r["wall"]), float(r["peak"]), str(r["out"])


_CPU: list[float] = []
"""CPU seconds (user + system, the command and its worker) of each :func:`_fresh_peak` command, in order."""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "wattwatch", *args]


def measure_push(url: str, rows: int, folder: Path) -> dict[str, Any]:
    from benchmarks.bench_report_rows import _template_row, write_history

    (folder / "template").mkdir(parents=True)
    history = folder / "history" / "emissions.csv"
    history.parent.mkdir()
    size = write_history(history, rows, _template_row(folder / "template"))
    load = os.getloadavg()[0]
    first = _fresh_peak(_cli("ledger", "push", str(history), "--db", url, "-q"))
    first_cpu = _CPU[-1]
    again = _fresh_peak(_cli("ledger", "push", str(history), "--db", url, "-q"))
    return {
        "cpu_s": first_cpu,
        "again_cpu_s": _CPU[-1],
        "load": [load, os.getloadavg()[0]],
        "rows": rows,
        "mb": size / 1e6,
        "push_s": first[0],
        "push_mib": first[1],
        "again_s": again[0],
        "again_mib": again[1],
        "summary": first[2].strip(),
        "again_summary": again[2].strip(),
    }


RESUMED_EVERY = 10
"""One run in 10 was resumed from a checkpoint: two segments (issue 24: ``report --db`` counts it once)."""
CROSSED_EVERY = 10
"""One resumed run in 10 began the month before its latest segment (its first segment in another month)."""
OVERLAP_EVERY = 1000
"""One run in 1,000 measured its machine while another run did (its overlap is taken off the totals once)."""


def _bench_run_id(i: int) -> str:
    return f"{i:08d}-0000-4000-8000-{i:012d}"


def fill_ledger(url: str, runs: int, *, batch: int = 20_000) -> float:
    """A ledger of ``runs`` runs, every table filled (see the module's docstring); returns the seconds it took.
    The rows are laid out by :func:`~wattwatch.ledger.schema.prepare_row`, as a push lays them out, so each table
    gets the schema's key (version 3: ``run_id``, ``segment``, ``start_time``) and the flags are set as a push
    sets them; ``report --db`` is checked to count them as the files' report would (:func:`measure_report`)."""
    from wattwatch.ledger.engine import open_engine, writer
    from wattwatch.ledger.migrate import ensure_schema
    from wattwatch.ledger.push import insert_many
    from wattwatch.ledger.schema import details, devices, phases, prepare_row, segments
    from wattwatch.ledger.schema import runs as runs_table
    from wattwatch.ledger.urls import parse_url
    from wattwatch.result import EmissionsData

    t0 = time.perf_counter()
    engine = open_engine(parse_url(url))
    ensure_schema(engine)
    base = EmissionsData(
        project_name="p", run_id="x", duration=3600.0, gpu_energy=1.0, cpu_energy=0.1, ram_energy=0.05,
        energy_consumed=1.15, emissions=0.06, status="completed", hostname="h", gpu_count=4,
        gpu_model="4 x NVIDIA H100 80GB HBM3", cpu_model="AMD EPYC 9654", cpu_count=192, ram_total_size=1536.0,
        embodied_emissions=0.002, energy_low_kwh=1.1, energy_high_kwh=1.2, tokens=10_000_000,
        intensity_source="static: FRA (CodeCarbon 3.3.2)", gpu_method="counter", cpu_method="model:tdp",
        ram_method="model:ram", energy_band="gpu=nvml-counter cpu=tdp-model", wattwatch_version="0.1.0",
    )  # fmt: skip
    try:
        for start in range(0, runs, batch):
            prepared = []
            for i in range(start, min(runs, start + batch)):
                month, day = 1 + i % 12, 1 + i % 28
                values = {
                    **base.__dict__,
                    "run_id": _bench_run_id(i),
                    "project_name": f"project-{i % 20}",
                    "user_name": f"user-{i % 50}",
                    "hostname": f"node-{i % 60:03d}",
                    "slurm_job_id": str(1_000_000 + i // 8),
                    "slurm_step_id": str(i % 8),
                    "start_time": f"2026-{month:02d}-{day:02d}T{i % 24:02d}:{i % 60:02d}:{i % 59:02d}+00:00",
                    "timestamp": f"2026-{month:02d}-{day:02d}T{(i + 1) % 24:02d}:00:00",
                    "energy_consumed": 1.0 + (i % 97) * 0.01,
                    "emissions": 0.05 + (i % 89) * 0.001,
                    "phase_energy_kwh": {"train": 0.9, "eval": 0.1},
                    "phase_emissions_kg": {"train": 0.045, "eval": 0.005},
                    "gpu_energy_by_device_kwh": {f"gpu:{d}": 0.25 for d in range(4)},
                    "gpu_method_by_device": {f"gpu:{d}": "counter" for d in range(4)},
                }
                if i % OVERLAP_EVERY == 1:  # measured the machine while the run before it did
                    values.update(overlaps_run_id=_bench_run_id(i - 1), overlap_energy_kwh=0.25)
                segments_of = 2 if i % RESUMED_EVERY == 0 else 1
                for segment in range(segments_of):  # a resumed run: its first segment, then the resumed one
                    data = EmissionsData(**{**values, "resumed_segments": segment})
                    other = segment + 1 < segments_of and i % (RESUMED_EVERY * CROSSED_EVERY) == 0
                    if other:  # begun the month before: its first segment is in another --by month group
                        data.start_time = f"2025-12-{day:02d}T00:00:00+00:00"
                    row = prepare_row(data, full_row=True, source="bench", pushed_at="", embodied=(0.002, False))
                    if segment + 1 < segments_of:  # not the run's latest (push keeps these flags)
                        row.segment_values = row.segment_values[:-2] + (other, False)
                    prepared.append(row)
            with writer(engine).begin() as conn:
                insert_many(conn, runs_table, [p.run_values for p in prepared if p.segment == 0])
                insert_many(conn, segments, [p.segment_values for p in prepared])
                insert_many(conn, details, [p.detail_values for p in prepared])
                insert_many(conn, phases, [v for p in prepared for v in p.phase_values])
                insert_many(conn, devices, [v for p in prepared for v in p.device_values])
        if engine.dialect.name == "postgresql":  # as autovacuum leaves a table at rest (not during the timings)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            with writer(engine).begin() as conn:
                conn.exec_driver_sql("PRAGMA optimize")
    finally:
        engine.dispose()
    return time.perf_counter() - t0


REPORTS = (("report --db", ()), *((f"report --db --by {b}", ("--by", b)) for b in ("project", "user", "month", "host", "job")))


def measure_report(url: str, runs: int, repeat: int) -> dict[str, Any]:
    fill_s = fill_ledger(url, runs)
    out: dict[str, Any] = {"runs": runs, "fill_s": fill_s}
    _run(_cli("report", "--db", url))  # a first read: the database's files in the page cache, as on a server
    for name, extra in REPORTS:
        walls, peaks = [], []
        for _ in range(repeat):
            wall, peak, _text = _fresh_peak(_cli("report", "--db", url, *extra))
            walls.append(wall)
            peaks.append(peak)
        out[name] = {"s": statistics.median(walls), "mib": statistics.median(peaks), "runs_s": walls,
                     "cpu_s": statistics.median(_CPU[-repeat:]), "load": os.getloadavg()[0]}  # fmt: skip
    tot = json.loads(_run(_cli("report", "--db", url, "--json"))[2])["totals"]  # what was counted
    expected = runs + (runs + RESUMED_EVERY - 1) // RESUMED_EVERY
    if tot["runs"] != runs or tot["segments"] != expected or not tot["overlap_kwh"] > 0:
        raise RuntimeError(f"report --db counted {tot['runs']} runs in {tot['segments']} segments: wrong")
    out["segments"], out["overlap_kwh"] = tot["segments"], tot["overlap_kwh"]
    return out


_STOP_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])
from fakesensors import ConstantPowerSensor
from wattwatch import Tracker
url = sys.argv[2]
t = Tracker(output_dir=sys.argv[1], sensors=[ConstantPowerSensor(300.0, n=4)], country_iso_code="FRA",
            handle_signals=False, save_timeseries=False, environ={}, ledger_url=url, log_level="error")
t0 = time.perf_counter()
t.start()
sink = t._recorder.ledger
time.sleep(1.0)
ready = sink.ready.wait(60) if sink is not None else True  # a run longer than the ledger's thread's set-up
ready_s = time.perf_counter() - t0
t0 = time.perf_counter()
t.stop()
dt = time.perf_counter() - t0
print(json.dumps({"stop_s": dt, "ready_s": ready_s, "pushed": bool(sink is not None and sink.done.is_set() and sink.pushed)}))
"""


def measure_stop(url: str, rounds: int, folder: Path) -> dict[str, Any]:
    times: dict[str, list[float]] = {"with": [], "without": []}
    ready: list[float] = []
    pushed = 0
    for i in range(rounds):
        for kind in ("with", "without") if i % 2 == 0 else ("without", "with"):
            out = folder / f"{kind}{i}"
            argv = [sys.executable, "-c", _STOP_CHILD, str(out), url if kind == "with" else "", str(ROOT / "tests" / "support")]
            done = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-2000:])
            r = json.loads(done.stdout.strip().splitlines()[-1])
            times[kind].append(float(r["stop_s"]))
            pushed += int(kind == "with" and r["pushed"])
            if kind == "with":
                ready.append(float(r["ready_s"]))
    w, wo = statistics.median(times["with"]), statistics.median(times["without"])
    p99 = sorted(times["with"])[max(0, int(len(times["with"]) * 0.99) - 1)]
    return {"with_s": w, "without_s": wo, "extra_s": w - wo, "with_max_s": max(times["with"]), "with_p99_s": p99,
            "without_max_s": max(times["without"]),
            "pushed": pushed, "rounds": rounds, "times": times,
            "ready_s": statistics.median(ready) if ready else 0.0}  # fmt: skip


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--push-rows", type=int, default=200_000)
    parser.add_argument("--report-runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stop-rounds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (numbers not for publishing)")
    parser.add_argument("--write", action="store_true", help="write the figures into benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.push_rows, args.report_runs, args.repeat, args.stop_rounds = 2000, 5000, 1, 2
    import pgserver

    from benchmarks.common import machine_info

    binaries = pgserver.find_binaries()
    if binaries is None:
        print(pgserver.missing_reason(), file=sys.stderr)
        return 2
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the server and temp folders are cleaned up
    t_all = time.perf_counter()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="wattwatch-bench-ledger-") as tmp, pgserver.PostgresServer(
        binaries, durable=True
    ) as server:
        base = Path(tmp)
        for kind, url in (("sqlite", f"sqlite:///{base / 'push.db'}"), ("postgresql", server.url)):
            results[f"push_{kind}"] = measure_push(url, args.push_rows, base / f"push-{kind}")
            print(kind, "push", json.dumps(results[f"push_{kind}"]), flush=True)
        server.reset()
        for kind, url in (("sqlite", f"sqlite:///{base / 'report.db'}"), ("postgresql", server.url)):
            results[f"report_{kind}"] = measure_report(url, args.report_runs, args.repeat)
            print(kind, "report", json.dumps(results[f"report_{kind}"]), flush=True)
        server.reset()
        for kind, url in (("sqlite", f"sqlite:///{base / 'stop.db'}"), ("postgresql", server.url)):
            results[f"stop_{kind}"] = measure_stop(url, args.stop_rounds, base / f"stop-{kind}")
            print(kind, "stop", json.dumps(results[f"stop_{kind}"]), flush=True)
    elapsed = time.perf_counter() - t_all
    text = _render(results, args, machine_info(), elapsed, binaries)
    print(text)
    if args.write and not args.quick:
        from benchmarks.common import write_section

        write_section(HEADING, text, RESULTS)
    return 0


def _render(r: dict[str, Any], args: argparse.Namespace, machine: dict[str, str], elapsed: float, binaries: Path) -> str:
    pg_version = subprocess.run([str(binaries / "postgres"), "--version"], capture_output=True, text=True).stdout.strip()
    import sqlalchemy

    lines = [
        f"Written by `python -m benchmarks.bench_ledger --write` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"in {elapsed:.0f} s. Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
        f"{machine.get('ram', '?')}; SQLAlchemy {sqlalchemy.__version__}, SQLite (Python's), {pg_version} "
        "(Debian's package, started by the benchmark in a temp folder, fsync and synchronous commits on, "
        "shared_buffers 128MB, over 127.0.0.1). The machine is shared: timings are noisy. CodeCarbon has no "
        "SQL ledger (its API server is a remote service), so there is no CodeCarbon column.",
        "",
        "| # | figure | SQLite | PostgreSQL | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    ps, pp = r["push_sqlite"], r["push_postgresql"]
    lines.append(
        f"| L1 | `wattwatch ledger push FILE --db URL`, {ps['rows']:,} rows ({ps['mb']:.0f} MB), empty ledger: wall time "
        f"(CPU s of the process and its worker; 1-min load average before -> after) "
        f"| {ps['push_s']:.1f} s ({ps['cpu_s']:.1f} CPU s; load {ps['load'][0]:.1f} -> {ps['load'][1]:.1f}) "
        f"| {pp['push_s']:.1f} s ({pp['cpu_s']:.1f} CPU s; load {pp['load'][0]:.1f} -> {pp['load'][1]:.1f}) "
        f"| <= 30 s / <= 60 s | {_met(ps['push_s'] <= 30)} / {_met(pp['push_s'] <= 60)} |"
    )
    lines.append(
        f"| L2 | the same push: peak RSS (the larger of the process and its worker) | {ps['push_mib']:.0f} MiB | "
        f"{pp['push_mib']:.0f} MiB | < 150 MB | {_met(max(ps['push_mib'], pp['push_mib']) * 2**20 < 150e6)} |"
    )
    lines.append(
        f"| L2b | the same push again (nothing added: idempotent) | {ps['again_s']:.1f} s ({ps['again_cpu_s']:.1f} CPU s) "
        f"| {pp['again_s']:.1f} s ({pp['again_cpu_s']:.1f} CPU s) | — | — |"
    )
    rs, rp = r["report_sqlite"], r["report_postgresql"]
    for n, (name, _) in enumerate(REPORTS):
        s, p = rs[name], rp[name]
        lines.append(
            f"| L3.{n} | `wattwatch {name} URL` over {rs['runs']:,} runs ({rs['segments']:,} segments): wall time "
            f"(fresh process), CPU s, peak RSS; 1-min load average | "
            f"{s['s']:.2f} s ({s['cpu_s']:.2f} CPU s), {s['mib']:.0f} MiB; load {s['load']:.1f} | {p['s']:.2f} s "
            f"({p['cpu_s']:.2f} CPU s; the server's own not counted), {p['mib']:.0f} MiB; load {p['load']:.1f} | "
            "<= 3 s / <= 2 s, < 100 MB | "
            f"{_met(s['s'] <= 3 and p['s'] <= 2 and max(s['mib'], p['mib']) * 2**20 < 100e6)} |"
        )
    ss, sp = r["stop_sqlite"], r["stop_postgresql"]
    lines.append(
        f"| L4 | `stop()` with a ledger URL minus without (medians of {ss['rounds']} alternated fresh processes, "
        f"4 fake GPUs + FRA; slowest of each) | {ss['extra_s'] * 1000:+.1f} ms ({ss['without_s'] * 1000:.1f} -> "
        f"{ss['with_s'] * 1000:.1f} ms; slowest {ss['without_max_s'] * 1000:.1f} -> {ss['with_max_s'] * 1000:.1f} ms) | "
        f"{sp['extra_s'] * 1000:+.1f} ms ({sp['without_s'] * 1000:.1f} -> {sp['with_s'] * 1000:.1f} ms; slowest "
        f"{sp['without_max_s'] * 1000:.1f} -> {sp['with_max_s'] * 1000:.1f} ms) | <= 100 ms more | "
        f"{_met(ss['with_max_s'] - ss['without_max_s'] <= 0.1 and sp['with_max_s'] - sp['without_max_s'] <= 0.1)} |"
    )
    lines.append(
        f"| L4b | rows in the database when `stop()` returned | {ss['pushed']} of {ss['rounds']} | "
        f"{sp['pushed']} of {sp['rounds']} | — | — |"
    )
    lines.append(
        f"| L4c | from `start()` to the ledger's thread ready (SQLAlchemy imported, connected, schema checked, "
        f"inserts compiled), while the run goes on: median | {ss['ready_s']:.2f} s | {sp['ready_s']:.2f} s "
        "(the 1 s of 'training' included) | — | — |"
    )
    lines += [
        "",
        f"Filling the {rs['runs']:,}-run ledgers ({rs['segments']:,} segments: one run in {RESUMED_EVERY} resumed "
        f"(one of those in {CROSSED_EVERY} from the month before), "
        f"one in {OVERLAP_EVERY:,} overlapping another; Core inserts / COPY, every table): SQLite {rs['fill_s']:.0f} s, "
        f"PostgreSQL {rp['fill_s']:.0f} s. `report --db --json` counted {rs['runs']:,} runs in {rs['segments']:,} "
        f"segments on both, {rs['overlap_kwh']:.6g} kWh of overlap counted once. Report runs (s): "
        + "; ".join(f"{name}: SQLite {', '.join(f'{v:.2f}' for v in rs[name]['runs_s'])}, PostgreSQL "
                    f"{', '.join(f'{v:.2f}' for v in rp[name]['runs_s'])}" for name, _ in REPORTS)  # fmt: skip
        + ". Push summaries: SQLite `" + ps["summary"] + "`, again `" + ps["again_summary"] + "`; PostgreSQL `"
        + pp["summary"] + "`.",
        "",
        HOW_BY,
    ]
    return "\n".join(lines)


HOW_BY = (
    "How `--by` gets there. SQLite groups by sorting: grouping the 1,100,000 segments sorted each one's 13 summed "
    "values (1.6-1.9 CPU s), and the figures measured on 2026-12-07 before this change were SQLite 2.1-3.8 s by "
    "load (--by project 3.25 s, user 3.66 s, month 3.23 s at load 2.9-3.8: not met). A SQLite ledger now keeps "
    "those per-group sums in `group_sums`, kept by triggers on `segments` in every write's own transaction "
    "(`wattwatch/ledger/group_sums.py`, checked against grouping the segments in "
    "`tests/ledger/test_group_sums.py`), so `--by` reads one row per group and adds the few corrections; what it "
    "costs is in L1 (the triggers' 5 upserts per segment: 21.7 s without them, 25.4 s with, in one run side by "
    "side at load 2-3) and in the fill time. PostgreSQL hashes the groups in parallel workers; its report session "
    "now also turns JIT off (compiling the sums' expressions took 140 ms of each statement, and loading LLVM into "
    "each new server process about 0.6 s of the first) and sums counts as integers, not `numeric`: `--by job` "
    "was 2.06-2.31 s (not met)."
)
"""What the section says of how ``--by`` is computed, and the figures before (written with every run)."""


if __name__ == "__main__":
    sys.exit(main())
