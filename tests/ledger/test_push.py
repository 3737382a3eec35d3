"""``wattwatch ledger push``: idempotent (keyed by run and segment), the same rows ``report`` counts, and
``report --db`` totals equal to ``report PATH``'s on the same runs -- on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from ledgerruns import count_rows, make_run

from wattwatch.cli.main import main


def _push(capsys: pytest.CaptureFixture[str], url: str, *paths: Path) -> str:
    assert main(["ledger", "push", *map(str, paths), "--db", url]) == 0
    return capsys.readouterr().out


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    capsys.readouterr()
    assert main(["report", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _history(tmp_path: Path) -> Path:
    """A folder as teams have them: two projects, a resumed run (two segments), a failed run, token counts."""
    folder = tmp_path / "runs"
    make_run(folder, project="llm", tokens=1000, phases=("train", "eval"))
    t, _ = make_run(folder, project="llm", tokens=500)
    state = t.state_dict()
    make_run(folder, project="llm", state=state, tokens=700)  # the resumed segment of the same run
    make_run(folder / "vision", project="vision", environ={"USER": "bob", "SLURM_JOB_ID": "77", "SLURM_STEP_ID": "0"})
    try:
        with __import__("wattwatch").Tracker(
            project_name="vision",
            output_dir=folder / "vision",
            sensors=[__import__("fakesensors").ConstantPowerSensor(50.0)],
            carbon_intensity_g_per_kwh=400.0,
            handle_signals=False,
            save_timeseries=False,
            ledger_url="",
        ):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    return folder


def test_push_twice_adds_nothing_and_totals_equal_the_files(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _history(tmp_path)
    first = _push(capsys, db_url, folder)
    counts = count_rows(db_url)
    assert counts["segments"] == 5 and counts["runs"] == 4 and counts["segment_details"] == 5
    assert counts["devices"] == 2 * 4 + 1  # two fake GPUs per run, one on the failed run
    assert "5 segments added" in first
    second = _push(capsys, db_url, folder)
    assert count_rows(db_url) == counts
    assert "0 segments added, 0 updated, 5 already there" in second

    files = _json(capsys, str(folder))["totals"]
    db = _json(capsys, "--db", db_url)["totals"]
    assert db["runs"] == files["runs"] == 5
    assert db["by_status"] == files["by_status"] == {"completed": 4, "failed": 1}
    for key in ("duration_s", "gpu_energy_kwh", "cpu_energy_kwh", "ram_energy_kwh", "energy_kwh", "emissions_kg",
                "embodied_emissions_kg", "water_l", "energy_low_kwh", "energy_high_kwh", "intensity_g_per_kwh"):  # fmt: skip
        assert db[key] == pytest.approx(files[key], rel=1e-12, abs=1e-15), key
    assert db["run_ids"] == 4

    grouped = _json(capsys, "--db", db_url, "--by", "project")
    assert grouped["groups_total"] == grouped["groups_listed"] == 2
    assert [g["key"] for g in grouped["groups"]] == sorted(by_kg := {g["key"]: g["emissions_kg"] for g in grouped["groups"]}, key=lambda k: -by_kg[k])
    by = {g["key"]: g for g in grouped["groups"]}
    assert set(by) == {"llm", "vision"} and by["llm"]["runs"] == 3 and by["vision"]["runs"] == 2
    assert grouped["totals"]["energy_kwh"] == pytest.approx(files["energy_kwh"], rel=1e-12)
    users = {g["key"]: g["runs"] for g in _json(capsys, "--db", db_url, "--by", "user")["groups"]}
    assert users["alice"] == 3 and users["bob"] == 1 and sum(users.values()) == 5
    jobs = {g["key"]: g["runs"] for g in _json(capsys, "--db", db_url, "--by", "job")["groups"]}
    assert jobs["77"] == 1


def test_one_line_per_run_across_its_segments(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "runs"
    t, first = make_run(folder, tokens=500)
    _, second = make_run(folder, state=t.state_dict(), tokens=700)
    _push(capsys, db_url, folder)
    runs = _json(capsys, "--db", db_url)["runs"]
    assert len(runs) == 1 and runs[0]["segments"] == 2 and runs[0]["run_id"] == first.run_id
    assert runs[0]["energy_kwh"] == pytest.approx(first.energy_consumed + second.energy_consumed, rel=1e-12)
    assert runs[0]["tokens"] == 1200  # the run's count (cumulative across segments)
    joules = (first.energy_consumed + second.energy_consumed) * 3.6e6
    assert runs[0]["joules_per_token"] == pytest.approx(joules / 1200, rel=1e-9)


def test_a_running_run_is_replaced_by_its_final_row(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A push while the run goes takes its journal (status running); the next push after its end replaces it."""
    from fakesensors import ConstantPowerSensor

    from wattwatch import Tracker

    folder = tmp_path / "live"
    t = Tracker(output_dir=folder, sensors=[ConstantPowerSensor(100.0)], carbon_intensity_g_per_kwh=100.0,
                handle_signals=False, save_timeseries=False, ledger_url="")  # fmt: skip
    t.start()
    t.flush()
    _push(capsys, db_url, folder)
    assert _json(capsys, "--db", db_url)["totals"]["by_status"] == {"running": 1}
    final = t.stop()
    assert final is not None
    out = _push(capsys, db_url, folder)
    assert "0 segments added, 1 updated" in out
    db = _json(capsys, "--db", db_url)["totals"]
    assert db["by_status"] == {"completed": 1}
    assert db["energy_kwh"] == pytest.approx(final.energy_consumed, rel=1e-12)
    assert count_rows(db_url)["segments"] == 1


def test_codecarbon_file_and_the_fuller_row(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A CodeCarbon file (no status, no embodied column) is pushed with its embodied CO2 computed as report
    computes it; the same segment in a fuller file wins whatever order the files are read in."""
    folder = tmp_path / "cc"
    folder.mkdir()
    header = ["timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions", "emissions_rate",
              "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed",
              "country_name", "country_iso_code", "cpu_count", "cpu_model", "gpu_count", "gpu_model", "ram_total_size"]  # fmt: skip
    rows = [
        ["2026-01-02T10:00:00", "cc", "cc-run-1", "", "3600", "0.05", "1e-5", "40", "300", "10", "0.04", "0.3",
         "0.01", "0.35", "France", "FRA", "8", "Intel Xeon", "1", "1 x NVIDIA A100", "64"],
        ["2026-01-03T10:00:00", "cc", "cc-run-2", "", "60", "0.001", "1e-5", "40", "0", "10", "0.001", "0",
         "0.0002", "0.0012", "France", "FRA", "8", "Intel Xeon", "0", "", "64"],
    ]  # fmt: skip
    with open(folder / "a_codecarbon.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    _push(capsys, db_url, folder)
    files = _json(capsys, str(folder))["totals"]
    db = _json(capsys, "--db", db_url)["totals"]
    assert db["embodied_emissions_kg"] == pytest.approx(files["embodied_emissions_kg"], rel=1e-12)
    assert db["embodied_emissions_kg"] > 0 and db["by_status"] == {"unknown": 2}
    # the same run in a file with wattwatch's columns (a status): the fuller row replaces the CodeCarbon one
    with open(folder / "a_codecarbon.csv", newline="") as fh:
        first = next(csv.DictReader(fh))
    first.update(status="completed", energy_consumed="0.5", resumed_segments="0")
    with open(folder / "b_full.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(first))
        writer.writeheader()
        writer.writerow(first)
    _push(capsys, db_url, folder)
    db = _json(capsys, "--db", db_url)["totals"]
    assert db["runs"] == 2 and db["by_status"] == {"completed": 1, "unknown": 1}
    assert db["energy_kwh"] == pytest.approx(0.5 + 0.0012)
    assert _json(capsys, str(folder))["totals"]["energy_kwh"] == pytest.approx(db["energy_kwh"])


@pytest.mark.rows_unchecked("the history's copies are made up (one real row's cells, energies changed)")
def test_a_large_history_is_pushed_by_two_processes(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker process takes every other row: every row lands once, whoever pushed it."""
    import wattwatch.ledger.bulk as bulk

    folder = tmp_path / "many"
    for _ in range(3):
        make_run(folder)
    monkeypatch.setattr(bulk, "PARALLEL_MIN_BYTES", 1)
    with open(folder / "emissions.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        template = next(reader)
        names = reader.fieldnames or []
    with open(folder / "emissions.csv", "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        for i in range(301):
            writer.writerow({**template, "run_id": f"copy-{i:04d}", "energy_consumed": repr(0.001 * (i + 1))})
    out = _push(capsys, db_url, folder)
    assert "304 segments added" in out
    files = _json(capsys, str(folder))["totals"]
    db = _json(capsys, "--db", db_url)["totals"]
    assert db["runs"] == files["runs"] == 304
    assert db["energy_kwh"] == pytest.approx(files["energy_kwh"], rel=1e-12)
    assert "304 already there" in _push(capsys, db_url, folder)


def test_html_page_and_its_figures_equal_the_files(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``report --db --html``: the page's figures over every run (totals, CO2 by component, by phase) are the
    ones ``report PATH --html`` draws from the files."""
    from wattwatch.ledger.engine import open_engine
    from wattwatch.ledger.overview import overall_from_ledger
    from wattwatch.ledger.urls import parse_url
    from wattwatch.report.overall import overall_of
    from wattwatch.report.rollup import collect_rollup

    folder = _history(tmp_path)
    _push(capsys, db_url, folder)
    page = tmp_path / "ledger.html"
    assert main(["report", "--db", db_url, "--html", str(page), "--html-runs", "3"]) == 0
    text = page.read_text()
    assert "wattwatch ledger report" in text and "Content-Security-Policy" in text
    files = overall_of(collect_rollup([str(folder)]))
    engine = open_engine(parse_url(db_url))
    try:
        with engine.connect() as conn:
            db = overall_from_ledger(conn)
    finally:
        engine.dispose()
    assert db.runs == files.runs == 5
    for key, value in files.totals.items():
        assert db.totals[key] == pytest.approx(value, rel=1e-12), key
    for component, (op, emb) in files.by_component.items():
        assert db.by_component[component] == (pytest.approx(op, rel=1e-9), pytest.approx(emb, rel=1e-9)), component
    assert set(db.by_phase) == set(files.by_phase)
    for phase, (kwh, kg) in files.by_phase.items():
        assert db.by_phase[phase] == (pytest.approx(kwh, rel=1e-12), pytest.approx(kg, rel=1e-12))
    assert db.cumulative[-1][1] == pytest.approx(files.cumulative[-1][1], rel=1e-12)
    assert main(["ledger", "info", "--db", db_url]) == 0
    assert "schema version 1, 4 runs, 5 segments" in capsys.readouterr().out


def test_all_runs_are_streamed(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _history(tmp_path)
    _push(capsys, db_url, folder)
    doc = _json(capsys, "--db", db_url, "--all")
    assert doc["runs_listed"] == 4 and sum(r["segments"] for r in doc["runs"]) == 5
    assert [r["run_id"] for r in doc["runs"]] == sorted(r["run_id"] for r in doc["runs"])
    assert sum(r["energy_kwh"] for r in doc["runs"]) == pytest.approx(doc["totals"]["energy_kwh"], rel=1e-12)
    limited = _json(capsys, "--db", db_url, "--limit", "2")
    assert limited["runs_listed"] == 2
    assert main(["report", "--db", db_url, "--all", "--project", "llm"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[-1].startswith("TOTAL") and "3 run(s)" in text[-1] and len(text) == 2 + 2 + 1


def test_groups_beyond_the_limit_are_counted(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--by job`` on a ledger of many jobs lists the ``--limit`` largest, and the TOTAL counts every one."""
    folder = tmp_path / "jobs"
    for job in range(4):
        make_run(folder, environ={"USER": "a", "SLURM_JOB_ID": str(100 + job)}, watts=100.0 * (job + 1))
    _push(capsys, db_url, folder)
    every = _json(capsys, "--db", db_url, "--by", "job", "--all")
    assert every["groups_total"] == every["groups_listed"] == 4
    top = _json(capsys, "--db", db_url, "--by", "job", "--limit", "2")
    assert top["groups_listed"] == 2 and top["groups_total"] == 4
    assert [g["key"] for g in top["groups"]] == [g["key"] for g in every["groups"][:2]]
    assert top["totals"].keys() == every["totals"].keys()
    for key, value in every["totals"].items():  # the database's sum of the groups' sums, and report's exact one
        assert top["totals"][key] == (value if value is None else pytest.approx(value, rel=1e-12)), key
    assert top["totals"]["energy_kwh"] == pytest.approx(_json(capsys, str(folder))["totals"]["energy_kwh"], rel=1e-12)
    assert main(["report", "--db", db_url, "--by", "job", "--limit", "2"]) == 0
    text = capsys.readouterr().out
    assert "2 smaller group(s) not listed" in text and text.splitlines()[-1].startswith("TOTAL")
    assert main(["report", "--db", db_url, "--by", "job", "--all"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + 1 + 4 + 1


@pytest.mark.parametrize("multiline", [False, True])
def test_a_split_file_loses_and_doubles_no_row(
    multiline: bool, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file split between the two processes at a line break: every row lands once -- also when cells hold line
    breaks (a split inside a quoted cell is refused by quote parity, and the file is read whole)."""
    import wattwatch.ledger.bulk as bulk
    from wattwatch.ledger.sources import plan_parts

    folder = tmp_path / "split"
    make_run(folder)
    with open(folder / "emissions.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        template = next(reader)
        names = reader.fieldnames or []
    with open(folder / "emissions.csv", "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        for i in range(201):
            project = f"line one\nline two {i}" if multiline else f"p{i}"
            writer.writerow({**template, "run_id": f"r-{i:04d}", "project_name": project})
    plan = plan_parts([folder / "emissions.csv"], 2, min_split_bytes=1)
    # split in two, or (the line break past the middle inside a quoted cell) read whole by one process
    assert [len(p) for p in plan] in ([[1, 1]] if not multiline else [[1, 1], [1, 0]])
    monkeypatch.setattr(bulk, "PARALLEL_MIN_BYTES", 1)
    assert "202 segments added" in _push(capsys, sqlite_url, folder)
    assert count_rows(sqlite_url)["segments"] == 202
    assert _json(capsys, "--db", sqlite_url)["totals"]["runs"] == _json(capsys, str(folder))["totals"]["runs"] == 202
