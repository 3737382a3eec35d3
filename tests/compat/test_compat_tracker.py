"""CodeCarbon's tracker behaviours, on wattwatch: return values, handlers, logger output, decorator, lock, W&B."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import pytest
from compathelp import Recorder, make, rows

from wattwatch import EmissionsTracker, OfflineEmissionsTracker, OutputMethod, track_emissions
from wattwatch.compat import LoggerOutput
from wattwatch.errors import ConfigurationError
from wattwatch.measure.ledger import J_PER_KWH


# -- return values -------------------------------------------------------------------------------------------
def test_stop_and_flush_return_kg_as_floats(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    t = make(tmp_path, force_carbon_intensity_g_co2e_kwh=100.0)
    assert t.stop() is None  # never started: CodeCarbon warns and returns final_emissions (None)
    t.start()
    t.test_clock.advance(10.0)
    flushed = t.flush()
    assert isinstance(flushed, float)
    assert flushed == pytest.approx(360.0 * 10.0 / J_PER_KWH * 100.0 / 1000.0, rel=1e-9)
    t.test_clock.advance(10.0)
    emissions = t.stop()
    assert isinstance(emissions, float)
    assert emissions == pytest.approx(360.0 * 20.0 / J_PER_KWH * 0.1, rel=1e-9)
    assert t.final_emissions == emissions == t.final_emissions_data.emissions
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        assert t.stop() == emissions  # a second stop: same figure, with a warning
    assert "already stopped" in caplog.text


def test_flush_before_start_is_none_with_an_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    t = make(tmp_path)
    with caplog.at_level(logging.ERROR, logger="wattwatch"):
        assert t.flush() is None
    assert "start the tracker" in caplog.text


def test_prepare_emissions_data_every_epoch_with_stop_inside_the_loop(tmp_path: Path) -> None:
    """The textbook's W&B fragment: ``_prepare_emissions_data()`` each epoch next to the loss, and ``stop()``
    inside the epoch loop. It runs: after the first stop, the run's final figures are what it logs."""
    t = make(tmp_path)
    logged: list[dict[str, float]] = []
    t.start()
    for epoch in range(3):
        t.test_clock.advance(5.0)
        data = t._prepare_emissions_data()
        logged.append({"epoch": epoch, "loss": 1.0 / (epoch + 1), "carbon_kg": data.emissions, "kwh": data.energy_consumed})
        t.stop()
    kwh = 360.0 * 5.0 / J_PER_KWH
    assert [row["kwh"] for row in logged] == pytest.approx([kwh, kwh, kwh], rel=1e-9)
    assert t.final_emissions == pytest.approx(logged[0]["carbon_kg"], rel=1e-12)
    assert len(rows(tmp_path / "emissions.csv")) == 1


# -- handlers -----------------------------------------------------------------------------------------------
def test_handlers_are_called_at_codecarbons_moments(tmp_path: Path) -> None:
    rec = Recorder()
    t = make(tmp_path, output_handlers=[rec], api_call_interval=2, measure_power_secs=999)
    t.start()  # measurement 1
    t.test_clock.advance(4.0)
    t.flush()  # measurement 2 -> live_out, then out
    t.test_clock.advance(6.0)
    t.stop()  # measurement 3, then out, exit
    assert rec.names() == ["live_out", "out", "out", "exit"]
    out1, out2 = rec.calls[1], rec.calls[2]
    assert out1[1].energy_consumed == pytest.approx(360.0 * 4.0 / J_PER_KWH, rel=1e-9)
    assert out2[1].energy_consumed == pytest.approx(360.0 * 10.0 / J_PER_KWH, rel=1e-9)
    # delta = the change since the previous out (CodeCarbon's _compute_emissions_delta)
    assert out2[2].energy_consumed == pytest.approx(360.0 * 6.0 / J_PER_KWH, rel=1e-9)


def test_a_failing_handler_never_reaches_user_code(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def out(self, total: Any, delta: Any) -> None:
            raise RuntimeError("disk on fire")

    rec = Recorder()
    t = make(tmp_path, output_handlers=[Broken(), rec])
    t.start()
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        t.flush()
        assert isinstance(t.stop(), float)
    assert caplog.text.count("disk on fire") == 1
    assert rec.names() == ["out", "out", "exit"]


def test_logging_logger_gets_one_json_line_per_result(tmp_path: Path) -> None:
    target = logging.getLogger("test-compat-results")
    target.setLevel(logging.INFO)
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Collect()
    target.addHandler(handler)
    try:
        with pytest.warns(DeprecationWarning):
            t = make(tmp_path, project_name="proj", save_to_logger=True, logging_logger=LoggerOutput(target))
        t.start()
        t.test_clock.advance(1.0)
        t.stop()
    finally:
        target.removeHandler(handler)
    assert len(seen) == 1
    payload = json.loads(seen[0])
    assert payload["project_name"] == "proj" and payload["emissions"] > 0


def test_output_methods(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # output_methods alone: no deprecation warning
        t = make(tmp_path, output_methods="csv, logger")
    assert t._output_methods == [OutputMethod.CSV, OutputMethod.LOGGER]
    with pytest.warns(DeprecationWarning):
        t = make(tmp_path, output_methods=[OutputMethod.LOGGER], save_to_file=True)
    assert t._output_methods == [OutputMethod.LOGGER] and not t.save_to_file  # output_methods wins
    t.start()
    t.stop()
    assert not (tmp_path / "emissions.csv").exists()
    with pytest.raises(ConfigurationError, match="valid: csv"):
        make(tmp_path, output_methods=["csv", "carrier-pigeon"])


def test_online_options_get_one_warning_naming_them(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        make(tmp_path, cls=EmissionsTracker, api_key="k", api_endpoint="https://x", emissions_endpoint="https://y")
    lines = [r.getMessage() for r in caplog.records if "online-only" in r.getMessage()]
    assert len(lines) == 1
    assert "api_endpoint" in lines[0] and "api_key" in lines[0] and "emissions_endpoint" in lines[0]


def test_options_wattwatch_cannot_honour_are_rejected_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="rapl_prefer_psys"):
        make(tmp_path, rapl_prefer_psys=True)
    with pytest.raises(ConfigurationError, match="on_csv_write"):
        make(tmp_path, on_csv_write="sometimes")
    # an unknown log_level is CodeCarbon's "Doing nothing" error, not a refusal: tests/compat/test_switchers.py


def test_output_file_may_be_a_path_as_in_codecarbon(tmp_path: Path) -> None:
    t = make(tmp_path / "ignored", output_file=str(tmp_path / "sub" / "runs.csv"))
    assert t.output_path == tmp_path / "sub" / "runs.csv"


# -- the codecarbon logger ---------------------------------------------------------------------------------
def test_messages_reach_a_handler_on_the_codecarbon_logger(tmp_path: Path) -> None:
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record))

    cc = logging.getLogger("codecarbon")
    handler = Collect(logging.WARNING)
    cc.addHandler(handler)
    try:
        make(tmp_path, api_key="secret", logger_preamble="[exp 7] ")
    finally:
        cc.removeHandler(handler)
    assert any(line.startswith("[exp 7] ") and "api_key" in line for line in seen), seen


# -- decorator ----------------------------------------------------------------------------------------------
def test_decorator_runs_the_function_and_writes_a_row(tmp_path: Path) -> None:
    @track_emissions(project_name="deco", output_dir=str(tmp_path), offline=True, country_iso_code="FRA")
    def train(x: int) -> int:
        return x * 2

    assert train(21) == 42
    written = rows(tmp_path / "emissions.csv")
    assert len(written) == 1 and written[0]["project_name"] == "deco" and written[0]["country_iso_code"] == "FRA"


def test_decorator_offline_without_a_place_raises_when_called(tmp_path: Path) -> None:
    @track_emissions(offline=True, output_dir=str(tmp_path))
    def train() -> int:
        return 1

    with pytest.raises(Exception, match="ISO Code"):
        train()


def test_decorator_records_a_failed_run_and_reraises(tmp_path: Path) -> None:
    @track_emissions(output_dir=str(tmp_path))
    def train() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        train()
    assert rows(tmp_path / "emissions.csv")[0]["status"] == "failed"


# -- allow_multiple_runs ------------------------------------------------------------------------------------
def test_allow_multiple_runs_false_makes_a_second_tracker_do_nothing(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    first = make(tmp_path, allow_multiple_runs=False, run_lock_path=lock, output_file="a.csv")
    second = make(tmp_path, allow_multiple_runs=False, run_lock_path=lock, output_file="b.csv")
    first.start()
    second.start()
    assert first.running and not second.running
    assert second.stop() is None and second.flush() is None
    first.stop()
    third = make(tmp_path, allow_multiple_runs=False, run_lock_path=lock, output_file="c.csv")
    third.start()  # the lock was released at stop
    assert third.running
    third.stop()
    assert not (tmp_path / "b.csv").exists()


# -- configuration files and variables ----------------------------------------------------------------------
def test_codecarbon_config_files_and_variables_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (home / ".codecarbon.config").write_text("[codecarbon]\nproject_name=from-home\npue=1.5\nexperiment_id=h\n")
    (work / ".codecarbon.config").write_text("[codecarbon]\nproject_name=from-cwd\ncountry_iso_code=DEU\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    env = {"CODECARBON_EXPERIMENT_ID": "from-env", "codecarbon_measure_power_secs": "7"}
    t = make(tmp_path, environ=env)  # make() passes country_iso_code="FRA": an argument wins over the file
    assert (t.project_name, t.pue, t.experiment_id) == ("from-cwd", 1.5, "from-env")
    assert t._plan.measure_power_secs == 7.0
    assert t.intensity.source.country_iso_code == "FRA"
    t2 = make(tmp_path, cls=OfflineEmissionsTracker, environ={}, country_iso_code=None)
    assert t2.intensity.source.country_iso_code == "DEU"


def test_a_handler_on_both_loggers_sees_each_message_once(tmp_path: Path) -> None:
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Collect(logging.WARNING)
    for name in ("codecarbon", "wattwatch"):
        logging.getLogger(name).addHandler(handler)
    try:
        make(tmp_path, api_key="secret")
    finally:
        for name in ("codecarbon", "wattwatch"):
            logging.getLogger(name).removeHandler(handler)
    assert len([m for m in seen if "api_key" in m]) == 1


@pytest.mark.parametrize(("mode", "rows_after"), [("append", 2), ("update", 1)])
def test_on_csv_write(tmp_path: Path, mode: str, rows_after: int) -> None:
    t = make(tmp_path, on_csv_write=mode)
    t.start()
    t.test_clock.advance(2.0)
    flushed = t.flush()
    t.test_clock.advance(3.0)
    final = t.stop()
    written = rows(tmp_path / "emissions.csv")
    assert len(written) == rows_after and len({r["run_id"] for r in written}) == 1
    assert float(written[-1]["emissions"]) == pytest.approx(final) and written[-1]["status"] == "completed"
    if mode == "append":  # the flush's row stays, with the totals at the flush
        assert float(written[0]["emissions"]) == pytest.approx(flushed) and written[0]["status"] == "running"


def test_prometheus_output_serves_metrics_where_prometheus_url_points(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import urllib.request

    pytest.importorskip("prometheus_client")
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        t = make(tmp_path, output_methods=["csv", "prometheus"], prometheus_url="localhost:0")  # 0: a free port
    assert "scrape" in caplog.text and "Pushgateway" in caplog.text  # says what happens instead of a push
    t.start()
    try:
        assert t._exporter is not None and t._exporter.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(t._exporter.url, timeout=10) as resp:
            assert b"wattwatch" in resp.read()
    finally:
        t.stop()


def test_boamps_uses_codecarbons_class_and_is_rejected_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    output = pytest.importorskip("codecarbon.output")
    t = make(tmp_path, output_methods=["csv", "boamps"])
    assert any(isinstance(h, output.BoAmpsOutput) for h in t._output_handlers)
    monkeypatch.setitem(sys.modules, "codecarbon.output", None)  # as if CodeCarbon were not installed
    with pytest.raises(ConfigurationError, match=r"pip install codecarbon. \(wattwatch.s \[codecarbon\] extra\)"):
        make(tmp_path, output_methods=["boamps"])
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigurationError, match="LogfireOutput"):
        make(tmp_path, save_to_logfire=True)


def test_decorator_without_offline_uses_the_place_given(tmp_path: Path) -> None:
    """CodeCarbon's online decorator would locate the machine by IP; wattwatch uses the country given instead."""

    @track_emissions(output_dir=str(tmp_path), country_iso_code="FRA")
    def train() -> None:
        pass

    train()
    assert rows(tmp_path / "emissions.csv")[0]["country_iso_code"] == "FRA"
