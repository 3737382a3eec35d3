"""The Tracker as users meet it: API, emissions arithmetic against CodeCarbon's data, durable emissions.csv."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fakesensors import ConstantPowerSensor

from wattwatch import EmissionsTracker, Tracker, track
from wattwatch.carbon.codecarbon_data import installed_codecarbon_data_dir
from wattwatch.errors import ConfigurationError
from wattwatch.measure.ledger import J_PER_KWH
from wattwatch.result import CODECARBON_COLUMNS, COLUMNS
from wattwatch.run.defaults import DEFAULT_FLUSH_EVERY_S
from wattwatch.sinks.files import OsFileOps
from wattwatch.sinks.journal import finalize_stale

TESTS = Path(__file__).resolve().parents[1] / "support"
REPO = TESTS.parents[1]


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def run_window(sensor: ConstantPowerSensor, tracker: Tracker) -> tuple[float, float]:
    """(first, last) monotonic reading times of the run's first channel."""
    snap = tracker.snapshot()
    assert snap is not None
    ch = snap.channels[sensor.channels()[0]]
    assert ch.first_t is not None and ch.last_t is not None
    return ch.first_t, ch.last_t


# -- API --------------------------------------------------------------------------------------------------------
def test_with_block_measures_and_writes_one_completed_row(tmp_path: Path) -> None:
    sensor = ConstantPowerSensor(250.0, n=2)
    with Tracker(output_dir=tmp_path, sensors=[sensor], carbon_intensity_g_per_kwh=100.0) as t:
        time.sleep(0.3)
    data = t.final_emissions_data
    assert data is not None and data.status == "completed"
    exact_kwh = sensor.exact_read_window_j() / J_PER_KWH
    assert data.gpu_energy == pytest.approx(exact_kwh, rel=1e-9)
    assert data.energy_consumed == pytest.approx(exact_kwh, rel=1e-9)
    assert data.emissions == pytest.approx(exact_kwh * 100.0 / 1000.0, rel=1e-9)
    assert data.gpu_power == pytest.approx(500.0, rel=1e-3)
    assert data.gpu_count == 2 and data.gpu_model == "2 x Fake GPU 80GB"
    assert data.gpu_energy_by_device_kwh == pytest.approx(
        {"gpu:0": exact_kwh / 2, "gpu:1": exact_kwh / 2}, rel=1e-9
    )
    written = rows(tmp_path / "emissions.csv")
    assert len(written) == 1
    assert written[0]["status"] == "completed"
    assert float(written[0]["energy_consumed"]) == data.energy_consumed  # repr floats round-trip
    assert list(written[0].keys()) == list(COLUMNS)
    assert list(written[0].keys())[:38] == list(CODECARBON_COLUMNS)


def test_exception_in_with_block_writes_failed_and_reraises(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError):
        with Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()]):
            1 / 0  # noqa: B018
    (row,) = rows(tmp_path / "emissions.csv")
    assert row["status"] == "failed"


def test_track_decorator_one_run_per_call_and_validates_early(tmp_path: Path) -> None:
    @track(output_dir=str(tmp_path), sensors=[ConstantPowerSensor()], project_name="deco")
    def work(x: int) -> int:
        return x * 2

    assert work(2) == 4 and work(3) == 6
    written = rows(tmp_path / "emissions.csv")
    assert [r["status"] for r in written] == ["completed", "completed"]
    assert len({r["run_id"] for r in written}) == 2
    with pytest.raises(ConfigurationError):
        track(pue=0.5)(lambda: None)


def test_phases_current_and_steps(tmp_path: Path) -> None:
    sensor = ConstantPowerSensor(100.0)
    t = Tracker(output_dir=tmp_path, sensors=[sensor], total_steps=10)
    t.start()
    t.step(2, samples=16, tokens=512)
    live = t.current()
    assert live.status == "running" and live.steps == 2
    with t.phase("eval"):
        time.sleep(0.1)
    t.step(3)
    data = t.stop()
    assert data is not None
    assert set(data.phase_energy_kwh) == {"(unphased)", "eval"}  # issue 24: unnamed time is not "train"
    assert data.phase_energy_kwh["eval"] == pytest.approx(100.0 * 0.1 / J_PER_KWH, rel=0.5)
    assert sum(data.phase_energy_kwh.values()) == pytest.approx(data.energy_consumed)
    assert (data.steps, data.samples, data.tokens) == (5, 16, 512)
    # Projection: so far + 5 remaining steps x energy per step since the first counted step (steps 2 -> 5).
    assert data.projected_energy_kwh is not None
    assert data.energy_consumed < data.projected_energy_kwh <= data.energy_consumed * (1 + 5 / 3) * (1 + 1e-9)


def test_start_after_stop_is_a_new_run(tmp_path: Path) -> None:
    t = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()])
    t.start()
    first = t.stop()
    t.start()
    second = t.stop()
    assert first is not None and second is not None
    assert first.run_id != second.run_id
    assert len(rows(tmp_path / "emissions.csv")) == 2
    assert t.stop() is second  # idempotent


def test_resume_is_a_new_segment_of_the_same_run(tmp_path: Path) -> None:
    s1 = ConstantPowerSensor(100.0)
    a = Tracker(output_dir=tmp_path, sensors=[s1])
    a.start()
    time.sleep(0.2)
    first = a.stop()
    state = json.loads(json.dumps(a.state_dict()))
    s2 = ConstantPowerSensor(100.0)
    b = Tracker(output_dir=tmp_path, sensors=[s2])
    b.load_state_dict(state)
    b.start()
    time.sleep(0.2)
    live = b.current(refresh=True)  # live figures go on from the saved totals
    second = b.stop()
    assert first is not None and second is not None
    assert second.run_id == first.run_id and second.resumed_segments == 1
    assert live.gpu_energy > first.gpu_energy
    # the segment's row (and stop()) hold its own energy, so the two rows add up to the run's
    assert second.gpu_energy == pytest.approx(s2.exact_read_window_j() / J_PER_KWH, rel=1e-9)
    by_segment = {r["resumed_segments"]: r for r in rows(tmp_path / "emissions.csv")}
    assert set(by_segment) == {"0", "1"} and {r["run_id"] for r in by_segment.values()} == {first.run_id}
    total = sum(float(r["gpu_energy"]) for r in by_segment.values())
    truth = (s1.exact_read_window_j() + s2.exact_read_window_j()) / J_PER_KWH
    assert total == pytest.approx(truth, rel=1e-9)


def test_codecarbon_names_stop_returns_kg(tmp_path: Path) -> None:
    t = EmissionsTracker(
        project_name="p",
        output_dir=str(tmp_path),
        measure_power_secs=0.05,
        sensors=[ConstantPowerSensor()],
        save_to_api=False,
        carbon_intensity_g_per_kwh=300.0,
    )
    t.start()
    kg = t.stop()
    assert isinstance(kg, float)
    assert t.final_emissions_data is not None and kg == t.final_emissions_data.emissions


# -- configuration errors come before any work ------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pue": 0.8}, "pue"),
        ({"tracking_mode": "gpu"}, "tracking_mode"),
        ({"measure_power_secs": 0}, "measure_power_secs"),
        ({"measure_power_secs": "fast"}, "measure_power_secs"),
        ({"country_iso_code": "FRX"}, "FRA"),
        ({"gpu_ids": [-1]}, "gpu_ids"),
        ({"output_file": "a/b.csv"}, "output_file"),
        ({"log_level": "loud"}, "log_level"),
    ],
)
def test_bad_configuration_raises_in_the_constructor(kwargs: dict, match: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=match):
        Tracker(output_dir=tmp_path, **kwargs)
    assert not list(tmp_path.iterdir())  # nothing written


def test_unwritable_output_dir_fails_in_start(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    t = Tracker(output_dir=blocker / "sub", sensors=[ConstantPowerSensor()])
    with pytest.raises(ConfigurationError, match="output_dir"):
        t.start()
    assert not t.running


# -- emissions = energy x intensity x PUE, against CodeCarbon's own data values -------------------------------
def _cc_json(rel: str) -> dict:
    base = installed_codecarbon_data_dir()
    assert base is not None, "CodeCarbon's data is a test dependency"
    return json.loads((base / rel).read_text())


def _cc_gcp(region: str) -> float:
    base = installed_codecarbon_data_dir()
    assert base is not None
    with open(base / "cloud" / "impact.csv", newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            if row["provider"] == "gcp" and row["region"] == region:
                return float(row["impact"])
    raise AssertionError(region)


@pytest.mark.parametrize(
    "kwargs, expected_g_per_kwh",
    [
        (
            {"country_iso_code": "FRA"},
            lambda: _cc_json("private_infra/global_energy_mix.json")["FRA"]["carbon_intensity"],
        ),
        (
            {"country_iso_code": "USA", "region": "california"},
            lambda: (
                _cc_json("private_infra/2023/usa_emissions.json")["california"]["emissions"]
                * 453.59237
                / 1000
            ),
        ),
        ({"cloud_provider": "gcp", "cloud_region": "europe-west1"}, lambda: _cc_gcp("europe-west1")),
    ],
    ids=["country", "us-state", "gcp-region"],
)
def test_emissions_are_energy_times_intensity_times_pue(
    tmp_path: Path, kwargs: dict, expected_g_per_kwh
) -> None:
    sensor = ConstantPowerSensor(400.0)
    t = Tracker(output_dir=tmp_path, sensors=[sensor], pue=1.3, **kwargs)
    t.start()
    time.sleep(0.2)
    data = t.stop()
    assert data is not None
    kwh = sensor.exact_read_window_j() / J_PER_KWH * 1.3
    assert data.energy_consumed == pytest.approx(kwh, rel=1e-9)
    assert data.emissions == pytest.approx(kwh * expected_g_per_kwh() / 1000.0, rel=1e-9)
    assert data.intensity_g_per_kwh == pytest.approx(expected_g_per_kwh(), rel=1e-9)


def test_hourly_csv_changes_the_result_as_the_arithmetic_says(tmp_path: Path) -> None:
    # A wall clock running 3600x fast: each real second is one hour of the forecast.
    base_wall = 1_700_000_000.0 - (1_700_000_000.0 % 3600)
    m0 = time.monotonic()

    def wall() -> float:
        return base_wall + (time.monotonic() - m0) * 3600.0

    hours = [100.0, 300.0, 50.0, 200.0]
    path = tmp_path / "hourly.csv"
    path.write_text(
        "timestamp,g_per_kwh\n" + "".join(f"{int(base_wall + 3600 * i)},{g}\n" for i, g in enumerate(hours))
    )
    sensor = ConstantPowerSensor(360.0)
    t = Tracker(
        output_dir=tmp_path, sensors=[sensor], intensity_csv=path, measure_power_secs=0.01, wall_clock=wall
    )
    t.start()
    time.sleep(2.5)
    data = t.stop()
    assert data is not None
    t0, t1 = run_window(sensor, t)
    # Exact: integrate P x I(wall(t)) over the window, hour by hour.
    w0, w1 = base_wall + (t0 - m0) * 3600, base_wall + (t1 - m0) * 3600
    grams = 0.0
    for i, g in enumerate(hours):
        lo, hi = max(w0, base_wall + 3600 * i), min(w1, base_wall + 3600 * (i + 1))
        if hi > lo:
            grams += 360.0 * (hi - lo) / 3600.0 / J_PER_KWH * g
    flat = data.energy_consumed * 100.0 / 1000.0
    assert data.emissions == pytest.approx(grams / 1000.0, rel=0.02)
    assert data.emissions > 1.5 * flat  # the 300 g hour made a difference
    assert data.intensity_source.startswith("hourly-csv")


# -- emissions.csv durability -------------------------------------------------------------------------------------
def test_foreign_header_keeps_its_columns_and_the_full_row_goes_beside_it(tmp_path: Path) -> None:
    old = tmp_path / "emissions.csv"
    before = (
        "timestamp,project_name,run_id,duration,emissions,energy_consumed\n"
        "2024-01-01T00:00:00,old,r1,10,0.5,1.0\n"
        "2024-01-02T00:00:00,old,r2,20,0.7,2.0\n"
    )
    old.write_text(before)
    with Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()]) as t:
        pass
    assert old.read_text().startswith(before)  # appended in place, nothing rewritten
    written = rows(old)
    assert [r["run_id"] for r in written] == ["r1", "r2", t.run_id]
    assert list(written[2]) == ["timestamp", "project_name", "run_id", "duration", "emissions", "energy_consumed"]
    (full,) = rows(tmp_path / "emissions.wattwatch.csv")  # every column, for report and for the user
    assert list(full) == list(COLUMNS) and full["status"] == "completed" and full["run_id"] == t.run_id
    assert full["energy_consumed"] == written[2]["energy_consumed"]


def test_project_name_cannot_inject_a_formula(tmp_path: Path) -> None:
    with Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()], project_name='=HYPERLINK("x")'):
        pass
    (row,) = rows(tmp_path / "emissions.csv")
    assert row["project_name"].startswith("'=")


def test_timeseries_is_streamed(tmp_path: Path) -> None:
    t = Tracker(
        output_dir=tmp_path,
        sensors=[ConstantPowerSensor(50.0)],
        measure_power_secs=0.02,
        timeseries_every_s=0.05,
    )
    t.start()
    time.sleep(0.3)
    t.stop()
    ts = rows(tmp_path / f"{t.run_id}.timeseries.csv")
    assert len(ts) >= 5
    assert float(ts[-1]["gpu:0_w"]) == pytest.approx(50.0, rel=0.02)
    assert float(ts[-1]["energy_kwh"]) == pytest.approx(t.final_emissions_data.energy_consumed, rel=1e-4)  # type: ignore[union-attr]


_CHILD = """
import sys, time
sys.path.insert(0, {tests!r})
from fakesensors import ConstantPowerSensor
from wattwatch import Tracker
from wattwatch.run.defaults import DEFAULT_FLUSH_EVERY_S
t = Tracker(output_dir={out!r}, sensors=[ConstantPowerSensor(100.0)], carbon_intensity_g_per_kwh=100.0, flush_every_s={flush})
t.start()
print("started", flush=True)
while True:
    time.sleep(0.05)
"""


def _spawn(tmp_path: Path, flush: float) -> subprocess.Popen[str]:
    code = _CHILD.format(tests=str(TESTS), out=str(tmp_path), flush=flush)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    return proc


def test_start_adds_killed_runs_rows_before_it_returns_and_leaves_live_ones(tmp_path: Path) -> None:
    """Issue 25 (the users' folder of the start benchmark): the journals of runs that died in the folder are in
    emissions.csv by the time start() returns, before this run's row, exactly once; the journal of a run still
    going stays; a start that raises (a port taken) has added them too."""
    killed, live = _spawn(tmp_path, flush=DEFAULT_FLUSH_EVERY_S), _spawn(tmp_path, flush=DEFAULT_FLUSH_EVERY_S)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        journals = tmp_path / ".wattwatch" / "runs"
        assert len(list(journals.glob("*.json"))) == 2
        t = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()]).start()
        try:
            (dead_row,) = rows(tmp_path / "emissions.csv")  # in when start() returned
            assert dead_row["status"] == "interrupted" and dead_row["run_id"] != t.run_id
            names = {p.name.split(".")[0] for p in journals.glob("*.json")}
            assert t.run_id in names and dead_row["run_id"] not in names and len(names) == 2  # ours + the live one
        finally:
            t.stop()
        assert [r["run_id"] for r in rows(tmp_path / "emissions.csv")] == [dead_row["run_id"], t.run_id]
    finally:
        live.kill()
        live.wait(10)
    import socket

    with socket.socket() as taken, pytest.raises(ConfigurationError):  # the live run is dead now: its row too
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()], prometheus_port=taken.getsockname()[1]).start()
    assert len(rows(tmp_path / "emissions.csv")) == 3 and not list(journals.glob("*.json"))


def test_sigkill_after_25_s_loses_at_most_10_percent(tmp_path: Path) -> None:
    """Issue 24: with the default flush_every_s (30 s) a kill -9 at 25 s kept 0 J (the first rewrite came at
    30 s); the grid is dense at the start, so it loses at most max(2 s, 10 % of 25 s) (+ a tick's lateness)."""
    spawned = time.monotonic()
    proc = _spawn(tmp_path, flush=DEFAULT_FLUSH_EVERY_S)  # returns once the child has started tracking
    time.sleep(25.0)
    proc.send_signal(signal.SIGKILL)
    killed_after = time.monotonic() - spawned
    proc.wait(10)
    assert not (tmp_path / "emissions.csv").exists()  # the live state was in the journal
    finalize_stale(tmp_path)  # what the next tracker, report or merge in this folder does
    (row,) = rows(tmp_path / "emissions.csv")
    assert row["status"] == "interrupted"  # its process is gone: not "running" for ever (issue 25)
    assert float(row["duration"]) >= 25.0 - 2.5 - 0.5
    assert float(row["duration"]) <= killed_after
    assert float(row["gpu_energy"]) >= 100.0 * 22.0 / J_PER_KWH
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no stray temp files


def test_sigterm_records_interrupted_with_the_full_energy(tmp_path: Path) -> None:
    spawned = time.monotonic()
    proc = _spawn(tmp_path, flush=60.0)  # no periodic flush: only the signal handler can write the total
    time.sleep(2.0)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    lifetime = time.monotonic() - spawned
    assert proc.returncode == -signal.SIGTERM  # the default action still happened after our handler
    (row,) = rows(tmp_path / "emissions.csv")
    assert row["status"] == "interrupted"
    # The row covers the run up to the signal: at least the 2 s slept after "started", at most the child's life.
    assert 2.0 <= float(row["duration"]) <= lifetime
    # Energy from the sensor's clock, duration from the sampler's: equal up to scheduling skew.
    assert float(row["gpu_energy"]) == pytest.approx(100.0 * float(row["duration"]) / J_PER_KWH, rel=5e-3)


def test_sigint_chains_to_keyboardinterrupt(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(TESTS)!r})
        from fakesensors import ConstantPowerSensor
        from wattwatch import Tracker
        t = Tracker(output_dir={str(tmp_path)!r}, sensors=[ConstantPowerSensor()])
        t.start()
        try:
            print("started", flush=True)
            time.sleep(30)
        except KeyboardInterrupt:
            print("program saw KeyboardInterrupt", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert "program saw KeyboardInterrupt" in out
    (row,) = rows(tmp_path / "emissions.csv")
    assert row["status"] == "interrupted"


def test_import_is_light() -> None:
    code = (
        "import sys, wattwatch, wattwatch.run.tracker\n"
        "heavy = [m for m in ('torch', 'transformers', 'pandas', 'codecarbon', 'lightning') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


TEXTBOOK = """
import sys
sys.path.insert(0, {tests!r})
import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments
from wattwatch import EmissionsTracker  # was: from codecarbon import EmissionsTracker

config = GPT2Config(n_layer=1, n_head=2, n_embd=32, vocab_size=64, n_positions=32)
model = GPT2LMHeadModel(config)
ids = torch.randint(0, 64, (16, 16))
train_dataset = [{{"input_ids": x, "labels": x}} for x in ids]
args = TrainingArguments(output_dir={out!r}, max_steps=4, per_device_train_batch_size=4, report_to="none",
                         save_strategy="no", logging_steps=2, use_cpu=True)
trainer = Trainer(model=model, args=args, train_dataset=train_dataset)

tracker = EmissionsTracker(
    project_name="llm-finetuning",
    output_dir={out!r},
    log_level="warning",
    measure_power_secs=15,
    tracking_mode="process",
)
tracker.start()
trainer.train()
emissions = tracker.stop()
print(f"Emissions: {{emissions:.8f}} kg CO2eq")
print(f"Energy consumed: {{tracker.final_emissions_data.energy_consumed:.8f}} kWh")
"""


def test_textbook_example_runs_with_only_the_import_changed(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    code = TEXTBOOK.format(tests=str(TESTS), out=str(tmp_path))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Emissions:" in proc.stdout and "Energy consumed:" in proc.stdout
    (row,) = rows(tmp_path / "emissions.csv")
    assert row["project_name"] == "llm-finetuning"
    assert row["tracking_mode"] == "process" and row["status"] == "completed"
    assert float(row["energy_consumed"]) > 0


def test_load_state_after_a_stop_continues_the_loaded_run(tmp_path: Path) -> None:
    a = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()])
    a.start()
    saved = a.stop()
    state = a.state_dict()
    b = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()])
    b.start()
    b.stop()  # an unrelated run on the same object first
    b.load_state_dict(state)
    b.start()
    resumed = b.stop()
    assert saved is not None and resumed is not None
    assert resumed.run_id == saved.run_id and resumed.resumed_segments == 1
    segments = [r["resumed_segments"] for r in rows(tmp_path / "emissions.csv") if r["run_id"] == saved.run_id]
    assert segments == ["0", "1"]  # the loaded run's second segment, in its own row


def test_start_removes_temp_files_left_by_a_killed_writer(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".emissions.csv.{dead.pid}.abc123.tmp"
    stale.write_text("half a row")
    alive = (
        tmp_path / f".emissions.csv.{os.getpid()}.def456.tmp"
    )  # a live writer's file is not ours to remove
    alive.write_text("in progress")
    with Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()]):
        pass
    assert not stale.exists()
    assert alive.exists()


def test_sigterm_inside_a_flush_leaves_the_interrupted_row_last(tmp_path: Path) -> None:
    """The program's own SIGTERM handler returns normally; the signal lands while flush() is writing the run's
    journal (appending its line: issue 24). The handler appends the ``interrupted`` row; the interrupted journal
    write must not survive to become a second, ``running`` row."""
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))

    class SignalOnWrite(OsFileOps):
        fired = False

        def write(self, fd: int, data: bytes) -> int:
            if not self.fired and b'"status":"running"' in data:
                self.fired = True
                os.kill(os.getpid(), signal.SIGTERM)  # handled here, between two bytecodes of this frame
                time.sleep(0.01)
            return super().write(fd, data)

    try:
        t = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor()])
        t.start()
        assert t._session is not None and t._session.outputs.journal is not None
        t._session.outputs.journal._ops = SignalOnWrite()
        t.flush()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [signal.SIGTERM]  # the program's handler ran after ours
    assert not list((tmp_path / ".wattwatch" / "runs").glob("*.json"))  # no stale journal left behind
    finalize_stale(tmp_path)
    (row,) = rows(tmp_path / "emissions.csv")
    assert row["status"] == "interrupted"
