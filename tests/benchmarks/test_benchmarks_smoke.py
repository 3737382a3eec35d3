"""Smoke test of the benchmarks: every module imports and its core functions run with tiny sizes.

No timing assertions (the numbers live in benchmarks/RESULTS.md); only that results are finite and well formed.
"""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import gpu_validate  # noqa: E402
from benchmarks.common import (  # noqa: E402
    BusyCores,
    Figure,
    percentile,
    render_table,
    run_child,
    spread,
    user_python,
    write_readme_table,
    write_results,
)

MODULES = [
    "benchmarks.common",
    "benchmarks.child",
    "benchmarks.rank_worker",
    "benchmarks.bench_startup",
    "benchmarks.bench_import",
    "benchmarks.bench_cpu",
    "benchmarks.bench_accuracy",
    "benchmarks.bench_throughput",
    "benchmarks.bench_flatness",
    "benchmarks.bench_history",
    "benchmarks.bench_multirank",
    "benchmarks.bench_stop",
    "benchmarks.bench_callback",
    "benchmarks.bench_report_rows",
    "benchmarks.run_all",
    "benchmarks.gpu_validate",
    "benchmarks.bench_report",
    "benchmarks.bench_exporter",
]


@pytest.mark.parametrize("name", MODULES)
def test_imports(name: str) -> None:
    assert importlib.import_module(name).__all__


def test_results_writer_keeps_gpu_section(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    figs = [
        Figure("1", "latency", 0.01, 1.0, "s", "ratio < 0.1", True),
        Figure("7", "flat", 0.0, None, "MiB", "flat", True, cc_text="not measured (why)"),
    ]
    text = write_results(figs, command="test", elapsed_s=1.0, path=path)
    assert "| 1 | latency | 0.01 s | 1 s | 0.01 | ratio < 0.1 | met |" in text
    assert "not measured (why)" in text and "## GPU\n\nnot yet run" in text
    gpu_validate.write_gpu_section("GPU numbers here", path=path)
    text = write_results(figs, command="test", elapsed_s=1.0, path=path)
    assert text.endswith("## GPU\n\nGPU numbers here\n") and text.count("## GPU") == 1
    assert render_table(figs).count("\n") == 3
    assert spread([1.0, 2.0, 3.0, 4.0, 5.0]) > 0 and spread([2.0]) == 0


def test_gpu_validate_analysis_on_synthetic_samples() -> None:
    # 200 W from t=0 to 1 s, 50 W from 1 s to 2 s, polled every 10 ms; counter exact, averaged power lags 1 s.
    samples = []
    for i in range(201):
        t = i * 0.01
        e = 200 * min(t, 1.0) + 50 * max(0.0, t - 1.0)
        inst = 200.0 if t < 1.0 else 50.0
        samples.append(gpu_validate.Sample(t, e, inst, 200.0))
    assert samples[-1].counter_j == pytest.approx(250.0)
    res = gpu_validate.compare_power_to_counter(samples)
    assert set(res) == {"0.01", "0.1", "1"}
    assert abs(res["0.01"]["instant"]) < 0.01  # one trapezoid across the edge
    assert res["0.01"]["average"] == pytest.approx(400 / 250 - 1)
    assert all(math.isfinite(v) for row in res.values() for v in row.values())
    assert gpu_validate.counter_between(samples, 0.5, 1.5) == pytest.approx(125.0)
    assert gpu_validate.integrate([0, 1, 2], [10, float("nan"), 10]) == pytest.approx(20.0)
    assert len(gpu_validate.subsample(samples, 1.0)) == 3
    assert "+0.00 %" in gpu_validate.render("G", {"1": {"instant": 0.0, "average": 0.0}}, {}, {})


def test_sampler_cost_and_flatness_tiny() -> None:
    pytest.importorskip("psutil")
    from benchmarks.bench_cpu import sampler_cost
    from benchmarks.bench_flatness import simulate

    try:
        cost = sampler_cost(n_gpus=2, samples=5)
    except RuntimeError as exc:  # no compiler / no nvml.h on this machine
        pytest.skip(str(exc))
    for path in ("counter", "power"):
        assert cost[path]["channels"] == 2
        assert math.isfinite(cost[path]["cpu_s_per_hour"]) and cost[path]["cpu_s_per_sample"] >= 0
    r = simulate(0.01)
    assert r["samples"] == 360 and abs(r["energy_error"]) < 1e-9 and r["timeseries_bytes"] > 0


def test_percentile_is_an_observed_value() -> None:
    xs = [float(i) for i in range(1, 51)]
    assert percentile(xs, 99) == 50.0 and percentile(xs, 50) == 25.0 and percentile(xs, 0) == 1.0
    assert math.isnan(percentile([], 99))


def test_busy_cores_pause_resume_and_are_reaped() -> None:
    import os

    def state(pid: int) -> str:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]

    with BusyCores(1) as busy:
        (pid,) = busy.pids
        assert state(pid) == "T"  # starts paused
        busy.resume()
        assert state(pid) != "T"
        busy.pause()
        assert state(pid) == "T"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped


def test_user_python_starts_without_pth_imports(tmp_path: Path) -> None:
    import os
    import subprocess

    python, extra = user_python(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | extra
    code = "import sys, wattwatch; print('pathlib' in sys.modules, wattwatch.__file__)"
    out = subprocess.run(
        [python, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "False" and out[1].startswith(str(ROOT))


def test_child_stop_latency_and_cli_modes(tmp_path: Path) -> None:
    from benchmarks.bench_report_rows import write_history

    r = run_child("stop-latency", "ww", None, "--out", str(tmp_path), "--runs", "2", "--seconds", "0")
    assert len(r.result["stop_s"]) == 2 and all(s >= 0 for s in r.result["stop_s"])
    assert r.result["vmhwm_mib"] > 5
    template = {
        "run_id": "x",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "energy_consumed": "1",
        "emissions": "1",
    }
    history = tmp_path / "emissions.csv"
    assert write_history(history, 5, template) > 0
    r = run_child("cli", "ww", None, "--cli", "report", str(history), "--json")
    assert r.result["code"] == 0 and r.result["cli_s"] > 0


def test_child_hf_mode(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    r = run_child("hf", "ww", None, "--out", str(tmp_path), "--steps", "1")
    assert r.result["hooks_s"] > 0 and r.result["setup_s"] > 0 and r.result["train_s"] > 0
    assert (tmp_path / "emissions.csv").exists()


def test_readme_table_is_replaced_between_its_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench-table -->\nold table\n<!-- /bench-table -->\noutro\n")
    figs = [Figure("1.4", "start", 0.05, 2.0, "s", "ratio <= 1/20", True)]
    assert write_readme_table(figs, command="scripts/bench", path=readme)
    text = readme.read_text()
    assert "old table" not in text and text.startswith("intro\n<!-- bench-table -->\n`scripts/bench` on ")
    assert (
        "| 1.4 | start | 0.05 s | 2 s | 0.025 | ratio <= 1/20 | met |\n<!-- /bench-table -->\noutro\n" in text
    )
    nomarkers = tmp_path / "other.md"
    nomarkers.write_text("no table here\n")
    assert not write_readme_table(figs, command="x", path=nomarkers)
    assert nomarkers.read_text() == "no table here\n"


@pytest.mark.rows_unchecked("the benchmark's history rows are made up (realistic cells, numbers that need not agree)")
def test_history_rows_are_realistic(tmp_path: Path) -> None:
    from benchmarks import bench_history

    size = bench_history.make_history(tmp_path / "emissions.csv", 50)
    from wattwatch.sinks.emissions_reader import read_table

    table = read_table(tmp_path / "emissions.csv")
    assert len(table.rows) == 50 and len({r["run_id"] for r in table.rows}) == 50
    assert 900 <= size / 50 <= 1200  # ~1 KB a row, as the history
    assert all(table.rows[0][c] for c in ("cpu_model", "gpu_model", "phase_energy_kwh", "status"))


def test_history_benchmark_runs(tmp_path: Path) -> None:
    from benchmarks import bench_history

    figs = bench_history.measure((10, 30), flushes=2)
    assert [f.key for f in figs] == ["H1", "H2", "H3"]
    assert all(f.ww is not None and math.isfinite(f.ww) for f in figs)


def test_history_figures_go_into_results_without_touching_the_rest(tmp_path: Path) -> None:
    from benchmarks import bench_history

    path = tmp_path / "RESULTS.md"
    figs = [Figure("1", "latency", 0.01, 1.0, "s", "ratio < 0.1", True, note="first note")]
    write_results(figs, command="test", elapsed_s=1.0, path=path)
    h = [
        Figure("H1", "flush", 0.5, None, "ms", "<= 5 ms", True, note="how H was measured"),
        Figure("H2", "stop", 1.0, None, "ms", "<= 100 ms", True),
    ]
    text = bench_history.record_results(h, "cmd", path=path)
    again = bench_history.record_results(h, "cmd", path=path)
    assert text.count("| H1 |") == 1 and again.count("| H1 |") == 1 and again.count("- **H1.") == 1
    assert "| 1 | latency |" in again and "first note" in again
    assert again.index("- **H1.") < again.index("## GPU") and "not yet run" in again.split("## GPU")[1]
    table = [ln for ln in again.splitlines() if ln.startswith("|")]
    assert table[-1].startswith("| H2 |")  # in the table, after the other figures


def test_html_report_section_survives_the_other_writers(tmp_path: Path) -> None:
    from benchmarks.bench_report import HEADING
    from benchmarks.common import write_section

    path = tmp_path / "RESULTS.md"
    figs = [Figure("1", "latency", 0.01, 1.0, "s", "ratio < 0.1", True)]
    write_results(figs, command="test", elapsed_s=1.0, path=path)
    write_section(HEADING, "10,000 runs: 0.7 s", path)
    gpu_validate.write_gpu_section("GPU numbers here", path=path)
    text = write_results(figs, command="test", elapsed_s=1.0, path=path)
    assert text.count(HEADING) == 1 and "10,000 runs: 0.7 s" in text and "GPU numbers here" in text
    write_section(HEADING, "10,000 runs: 0.8 s", path)
    assert (
        path.read_text().count(HEADING) == 1
        and "0.8 s" in path.read_text()
        and "0.7 s" not in path.read_text()
    )


def test_check_benchmark_runs_on_consistent_rows(tmp_path: Path) -> None:
    """Figure 12's history: rows a tracker wrote, scaled row by row, every figure still agreeing (the check
    must recompute everything and find nothing), and the figure's harness around ``wattwatch check``."""
    from benchmarks import bench_check

    figs = bench_check.measure(rows=200, rounds=1)
    assert [f.key for f in figs] == ["12a", "12b"] and all(f.met for f in figs)


def test_cpu_per_hour_is_the_first_hour() -> None:
    """Figure 4: what the first 330 s cost, then the rest of the hour at the rate of the last 30 s."""
    from benchmarks.bench_cpu import _first_hour

    marks = [[float(t), 0.01 * min(t, 100) + 0.001 * max(0, t - 100)] for t in range(10, 331, 10)]
    assert _first_hour(marks, 30.0) == pytest.approx(marks[-1][1] + 0.001 * (3600 - 330))


@pytest.mark.rows_unchecked("the benchmark's history rows are made up (realistic cells, numbers that need not agree)")
def test_users_folder_has_history_and_journals_and_a_cycle_runs_in_it(tmp_path: Path) -> None:
    """The users' set-up of figures 1 and 9: history rows, a live journal that a start leaves and a dead one it
    adds as a row; CodeCarbon's template holds its own rows (it appends instead of backing the file up)."""
    import os

    sys.path.insert(0, str(ROOT / "tests" / "support"))
    import fakenvml

    from benchmarks.common import fake_rig
    from benchmarks.userdir import fresh_copy, user_folders
    from wattwatch.sinks.emissions_reader import read_table

    rig = fake_rig(tmp_path / "rig", fakenvml.square_wave_gpus(2))
    with user_folders(tmp_path / "tpl", rig.env, rows=30, live=1, dead=1, run_s=0.2) as folders:
        journals = sorted(p.name for p in (folders.ww / ".wattwatch" / "runs").glob("*.json"))
        assert len(journals) == 2 and sum(name.endswith("-live.json") for name in journals) == 1
        assert len(read_table(folders.ww / "emissions.csv").rows) == 31  # history + the finished run
        assert (folders.cc / "emissions.csv").read_text().count("\n") == 31  # header + 30 of CodeCarbon's
        assert list(folders.ww.glob("*.timeseries.csv"))
        out = fresh_copy(folders.ww, tmp_path / "ww")
        r = run_child("cycle", "ww", rig.env, "--out", str(out))
        assert r.result["start_s"] > 0 and r.result["stop_s"] > 0
        left = [p.name for p in (out / ".wattwatch" / "runs").glob("*.json")]
        assert left == [n for n in journals if n.endswith("-live.json")]  # the dead run became a row
        assert len(read_table(out / "emissions.csv").rows) == 33
        owners = [p.pid for p in folders.owners]
    for pid in owners:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
