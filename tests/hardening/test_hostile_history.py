"""emissions.csv as long-lived project folders have it, through the real Tracker and ``wattwatch report``: values
that used to block a folder for good, files other tools wrote or own, concurrent runs, journals of gone runs."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor
from hardhelp import child_env

from wattwatch import Tracker
from wattwatch.report.history import collect_runs, totals
from wattwatch.result import CODECARBON_COLUMNS, COLUMNS
from wattwatch.sinks.cells import MAX_CELL_CHARS, MAX_MAP_ENTRIES
from wattwatch.sinks.emissions_reader import read_table
from wattwatch.sinks.journal import ProcessIdentity, RunJournal, finalize_stale


def _run(folder: Path, **kw: object) -> Tracker:
    t = Tracker(output_dir=folder, sensors=[ConstantPowerSensor(100.0)], handle_signals=False, **kw)  # type: ignore[arg-type]
    t.start()
    return t


def test_6000_phases_then_an_unrelated_run_then_report(tmp_path: Path) -> None:
    t = _run(tmp_path, measure_power_secs=1e6)
    for i in range(6000):
        t.set_phase(f"phase-{i:04d}")
    first = t.stop()
    assert first is not None
    with Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()], handle_signals=False):
        pass
    table = read_table(tmp_path / "emissions.csv")
    assert [r["status"] for r in table.rows] == ["completed", "completed"] and not table.notes
    phases = json.loads(table.rows[0]["phase_energy_kwh"])
    assert len(phases) == MAX_MAP_ENTRIES
    assert sum(phases.values()) == pytest.approx(first.energy_consumed, rel=1e-9)  # bounded, nothing lost
    assert max(len(line) for line in (tmp_path / "emissions.csv").read_text().splitlines()) < 131072
    runs, notes = collect_runs([str(tmp_path)])
    assert len(runs) == 2 and not notes


def test_a_1_mb_and_a_non_utf8_project_name(tmp_path: Path) -> None:
    with Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()], project_name="p" * 1_000_000):
        pass
    name = b"caf\xe9".decode("utf-8", "surrogateescape")  # what a Latin-1 sys.argv gives Python
    with Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()], project_name=name):
        pass
    rows = read_table(tmp_path / "emissions.csv").rows
    assert len(rows) == 2
    assert len(rows[0]["project_name"]) <= MAX_CELL_CHARS and rows[0]["project_name"].endswith("chars]")
    assert rows[1]["project_name"] == "caf\ufffd"
    (tmp_path / "emissions.csv").read_bytes().decode("utf-8")  # the file stays valid UTF-8
    assert len(collect_runs([str(tmp_path)])[0]) == 2


def test_old_rows_that_used_to_block_the_folder(tmp_path: Path) -> None:
    """A 414,000-character cell written before cells were bounded, and a Windows-1252 byte: the next run still
    writes its row, and report reads all three."""
    path = tmp_path / "emissions.csv"
    with Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()]):
        pass
    cells = dict.fromkeys(COLUMNS, "")
    cells.update(run_id="huge", status="completed", energy_consumed="1.0", emissions="0.1")
    cells["phase_energy_kwh"] = json.dumps({f"p{i}": 1e-9 for i in range(25_000)})  # 414,000 characters
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([cells[c] for c in COLUMNS])
    with open(path, "ab") as fh:
        fh.write(buf.getvalue().encode())
        fh.write(b",".join(b"Caf\xe9" if c == "project_name" else b"cp" if c == "run_id" else b"" for c in COLUMNS) + b"\n")
    with Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()]) as t:
        pass
    rows = read_table(path).rows
    assert [r["run_id"] for r in rows][-1] == t.run_id and len(rows) == 4
    assert len(rows[1]["phase_energy_kwh"]) > 131_072  # beyond the csv module's default field limit
    runs, _ = collect_runs([str(tmp_path)])
    assert {r.data.run_id for r in runs} >= {"huge", "cp", t.run_id}


def test_the_users_symlink_mode_and_owner_survive_a_run(tmp_path: Path) -> None:
    shared = tmp_path / "shared.csv"
    with Tracker(output_dir=tmp_path, output_file="shared.csv", sensors=[ConstantPowerSensor()]):
        pass
    os.chmod(shared, 0o600)
    if os.geteuid() == 0:
        os.chown(shared, 65534, 65534)
    out = tmp_path / "project"
    out.mkdir()
    (out / "emissions.csv").symlink_to(shared)
    with Tracker(output_dir=out, sensors=[ConstantPowerSensor()]):
        pass
    assert (out / "emissions.csv").is_symlink()
    st = shared.stat()
    assert st.st_mode & 0o777 == 0o600
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (65534, 65534)
    assert len(read_table(shared).rows) == 2  # the shared target got the row


def test_semicolon_bom_codecarbon_file_and_report_prefers_the_full_row(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ";".join(CODECARBON_COLUMNS).encode() + b"\n")
    with Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()]) as t:
        pass
    data = path.read_bytes()
    assert data.count(b"\xef\xbb\xbf") == 1 and data.splitlines()[1].count(b";") == len(CODECARBON_COLUMNS) - 1
    (run,), _ = collect_runs([str(tmp_path)])
    assert run.data.run_id == t.run_id and run.data.status == "completed" and run.data.gpu_method == "counter"
    assert run.path.name == "emissions.wattwatch.csv"


_RUNNER = """
import sys
from fakesensors import ConstantPowerSensor
from wattwatch import Tracker
for i in range(5):
    with Tracker(output_dir=sys.argv[1], sensors=[ConstantPowerSensor()], project_name=sys.argv[2] + str(i),
                 measure_power_secs=0.01, flush_every_s=0.01, save_timeseries=False, handle_signals=False):
        pass
"""


def test_concurrent_runs_in_one_folder_never_lose_a_row(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", _RUNNER, str(tmp_path), f"w{k}-"], env=child_env())
        for k in range(6)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    table = read_table(tmp_path / "emissions.csv")
    assert not table.notes and table.header == list(COLUMNS)
    assert sorted(r["project_name"] for r in table.rows) == sorted(f"w{k}-{i}" for k in range(6) for i in range(5))
    assert len({r["run_id"] for r in table.rows}) == 30


@pytest.mark.rows_unchecked("the journals are made up, with numbers that need not agree")
def test_report_shows_a_live_run_and_finalises_a_dead_one_once(tmp_path: Path) -> None:
    live = _run(tmp_path, measure_power_secs=0.02)
    live.flush()
    me = ProcessIdentity.of()
    dead = ProcessIdentity(2**22 + 4321, me.host, me.boot_id, 1)
    row = live.current().to_row()
    row.update(run_id="dead-run", energy_consumed="2.5", emissions="0.5")
    RunJournal(tmp_path, "emissions.csv", "dead-run", owner=dead).update(row, COLUMNS)
    runs, _ = collect_runs([str(tmp_path)])
    by_id = {r.data.run_id: r.data for r in runs}
    assert by_id["dead-run"].status == "interrupted" and by_id["dead-run"].energy_consumed == 2.5
    assert by_id[live.run_id].status == "running"  # shown from its journal, not written to the CSV
    assert [r["run_id"] for r in read_table(tmp_path / "emissions.csv").rows] == ["dead-run"]
    collect_runs([str(tmp_path)])
    assert finalize_stale(tmp_path) == []
    live.stop()
    runs, _ = collect_runs([str(tmp_path)])
    assert sorted(r.data.status for r in runs) == ["completed", "interrupted"]
    assert totals(runs)["energy_kwh"] == pytest.approx(2.5 + (live.final_emissions_data or live.current()).energy_consumed)
