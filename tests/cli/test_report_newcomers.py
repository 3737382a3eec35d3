"""``wattwatch report`` the first hour (issue 25): every mistake a newcomer makes gets one clear line, never a
traceback, and what is printed reads at a glance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from reportruns import make_project

from wattwatch.cli.main import PIPE_CLOSED_EXIT, main
from wattwatch.report.history import collect_runs, energy_text, mass_text
from wattwatch.report.html import write_html
from wattwatch.report.runs import load_report
from wattwatch.result import COLUMNS, EmissionsData
from wattwatch.sinks.emissions_file import append_row


@pytest.fixture
def project(tmp_path: Path) -> Path:
    make_project(tmp_path / "runs", 6, series_runs=1)
    return tmp_path / "runs"


def _err_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_limit_0_lists_no_run_and_totals_every_run(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(project), "--limit", "0"]) == 0
    out = capsys.readouterr().out
    assert "6 earlier run(s) not listed" in out
    assert next(line for line in out.splitlines() if line.startswith("TOTAL")).split()[1] == "6"
    assert "recorded tokens, none ranked here" in out
    assert main(["report", str(project), "--limit", "0", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["runs"] == [] and doc["runs_total"] == 6 and doc["ranking_by_joules_per_token"] == []


def test_html_to_a_folder_is_one_clear_error_and_leaves_nothing(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["report", str(project), "--html", str(folder)]) == 2
    (line,) = _err_lines(capsys)
    assert line.startswith("wattwatch report: error: --html") and "is a folder" in line
    assert str(folder / "report.html") in line  # says what to write instead
    assert sorted(p.name for p in tmp_path.iterdir()) == before and not list(folder.iterdir())


def test_html_in_a_missing_folder_creates_no_folder(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no" / "such" / "r.html"
    assert main(["report", str(project), "--html", str(target)]) == 2
    (line,) = _err_lines(capsys)
    assert f"folder {target.parent} does not exist" in line
    assert not (tmp_path / "no").exists()
    with pytest.raises(ValueError, match="does not exist"):  # the library function refuses the same way
        write_html(load_report([str(project)], series_runs=0), target)
    assert not (tmp_path / "no").exists()
    with pytest.raises(ValueError, match="is a folder"):
        write_html(load_report([str(project)], series_runs=0), tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith("wattwatch-tmp")]


def test_an_unknown_project_names_the_projects_there(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(project), "--project", "nosuch"]) == 2
    (line,) = _err_lines(capsys)
    assert "no runs of project 'nosuch'" in line
    assert "'llm-finetune' (4 run(s))" in line and "'llm-pretrain' (2 run(s))" in line
    assert "no wattwatch runs found" not in line
    assert main(["report", str(project), "--project", "llm-pretrain", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs_total"] == 2


def test_a_garbage_line_is_not_a_run(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open(project / "emissions.csv", "a", encoding="utf-8") as fh:
        fh.write("this line is garbage\n")
        fh.write("x,y\n")
    assert main(["report", str(project), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["runs_total"] == 6
    assert sum("not a run" in n for n in doc["notes"]) == 2
    assert any("line 8: not a run" in n for n in doc["notes"])
    runs, notes = collect_runs([str(project)])  # the whole-row reader keeps the same rule
    assert len(runs) == 6 and sum("not a run" in n for n in notes) == 2


def test_a_row_with_only_a_run_id_still_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What a run is: a run id or a figure. A CodeCarbon row without a run id (before 2.0) is still a run."""
    (tmp_path / "cc.csv").write_text(
        "timestamp,project_name,run_id,duration,emissions,energy_consumed\n,p,only-id,,,\n2024-01-01,p,,10,0.1,1.0\n"
    )
    assert main(["report", str(tmp_path / "cc.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs_total"] == 2


def test_readable_units() -> None:
    assert energy_text(2.8e-06, 8.9e-06) == "10.1 to 32 J"
    assert energy_text(0.3, 0.9) == "300 to 900 Wh"
    assert energy_text(1.25, 1.95) == "1.25 to 1.95 kWh"
    assert energy_text(2500.0) == "2.5 MWh"
    assert energy_text(0.0) == "0 J"
    assert mass_text(3.56e-06) == "3.56 mg" and mass_text(0.522) == "522 g" and mass_text(1234.0) == "1.23 t"


def test_a_tiny_run_prints_no_exponent_in_its_band_or_totals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = EmissionsData(
        run_id="tiny-run", project_name="p", status="completed", duration=6.0, cpu_energy=9.0e-06,
        ram_energy=3.5e-07, energy_consumed=9.35e-06, emissions=3.56e-06, intensity_g_per_kwh=381.0,
        intensity_source="country", energy_low_kwh=2.8e-06, energy_high_kwh=8.9e-06, energy_band="cpu=vm-vcpu",
        start_time="2026-01-01T00:00:00+00:00", timestamp="2026-01-01T00:00:06+00:00",
    )  # fmt: skip
    append_row(tmp_path / "emissions.csv", row.to_row(), COLUMNS)
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    details = out[out.index("tiny-run"[:8] + ":") :]
    assert "band 10.1 to 32 J (cpu=vm-vcpu)" in details
    assert "total: 33.7 J, 3.56 mg CO2eq operational" in details
    assert "e-0" not in details


_PRINTING = [
    ["report", "{project}"],
    ["report", "{project}", "--json"],
    ["report", "{project}", "--all"],
    ["estimate", "--gpu", "H100", "--gpus", "8", "--hours", "10"],
    ["compare", "--dense-params", "7e9", "--moe-active-params", "2e9", "--tokens", "1e12"],
    ["regions", "--gpu-hours", "100"],
    ["--help"],  # argparse's own printing swallows EPIPE itself (exit 0): no traceback either way
    ["report", "--help"],
    ["--version"],
]


@pytest.mark.parametrize("argv", _PRINTING, ids=lambda a: " ".join(a).replace("{project}", "DIR"))
def test_a_closed_pipe_ends_quietly(argv: list[str], project: Path) -> None:
    """``wattwatch ... | head``: the reader is gone before the first line; no traceback, the shell's SIGPIPE code."""
    cmd = [sys.executable, "-m", "wattwatch", *(a.format(project=project) for a in argv)]
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: the first write fails with EPIPE
    try:
        done = subprocess.run(cmd, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == (0 if argv[-1] in ("--help", "--version") else PIPE_CLOSED_EXIT), done.stderr
