"""Issue 24, item 8: two trackers measuring one machine at once -- a second tracker in one process, a tracker
inside ``wattwatch run`` -- say so once, record the overlap, stay visible as their own runs, and ``report``
counts the overlap once."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fakenvml import Constant, FakeGpu, FakeNvml
from fakesensors import ConstantPowerSensor

from wattwatch import Tracker
from wattwatch.cli.main import main

SUPPORT = Path(__file__).resolve().parents[1] / "support"


def _report(folder: Path) -> dict[str, object]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["report", str(folder), "--json"]) == 0
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


def _tracker(folder: Path, watts: float) -> Tracker:
    return Tracker(output_dir=folder, sensors=[ConstantPowerSensor(watts)], carbon_intensity_g_per_kwh=100.0,
                   save_timeseries=False, handle_signals=False)  # fmt: skip


def test_a_second_tracker_in_one_process_says_so_and_is_counted_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = _tracker(tmp_path, 100.0).start()
    with caplog.at_level(logging.WARNING):
        second = _tracker(tmp_path, 100.0).start()
        time.sleep(0.3)
        second.flush()
        second.flush()
    overlap_warnings = [r for r in caplog.records if "is already measuring this machine" in r.getMessage()]
    assert len(overlap_warnings) == 1 and first.run_id in overlap_warnings[0].getMessage()
    a = first.stop()
    time.sleep(0.3)
    b = second.stop()
    assert a is not None and b is not None and a.overlaps_run_id == ""
    assert b.overlaps_run_id == first.run_id
    assert b.overlap_energy_kwh is not None and 0 < b.overlap_energy_kwh < b.energy_consumed
    assert b.overlap_energy_kwh == pytest.approx(b.energy_consumed * 0.5, rel=0.35)  # about half of its time
    doc = _report(tmp_path)
    assert doc["runs_total"] == 2  # both visible
    tot = doc["totals"]
    assert isinstance(tot, dict)
    assert tot["overlap_kwh"] == pytest.approx(b.overlap_energy_kwh)
    assert tot["energy_kwh"] == pytest.approx(a.energy_consumed + b.energy_consumed - b.overlap_energy_kwh)
    # the CSV holds both rows; the overlap is in the row, for anyone reading it
    from wattwatch.report.history import collect_runs, totals

    runs, _ = collect_runs([str(tmp_path)])
    assert totals(runs)["energy_kwh"] == pytest.approx(tot["energy_kwh"])


def test_a_tracker_inside_wattwatch_run_is_its_own_visible_run(tmp_path: Path) -> None:
    """Its row took the outer run's id (WATTWATCH_RUN_ID) and hid behind the outer run's row in report."""
    inner = (
        f"import sys, time; sys.path.insert(0, {str(SUPPORT)!r}); from fakesensors import ConstantPowerSensor;"
        "from wattwatch import Tracker;"
        f"t = Tracker(output_dir={str(tmp_path)!r}, sensors=[ConstantPowerSensor(50.0)], carbon_intensity_g_per_kwh=100.0,"
        " save_timeseries=False); t.start(); time.sleep(0.3); d = t.stop(); print(d.run_id, d.overlaps_run_id)"
    )
    done = subprocess.run(
        [sys.executable, "-m", "wattwatch", "run", "--quiet", "--output-dir", str(tmp_path),
         "--carbon-intensity-g-per-kwh", "100", "--no-save-timeseries", "--", sys.executable, "-c", inner],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    inner_id, outer_id = done.stdout.split()
    assert inner_id == f"{outer_id}.inner"
    assert "is already measuring this machine (wattwatch run" in done.stderr
    doc = _report(tmp_path)
    runs = {r["run_id"]: r for r in doc["runs"]}  # type: ignore[attr-defined]
    assert set(runs) == {outer_id, inner_id}
    assert runs[inner_id]["overlaps_run_id"] == outer_id
    assert runs[inner_id]["overlap_energy_kwh"] == pytest.approx(runs[inner_id]["energy_kwh"])  # all of it
    tot = doc["totals"]
    assert isinstance(tot, dict)
    assert tot["energy_kwh"] == pytest.approx(runs[outer_id]["energy_kwh"])  # the inner run's energy, once


# ---------------------------------------------------------------------------------------------- across processes

_TRACKER_PROCESS = """
import os, sys, time
from wattwatch import Tracker
out, go_on, mode = sys.argv[1], sys.argv[2], sys.argv[3]
t = Tracker(output_dir=out, country_iso_code="FRA", measure_power_secs=0.05, handle_signals=False,
            save_timeseries=False, tracking_mode=mode).start()
print(t.run_id, flush=True)
time.sleep(0.3)
while not os.path.exists(go_on):  # the test says when this tracker has overlapped long enough
    time.sleep(0.01)
t.flush()  # a row after the other one stopped (when it has): the overlap is frozen there
time.sleep(0.3)
d = t.stop()
print(d.run_id, d.overlaps_run_id or "-", d.overlap_energy_kwh, d.energy_consumed, flush=True)
"""


def _start(folder: Path, go_on: Path, env: dict[str, str], mode: str = "machine") -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _TRACKER_PROCESS, str(folder), str(go_on), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip


def _finish(proc: subprocess.Popen[str]) -> tuple[list[str], str]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out.split(), err


def test_a_second_machine_mode_tracker_in_another_process_says_so_and_is_counted_once(
    tmp_path: Path, fake_nvml: Callable[..., FakeNvml], _own_tracker_registry: Path
) -> None:
    """Two processes, each a machine-mode Tracker on the same (fake) GPUs: the later one warns once, its row
    records the earlier run and the energy both measured (frozen when the earlier one stopped), and ``report``
    counts that energy once. Neither process knew of the other before (no shared memory, no ``wattwatch run``)."""
    rig = fake_nvml([FakeGpu(trace=(Constant(300.0),)), FakeGpu(trace=(Constant(200.0),))])
    env = {**os.environ, **rig.env}
    folder = tmp_path / "runs"
    first = _start(folder, tmp_path / "first-may-stop", env)
    assert first.stdout is not None
    first_id = first.stdout.readline().strip()
    second = _start(folder, tmp_path / "second-may-stop", env)
    assert second.stdout is not None
    second.stdout.readline()
    (tmp_path / "first-may-stop").touch()
    a, a_err = _finish(first)
    assert list(_own_tracker_registry.iterdir()) != []  # the second one is still listed
    (tmp_path / "second-may-stop").touch()
    b, b_err = _finish(second)
    assert a[1] == "-" and "already measuring" not in a_err
    assert b[1] == first_id and b_err.count("is already measuring this machine") == 1, b_err
    assert f"run {first_id} is already measuring this machine (process" in b_err
    overlap, energy = float(b[2]), float(b[3])
    assert 0 < overlap < energy  # frozen at the row after the first run stopped
    assert list(_own_tracker_registry.iterdir()) == []  # both entries removed at stop()
    doc = _report(folder)
    tot = doc["totals"]
    assert isinstance(tot, dict) and doc["runs_total"] == 2
    assert tot["overlap_kwh"] == pytest.approx(overlap)
    assert tot["energy_kwh"] == pytest.approx(float(a[3]) + energy - overlap)


def _live_process() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def _plant(folder: Path, name: str, pid: int, run_id: str = "someone-else", mode: str = "machine") -> Path:
    from wattwatch.sinks.owner import ProcessIdentity

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = {"owner": ProcessIdentity.of(pid).to_dict(), "run_id": run_id, "tracking_mode": mode}
    (folder / name).write_text(json.dumps(body))
    return folder / name


def _overlap_of(tmp_path: Path, caplog: pytest.LogCaptureFixture, **kw: object) -> tuple[str, int]:
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        t = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor(100.0)], carbon_intensity_g_per_kwh=100.0,
                    save_timeseries=False, handle_signals=False, **kw).start()  # type: ignore[arg-type]  # fmt: skip
        time.sleep(0.05)
        d = t.stop()
    assert d is not None
    return d.overlaps_run_id, sum("is already measuring this machine" in r.getMessage() for r in caplog.records)


def test_a_live_entry_is_an_overlap_a_dead_one_is_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, _own_tracker_registry: Path
) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = _plant(_own_tracker_registry, f"{dead.stdout.strip()}-0.json", os.getpid(), run_id="killed-run")
    body = json.loads(stale.read_text())
    body["owner"]["pid"] = int(dead.stdout)  # a kill -9'd tracker's entry: its process is gone
    stale.write_text(json.dumps(body))
    half = _own_tracker_registry / f"{dead.stdout.strip()}-1.json"
    half.write_text('{"owner": ')  # half written when its process died
    assert _overlap_of(tmp_path, caplog) == ("", 0)
    assert not stale.exists() and not half.exists()  # cleaned
    live = _live_process()
    try:
        _plant(_own_tracker_registry, f"{live.pid}-0.json", live.pid, run_id="other-run")
        assert _overlap_of(tmp_path, caplog) == ("other-run", 1)
        _plant(_own_tracker_registry, f"{live.pid}-0.json", live.pid, run_id="other-run", mode="process")
        assert _overlap_of(tmp_path, caplog) == ("", 0)  # a process-mode tracker measures only its own process
    finally:
        live.kill()
        live.wait()


def test_a_process_mode_tracker_neither_registers_nor_overlaps(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, _own_tracker_registry: Path
) -> None:
    live = _live_process()
    try:
        _plant(_own_tracker_registry, f"{live.pid}-0.json", live.pid, run_id="other-run")
        with caplog.at_level(logging.WARNING):
            t = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor(100.0)], carbon_intensity_g_per_kwh=100.0,
                        save_timeseries=False, handle_signals=False, tracking_mode="process").start()  # fmt: skip
            assert [p.name for p in _own_tracker_registry.iterdir()] == [f"{live.pid}-0.json"]  # not listed
            d = t.stop()
        assert d is not None and d.overlaps_run_id == ""
        assert not any("already measuring" in r.getMessage() for r in caplog.records)
    finally:
        live.kill()
        live.wait()


def test_planted_links_are_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture, _own_tracker_registry: Path) -> None:
    """A link in the registry folder is never followed (not read, not removed); a registry folder that is a link
    is not used at all (nothing written through it)."""
    live = _live_process()
    try:
        target = _plant(tmp_path / "elsewhere", "entry.json", live.pid, run_id="planted-run")
        _own_tracker_registry.mkdir(parents=True, mode=0o700)
        (_own_tracker_registry / f"{live.pid}-0.json").symlink_to(target)
        assert _overlap_of(tmp_path, caplog) == ("", 0)
        assert (_own_tracker_registry / f"{live.pid}-0.json").is_symlink()
    finally:
        live.kill()
        live.wait()
    elsewhere = tmp_path / "elsewhere-folder"
    elsewhere.mkdir(mode=0o700)
    for p in _own_tracker_registry.iterdir():
        p.unlink()
    _own_tracker_registry.rmdir()
    _own_tracker_registry.symlink_to(elsewhere)
    t = Tracker(output_dir=tmp_path, sensors=[ConstantPowerSensor(100.0)], carbon_intensity_g_per_kwh=100.0,
                save_timeseries=False, handle_signals=False).start()  # fmt: skip
    assert list(elsewhere.iterdir()) == []  # nothing written through the link
    t.stop()


def test_a_registry_folder_others_can_write_is_not_used(tmp_path: Path, _own_tracker_registry: Path) -> None:
    from wattwatch.run.host_registry import HostRegistry

    _own_tracker_registry.mkdir(parents=True)
    _own_tracker_registry.chmod(0o777)
    with pytest.raises(OSError, match="others may write"):
        HostRegistry(_own_tracker_registry).add("run", "machine")
    assert list(_own_tracker_registry.iterdir()) == []


def test_the_default_registry_is_per_user_and_per_boot() -> None:
    from wattwatch.run.host_registry import REGISTRY_ENV, registry_dir

    assert REGISTRY_ENV in os.environ  # this suite's own (conftest): tests never touch the real one
    saved = os.environ.pop(REGISTRY_ENV)
    try:
        assert registry_dir({"XDG_RUNTIME_DIR": "/run/user/1000"}) == Path("/run/user/1000/wattwatch/trackers")
        assert registry_dir({"TMPDIR": "/nonexistent"}) == Path(f"/tmp/wattwatch-{os.getuid()}/trackers")
        assert registry_dir({REGISTRY_ENV: "/x/y"}) == Path("/x/y")
    finally:
        os.environ[REGISTRY_ENV] = saved
