"""``wattwatch report`` over large histories: the column-selective, two-process reader (report/scan.py,
report/rollup.py) gives exactly what the row-by-row reader (``collect_runs``) gives -- the same runs, the same
winner for a run found twice, the same totals -- whether a file is split between two processes or not."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import pytest

from wattwatch.cli.main import main
from wattwatch.report.history import collect_runs, totals
from wattwatch.report.rollup import Rollup, collect_rollup, hash_twice
from wattwatch.report.rollup_lists import _shortlist
from wattwatch.report.scan import scan_table
from wattwatch.result import CODECARBON_COLUMNS, COLUMNS, EmissionsData
from wattwatch.sinks.emissions_file import append_row, companion_path
from wattwatch.sinks.emissions_reader import table_layout
from wattwatch.sinks.journal import RunJournal


def _data(i: int, rng: random.Random, **kw: object) -> EmissionsData:
    gpu, cpu, ram = rng.uniform(0.01, 3.0), rng.uniform(0.001, 0.5), rng.uniform(0.0001, 0.1)
    kwh = gpu + cpu + ram
    kg = kwh * rng.uniform(0.02, 0.6)
    fields: dict[str, object] = {
        "run_id": f"run-{i:04d}",
        "project_name": "llm" if i % 3 else "vision",
        "status": ("completed", "failed", "running", "interrupted")[i % 4],
        "timestamp": f"2026-0{1 + i % 9}-1{i % 10}T10:{i % 60:02d}:00+00:00",
        "start_time": f"2026-0{1 + i % 9}-1{i % 10}T09:{i % 60:02d}:{i % 7:02d}+00:00",
        "duration": rng.uniform(10, 9000),
        "gpu_energy": gpu,
        "cpu_energy": cpu,
        "ram_energy": ram,
        "energy_consumed": kwh,
        "emissions": kg,
        "water_consumed": rng.uniform(0, 2),
        "intensity_source": "country: France, 2023",
        "intensity_g_per_kwh": kg * 1000 / kwh,
        "gpu_model": "4 x NVIDIA A100-SXM4-80GB",
        "gpu_count": 4,
        "cpu_count": 32,
        "ram_total_size": 256.0,
        "phase_energy_kwh": {"train": gpu * 0.8, "eval": gpu * 0.2},
        "phase_emissions_kg": {"train": kg * 0.8, "eval": kg * 0.2},
        "tokens": rng.randrange(10_000, 10_000_000) if i % 2 else None,
        "eval_metrics": {"eval_loss": rng.uniform(0.5, 3.0)} if i % 5 else {},
        "embodied_emissions": rng.uniform(0.001, 0.1) if i % 7 else None,  # None: computed at report time
        "energy_low_kwh": kwh * 0.9,
        "energy_high_kwh": kwh * 1.1,
        **kw,
    }
    return EmissionsData(**fields)  # type: ignore[arg-type]


def _write(path: Path, rows: list[EmissionsData]) -> None:
    for d in rows:
        append_row(path, d.to_row(), COLUMNS, durable=False)


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A folder with what a real history holds: many runs, resumed segments, a copy with a later row of some
    runs, a CodeCarbon-headed file beside its full-row companion, a torn last line, a live run's journal."""
    rng = random.Random(18)
    root = tmp_path / "runs"
    root.mkdir()
    main_rows = [_data(i, rng) for i in range(120)]
    main_rows += [_data(5, rng, resumed_segments=1, start_time="2026-06-15T09:00:00+00:00")]  # a resumed run
    # the same segment again, later, near the end of the file (a second half when the file is split)
    main_rows += [_data(3, rng, timestamp="2026-12-01T00:00:00+00:00", status="completed")]
    _write(root / "emissions.csv", main_rows)
    _write(
        root / "copy" / "emissions.csv",
        [_data(i, rng, timestamp="2027-01-01T00:00:00+00:00") for i in (7, 8)],
    )
    _write(
        root / "copy" / "emissions.csv", [_data(9, rng, timestamp="2025-01-01T00:00:00+00:00")]
    )  # older: loses
    cc_rows = [_data(200 + i, rng) for i in range(4)]
    cc = root / "cc" / "emissions.csv"
    cc.parent.mkdir()
    with open(cc, "w", encoding="utf-8", newline="") as fh:  # CodeCarbon's columns only (no status)
        fh.write(",".join(CODECARBON_COLUMNS) + "\n")
        for d in cc_rows + [_data(300, rng)]:
            row = d.to_row()
            fh.write(",".join(row[c] for c in CODECARBON_COLUMNS) + "\n")
    _write(companion_path(cc), cc_rows[:3])  # the fuller rows of three of them
    torn = root / "torn" / "emissions.csv"
    _write(torn, [_data(400 + i, rng) for i in range(3)])
    with open(torn, "a", encoding="utf-8") as fh:
        fh.write(",".join(_data(403, rng).to_row()[c] for c in COLUMNS)[:150])  # killed mid-row
    live = RunJournal(root, "emissions.csv", "live-run")
    assert live.update(_data(500, rng, run_id="live-run", status="running").to_row(), COLUMNS)
    again = RunJournal(root, "emissions.csv", "run-0010")  # a journal of a run already in the file
    assert again.update(_data(10, rng, timestamp="2027-02-02T00:00:00+00:00").to_row(), COLUMNS)
    return root


def _same_as_collect_runs(paths: list[str], rollup: Rollup) -> None:
    old, old_notes = collect_runs(paths)
    assert rollup.totals() == totals(old)
    assert [r.data for r in rollup.recent(None)] == [r.data for r in old]
    assert [r.data for r in rollup.recent(5)] == [r.data for r in old[-5:]]
    ranked = sorted(
        ((r, j) for r in old if (j := _jpt(r.data)) is not None), key=lambda rj: rj[1]
    )  # collect_runs's ranking
    mine, count = rollup.ranking(4)
    assert count == len(ranked)
    assert [(r.data, j) for r, j in mine] == [(r.data, j) for r, j in ranked[:4]]
    assert sorted(rollup.notes) == sorted(old_notes)


def _one_thread() -> int:
    """What ``threading.active_count`` answers in the CLI; under pytest other tests' threads may still run (tqdm's
    monitor, started by the Hugging Face tests), which would keep ``scan_table`` from forking."""
    return 1


def _jpt(data: EmissionsData) -> float | None:
    from wattwatch.report.history import joules_per_token

    return joules_per_token(data)


@pytest.mark.parametrize("keep", [None, 5])
def test_same_runs_and_totals_as_collect_runs(history: Path, keep: int | None) -> None:
    rollup = collect_rollup([str(history)], keep=keep)
    assert len(rollup.parts) == 5 + 2  # one range per file (small files stay in this process), 2 journal runs
    _same_as_collect_runs([str(history)], rollup)
    totals_ = rollup.totals()
    assert totals_["by_status"]["unknown"] == 2  # the CodeCarbon rows without a full row beside them
    assert rollup.embodied_computed > 0


def test_a_file_split_between_two_processes_gives_the_same(history: Path) -> None:
    rollup = collect_rollup([str(history)], keep=5, min_parallel_bytes=0, threads=_one_thread)
    assert (
        len(rollup.parts) == 2 * 5 + 2
    )  # every file read in two halves (the duplicate of run-0003 across them)
    _same_as_collect_runs([str(history)], rollup)


def test_a_split_inside_a_quoted_multiline_cell_falls_back_to_one_reader(tmp_path: Path) -> None:
    rng = random.Random(3)
    path = tmp_path / "emissions.csv"
    long_source = "line\n" * 4000  # a cell with 4,000 line breaks: the middle of the file is inside it
    _write(path, [_data(i, rng) for i in range(3)] + [_data(3, rng, intensity_source=long_source)])
    _write(
        path, [_data(i, rng) for i in range(4, 7)] + [_data(1, rng, timestamp="2027-01-01T00:00:00+00:00")]
    )
    layout = table_layout(path)
    assert layout is not None
    middle = layout.data_start + (layout.size - layout.data_start) // 2
    assert path.read_bytes()[: middle + 1].count(b'"') % 2 == 1  # the middle is inside a quoted cell
    assert len(scan_table(layout, min_bytes=0, threads=_one_thread)) == 1
    rollup = collect_rollup([str(path)], keep=3, min_parallel_bytes=0, threads=_one_thread)
    assert len(rollup.parts) == 1
    _same_as_collect_runs([str(path)], rollup)
    assert rollup.count == 7


def test_no_fork_or_a_failing_fork_reads_in_this_process(history: Path) -> None:
    layout = table_layout(history / "emissions.csv")
    assert layout is not None

    def broken_fork() -> int:
        raise OSError("fork: resource temporarily unavailable")

    whole = scan_table(layout, min_bytes=0, fork=None)
    assert len(whole) == 1
    again = scan_table(layout, min_bytes=0, fork=broken_fork, threads=_one_thread)
    assert len(again) == 1 and list(again[0].offsets) == list(whole[0].offsets)
    halves = scan_table(layout, min_bytes=0, threads=_one_thread)
    assert len(halves) == 2
    assert list(halves[0].offsets) + list(halves[1].offsets) == list(whole[0].offsets)
    energy = [list(h.column("energy_kwh")) for h in (*halves, whole[0])]
    assert energy[0] + energy[1] == energy[2]


def test_a_process_running_other_threads_never_forks(history: Path) -> None:
    layout = table_layout(history / "emissions.csv")
    assert layout is not None

    def must_not_fork() -> int:
        raise AssertionError("forked while another thread runs")

    parts = scan_table(layout, min_bytes=0, fork=must_not_fork, threads=lambda: 2)
    assert len(parts) == 1 and len(parts[0].offsets) == len(scan_table(layout, fork=None)[0].offsets)


def test_bom_and_semicolons(tmp_path: Path) -> None:
    rng = random.Random(5)
    path = tmp_path / "emissions.csv"
    rows = [_data(i, rng).to_row() for i in range(6)]
    text = ";".join(COLUMNS) + "\r\n"
    for row in rows:
        text += ";".join(
            '"' + row[c].replace('"', '""') + '"' if ";" in row[c] or '"' in row[c] else row[c]
            for c in COLUMNS
        )
        text += "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    for min_bytes in (1 << 30, 0):
        rollup = collect_rollup([str(path)], min_parallel_bytes=min_bytes, threads=_one_thread)
        assert rollup.count == 6
        _same_as_collect_runs([str(path)], rollup)


def test_a_damaged_row_is_skipped_with_the_same_note(tmp_path: Path) -> None:
    rng = random.Random(9)
    path = tmp_path / "emissions.csv"
    _write(path, [_data(i, rng) for i in range(4)])
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    text[2] = text[2].replace(_data(1, random.Random(9)).to_row()["run_id"] + ",", "run-0001,", 1)
    cells = text[3].split(",")
    cells[COLUMNS.index("emissions")] = "lots"
    text[3] = ",".join(cells)
    path.write_text("".join(text), encoding="utf-8")
    rollup = collect_rollup([str(path)], min_parallel_bytes=0, threads=_one_thread)
    _same_as_collect_runs([str(path)], rollup)
    assert any("line 4" in n and "emissions" in n for n in rollup.notes)


def test_limit_and_all(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(history), "--limit", "3"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    count = collect_rollup([str(history)]).count
    assert f"{count - 3} earlier run(s) not listed" in out
    total = next(line for line in lines if line.startswith("TOTAL"))
    assert f"{count} run(s)" in total
    table = lines[: lines.index(total)]
    assert sum(1 for line in table if re.match(r"^(run-|live-)", line)) == 3
    assert "more run(s) with tokens" in out
    assert main(["report", str(history), "--all"]) == 0
    out = capsys.readouterr().out
    assert "not listed" not in out and "more run(s) with tokens" not in out
    assert sum(1 for line in out.splitlines() if re.match(r"^(run-|live-)\S*\s+(llm|vision)", line)) == count
    assert main(["report", str(history), "--limit", "-1"]) == 2


def test_json_lists_the_limit_and_totals_every_run(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, _ = collect_runs([str(history)])
    assert main(["report", str(history), "--json", "--limit", "4"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["runs_listed"] == 4 and len(doc["runs"]) == 4
    assert doc["runs_total"] == len(old) == doc["totals"]["runs"]
    assert [r["run_id"] for r in doc["runs"]] == [r.data.run_id for r in old[-4:]]
    assert doc["totals"]["energy_kwh"] == totals(old)["energy_kwh"]
    assert len(doc["ranking_by_joules_per_token"]) == 4 and doc["runs_with_tokens"] > 4


def test_html_lists_the_most_recent_runs_and_draws_every_run(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "report.html"
    assert main(["report", str(history), "--html", str(page), "--html-runs", "10", "--limit", "2"]) == 0
    text = page.read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="wattwatch-data">(.*?)</script>', text, re.S)
    assert block is not None
    data = json.loads(block.group(1))
    old, _ = collect_runs([str(history)])
    assert len(data["runs"]) == 10 and data["runs_total"] == len(old)
    assert data["totals"]["runs"] == len(old)
    assert data["totals"]["energy_kwh"] == pytest.approx(totals(old)["energy_kwh"], rel=1e-5)
    train = sum(r.data.phase_energy_kwh.get("train", 0.0) for r in old)
    assert data["phases"]["train"][0] == pytest.approx(train, rel=1e-4)
    assert data["cumulative"][-1][1] == pytest.approx(totals(old)["emissions_kg"], rel=1e-4)
    losses = [(r, r.data.eval_metrics["eval_loss"]) for r in old if "eval_loss" in r.data.eval_metrics]
    best = min(losses, key=lambda rl: rl[1])
    assert data["metrics"]["eval_loss"]["front"][-1][1] == pytest.approx(best[1], rel=1e-4)
    assert f"{len(old)} run(s), the 10 most recent listed" in text
    assert "10 of" in capsys.readouterr().err


def test_a_small_folder_is_read_in_this_process(history: Path, tmp_path: Path) -> None:
    small = tmp_path / "small"
    shutil.copytree(history / "copy", small)
    rollup = collect_rollup([str(small)])
    assert len(rollup.parts) == 1  # one file, one range: no worker for a small file
    assert rollup.count == 3


def test_the_readers_shortlists_pick_the_same_runs(tmp_path: Path) -> None:
    """Without duplicates, the runs shown come from the readers' shortlists (nothing sorted over all rows);
    equal J/tokens at the edge of a shortlist make it look at every row instead -- same runs either way."""
    rng = random.Random(11)
    path = tmp_path / "emissions.csv"
    rows = [_data(0, rng, tokens=1_000_000, phase_energy_kwh={"train": 1e-6})]  # the lowest J/token
    rows += [_data(i, rng, tokens=1_000_000) for i in range(1, 60)]
    rows += [  # ... three more times, late in the file but earliest started: the last of them ranks first
        _data(60 + i, rng, start_time=f"2025-01-01T00:00:0{2 - i}+00:00", **_same_cost(rows[0]))
        for i in range(3)
    ]
    _write(path, rows)
    for keep in (3, 5, 40):
        rollup = collect_rollup([str(path)], keep=keep, min_parallel_bytes=0, threads=_one_thread)
        assert len(rollup.parts) == 2
        assert _shortlist(rollup, "recent") is not None
        _same_as_collect_runs([str(path)], rollup)
    tied = collect_rollup([str(path)], keep=1, min_parallel_bytes=0, threads=_one_thread)
    assert any(p.tied for p in tied.parts) and _shortlist(tied, "cheapest") is None
    _same_as_collect_runs([str(path)], tied)
    old, _ = collect_runs([str(path)])
    best = min((r for r in old if r.data.tokens), key=lambda r: (_jpt(r.data), r.data.start_time))
    (first, _), *_ = tied.ranking(1)[0]
    assert first.data == best.data and best.data.run_id == "run-0062"


def _same_cost(row: EmissionsData) -> dict[str, object]:
    """Fields giving another row ``row``'s J/token (the same training energy and tokens)."""
    return {"phase_energy_kwh": dict(row.phase_energy_kwh), "tokens": row.tokens}


def test_a_worker_that_dies_leaves_its_half_to_this_process(history: Path) -> None:
    import os

    layout = table_layout(history / "emissions.csv")
    assert layout is not None

    def dying_fork() -> int:
        pid = os.fork()
        if pid == 0:  # the worker: gone before it reads a byte
            os._exit(3)
        return pid

    halves = scan_table(layout, min_bytes=0, fork=dying_fork, threads=_one_thread)
    whole = scan_table(layout, min_bytes=0, fork=None)
    assert len(halves) == 2
    assert list(halves[0].offsets) + list(halves[1].offsets) == list(whole[0].offsets)
    energy = [list(h.column("energy_kwh")) for h in (*halves, whole[0])]
    assert energy[0] + energy[1] == energy[2]


def test_pareto_front_in_bounded_memory_and_downsampled_cumulative_sums() -> None:
    from array import array

    from wattwatch.report.overall import _cumulative, _Front
    from wattwatch.report.runs import pareto_front

    rng = random.Random(2)
    points = [(round(rng.uniform(0, 10), 2), round(rng.uniform(0, 5), 1)) for _ in range(3000)]
    for metric in ("eval_loss", "eval_accuracy"):
        front = _Front(metric, spare=50)  # cut back many times
        for x, y in points:
            front.add(x, y)
        assert front.runs == 3000 and len(front.points) < 3000
        assert front.front() == pareto_front(points, minimize_y=metric == "eval_loss")
    starts = array("d", (rng.uniform(0, 1e6) for _ in range(5000)))
    ops = array("d", (rng.uniform(0, 1) for _ in range(5000)))
    totals_ = array("d", (o * 1.5 for o in ops))
    kwhs = array("d", (o * 4.0 for o in ops))
    curve = _cumulative(starts, ops, totals_, kwhs, 100)
    assert 90 <= len(curve) <= 100
    assert [p[0] for p in curve] == sorted(p[0] for p in curve)
    assert curve[-1][0] == max(starts)
    assert curve[-1][1] == pytest.approx(sum(ops)) and curve[-1][2] == pytest.approx(sum(totals_))
    assert curve[-1][3] == pytest.approx(sum(kwhs))
    small = _cumulative(starts[:5], ops[:5], totals_[:5], kwhs[:5], 100)
    assert len(small) == 5 and small[-1][1] == pytest.approx(sum(ops[:5]))


def test_project_filter_and_the_table_cells_match_the_runs(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from wattwatch.report.history import embodied_kg
    from wattwatch.report.text import _duration, ranking_cells, table_cells

    old, _ = collect_runs([str(history)])
    vision = [r for r in old if r.data.project_name == "vision"]
    assert main(["report", str(history), "--json", "--project", "vision", "--all"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"] == json.loads(json.dumps(totals(vision)))
    assert [r["run_id"] for r in doc["runs"]] == [r.data.run_id for r in vision]
    rollup = collect_rollup([str(history)], keep=10)
    rows = rollup.recent_rows(None)
    for i, r in zip(rows, old, strict=True):  # the table's line, from the kept numbers, is the run's
        d = r.data
        emb, computed = embodied_kg(d)
        jpt = _jpt(d)
        assert table_cells(rollup, i) == (
            d.run_id[:8], d.project_name, d.status, _duration(d.duration), f"{d.gpu_energy:.4g}",
            f"{d.cpu_energy:.4g}", f"{d.ram_energy:.4g}", f"{d.energy_consumed:.4g}", f"{d.emissions:.4g}",
            f"{emb:.4g}{'*' if computed else ''}", "" if jpt is None else f"{jpt:.4g}",
        )  # fmt: skip
    ranked, _ = rollup.ranking_rows(10)
    for i, (r, j) in zip(ranked, rollup.ranking(10)[0], strict=True):
        assert ranking_cells(rollup, i) == (r.data.run_id, j, r.data.tokens, r.data.energy_consumed)


def test_a_row_running_on_across_the_split_falls_back_even_when_the_quotes_pair_up(tmp_path: Path) -> None:
    """A stray ``"`` in an unquoted cell (a malformed file) makes the quote count before the split even although
    the split is inside a multi-line cell: the first reader running on past the split catches it."""
    import csv as csv_module
    import io

    rng = random.Random(4)
    buf = io.StringIO()
    writer = csv_module.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    rows = [_data(0, rng, project_name="ab-c"), _data(1, rng, intensity_source="line\n" * 3000)]
    rows += [_data(i, rng) for i in range(2, 6)]
    for d in rows:
        writer.writerow([d.to_row()[c] for c in COLUMNS])
    text = buf.getvalue().replace(",ab-c,", ',ab"c,', 1)  # one stray quote, in an unquoted cell
    path = tmp_path / "emissions.csv"
    path.write_text(text, encoding="utf-8")
    layout = table_layout(path)
    assert layout is not None
    middle = layout.data_start + (layout.size - layout.data_start) // 2
    split = text.index("\n", middle) + 1
    assert text[:split].count('"') % 2 == 0  # the quotes alone would call the split clean
    assert len(scan_table(layout, min_bytes=0, threads=_one_thread)) == 1  # read whole: the split was inside row 1
    rollup = collect_rollup([str(path)], min_parallel_bytes=0, threads=_one_thread)
    assert rollup.count == 6
    _same_as_collect_runs([str(path)], rollup)


def test_the_workers_rows_travel_as_data(history: Path) -> None:
    import io

    from wattwatch.report.scan import extract, read_columns, write_columns

    layout = table_layout(history / "emissions.csv")
    assert layout is not None
    cols = extract(layout, keep=3)
    pipe = io.BytesIO()
    write_columns(cols, pipe)
    data = pipe.getvalue()
    back = read_columns(io.BytesIO(data))
    assert back.flat.tobytes() == cols.flat.tobytes()  # nan (no band, no tokens) included, bit for bit
    back.flat = cols.flat
    assert back == cols
    with pytest.raises((ValueError, EOFError)):
        read_columns(io.BytesIO(data[:-5]))  # a pipe cut short
    with pytest.raises((ValueError, EOFError)):
        read_columns(io.BytesIO(b""))  # a worker that wrote nothing


def test_a_run_in_both_halves_of_one_file_counts_once(tmp_path: Path) -> None:
    rng = random.Random(21)
    path = tmp_path / "emissions.csv"
    _write(path, [_data(i, rng) for i in range(20)])
    _write(path, [_data(2, rng, timestamp="2027-03-03T00:00:00+00:00", status="completed")])  # run 2, later
    rollup = collect_rollup([str(path)], keep=5, min_parallel_bytes=0, threads=_one_thread)
    assert len(rollup.parts) == 2 and hash_twice(rollup.parts, len(rollup.alive))
    assert rollup.count == 20
    _same_as_collect_runs([str(path)], rollup)
    single = collect_rollup([str(path)], keep=5, min_parallel_bytes=1 << 30)
    assert len(single.parts) == 1 and hash_twice(single.parts, len(single.alive))  # the same run twice in one range
    clean = tmp_path / "clean.csv"
    _write(clean, [_data(i, rng) for i in range(20)])
    clean_rollup = collect_rollup([str(clean)], min_parallel_bytes=0, threads=_one_thread)
    assert not hash_twice(clean_rollup.parts, len(clean_rollup.alive))
