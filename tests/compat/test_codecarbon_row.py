"""The 38 CodeCarbon columns as CodeCarbon fills them: a real CodeCarbon 3.3.2 row against a wattwatch row.

CodeCarbon runs offline (France, 1 s) in a subprocess and writes its ``emissions.csv``; the compatibility tracker
writes its own. Column by column the cells must have the same form (an integer where CodeCarbon writes an
integer, a number where it writes a number, the same timestamp format, the same text where the machine decides
it) and wattwatch's own columns must come after CodeCarbon's.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor

from wattwatch import OfflineEmissionsTracker
from wattwatch.result import CODECARBON_COLUMNS

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")  # local time, no zone, as datetime.now().strftime
SAME_VALUE = (
    "project_name",
    "experiment_id",
    "country_name",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "os",
    "python_version",
    "codecarbon_version",
    "cpu_count",
    "cpu_model",
    "tracking_mode",
    "on_cloud",
    "pue",
    "wue",
    "longitude",
    "latitude",
)
"""Columns that depend only on the machine and the options, so both tools must write the same text."""


def _kind(cell: str) -> str:
    if cell == "":
        return "empty"
    if re.fullmatch(r"-?\d+", cell):
        return "int"
    try:
        float(cell)
    except ValueError:
        return "text"
    return "number"


def _codecarbon_row(tmp_path: Path) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:  # not imported here: CodeCarbon reconfigures the "codecarbon" logger of the process that imports it
        installed = version("codecarbon")
    except PackageNotFoundError:
        pytest.skip("codecarbon is not installed")
    if installed != "3.3.2":
        pytest.skip("compares with CodeCarbon 3.3.2")
    out = tmp_path / "cc"
    out.mkdir()
    code = textwrap.dedent(
        f"""
        import time
        from codecarbon import OfflineEmissionsTracker
        t = OfflineEmissionsTracker(country_iso_code="FRA", output_dir={str(out)!r}, measure_power_secs=1,
                                    log_level="error", gpu_ids=[])
        t.start(); time.sleep(1.2); t.stop()
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    with open(out / "emissions.csv", newline="") as fh:
        return next(csv.DictReader(fh))


def test_codecarbon_columns_match_a_real_codecarbon_row(tmp_path: Path) -> None:
    theirs = _codecarbon_row(tmp_path)
    ours_dir = tmp_path / "ww"
    tracker = OfflineEmissionsTracker(
        country_iso_code="FRA",
        output_dir=str(ours_dir),
        sensors=[ConstantPowerSensor(30.0, component="cpu", model=theirs["cpu_model"])],
        handle_signals=False,
    )
    tracker.start()
    time.sleep(1.2)  # usage columns are sampled once a second, as CodeCarbon's
    tracker.stop()
    with open(ours_dir / "emissions.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        ours = next(reader)
    assert header[: len(CODECARBON_COLUMNS)] == list(theirs) == list(CODECARBON_COLUMNS)
    for column in CODECARBON_COLUMNS:
        if column in SAME_VALUE:
            assert ours[column] == theirs[column], column
        elif column == "timestamp":
            assert TIMESTAMP.match(ours[column]) and TIMESTAMP.match(theirs[column]), (ours[column], theirs[column])
        elif column in ("gpu_count",):
            assert _kind(ours[column]) == _kind(theirs[column]) == "int", column
        else:
            kinds = {_kind(ours[column]), _kind(theirs[column])}
            assert kinds <= {"int", "number"} or len(kinds) == 1, (column, ours[column], theirs[column])
    assert 0.0 <= float(ours["cpu_utilization_percent"]) <= 100.0
    assert 0.0 < float(ours["ram_utilization_percent"]) <= 100.0
    assert float(ours["ram_used_gb"]) > 0.0
    assert float(ours["ram_total_size"]) == pytest.approx(float(theirs["ram_total_size"]), rel=1e-6)
