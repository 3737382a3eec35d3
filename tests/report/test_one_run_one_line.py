"""Issue 24, item 1: a resumed run is one line in ``wattwatch report`` (text, ``--json``, HTML) whatever its
segments, its J/step, J/sample and J/token the energy of all its segments over the run's counts -- also when
the history is read by two processes, shortlisted, or found twice."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import pytest

from wattwatch.cli.main import main
from wattwatch.report import load_report
from wattwatch.report.history import collect_runs, totals
from wattwatch.report.rollup import collect_rollup
from wattwatch.result import COLUMNS, EmissionsData


def _row(run_id: str, seg: int, kwh: float, tokens: int, start: str, status: str = "completed") -> EmissionsData:
    return EmissionsData(
        run_id=run_id, project_name="p", resumed_segments=seg, status=status, start_time=start,
        timestamp=start.replace("T0", "T1"), duration=100.0, gpu_energy=kwh, energy_consumed=kwh, emissions=kwh * 0.1,
        phase_energy_kwh={"train": kwh * 0.9, "eval": kwh * 0.1}, steps=tokens // 10, samples=tokens // 5,
        tokens=tokens, embodied_emissions=0.001, energy_low_kwh=kwh * 0.9, energy_high_kwh=kwh * 1.1,
    )  # fmt: skip


def _write(path: Path, rows: list[EmissionsData]) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        if new:
            w.writeheader()
        for r in rows:
            w.writerow(r.to_row())


def _history(path: Path) -> None:
    # run "resumed": 2.0 kWh up to 1,000 tokens (segment 0, crashed), then 0.8 kWh up to 2,000 (segment 1)
    # run "single": 2.4 kWh for 2,000 tokens -- cheaper per token than the resumed run's truth
    _write(path, [
        _row("resumed", 0, 2.0, 1000, "2026-01-01T00:00:00+00:00", status="failed"),
        _row("single", 0, 2.4, 2000, "2026-01-02T00:00:00+00:00"),
        _row("resumed", 1, 0.8, 2000, "2026-01-03T00:00:00+00:00"),
    ])  # fmt: skip


def _cli(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(args)) == 0
    return out.getvalue()


TRUTH_JPT = (2.0 + 0.8) * 0.9 * 3.6e6 / 2000  # 1,134 J/token; the second segment alone read 324


def test_json_text_and_ranking_show_one_line_per_run(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    _history(path)
    doc = json.loads(_cli("report", str(path), "--json"))
    assert doc["runs_total"] == 2 and [r["run_id"] for r in doc["runs"]] == ["resumed", "single"]
    resumed = doc["runs"][0]
    assert resumed["segments"] == 2 and resumed["status"] == "completed"
    assert resumed["energy_kwh"] == pytest.approx(2.8) and resumed["duration_s"] == pytest.approx(200.0)
    assert resumed["start_time"].startswith("2026-01-01")
    assert (resumed["steps"], resumed["samples"], resumed["tokens"]) == (200, 400, 2000)  # the last segment's
    assert resumed["joules_per_token"] == pytest.approx(TRUTH_JPT)
    assert resumed["joules_per_step"] == pytest.approx(TRUTH_JPT * 2000 / 200)
    assert resumed["energy_low_kwh"] == pytest.approx(2.52) and resumed["embodied_emissions_kg"] == pytest.approx(0.002)
    # the ranking no longer puts the resumed run first: its second segment alone looked 3.5x cheaper
    assert doc["ranking_by_joules_per_token"] == ["single", "resumed"]
    assert doc["totals"]["runs"] == 2 and doc["totals"]["energy_kwh"] == pytest.approx(5.2)
    assert doc["totals"]["by_status"] == {"completed": 2}
    text = _cli("report", str(path))
    table = [line for line in text.splitlines() if line.startswith(("resumed ", "single "))]
    assert len(table) == 2  # one line each
    assert f"{TRUTH_JPT:.4g} J/token" in text and "2 segments (resumed)" in text
    # the reference reader and the HTML report agree
    runs, _ = collect_runs([str(path)])
    assert [r.data.run_id for r in runs] == ["resumed", "single"]
    assert totals(runs)["energy_kwh"] == pytest.approx(5.2)
    report = load_report([str(tmp_path)])
    assert [r.run_id for r in report.runs] == ["resumed", "single"]
    assert report.runs[0].j_per_token == pytest.approx(TRUTH_JPT) and report.runs[0].energy_kwh == pytest.approx(2.8)


@pytest.mark.parametrize("split", [True, False], ids=["two processes", "one process"])
def test_segments_in_both_halves_of_a_large_file_and_shortlists(tmp_path: Path, split: bool) -> None:
    path = tmp_path / "emissions.csv"
    filler = [_row(f"run-{i:03d}", 0, 1.0 + i / 100, 1000, f"2026-02-{1 + i % 27:02d}T00:00:00+00:00") for i in range(200)]
    _write(path, [_row("resumed", 0, 2.0, 1000, "2026-01-01T00:00:00+00:00", status="failed"), *filler])
    _write(path, [_row("resumed", 1, 0.8, 2000, "2026-03-01T00:00:00+00:00")])
    rollup = collect_rollup([str(path)], keep=5, min_parallel_bytes=0 if split else 1 << 30, threads=lambda: 1)
    assert rollup.count == 201
    (i,) = [i for i in rollup.recent_rows(None) if rollup.run(i).data.run_id == "resumed"]
    assert rollup.value("joules_per_token", i) == pytest.approx(TRUTH_JPT)
    ranking, ranked = rollup.ranking_rows(5)
    assert ranked == 201 and all(rollup.run(j).data.run_id != "resumed" for j in ranking)
    assert rollup.recent_rows(1) != [i]  # its start is its first segment's, the oldest


def test_an_earlier_segment_without_tokens_still_counts_its_energy(tmp_path: Path) -> None:
    """The first segment counted no tokens (its row's token cell is empty): its training energy is still in the
    run's J/token (the reader keeps training energy only for rows with tokens and reads this one again)."""
    path = tmp_path / "emissions.csv"
    first = _row("late", 0, 2.0, 0, "2026-01-01T00:00:00+00:00", status="failed")
    first.tokens = None
    _write(path, [first, _row("late", 1, 0.8, 2000, "2026-01-03T00:00:00+00:00")])
    rollup = collect_rollup([str(path)])
    (i,) = rollup.recent_rows(None)
    assert rollup.value("joules_per_token", i) == pytest.approx(TRUTH_JPT)
    doc = json.loads(_cli("report", str(path), "--json"))
    assert doc["runs"][0]["joules_per_token"] == pytest.approx(TRUTH_JPT)


def _retries(folder: Path) -> list[dict[str, str]]:
    """A run, a crash, a resume from its checkpoint that crashes too, then a second resume from the *same*
    checkpoint: three segments, the last two both ``resumed_segments`` 1, every one holding energy that was
    spent. Returns the full rows written."""
    import time

    from fakesensors import ConstantPowerSensor

    from wattwatch import Tracker

    def tracker(watts: float) -> Tracker:
        return Tracker(output_dir=folder, sensors=[ConstantPowerSensor(watts)], country_iso_code="FRA",
                       measure_power_secs=0.02, timeseries_every_s=0.02, handle_signals=False)  # fmt: skip

    first = tracker(100.0).start()
    first.set_phase("train")
    first.step(5, tokens=500)
    time.sleep(0.1)
    saved = json.loads(json.dumps(first.state_dict()))
    first.stop("failed")
    for watts, steps, status in ((200.0, 3, "failed"), (300.0, 5, "completed")):
        again = tracker(watts)
        again.load_state_dict(saved)
        again.start()
        again.set_phase("train")
        again.step(steps, tokens=steps * 100)
        time.sleep(0.1)
        again.stop(status)
    name = "emissions.wattwatch.csv" if (folder / "emissions.wattwatch.csv").exists() else "emissions.csv"
    with open(folder / name, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("codecarbon_header", [False, True], ids=["our file", "CodeCarbon's file + companion"])
def test_two_retries_from_one_checkpoint_are_two_segments(tmp_path: Path, codecarbon_header: bool) -> None:
    """Both retries resumed from one checkpoint carry ``resumed_segments`` 1; each is its own segment (its own
    start), so the run's energy is all three rows' -- while the same rows found again (a copy of the folder,
    CodeCarbon's columns beside the full rows) still count once."""
    import shutil

    from wattwatch.report.check import check_paths
    from wattwatch.result import CODECARBON_COLUMNS

    folder = tmp_path / "runs"
    folder.mkdir()
    if codecarbon_header:
        (folder / "emissions.csv").write_text(",".join(CODECARBON_COLUMNS) + "\n")
    rows = _retries(folder)
    assert [r["resumed_segments"] for r in rows] == ["0", "1", "1"] and len({r["start_time"] for r in rows}) == 3
    energy = sum(float(r["energy_consumed"]) for r in rows)
    train = sum(json.loads(r["phase_energy_kwh"])["train"] for r in rows)
    shutil.copytree(folder, tmp_path / "copy")  # the same rows found twice
    paths = [str(folder), str(tmp_path / "copy")]
    runs, _ = collect_runs(paths)
    assert len(runs) == 1 and totals(runs)["energy_kwh"] == pytest.approx(energy, rel=1e-12)
    assert runs[0].data.tokens == 1000 and runs[0].data.steps == 10  # the last retry's counts
    for split in (True, False):
        rollup = collect_rollup(paths, min_parallel_bytes=0 if split else 1 << 30, threads=lambda: 1)
        assert rollup.count == 1 and rollup.totals() == totals(runs)
    doc = json.loads(_cli("report", *paths, "--json"))
    assert doc["totals"]["energy_kwh"] == pytest.approx(energy, rel=1e-12)
    (run,) = doc["runs"]
    assert run["segments"] == 3 and run["energy_kwh"] == pytest.approx(energy, rel=1e-12)
    assert run["joules_per_token"] == pytest.approx(train * 3.6e6 / 1000, rel=1e-9)
    assert "3 segments (resumed)" in _cli("report", *paths)
    report = load_report(paths)
    assert len(report.runs) == 1 and report.runs[0].energy_kwh == pytest.approx(energy, rel=1e-12)
    assert not check_paths(paths).problems


def test_a_run_with_a_phased_and_an_unphased_segment_has_one_j_per_token(tmp_path: Path) -> None:
    """A run resumed without the callbacks: segment 0 trained in ``train`` (its ``(unphased)`` time set-up),
    segment 1 named no phase (its tokens were counted in ``(unphased)`` time). Each segment's training energy is
    decided from its own phases (measure/figures.py ``run_joules_per``): 1.0 + 0.5 kWh over the run's 3,000
    tokens. ``--json`` used to divide the summed phases' ``train`` alone (1,200 J/token) while the table said
    1,800."""
    from wattwatch.report.check import check_paths
    from wattwatch.report.html import COLUMNS as PAGE_COLUMNS
    from wattwatch.report.html import payload

    path = tmp_path / "emissions.csv"
    first = _row("mixed", 0, 1.2, 1000, "2026-01-01T00:00:00+00:00", status="failed")
    second = _row("mixed", 1, 0.5, 3000, "2026-01-02T00:00:00+00:00")
    _write(path, [
        EmissionsData(**{**first.values, "phase_energy_kwh": {"train": 1.0, "(unphased)": 0.2}}),
        EmissionsData(**{**second.values, "phase_energy_kwh": {"(unphased)": 0.5}}),
    ])  # fmt: skip
    documented = (1.0 + 0.5) * 3.6e6 / 3000  # 1,800 J/token
    doc = json.loads(_cli("report", str(path), "--json"))
    (run,) = doc["runs"]
    assert run["segments"] == 2 and run["joules_per_token"] == pytest.approx(documented, rel=1e-12)
    assert run["joules_per_step"] == pytest.approx((1.0 + 0.5) * 3.6e6 / 300, rel=1e-12)
    assert doc["ranking_by_joules_per_token"] == ["mixed"]
    table = [line for line in _cli("report", str(path)).splitlines() if line.startswith("mixed ")]
    assert len(table) == 1 and table[0].split()[-1] == f"{documented:.4g}" == f"{run['joules_per_token']:.4g}"
    rollup = collect_rollup([str(path)])
    (head,) = [i for i in range(len(rollup.alive)) if rollup.alive[i] and i not in rollup.groups.member_of]
    assert rollup.value("joules_per_token", head) == pytest.approx(run["joules_per_token"], rel=1e-12)
    page = payload(load_report([str(path)], rows=[rollup.run(head)]))  # the CLI's page
    assert page["runs"][0][PAGE_COLUMNS.index("j_token")] == pytest.approx(documented, rel=1e-4)
    assert load_report([str(path)]).runs[0].j_per_token == pytest.approx(documented, rel=1e-12)  # the reference reader
    assert not [p for p in check_paths([str(path)]).problems if "J/token" in p.what]
