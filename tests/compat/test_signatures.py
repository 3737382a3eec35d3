"""CodeCarbon 3.3.2's signatures, positional order included, and the option table that covers every option."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor

from wattwatch import EmissionsTracker, OfflineEmissionsTracker, Tracker, track_emissions
from wattwatch.compat.options import (
    BASE_PARAMETERS,
    CODECARBON_DEFAULTS,
    DECORATOR_PARAMETERS,
    OFFLINE_PARAMETERS,
    OPTIONS,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "codecarbon.md"


def _names(fn: object, *, kinds: tuple[inspect._ParameterKind, ...]) -> list[str]:
    return [p.name for p in inspect.signature(fn).parameters.values() if p.kind in kinds]  # type: ignore[arg-type]


POSITIONAL = (inspect.Parameter.POSITIONAL_OR_KEYWORD,)


def test_parameter_order_is_codecarbons() -> None:
    assert _names(EmissionsTracker.__init__, kinds=POSITIONAL)[1:] == list(BASE_PARAMETERS)
    assert _names(OfflineEmissionsTracker.__init__, kinds=(inspect.Parameter.KEYWORD_ONLY,)) == list(OFFLINE_PARAMETERS)
    assert _names(track_emissions, kinds=POSITIONAL) == ["fn", *DECORATOR_PARAMETERS]


def test_signatures_match_the_installed_codecarbon() -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        if version("codecarbon") != "3.3.2":
            pytest.skip("compares with CodeCarbon 3.3.2")
    except PackageNotFoundError:
        pytest.skip("codecarbon is not installed")
    # In a subprocess: importing CodeCarbon reconfigures the "codecarbon" logger of the importing process.
    code = (
        "import inspect, json, codecarbon.emissions_tracker as cc\n"
        "def names(f, kind):\n"
        "    return [p.name for p in inspect.signature(f).parameters.values() if p.kind == kind]\n"
        "P, K = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY\n"
        "print(json.dumps([names(cc.BaseEmissionsTracker.__init__, P), names(cc.OfflineEmissionsTracker.__init__, K),"
        " names(cc.track_emissions, P)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    base, offline, decorator = json.loads(out.stdout.strip().splitlines()[-1])
    assert _names(EmissionsTracker.__init__, kinds=POSITIONAL) == base
    assert _names(OfflineEmissionsTracker.__init__, kinds=(inspect.Parameter.KEYWORD_ONLY,)) == offline
    assert _names(track_emissions, kinds=POSITIONAL) == decorator


def test_positional_arguments_land_where_codecarbon_puts_them(tmp_path: Path) -> None:
    # CodeCarbon: EmissionsTracker(project_name, measure_power_secs, api_call_interval, api_endpoint, api_key,
    # output_dir, output_file, ...). The issue: ("p", 5) set experiment_id=5 instead of measure_power_secs=5.
    t = EmissionsTracker("p", 5, 3, None, None, str(tmp_path), "runs.csv", sensors=[ConstantPowerSensor()])
    assert t.project_name == "p"
    assert t._plan.measure_power_secs == 5.0
    assert t._plan.api_call_interval == 3
    assert t.output_path == tmp_path / "runs.csv"
    assert t.experiment_id == CODECARBON_DEFAULTS["experiment_id"]


def test_codecarbons_defaults(tmp_path: Path) -> None:
    t = EmissionsTracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()])
    assert isinstance(t, Tracker)
    assert t.project_name == "codecarbon" and t.output_file == "emissions.csv"
    assert t._plan.measure_power_secs == 15.0 and t._plan.api_call_interval == 8
    assert t._plan.on_csv_write == "append" and t._experiment_name == "base"
    assert t._output_methods == ["csv"]
    assert t.final_emissions is None and t.final_emissions_data is None


def test_unknown_argument_is_a_type_error_as_in_codecarbon() -> None:
    with pytest.raises(TypeError):
        EmissionsTracker(default_cpu_power=10)  # not a CodeCarbon 3.3.2 argument
    with pytest.raises(TypeError):
        track_emissions(project_name="x", nonsense=1)  # type: ignore[call-arg]


def test_every_option_is_in_the_table_and_the_doc() -> None:
    every = set(BASE_PARAMETERS) | set(OFFLINE_PARAMETERS) | set(DECORATOR_PARAMETERS)
    assert every == set(OPTIONS)
    assert {o.handling for o in OPTIONS.values()} <= {"honoured", "online", "rejected"}
    text = DOC.read_text()
    documented = set(re.findall(r"^\| `(\w+)` \|", text, flags=re.M))
    assert every <= documented, f"missing from docs/codecarbon.md: {sorted(every - documented)}"
    for name, option in OPTIONS.items():
        row = re.search(rf"^\| `{name}` \| (\w+) \|", text, flags=re.M)
        assert row is not None and row.group(1) == option.handling, name
