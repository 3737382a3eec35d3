"""Hostile input to every user-facing parser, fuzzed with hypothesis: only clean one-line errors
(``ValueError``/``ConfigurationError`` from the library, exit code 2 and one stderr line from the CLI), never a
traceback from inside wattwatch, and nothing written for an invalid configuration."""

from __future__ import annotations

import io
import os
import string
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from fakesensors import ConstantPowerSensor
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wattwatch import Tracker
from wattwatch.cli.main import main
from wattwatch.errors import ConfigurationError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(min_value=-3, max_value=3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(object()),
    st.binary(max_size=5),
)

TRACKER_KEYS = [
    "project_name",
    "experiment_id",
    "output_file",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "carbon_intensity_g_per_kwh",
    "pue",
    "wue",
    "gpu_ids",
    "tracking_mode",
    "measure_power_secs",
    "timeseries_every_s",
    "flush_every_s",
    "log_level",
    "total_steps",
    "prometheus_port",
    "run_id",
]


def _one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text, repr(text)


@FUZZ
@given(kwargs=st.dictionaries(st.sampled_from(TRACKER_KEYS), junk, min_size=1, max_size=4))
@example(kwargs={"wue": None})
@example(kwargs={"total_steps": []})
@example(kwargs={"total_steps": "5.5"})
@example(kwargs={"prometheus_port": "x"})
@example(kwargs={"prometheus_port": 1e300})
@example(kwargs={"country_iso_code": object()})
@example(kwargs={"gpu_ids": "-3"})
def test_tracker_constructor_arguments(
    tmp_path_factory: pytest.TempPathFactory, kwargs: dict[str, Any]
) -> None:
    """Fault: junk values (None, bools, huge ints, NaN, text, lists, objects, bytes) for Tracker keywords. User
    sees: the Tracker built, or one ValueError line naming the option -- never TypeError/AttributeError from
    deep inside. Not written: anything, until start()."""
    out = tmp_path_factory.mktemp("ctor")
    try:
        Tracker(output_dir=out / "o", sensors=[ConstantPowerSensor()], handle_signals=False, **kwargs)
    except ValueError as exc:
        _one_line(exc)
    finally:
        import logging

        logging.getLogger("wattwatch").setLevel(logging.NOTSET)
    assert list(out.iterdir()) == []


ENV_KEYS = [
    "CUDA_VISIBLE_DEVICES",
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "NODE_RANK",
    "SLURM_PROCID",
    "SLURM_NTASKS",
    "SLURM_LOCALID",
    "SLURM_NODEID",
    "SLURM_NNODES",
    "SLURM_TASKS_PER_NODE",
    "SLURM_JOB_ID",
    "SLURM_STEP_ID",
    "OMPI_COMM_WORLD_RANK",
    "OMPI_COMM_WORLD_SIZE",
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "PMI_RANK",
    "PMI_SIZE",
    "TORCHELASTIC_RUN_ID",
    "WATTWATCH_NODE_ID",
    "WATTWATCH_RUN_ID",
    "WATTWATCH_DIST_TIMEOUT_S",
    "MASTER_ADDR",
    "MASTER_PORT",
]
env_value = st.one_of(
    st.text(alphabet=string.printable, max_size=12),
    st.integers(min_value=-5, max_value=10**12).map(str),
    st.sampled_from(["", "0", "1", "-1", "2(x3)", "4(x2),1", "GPU-", "MIG-x", "0,0,1", "nan", "inf", " 1 "]),
)


@settings(
    max_examples=int(os.environ.get("WATTWATCH_FUZZ_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(env=st.dictionaries(st.sampled_from(ENV_KEYS), env_value, max_size=5))
@example(env={"RANK": "0", "WORLD_SIZE": "1000000000000"})
@example(env={"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_TASKS_PER_NODE": "1(x1000000000000)"})
@example(env={"OMPI_COMM_WORLD_RANK": "5", "OMPI_COMM_WORLD_SIZE": "2"})
@example(env={"WATTWATCH_DIST_TIMEOUT_S": "nan", "RANK": "1", "WORLD_SIZE": "2"})
def test_environment_variables(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> None:
    """Fault: garbage in CUDA_VISIBLE_DEVICES, launcher variables (torchrun, SLURM, MPI) and WATTWATCH_*.
    User sees: a run, or one ConfigurationError/ValueError line at start() -- never a traceback from inside.
    Not written: anything when start() refuses."""
    out = tmp_path_factory.mktemp("env")
    env = {k: v.replace("\x00", "") for k, v in env.items()}
    # short waits for absent ranks: a valid timeout is kept small, an invalid one must be refused cleanly
    raw = env.get("WATTWATCH_DIST_TIMEOUT_S", "0.2")
    try:
        if float(raw) > 0.2:
            raw = "0.2"
    except ValueError:
        pass
    env["WATTWATCH_DIST_TIMEOUT_S"] = raw
    t = Tracker(
        output_dir=out,
        sensors=[ConstantPowerSensor()],
        handle_signals=False,
        environ=env,
        measure_power_secs=0.05,
        save_timeseries=False,
    )
    try:
        t.start()
    except ValueError as exc:
        _one_line(exc)
        assert not (out / "emissions.csv").exists()
        return
    data = t.stop()
    # a distributed run whose other ranks never report is combined as such (see wattwatch.distributed.combine)
    assert data is not None and data.status in {"completed", "running", "interrupted", "failed"}


csv_cell = st.text(alphabet=string.printable.replace("\r", ""), max_size=25)
csv_text = st.one_of(
    st.text(max_size=300),
    st.lists(st.lists(csv_cell, min_size=1, max_size=6).map(",".join), max_size=8).map("\n".join),
    st.lists(
        st.tuples(
            st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01 01:00", "garbage", "", "2024-13-45T99:00"]),
            st.sampled_from(["120", "-5", "nan", "inf", "1e400", "x", ""]),
        ),
        max_size=5,
    ).map(lambda rows: "datetime,carbon_intensity\n" + "\n".join(f"{a},{b}" for a, b in rows)),
)


@FUZZ
@given(text=csv_text)
def test_intensity_csv(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    """Fault: a malformed hourly intensity CSV (random text, wrong columns, bad dates and numbers). User sees:
    the file accepted, or one ValueError line naming the file and line. Not written: anything."""
    d = tmp_path_factory.mktemp("intensity")
    path = d / "intensity.csv"
    path.write_text(text, encoding="utf-8")
    try:
        Tracker(output_dir=d / "o", intensity_csv=path, sensors=[ConstantPowerSensor()], handle_signals=False)
    except ValueError as exc:
        _one_line(exc)
    assert sorted(p.name for p in d.iterdir()) == ["intensity.csv"]


catalog_text = st.one_of(
    csv_text,
    st.lists(
        st.tuples(
            csv_cell,
            st.sampled_from(["aws", "gcp", "", "x"]),
            csv_cell,
            st.sampled_from(["100", "-1", "nan", "", "x", "1e999"]),
            st.sampled_from(["1.5", "", "-2", "y"]),
        ),
        max_size=4,
    ).map(
        lambda rows: (
            "provider,region,country_iso_code,g_per_kwh,usd_per_gpu_hour\n"
            + "\n".join(",".join(r) for r in rows)
        )
    ),
)


def _cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def _clean_error(code: int, err: str) -> None:
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err, err
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err


@FUZZ
@given(text=catalog_text)
def test_region_catalog_csv(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    """Fault: a malformed region catalog given to ``wattwatch regions --catalog``. User sees: exit 0 with the
    table, or exit 2 and one stderr line naming the problem."""
    d = tmp_path_factory.mktemp("catalog")
    path = d / "catalog.csv"
    path.write_text(text, encoding="utf-8")
    code, _, err = _cli(["regions", "--gpu-hours", "10", "--catalog", str(path), "--no-codecarbon"])
    _clean_error(code, err)


emissions_text = st.one_of(
    csv_text,
    st.lists(
        st.tuples(
            csv_cell,
            st.sampled_from(["completed", "running", "", "x"]),
            st.sampled_from(["0.5", "-1", "nan", "inf", "", "abc", "1e400"]),
            st.sampled_from(["2024-01-01T00:00:00+00:00", "", "yesterday"]),
        ),
        max_size=4,
    ).map(
        lambda rows: (
            "timestamp,project_name,run_id,duration,emissions,energy_consumed,status\n"
            + "\n".join(f"{r[3]},p,{r[0]},{r[2]},{r[2]},{r[2]},{r[1]}" for r in rows)
        )
    ),
)


@FUZZ
@given(text=emissions_text)
@example(text="run_id,energy_consumed,emissions,duration,readings\nr,1,1,inf,1\n")
@example(text="run_id,energy_consumed,emissions,duration,readings\nr,1,1,1,inf\n")
@example(text='run_id,energy_consumed,emissions,phase_energy_kwh\nr,1,1,"{""train"": NaN}"\n')
def test_emissions_csv_read_back_by_report(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    """Fault: a corrupted or foreign emissions.csv given to ``wattwatch report`` (and ``--json``). User sees:
    the runs it could read, or exit 2 and one stderr line. Not written: anything next to the file."""
    d = tmp_path_factory.mktemp("report")
    path = d / "emissions.csv"
    path.write_text(text, encoding="utf-8")
    for extra in ([], ["--json"]):
        code, _, err = _cli(["report", str(path), *extra])
        _clean_error(code, err)
    assert [p.name for p in d.iterdir()] == ["emissions.csv"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=emissions_text)
def test_emissions_csv_read_back_by_merge(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    """Fault: a corrupted emissions.csv in the folder ``wattwatch merge`` updates. User sees: exit 0 or exit 2
    with one stderr line. Not lost: the file is not truncated by a failed merge."""
    d = tmp_path_factory.mktemp("merge")
    path = d / "emissions.csv"
    path.write_bytes(text.encode("utf-8"))
    code, _, err = _cli(["merge", str(d)])
    _clean_error(code, err)
    if code != 0:
        assert path.read_bytes() == text.encode("utf-8")  # bytes: read_text would turn a lone "\r" into "\n"


arg_token = st.one_of(
    st.sampled_from(
        [
            "--pue",
            "--gpu-hours",
            "--top",
            "--gpus",
            "--hours",
            "--watts",
            "--g-per-kwh",
            "--tokens",
            "--dense-params",
            "--duration-hours",
            "--now",
            "--json",
            "--project",
            "--max-cost",
            "--country-iso-code",
            "--cloud-provider",
            "--cloud-region",
            "--scale-steps",
            "--csv",
            "-h",
        ]
    ),
    st.sampled_from(
        ["0", "-1", "1e400", "nan", "inf", "x", "", "7", "2024-01-01T00:00", "FRA", "aws", "1.5"]
    ),
    st.text(alphabet=string.ascii_letters + string.digits + "-.=", max_size=8),
)


@FUZZ
@given(
    command=st.sampled_from(["estimate", "compare", "regions", "schedule", "report"]),
    args=st.lists(arg_token, max_size=6),
)
def test_cli_options(tmp_path_factory: pytest.TempPathFactory, command: str, args: list[str]) -> None:
    """Fault: random option lists for the planning and report commands. User sees: exit 0, or exit 2 with ONE
    stderr line (argparse's usage block included) -- never a traceback."""
    if "-h" in args or "--help" in args:
        return
    d = tmp_path_factory.mktemp("cli")
    cwd = os.getcwd()
    os.chdir(d)
    try:
        code, _, err = _cli([command, *args])
    finally:
        os.chdir(cwd)
    _clean_error(code, err)


@pytest.mark.parametrize(
    "option",
    [
        ["--pue", "0.5"],
        ["--flush-every-s", "0"],
        ["--gpu-ids", "-3"],
        ["--output-file", "a/b"],
        ["--measure-power-secs", "nan"],
        ["--carbon-intensity-g-per-kwh", "-1"],
        ["--total-steps", "0"],
        ["--intensity-csv", "/nonexistent.csv"],
        ["--country-iso-code", "XXX"],
        ["--log-level", "loud"],
    ],
)
def test_run_rejects_bad_tracker_options_before_running(tmp_path: Path, option: list[str]) -> None:
    """Fault: an invalid tracker option to ``wattwatch run``. User sees: exit 2 and one stderr line, before the
    command runs. Not written: anything (no emissions.csv, the command never ran)."""
    marker = tmp_path / "ran"
    import sys

    code, _, err = _cli(
        [
            "run",
            "--output-dir",
            str(tmp_path / "o"),
            *option,
            "--",
            sys.executable,
            "-c",
            f"open({str(marker)!r}, 'w')",
        ]
    )
    assert code == 2, err
    _clean_error(code, err)
    assert not marker.exists() and not (tmp_path / "o" / "emissions.csv").exists()


def test_invalid_configuration_raises_configuration_error(tmp_path: Path) -> None:
    """The library's errors are ConfigurationError (a ValueError) with one line that says what to do."""
    with pytest.raises(ConfigurationError) as info:
        Tracker(output_dir=tmp_path, pue=0.5)
    _one_line(info.value)


timeseries_text = st.one_of(
    csv_text,
    st.lists(
        st.tuples(
            st.sampled_from(["2024-01-01T00:00:00.000+00:00", "", "x"]),
            st.sampled_from(["0.5", "-1", "nan", "inf", "", "abc"]),
            st.sampled_from(["train", "", "=1+1"]),
            st.sampled_from(["100", "", "nan", "-5", "1e400"]),
        ),
        max_size=5,
    ).map(
        lambda rows: (
            "timestamp,elapsed_s,phase,gpu:0_w,energy_kwh,emissions_kg\n"
            + "\n".join(f"{a},{b},{c},{d},{b},{d}" for a, b, c, d in rows)
        )
    ),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=timeseries_text)
def test_timeseries_read_back_by_plot(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    """Fault: a corrupted <run>.timeseries.csv given to ``wattwatch plot``. User sees: a PNG, or exit 2 and one
    stderr line -- never a traceback."""
    d = tmp_path_factory.mktemp("plot")
    path = d / "r.timeseries.csv"
    path.write_text(text, encoding="utf-8")
    code, _, err = _cli(["plot", str(path), "--out", str(d / "r.png")])
    _clean_error(code, err)
