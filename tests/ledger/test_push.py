"""``wattwatch ledger push``: idempotent (keyed by run, segment and start), the same rows ``report`` counts, and
``report --db`` totals equal to ``report PATH``'s on the same runs -- on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from ledgerruns import count_rows, make_run

from wattwatch.cli.main import main
from wattwatch.ledger.schema import SCHEMA_VERSION


def _push(capsys: pytest.CaptureFixture[str], url: str, *paths: Path) -> str:
    assert main(["ledger", "push", *map(str, paths), "--db", url]) == 0
    return capsys.readouterr().out


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    capsys.readouterr()
    assert main(["report", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


_FIGURES = (
    "duration_s", "gpu_energy_kwh", "cpu_energy_kwh", "ram_energy_kwh", "energy_kwh", "emissions_kg",
    "embodied_emissions_kg", "water_l", "overlap_kwh", "energy_low_kwh", "energy_high_kwh", "intensity_g_per_kwh",
)  # fmt: skip


def _same_totals(db: dict, files: dict) -> None:
    """``report --db`` totals (or a group's figures) equal ``report PATH`` totals, key by key."""
    assert db["runs"] == files["runs"]
    assert db.get("by_status", files["by_status"]) == files["by_status"]
    for key in _FIGURES:
        if files[key] is None:
            assert db[key] is None, key
        else:
            assert db[key] == pytest.approx(files[key], rel=1e-12, abs=1e-15), key


def test_push_twice_adds_nothing_and_totals_equal_the_files(
    db_url: str, team_history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = team_history
    first = _push(capsys, db_url, folder)
    counts = count_rows(db_url)
    assert counts["segments"] == 8 and counts["runs"] == 7 and counts["segment_details"] == 8
    assert counts["devices"] == 2 * 4 + 1 + 2 + 1  # two fake GPUs per llm/vision run, one on the others
    assert "8 segments added" in first
    second = _push(capsys, db_url, folder)
    assert count_rows(db_url) == counts
    assert "0 segments added, 0 updated, 8 already there" in second

    files = _json(capsys, str(folder))["totals"]
    db = _json(capsys, "--db", db_url)["totals"]
    _same_totals(db, files)
    assert db["runs"] == 7 and db["segments"] == 8 and db["run_ids"] == 7  # the resumed run: once
    assert db["by_status"] == {"completed": 6, "failed": 1}
    assert db["overlap_kwh"] > 0  # the shared machine's energy: once

    grouped = _json(capsys, "--db", db_url, "--by", "project")
    assert grouped["groups_total"] == grouped["groups_listed"] == 4
    assert [g["key"] for g in grouped["groups"]] == sorted(by_kg := {g["key"]: g["emissions_kg"] for g in grouped["groups"]}, key=lambda k: -by_kg[k])
    by = {g["key"]: g for g in grouped["groups"]}
    assert {k: g["runs"] for k, g in by.items()} == {"llm": 2, "vision": 2, "shared": 2, "serve": 1}
    assert by["llm"]["segments"] == 3 and by["shared"]["overlap_kwh"] == pytest.approx(db["overlap_kwh"], rel=1e-12)
    _same_totals(grouped["totals"], files)
    for project in ("llm", "shared"):  # each group is the files' report of that project, the overlap within it
        one = _json(capsys, str(folder), "--project", project)["totals"]
        _same_totals(by[project], one)
        _same_totals(_json(capsys, "--db", db_url, "--project", project)["totals"], one)
    users = {g["key"]: g["runs"] for g in _json(capsys, "--db", db_url, "--by", "user")["groups"]}
    assert users == {"alice": 2, "bob": 1, "dave": 1, "carol": 2, "erin": 1}
    jobs = {g["key"]: g["runs"] for g in _json(capsys, "--db", db_url, "--by", "job")["groups"]}
    assert jobs["77"] == 1
    for by_what in ("month", "host", "user", "job"):
        _same_totals(_json(capsys, "--db", db_url, "--by", by_what, "--all")["totals"], files)
        _same_totals(_json(capsys, "--db", db_url, "--by", by_what, "--limit", "1")["totals"], files)

    assert main(["report", "--db", db_url]) == 0  # the text says the overlap as the files' report says it
    text = capsys.readouterr().out
    assert "7 run(s) in 8 segment(s)" in text and "overlap: " in text and "is counted once" in text
    line = next(x for x in text.splitlines() if x.startswith("TOTAL"))
    assert "7 run(s)" in line and "6 completed, 1 failed" in line


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


def test_a_resumed_run_pushed_segment_by_segment_counts_once(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The later segment first (its folder pushed first), the earlier one after, then a third by the tracker's own
    push at ``stop()``: one run, its latest segment the highest, as the files' report counts it."""
    t, _ = make_run(tmp_path / "a", tokens=100)
    t2, _ = make_run(tmp_path / "b", state=t.state_dict(), tokens=300)
    _push(capsys, db_url, tmp_path / "b")
    _push(capsys, db_url, tmp_path / "a")
    db = _json(capsys, "--db", db_url)
    assert db["totals"]["runs"] == 1 and db["runs"][0]["segments"] == 2 and db["runs"][0]["tokens"] == 400  # cumulative
    make_run(tmp_path / "c", state=t2.state_dict(), tokens=600, ledger_url=db_url)
    db = _json(capsys, "--db", db_url)
    files = _json(capsys, str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "c"))
    assert db["totals"]["runs"] == files["totals"]["runs"] == 1 and db["runs"][0]["segments"] == 3
    assert db["totals"]["energy_kwh"] == pytest.approx(files["totals"]["energy_kwh"], rel=1e-12)
    assert db["runs"][0]["joules_per_token"] == pytest.approx(files["runs"][0]["joules_per_token"], rel=1e-12)
    assert db["runs"][0]["tokens"] == 1000


@pytest.mark.parametrize("order", ["first-first", "last-first"])
def test_a_run_resumed_in_another_job_counts_in_its_latest_job(
    order: str, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run requeued by Slurm (its checkpoint resumed in a new job, by another user's account): ``--by job`` and
    ``--by user`` count it once, in its latest segment's group, with all its energy -- whichever segment was
    pushed first; the groups add up to the files' totals."""
    t, first = make_run(tmp_path / "a", tokens=100, environ={"USER": "alice", "SLURM_JOB_ID": "501"})
    _, second = make_run(tmp_path / "b", state=t.state_dict(), tokens=300, environ={"USER": "bob", "SLURM_JOB_ID": "502"})
    make_run(tmp_path / "c", environ={"USER": "alice", "SLURM_JOB_ID": "501"})  # another run in the first job
    for folder in ("a", "b", "c") if order == "first-first" else ("c", "b", "a"):
        _push(capsys, db_url, tmp_path / folder)
    files = _json(capsys, *(str(tmp_path / f) for f in "abc"))["totals"]
    for by, expected in (("job", {"501": 1, "502": 1}), ("user", {"alice": 1, "bob": 1})):
        doc = _json(capsys, "--db", db_url, "--by", by, "--all")
        groups = {g["key"]: g for g in doc["groups"]}
        assert {k: g["runs"] for k, g in groups.items()} == expected, by
        moved = groups["502" if by == "job" else "bob"]
        assert moved["segments"] == 2
        assert moved["energy_kwh"] == pytest.approx(first.energy_consumed + second.energy_consumed, rel=1e-12)
        _same_totals(doc["totals"], files)
        _same_totals(_json(capsys, "--db", db_url, "--by", by, "--limit", "1")["totals"], files)
    assert _json(capsys, "--db", db_url)["totals"]["runs"] == files["runs"] == 2


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
    db_url: str, tmp_path: Path, team_history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``report --db --html``: the page's figures over every run (totals, CO2 by component, by phase) are the
    ones ``report PATH --html`` draws from the files."""
    from wattwatch.ledger.engine import open_engine
    from wattwatch.ledger.overview import overall_from_ledger
    from wattwatch.ledger.urls import parse_url
    from wattwatch.report.overall import overall_of
    from wattwatch.report.rollup import collect_rollup

    folder = team_history
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
    assert db.runs == files.runs == 7
    for key, value in files.totals.items():
        assert db.totals[key] == pytest.approx(value, rel=1e-12), key
    for component, (op, emb) in files.by_component.items():
        assert db.by_component[component] == (pytest.approx(op, rel=1e-9), pytest.approx(emb, rel=1e-9)), component
    assert set(db.by_phase) == set(files.by_phase)
    for phase, (kwh, kg) in files.by_phase.items():
        assert db.by_phase[phase] == (pytest.approx(kwh, rel=1e-12), pytest.approx(kg, rel=1e-12))
    assert db.cumulative[-1][1] == pytest.approx(files.cumulative[-1][1], rel=1e-12)
    # the last point is the totals, the overlap counted once (the folder has an overlapping pair), in both
    for curve in (db.cumulative, files.cumulative):
        assert files.totals["overlap_kwh"] > 0
        assert curve[-1][1:] == (pytest.approx(files.totals["operational_kg"], rel=1e-9),
                                 pytest.approx(files.totals["total_kg"], rel=1e-9),
                                 pytest.approx(files.totals["energy_kwh"], rel=1e-9))  # fmt: skip
    assert db.metric_runs == files.metric_runs == {"loss": 1} and len(db.fronts["loss"]) == 1  # the resumed run: once
    assert db.fronts["loss"][0] == (pytest.approx(files.fronts["loss"][0][0], rel=1e-12), 1.5)
    assert main(["ledger", "info", "--db", db_url]) == 0
    assert f"schema version {SCHEMA_VERSION}, 7 runs, 8 segments" in capsys.readouterr().out


def test_all_runs_are_streamed(db_url: str, team_history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = team_history
    _push(capsys, db_url, folder)
    doc = _json(capsys, "--db", db_url, "--all")
    assert doc["runs_listed"] == 7 and sum(r["segments"] for r in doc["runs"]) == 8
    assert [r["run_id"] for r in doc["runs"]] == sorted(r["run_id"] for r in doc["runs"])
    tot = doc["totals"]  # each run holds all its energy; the totals count the overlap once
    assert sum(r["energy_kwh"] for r in doc["runs"]) - tot["overlap_kwh"] == pytest.approx(tot["energy_kwh"], rel=1e-12)
    files = {r["run_id"]: r for r in _json(capsys, str(folder), "--all")["runs"]}
    assert set(files) == {r["run_id"] for r in doc["runs"]}
    for run in doc["runs"]:  # one line per run, as the files' report has it
        mine = files[run["run_id"]]
        for key in ("status", "project_name", "segments", "steps", "samples", "tokens", "requests",
                    "generated_tokens", "overlaps_run_id"):  # fmt: skip
            assert run[key] == mine[key], key
        for key in ("duration_s", "energy_kwh", "gpu_energy_kwh", "emissions_kg", "embodied_emissions_kg",
                    "overlap_energy_kwh", "joules_per_step", "joules_per_sample", "joules_per_token",
                    "joules_per_request", "joules_per_generated_token"):  # fmt: skip
            assert run[key] == (None if mine[key] is None else pytest.approx(mine[key], rel=1e-12)), key
    limited = _json(capsys, "--db", db_url, "--limit", "2")
    assert limited["runs_listed"] == 2
    assert main(["report", "--db", db_url, "--all", "--project", "llm"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[-1].startswith("TOTAL") and "2 run(s)" in text[-1] and len(text) == 2 + 2 + 1


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


def _retry_segments(folders: tuple[Path, Path, Path], ledger_url: str = "") -> list[float]:
    """A run (in ``folders[0]``) that crashes, a resume from its checkpoint (``folders[1]``) that crashes too, and a
    second resume from the *same* checkpoint (``folders[2]``) that completes: three segments, the last two both
    ``resumed_segments`` 1 with their own starts (issue 28). ``ledger_url``: each pushes its row at ``stop()``.
    Returns the segments' kWh."""
    import json
    import time

    from fakesensors import ConstantPowerSensor

    from wattwatch import Tracker

    def tracker(folder: Path, watts: float) -> Tracker:
        return Tracker(project_name="retries", output_dir=folder, sensors=[ConstantPowerSensor(watts)],
                       carbon_intensity_g_per_kwh=100.0, handle_signals=False, save_timeseries=False,
                       environ={"USER": "alice"}, ledger_url=ledger_url)  # fmt: skip

    def stop(t: Tracker, status: str) -> float:
        sink = t._recorder.ledger
        data = t.stop(status)
        assert data is not None
        if sink is not None:
            assert sink.done.wait(60) and sink.pushed, sink.error
        return data.energy_consumed

    first = tracker(folders[0], 100.0).start()
    first.step(5, tokens=500)
    saved = json.loads(json.dumps(first.state_dict()))
    kwh = [stop(first, "failed")]
    for folder, watts, steps, status in ((folders[1], 200.0, 3, "failed"), (folders[2], 300.0, 5, "completed")):
        time.sleep(0.01)  # the retries' starts differ (to the millisecond)
        again = tracker(folder, watts)
        again.load_state_dict(saved)
        again.start()
        again.step(steps, tokens=steps * 100)
        kwh.append(stop(again, status))
    return kwh


def _full_rows(folder: Path) -> list[dict[str, str]]:
    name = "emissions.wattwatch.csv" if (folder / "emissions.wattwatch.csv").exists() else "emissions.csv"
    with open(folder / name, newline="") as fh:
        return list(csv.DictReader(fh))


def _same_run(db: dict, files: dict) -> None:
    """``report --db`` equals ``report PATH``: the totals, and the one run's line (segments, counts, status)."""
    _same_totals(db["totals"], files["totals"])
    assert db["totals"]["segments"] == sum(r["segments"] for r in files["runs"])
    (mine,), (theirs,) = db["runs"], files["runs"]
    for key in ("segments", "status", "steps", "tokens"):
        assert mine[key] == theirs[key], key
    for key in ("energy_kwh", "emissions_kg", "duration_s", "joules_per_token"):
        assert mine[key] == pytest.approx(theirs[key], rel=1e-12), key


@pytest.mark.parametrize("codecarbon_header", [False, True], ids=["our file", "CodeCarbon's file + companion"])
def test_two_retries_from_one_checkpoint_are_two_segments(
    codecarbon_header: bool, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 28: both retries resumed from one checkpoint carry ``resumed_segments`` 1; the ledger keeps each (its
    own start), so ``report --db`` counts all three segments' energy as ``report PATH`` does -- while the same rows
    found again (a copy of the folder; CodeCarbon's columns, without a start, beside the full rows) add nothing."""
    import shutil

    from wattwatch.result import CODECARBON_COLUMNS

    folder = tmp_path / "runs"
    folder.mkdir()
    if codecarbon_header:  # the tracker writes CodeCarbon's columns here, the full rows to emissions.wattwatch.csv
        (folder / "emissions.csv").write_text(",".join(CODECARBON_COLUMNS) + "\n")
    kwh = _retry_segments((folder, folder, folder))
    rows = _full_rows(folder)
    assert [r["resumed_segments"] for r in rows] == ["0", "1", "1"] and len({r["start_time"] for r in rows}) == 3
    shutil.copytree(folder, tmp_path / "copy")  # the same rows found twice
    out = _push(capsys, db_url, folder, tmp_path / "copy")
    assert "3 segments added, 0 updated" in out
    assert count_rows(db_url)["segments"] == count_rows(db_url)["segment_details"] == 3
    files = _json(capsys, str(folder), str(tmp_path / "copy"))
    db = _json(capsys, "--db", db_url)
    _same_run(db, files)
    assert db["totals"]["runs"] == 1 and db["totals"]["segments"] == 3
    assert db["totals"]["energy_kwh"] == pytest.approx(sum(kwh), rel=1e-12)
    assert db["totals"]["by_status"] == {"completed": 1}  # the later retry's
    assert db["runs"][0]["tokens"] == 1000 and db["runs"][0]["steps"] == 10  # its counts
    for by in ("project", "month", "user"):
        _same_totals(_json(capsys, "--db", db_url, "--by", by)["totals"], files["totals"])
    again = _push(capsys, db_url, folder, tmp_path / "copy")
    seen = 12 if codecarbon_header else 6  # every row read: the full rows twice, CodeCarbon's twice
    assert f"0 segments added, 0 updated, {seen} already there" in again
    assert _json(capsys, "--db", db_url)["totals"] == db["totals"]


@pytest.mark.parametrize("order", ["by the trackers", "last first", "middle last"])
def test_retries_pushed_in_any_order_count_as_the_files(
    order: str, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The three segments in three folders, pushed by each tracker's ``stop()`` or by ``ledger push`` in any
    order: the run's latest segment is the later retry (the latest start among the highest ``resumed_segments``,
    as the files' report takes it: its status and counts), and every segment counts once."""
    folders = (tmp_path / "a", tmp_path / "b", tmp_path / "c")
    _retry_segments(folders, ledger_url=db_url if order == "by the trackers" else "")
    pushes = {"by the trackers": (), "last first": (2, 1, 0), "middle last": (2, 0, 1)}[order]
    for i in pushes:
        _push(capsys, db_url, folders[i])
    files = _json(capsys, *map(str, folders))
    db = _json(capsys, "--db", db_url)
    _same_run(db, files)
    assert db["totals"]["by_status"] == {"completed": 1} and db["runs"][0]["segments"] == 3
    assert "0 segments added, 0 updated, 3 already there" in _push(capsys, db_url, *folders)


def test_a_row_without_a_start_is_a_copy_of_the_segment_with_one(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CodeCarbon's columns of a segment (no ``start_time``) pushed before its full row, then the full row: the
    full row takes its place (one segment, not two); the copy pushed again adds nothing -- as ``report PATH``
    counts the two files. A run with only such a row keeps it."""
    from wattwatch.result import CODECARBON_COLUMNS

    _, data = make_run(tmp_path / "full", tokens=100)
    make_run(tmp_path / "alone")
    copies = tmp_path / "copies"
    copies.mkdir()
    with open(copies / "emissions.csv", "w", newline="") as fh:  # CodeCarbon's columns of both runs' rows
        writer = csv.DictWriter(fh, fieldnames=list(CODECARBON_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(_full_rows(tmp_path / "full") + _full_rows(tmp_path / "alone"))
    assert "2 segments added" in _push(capsys, db_url, copies)
    assert "0 segments added, 1 updated, 0 already there" in _push(capsys, db_url, tmp_path / "full")
    assert "0 segments added, 0 updated, 2 already there" in _push(capsys, db_url, copies)
    assert count_rows(db_url)["segments"] == 2
    paths = [str(copies), str(tmp_path / "full")]
    files, db = _json(capsys, *paths)["totals"], _json(capsys, "--db", db_url)["totals"]
    _same_totals(db, files)
    assert db["segments"] == 2 and db["by_status"] == {"completed": 1, "unknown": 1}
    assert db["energy_kwh"] == pytest.approx(files["energy_kwh"], rel=1e-12)
    runs = {r["run_id"]: r for r in _json(capsys, "--db", db_url, "--all")["runs"]}
    assert runs[data.run_id]["tokens"] == 100 and runs[data.run_id]["segments"] == 1


def test_a_run_with_a_phased_and_an_unphased_segment_has_the_files_j_per_token_on_the_page(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run resumed without the callbacks (segment 0 trained in ``train``, segment 1 named no phase): its
    J/token is each segment's own training energy over the run's tokens (measure/figures.py
    ``run_joules_per``), in ``report --db --json`` and on ``report --db --html``'s page alike -- the page used
    to divide the summed phases' ``train`` alone."""
    from wattwatch.ledger.engine import open_engine
    from wattwatch.ledger.runlist import recent_rows
    from wattwatch.ledger.urls import parse_url
    from wattwatch.report import load_report
    from wattwatch.report.html import COLUMNS as PAGE_COLUMNS
    from wattwatch.report.html import payload
    from wattwatch.result import COLUMNS, EmissionsData

    def row(segment: int, kwh: float, tokens: int, start: str, phases: dict[str, float]) -> dict[str, str]:
        return EmissionsData(
            run_id="mixed", project_name="p", resumed_segments=segment, start_time=start, timestamp=start,
            status="completed", duration=100.0, gpu_energy=kwh, energy_consumed=kwh, emissions=kwh * 0.1,
            phase_energy_kwh=phases, steps=tokens // 10, tokens=tokens,
        ).to_row()  # fmt: skip

    path = tmp_path / "runs" / "emissions.csv"
    path.parent.mkdir()
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerow(row(0, 1.2, 1000, "2026-01-01T00:00:00+00:00", {"train": 1.0, "(unphased)": 0.2}))
        writer.writerow(row(1, 0.5, 3000, "2026-01-02T00:00:00+00:00", {"(unphased)": 0.5}))
    documented = (1.0 + 0.5) * 3.6e6 / 3000  # 1,800 J/token
    _push(capsys, db_url, path.parent)
    (run,) = _json(capsys, "--db", db_url)["runs"]
    assert run["segments"] == 2 and run["joules_per_token"] == pytest.approx(documented, rel=1e-12)
    (files,) = _json(capsys, str(path.parent))["runs"]
    assert files["joules_per_token"] == pytest.approx(documented, rel=1e-12)
    engine = open_engine(parse_url(db_url))
    try:
        with engine.connect() as conn:
            page = payload(load_report([], rows=recent_rows(conn, 10)))
    finally:
        engine.dispose()
    (listed,) = page["runs"]
    assert listed[PAGE_COLUMNS.index("j_token")] == pytest.approx(documented, rel=1e-4)
