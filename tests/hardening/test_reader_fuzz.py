"""Every reader of outside data, fuzzed with thousands of generated inputs each (issue 23): emissions.csv (read,
scanned, appended to), run journals, hourly intensity CSVs, ``.codecarbon.config``, environment variables and
command-line arguments.

Properties, for every input: no exception but the reader's documented one (``ValueError`` /
``ConfigurationError`` / ``OSError`` where documented; argparse's exit 2), no hang (every file is a regular
file of bounded size, read once), and no write outside the folder under test. For emissions.csv also: a row
appended after *any* prior content is read back by Python's csv as the last row (a damaged tail never costs
the next row), and report's column scan finds it.

``WATTWATCH_FUZZ_SCALE`` multiplies the example counts (default 1: 2,000 per reader; the whole file runs in
well under a minute on CI's two cores). Each test has one folder, emptied before each example."""

from __future__ import annotations

import configparser
import csv
import io
import json
import os
import string
import warnings
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wattwatch.carbon.hourly_csv import read_hourly_csv
from wattwatch.cli.main import build_parser
from wattwatch.cli.options import tracker_kwargs
from wattwatch.compat.config import external_options
from wattwatch.distributed.topology import detect_topology
from wattwatch.errors import ConfigurationError
from wattwatch.result import CODECARBON_COLUMNS, COLUMNS
from wattwatch.run.config import TrackerConfig
from wattwatch.sinks.emissions_file import append_row
from wattwatch.sinks.emissions_reader import ColumnScan, holds_segment, read_table, table_layout
from wattwatch.sinks.files import OsFileOps
from wattwatch.sinks.journal import JOURNAL_DIR, finalize_stale, read_journal, read_journals

SCALE = float(os.environ.get("WATTWATCH_FUZZ_SCALE", "1"))
MANY = max(1, int(2000 * SCALE))
FUZZ = settings(
    max_examples=MANY,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


class _Folder:
    """The folder under test, inside an otherwise empty parent (``outside()`` lists what appeared beside it),
    emptied of files before each example (folders are kept: creating and removing folders per example cost
    more than the readers themselves)."""

    def __init__(self, parent: Path) -> None:
        self.parent = parent
        self.path = parent / "out"
        self.path.mkdir()

    def reset(self, *subfolders: str) -> _Folder:
        """Remove the files in the folder and in ``subfolders`` of it (lock files are left: harmless)."""
        for folder in (self.path, *(self.path / s for s in subfolders)):
            with os.scandir(folder) as entries:
                for entry in entries:
                    if not entry.name.endswith(".lock") and not entry.is_dir(follow_symlinks=False):
                        os.unlink(entry.path)
        return self

    def outside(self) -> list[str]:
        return sorted(p.name for p in self.parent.iterdir() if p.name != "out")


@pytest.fixture
def folder(tmp_path: Path) -> _Folder:
    return _Folder(tmp_path)


# ------------------------------------------------------------------------------------------- emissions.csv

cell_text = st.text(alphabet=string.printable + '\x00"\u00e9\ufffd;', max_size=12)
header_line = st.one_of(
    st.just(",".join(COLUMNS)),
    st.just(",".join(CODECARBON_COLUMNS)),
    st.just(";".join(COLUMNS)),
    st.lists(st.sampled_from(["run_id", "timestamp", "energy_consumed", "x", "", '"q'] + list(COLUMNS[:5])), max_size=8).map(",".join),
    st.text(max_size=40),
)
row_line = st.one_of(
    st.lists(cell_text, max_size=8).map(lambda cs: ",".join(cs + [""] * (len(COLUMNS) - len(cs)))),  # full width
    st.lists(cell_text, max_size=8).map(",".join),
    st.lists(cell_text, max_size=6).map(lambda cs: ",".join('"' + c + '"' for c in cs)),
    st.text(max_size=60),
)
csv_bytes = st.one_of(
    st.tuples(header_line, st.lists(row_line, max_size=6), st.sampled_from(["\n", "\r\n", "", "\0" * 16]),
              st.integers(min_value=0, max_value=40), st.booleans())
    .map(lambda t: _assemble(*t)),
    st.binary(max_size=300),
)


def _assemble(header: str, rows: list[str], end: str, cut: int, bom: bool) -> bytes:
    text = header + "\n" + "\n".join(rows) + end
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogatepass")
    return data[: max(0, len(data) - cut)] if cut % 3 == 0 else data  # a tail cut anywhere, sometimes


def _row(run_id: str) -> dict[str, str]:
    row = dict.fromkeys(COLUMNS, "")
    row.update(run_id=run_id, status="completed", energy_consumed="0.5", emissions="0.1", duration="1",
               project_name='p;=1,"x"', phase_energy_kwh='{"train":0.5}')  # fmt: skip
    return row


@FUZZ
@given(data=csv_bytes)
@example(data=(",".join(COLUMNS) + '\n2024,"{""a"": 1').encode())  # cut inside a quoted cell
@example(data=(",".join(COLUMNS) + '\nx,y"z,w\n').encode())  # a stray quote mid-cell: text to csv
@example(data=(",".join(COLUMNS) + "\n").encode() + b"\0" * 64)  # zero-filled tail
def test_emissions_csv_read_scanned_and_appended(folder: _Folder, data: bytes) -> None:
    """Any bytes as emissions.csv: read_table and the column scan never raise; appending a row never raises
    and the row is the last one Python's csv reads from the file that holds it; nothing is written outside."""
    folder.reset()
    path = folder.path / "emissions.csv"
    path.write_bytes(data)
    read_table(path)
    layout = table_layout(path)
    if layout is not None:
        list(ColumnScan(layout, ["run_id", "energy_consumed", "status"]))
    outcome = append_row(path, _row("fuzz-run"), COLUMNS, durable=False)  # (fsync is not what is tested)
    assert outcome.saved_in is not None, outcome.error
    table = read_table(outcome.saved_in)
    assert table.rows[-1]["run_id"] == "fuzz-run"
    with open(outcome.saved_in, newline="", encoding="utf-8", errors="replace") as fh:
        last = list(csv.reader(fh, delimiter=table.delimiter))[-1]  # Python's csv, as a user reads it
    assert last[table.header.index("run_id")] == "fuzz-run", last[:4]
    assert folder.outside() == []


@FUZZ
@given(data=csv_bytes, offset=st.one_of(st.none(), st.integers(min_value=0, max_value=400)))
@example(data=(",".join(COLUMNS) + '\nfuzz-run,"{""a"": 1').encode(), offset=None)  # the id inside a cut cell
def test_a_segment_is_found_in_any_file_after_its_row_is_appended(folder: _Folder, data: bytes, offset: int | None) -> None:
    """Any bytes as emissions.csv, any recorded offset: the search a finaliser makes for a run's row
    (``holds_segment``) never raises; it finds the row once appended after that offset, whatever came before."""
    folder.reset()
    path = folder.path / "emissions.csv"
    path.write_bytes(data)
    row = _row("fuzz-run") | {"resumed_segments": "1", "start_time": "2026-12-07T10:00:00.000+00:00"}
    holds_segment(path, row, offset)
    size = path.stat().st_size
    outcome = append_row(path, row, COLUMNS, durable=False)
    assert outcome.saved_in is not None, outcome.error
    if outcome.saved_in == path and outcome.appended_main:
        assert holds_segment(path, row, min(offset, size) if offset is not None else None)
    else:  # a file that is not a CSV: the row went to the companion
        assert holds_segment(outcome.saved_in, row, None)


# ------------------------------------------------------------------------------------------------- journals

json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**64), max_value=2**64), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12,
)
class _NoFsync(OsFileOps):
    """The real file system, without ``fsync`` (durability is not what these examples test; it was most of
    their time)."""

    def fsync(self, fd: int) -> None:
        pass


_NO_FSYNC = _NoFsync()
JOURNAL_KEYS = ["format", "version", "run_id", "output_file", "status", "final", "written_at", "owner", "pending",
                "columns", "row"]  # fmt: skip


def _journal(**changes: Any) -> dict[str, Any]:
    row = dict.fromkeys(COLUMNS, "")
    row.update(run_id="j", status="running", energy_consumed="0.25")
    doc: dict[str, Any] = {
        "format": "wattwatch.journal", "version": 1, "run_id": "j", "output_file": "emissions.csv",
        "status": "running", "final": True, "written_at": 1.0,
        "owner": {"pid": 1, "host": "elsewhere", "boot_id": "", "start_ticks": None},
        "pending": None, "columns": list(COLUMNS), "row": row,
    }  # fmt: skip
    doc.update(changes)
    return doc


journal_bytes = st.one_of(
    st.dictionaries(st.sampled_from(JOURNAL_KEYS), json_value, max_size=4).map(lambda c: json.dumps(_journal(**c)).encode()),
    st.builds(lambda k, v: json.dumps(_journal(**{k: v})).encode(), st.sampled_from(JOURNAL_KEYS), json_value),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)


@FUZZ
@given(data=journal_bytes)
@example(data=json.dumps(_journal(owner=[1, 2])).encode())
@example(data=json.dumps(_journal(columns="timestamp,run_id")).encode())
@example(data=b"[" * 100_000)
def test_journals(folder: _Folder, data: bytes) -> None:
    """Any bytes as a journal: read_journal raises only ValueError/OSError; reading the folder and finalising
    it never raise; a row it adds starts a file with wattwatch's header; nothing is written outside."""
    folder.reset(str(JOURNAL_DIR)) if (folder.path / JOURNAL_DIR).is_dir() else folder.reset()
    runs = folder.path / JOURNAL_DIR
    runs.mkdir(parents=True, exist_ok=True)
    path = runs / "fuzz.token.json"
    path.write_bytes(data)
    try:
        read_journal(path)
    except (ValueError, OSError):
        pass
    read_journals(folder.path)
    finalize_stale(folder.path, host="here", ops=_NO_FSYNC)
    for csv_path in folder.path.glob("*.csv"):
        with open(csv_path, newline="", encoding="utf-8") as fh:
            assert tuple(next(csv.reader(fh))[: len(CODECARBON_COLUMNS)]) == CODECARBON_COLUMNS
    names = {p.name for p in folder.path.iterdir()} - {".wattwatch"}
    assert names <= {"emissions.csv", "emissions.csv.lock"}, names
    assert folder.outside() == []


# ------------------------------------------------------------------------------------ hourly intensity CSV

stamp = st.one_of(
    st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01 01:00", "2024-13-45T99:00", "", "1700000000", "nan"]),
    st.datetimes().map(lambda d: d.isoformat()),
    st.text(max_size=10),
)
value = st.one_of(st.sampled_from(["120", "-5", "nan", "inf", "1e400", "x", "", "4999", "5001"]), st.text(max_size=6))
intensity_bytes = st.one_of(
    st.tuples(
        st.sampled_from(["timestamp,g_per_kwh", "Datetime (UTC),Carbon Intensity gCO₂eq/kWh (LCA),Country",
                         "point_time,value", "a,b", ""]),
        st.lists(st.tuples(stamp, value), max_size=6),
        st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    ).map(lambda t: (t[0] + "\n" + "\n".join(f"{a},{b}" for a, b in t[1])).encode(t[2], "replace")),
    st.binary(max_size=200),
)  # fmt: skip


@FUZZ
@given(data=intensity_bytes)
def test_hourly_intensity_csv(folder: _Folder, data: bytes) -> None:
    """Any bytes as an hourly intensity CSV: the file accepted (figures within bounds) or one ValueError line."""
    folder.reset()
    path = folder.path / "intensity.csv"
    path.write_bytes(data)
    try:
        hourly = read_hourly_csv(path)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert all(0 <= g <= 5000 for _, g in hourly.hours)
    assert folder.outside() == [] and [p.name for p in folder.path.iterdir()] == ["intensity.csv"]


# ------------------------------------------------------------------------------------- .codecarbon.config

config_line = st.one_of(
    st.sampled_from(["[codecarbon]", "[other]", "[codecarbon", "measure_power_secs=0", "pue = 1.5",
                     "project_name = %(x)s", "output_dir=../..", "log_level=loud", "gpu_ids=-1", "x"]),
    st.tuples(st.sampled_from(["project_name", "pue", "country_iso_code", "measure_power_secs", "output_file",
                               "tracking_mode", "experiment_name", "save_to_file"]), st.text(max_size=10))
    .map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.text(max_size=20),
)  # fmt: skip
config_bytes = st.one_of(
    st.lists(config_line, max_size=8).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")),
    st.binary(max_size=120),
)
codecarbon_env = st.dictionaries(
    st.sampled_from(["CODECARBON_PUE", "CODECARBON_PROJECT_NAME", "CODECARBON_OUTPUT_DIR", "codecarbon_log_level"]),
    st.text(alphabet=string.printable, max_size=10),
    max_size=3,
)


@FUZZ
@given(home=config_bytes, here=config_bytes, env=codecarbon_env)
@example(home=b"[codecarbon]\nproject_name=%(nope)s\n", here=b"\xff\xfe", env={})
@example(home=b"", here=b"[codecarbon]\nMEASURE_POWER_SECS=\n", env={})  # an empty number: ignored
def test_codecarbon_config_files_and_variables(folder: _Folder, home: bytes, here: bytes, env: dict[str, str]) -> None:
    """Any bytes as ~/.codecarbon.config and ./.codecarbon.config, any CODECARBON_* variables: the options
    read as strings, never an exception (an unreadable file counts as absent, as CodeCarbon's parser would
    refuse it); converted as CodeCarbon does (a bad value ignored with its message), the tracker options they
    map to are accepted or refused with one ConfigurationError."""
    from wattwatch.compat.settings import plan
    from wattwatch.compat.values import resolve_values

    folder.reset()
    (folder.path / "home").mkdir(exist_ok=True)
    (folder.path / "home" / ".codecarbon.config").write_bytes(home)
    (folder.path / ".codecarbon.config").write_bytes(here)
    found = external_options(home=folder.path / "home", cwd=folder.path, environ=env)
    assert all(isinstance(v, str) and isinstance(w, str) for v, w in found.values())
    try:
        with warnings.catch_warnings():  # save_to_file=... warns as CodeCarbon's does (DeprecationWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            plan(resolve_values({}, found).values)  # as EmissionsTracker does: values converted, then mapped
    except (ConfigurationError, TypeError):
        pass
    assert folder.outside() == []


# ------------------------------------------------------------------------------------ environment variables

ENV_KEYS = ["CUDA_VISIBLE_DEVICES", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK",
            "NODE_RANK", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NODEID", "SLURM_NNODES",
            "SLURM_TASKS_PER_NODE", "SLURM_JOB_ID", "SLURM_STEP_ID", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
            "OMPI_COMM_WORLD_LOCAL_RANK", "PMI_RANK", "PMI_SIZE", "TORCHELASTIC_RUN_ID", "WATTWATCH_NODE_ID",
            "WATTWATCH_RUN_ID", "WATTWATCH_DIST_TIMEOUT_S"]  # fmt: skip
env_value = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-5, max_value=10**20).map(str),
    st.sampled_from(["", "0", "1", "-1", "2(x3)", "4(x2),1", "1(x1000000000000)", "../../x", "\x1b]0;x\x07", "nan"]),
)


@FUZZ
@given(env=st.dictionaries(st.sampled_from(ENV_KEYS), env_value, max_size=6))
@example(env={"WATTWATCH_RUN_ID": "a\x00b"})
def test_launcher_and_wattwatch_environment(env: dict[str, str]) -> None:
    """Any launcher / WATTWATCH_* variables: a topology, or one ValueError line naming what to fix. A run id
    from the environment never holds a control character."""
    try:
        topology = detect_topology(env, use_torch=False)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert topology.world_size >= 1 and (topology.world_size == 1 or 0 <= topology.rank < topology.world_size)
    assert topology.run_id is None or not any(ch < " " or "\x7f" <= ch <= "\x9f" for ch in topology.run_id)


# ------------------------------------------------------------------------------------ command-line arguments

OPTIONS = ["--project-name", "--output-dir", "--output-file", "--run-id", "--pue", "--wue", "--gpu-ids",
           "--measure-power-secs", "--flush-every-s", "--timeseries-every-s", "--total-steps", "--log-level",
           "--country-iso-code", "--tracking-mode", "--prometheus-port", "--carbon-intensity-g-per-kwh",
           "--experiment-id", "--limit", "--json", "--all", "--html-runs", "--series-runs", "--project"]  # fmt: skip
arg_value = st.one_of(
    st.sampled_from(["0", "-1", "1e-9", "1e400", "nan", "inf", "x", "", "7", "a/b", "..", "../../x", "\x00", "\x1b[2J",
                     "FRA", "process", "0,1", "-3"]),
    st.text(max_size=8),
)  # fmt: skip


_PARSER = build_parser()  # built once: the parser is reused as the command line's would be


@FUZZ
@given(command=st.sampled_from(["run", "report"]), args=st.lists(st.one_of(st.sampled_from(OPTIONS), arg_value), max_size=8))
def test_command_line_arguments(folder: _Folder, command: str, args: list[str]) -> None:
    """Any argument list for ``wattwatch run`` / ``report``: argparse's one-line exit 2, or options that the
    tracker accepts or refuses with one ConfigurationError line -- never another exception, and an accepted
    name never holds a control character."""
    argv = [command, *args] + (["--", "true"] if command == "run" else ["."])
    err = io.StringIO()
    try:
        with redirect_stderr(err):
            parsed = _PARSER.parse_args(argv)
    except SystemExit as exc:
        assert exc.code == 2 and err.getvalue().count("\n") == 1 and "\x1b" not in err.getvalue(), err.getvalue()
        return
    if command != "run":
        return
    try:
        config = TrackerConfig.from_kwargs(**tracker_kwargs(parsed))
    except ConfigurationError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for name in (config.project_name, config.run_id or "", config.output_file, config.experiment_id):
        assert not any(ch < " " or "\x7f" <= ch <= "\x9f" for ch in name), name


def test_configparser_still_refuses_what_codecarbon_refuses() -> None:
    """The fuzzed config reader treats what configparser refuses as an absent file (as CodeCarbon would fail
    to read it): a section header left open is one."""
    with pytest.raises(configparser.Error):
        configparser.ConfigParser().read_string("[codecarbon\nx=1\n")
