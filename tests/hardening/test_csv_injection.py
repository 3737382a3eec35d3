"""CSV injection: free text that a spreadsheet would execute (=, +, -, @, tab, CR first) is written inert."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor
from hardhelp import csv_rows

from wattwatch import Tracker
from wattwatch.cli.main import main
from wattwatch.distributed.parts import Part, write_part
from wattwatch.errors import ConfigurationError
from wattwatch.result import EmissionsData

PAYLOADS = [
    '=HYPERLINK("http://x","y")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd",
    "\t=1+1",
    "\r=1+1",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_project_name_and_experiment_id_through_the_tracker(tmp_path: Path, payload: str) -> None:
    """Fault: a project name / experiment id / run id that is a spreadsheet formula. User sees: the text with a
    leading ``'`` in emissions.csv (OWASP), so Excel/LibreOffice show it instead of running it. Not lost: the
    text itself, after the quote. A payload holding a control character (tab, carriage return) is refused
    when the tracker is built (issue 23); set on the built tracker's attributes, it is still written inert."""
    names = {"project_name": payload, "experiment_id": payload, "run_id": payload + "-run"}
    control = any(ch < " " for ch in payload)
    if control:
        with pytest.raises(ConfigurationError, match="project_name must not contain control characters"):
            Tracker(output_dir=tmp_path, project_name=payload, sensors=[], handle_signals=False)
    t = Tracker(
        output_dir=tmp_path,
        **({} if control else names),
        sensors=[ConstantPowerSensor()],
        handle_signals=False,
        save_timeseries=False,
    )
    for attribute, value in names.items():
        setattr(t, attribute, value)
    t.start()
    t.stop()
    (row,) = csv_rows(tmp_path / "emissions.csv")
    for column in ("project_name", "experiment_id", "run_id"):
        assert not row[column].startswith(FORMULA_START), row[column]
        assert row[column].startswith("'") and row[column][1:].startswith(payload[:1].replace("\r", "\n"))


def test_negative_numbers_stay_numbers(tmp_path: Path) -> None:
    """Not an attack: a numeric cell such as a negative number is left alone (it must stay a number)."""
    from wattwatch.sinks.csv import sanitize_cell

    assert sanitize_cell("-1.5") == "-1.5" and sanitize_cell("-1e-3") == "-1e-3"
    assert sanitize_cell("-1+1") == "'-1+1"


@pytest.mark.parametrize("payload", PAYLOADS[:4])
def test_report_reads_them_back_inert(tmp_path: Path, payload: str) -> None:
    """Fault: the formula project name read back by ``wattwatch report --json``. User sees: the stored inert
    text; the report never turns it back into a formula."""
    t = Tracker(
        output_dir=tmp_path,
        project_name=payload,
        sensors=[ConstantPowerSensor()],
        handle_signals=False,
        save_timeseries=False,
    )
    t.start()
    t.stop()
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["report", str(tmp_path / "emissions.csv"), "--json"]) == 0
    text = out.getvalue()
    runs = json.loads(text)["runs"] if isinstance(json.loads(text), dict) else json.loads(text)
    names = [r["project_name"] for r in runs]
    assert names and all(not n.startswith(FORMULA_START) for n in names), names


@pytest.mark.parametrize("payload", PAYLOADS[:4])
def test_merge_writes_them_inert(tmp_path: Path, payload: str) -> None:
    """Fault: part files of a distributed run whose project name is a formula, merged by ``wattwatch merge``.
    User sees: the merged emissions.csv row with the cell quoted. Not lost: the run's totals."""
    for rank in range(2):
        data = EmissionsData(
            project_name=payload,
            experiment_id=payload,
            run_id="r1",
            energy_consumed=0.5,
            emissions=0.05,
            duration=10.0,
            status="completed",
        )
        write_part(
            tmp_path, Part("r1", rank, 2, "n0", local_rank=rank, status="completed", data=data, channels={})
        )
    with redirect_stdout(io.StringIO()):
        assert main(["merge", str(tmp_path), "-o", str(tmp_path / "emissions.csv")]) == 0
    (row,) = csv_rows(tmp_path / "emissions.csv")
    for column in ("project_name", "experiment_id"):
        assert not row[column].startswith(FORMULA_START), row[column]


def test_phase_names_in_the_time_series(tmp_path: Path) -> None:
    """Fault: a phase name that is a formula (phases are user text) lands in <run>.timeseries.csv. User sees:
    the cell quoted there too. Not lost: the rows of that phase."""
    import csv
    import time

    t = Tracker(
        output_dir=tmp_path,
        sensors=[ConstantPowerSensor()],
        measure_power_secs=0.01,
        timeseries_every_s=0.01,
        handle_signals=False,
    )
    t.start()
    with t.phase("=cmd|' /C calc'!A0"):
        time.sleep(0.1)
    t.stop()
    with open(tmp_path / f"{t.run_id}.timeseries.csv", newline="") as fh:
        phases = {r["phase"] for r in csv.DictReader(fh)}
    assert "'=cmd|' /C calc'!A0" in phases
    assert not any(p.startswith(FORMULA_START) for p in phases)
