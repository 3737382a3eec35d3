"""``from wattwatch import Tracker`` loads only the facade: the run's machinery (config dataclasses, ledger,
sensors, typing, logging) loads when a tracker is made, so importing wattwatch costs a few milliseconds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HEAVY = ["typing", "dataclasses", "logging", "pathlib", "wattwatch.run.config", "wattwatch.measure.ledger",
         "wattwatch.result", "wattwatch.sensors.base"]  # fmt: skip


NOT_FOR_A_RUN = ["wattwatch.sinks.emissions_reader", "wattwatch.sinks.csv", "wattwatch.cli.options",
                 "wattwatch.report", "wattwatch.distributed.aggregator", "wattwatch.distributed.merge",
                 "hashlib", "platform", "socket", "tempfile", "importlib.resources",
                 "wattwatch.ledger", "sqlalchemy", "psycopg", "platformdirs", "subprocess"]  # fmt: skip
"""Modules a single-process run never needs: readers, the CLI's option table, the report, the rank aggregator,
the standard-library modules the start path was rid of (``docs/design.md``, "Start-up"), and -- without a
ledger URL -- the ledger and its database libraries (the job metadata is read without a subprocess)."""


def _loaded_by(statement: str, names: list[str] = HEAVY, *, site: bool = False) -> list[str]:
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        f"{statement}\n"
        f"print(json.dumps(sorted(m for m in {names!r} if m in set(sys.modules) - before)))\n"
    )
    out = subprocess.run(
        [sys.executable, *([] if site else ["-S"]), "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    ).stdout
    return list(json.loads(out.strip().splitlines()[-1]))


def test_importing_the_tracker_loads_none_of_the_machinery() -> None:
    assert _loaded_by("from wattwatch import Tracker") == []
    assert _loaded_by("import wattwatch") == []


def test_making_a_tracker_loads_it() -> None:
    loaded = _loaded_by("from wattwatch import Tracker\nTracker(carbon_intensity_g_per_kwh=100.0)")
    assert {"wattwatch.run.config", "dataclasses", "logging"} <= set(loaded)


def test_a_start_and_stop_load_no_reader_report_or_cli_module(tmp_path: Path) -> None:
    """A start only appends to emissions.csv and writes its journal: the CSV reader (``sinks/emissions_reader``),
    the report and the command line's option table stay unloaded, as do the modules replaced on the start path."""
    run = (
        "from wattwatch import Tracker\n"
        f"t = Tracker(output_dir={str(tmp_path)!r}, carbon_intensity_g_per_kwh=100.0, handle_signals=False)\n"
        "t.start()\n"
        "t.stop()"
    )
    assert _loaded_by(run, NOT_FOR_A_RUN) == []
    assert (tmp_path / "emissions.csv").is_file()  # the run did write its row


def test_no_network_module_loads_unless_a_provider_is_named(tmp_path: Path) -> None:
    """A run with a budget, a projection and a pause rule on an hourly file still loads no HTTP client: the only
    network code is the live providers', loaded when one is named (docs/acting.md)."""
    hourly = tmp_path / "hourly.csv"
    hourly.write_text("timestamp,g_per_kwh\n1704067200,100\n1704070800,200\n")
    run = (
        "from wattwatch import Tracker\n"
        f"t = Tracker(output_dir={str(tmp_path)!r}, intensity_csv={str(hourly)!r}, handle_signals=False,\n"
        "            carbon_budget_kg=1.0, total_steps=10, pause_above_g_per_kwh=150, deadline='+1h')\n"
        "t.start(); t.step(); t.pause_due(); t.stop()"
    )
    network = ["urllib.request", "http.client", "socket", "ssl", "wattwatch.carbon.providers"]
    assert _loaded_by(run, network) == []


def test_run_ids_are_version_4_uuids() -> None:
    import uuid

    from wattwatch.run.tracker import _new_run_id

    ids = {_new_run_id() for _ in range(200)}
    assert len(ids) == 200
    for text in ids:
        u = uuid.UUID(text)
        assert str(u) == text and u.version == 4 and u.variant == uuid.RFC_4122


def test_a_ledger_url_imports_sqlalchemy_off_the_callers_thread(tmp_path: Path) -> None:
    """With a ledger URL, SQLAlchemy is imported by the ledger's own thread, started by ``start()``: the
    constructor and ``start()`` themselves load none of it (only ``wattwatch.ledger``'s small modules)."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    run = (
        "from wattwatch import Tracker\n"
        f"t = Tracker(output_dir={str(tmp_path)!r}, carbon_intensity_g_per_kwh=100.0, handle_signals=False,"
        f" ledger_url={url!r})\n"
        "import wattwatch.ledger.sink as sink\n"
        "sink.LedgerSink.start = lambda self: (self.done.set(), self)[1]  # no thread: what start() imports\n"
        "t.start()\n"
        "t.stop()"
    )
    assert _loaded_by(run, ["sqlalchemy", "psycopg", "platformdirs"], site=True) == []
