"""``wattwatch report``: runs and totals from emissions.csv files and folders, killed runs shown as such."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wattwatch.cli.main import main
from wattwatch.result import COLUMNS, EmissionsData
from wattwatch.sinks.emissions_file import append_row


def _row(
    run_id: str, status: str, gpu: float, cpu: float, ram: float, kg: float, **kw: object
) -> EmissionsData:
    fields: dict[str, object] = {
        "timestamp": "2026-01-01T10:00:00+00:00",
        "start_time": "2026-01-01T09:00:00+00:00",
        **kw,
    }
    return EmissionsData(
        run_id=run_id,
        project_name="llm",
        status=status,
        duration=3600.0,
        gpu_energy=gpu,
        cpu_energy=cpu,
        ram_energy=ram,
        energy_consumed=gpu + cpu + ram,
        emissions=kg,
        intensity_source="country: France",
        intensity_g_per_kwh=kg * 1000 / (gpu + cpu + ram),
        gpu_method="counter",
        cpu_method="counter",
        ram_method="model:ram",
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    (runs / "sub").mkdir(parents=True)
    append_row(runs / "emissions.csv", _row("aaaaaaaa-1", "completed", 2.0, 0.5, 0.1, 0.13).to_row(), COLUMNS)
    append_row(runs / "emissions.csv", _row("bbbbbbbb-2", "failed", 1.0, 0.25, 0.05, 0.065).to_row(), COLUMNS)
    killed = _row("cccccccc-3", "running", 4.0, 1.0, 0.2, 0.26, timestamp="2026-01-01T11:30:00+00:00")
    append_row(runs / "sub" / "emissions.csv", killed.to_row(), COLUMNS)
    (runs / "sub" / "cccccccc-3.timeseries.csv").write_text(
        "timestamp,elapsed_s,phase,energy_kwh,emissions_kg\n"
    )
    (runs / "notes.csv").write_text("a,b\n1,2\n")  # not an emissions file: ignored
    return runs


def test_table_and_totals(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(folder)]) == 0
    out = capsys.readouterr().out
    total = next(line for line in out.splitlines() if line.startswith("TOTAL"))
    assert "3 run(s)" in total and "1 completed, 1 failed, 1 running" in total
    assert total.split()[-6:-1] == ["7", "1.75", "0.35", "9.1", "0.455"]  # GPU, CPU, RAM, kWh, operational kg
    assert float(total.split()[-1]) > 0  # embodied kg: computed here (these rows predate the column), and said so
    assert "* embodied CO2 computed here" in out
    assert "3:00:00" in total
    assert "cccccccc: " in out and "still running or killed: last flush 2026-01-01T11:30:00+00:00" in out
    assert "country: France" in out and "gpu=counter cpu=counter ram=model:ram" in out


def test_json(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(folder / "emissions.csv"), str(folder / "sub"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    tot = doc["totals"]
    assert tot["runs"] == 3
    assert tot["energy_kwh"] == pytest.approx(9.1)
    assert tot["emissions_kg"] == pytest.approx(0.455)
    assert tot["gpu_energy_kwh"] == pytest.approx(7.0)
    assert tot["intensity_g_per_kwh"] == pytest.approx(50.0)
    killed = next(r for r in doc["runs"] if r["status"] == "running")
    assert killed["last_write"] == "2026-01-01T11:30:00+00:00"


def test_a_run_in_two_files_counts_once(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    later = _row("cccccccc-3", "interrupted", 4.0, 1.0, 0.3, 0.27, timestamp="2026-01-01T12:00:00+00:00")
    append_row(tmp_path / "copy.csv", later.to_row(), COLUMNS)
    assert main(["report", str(folder), str(tmp_path / "copy.csv"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"]["runs"] == 3
    assert doc["totals"]["by_status"] == {"completed": 1, "failed": 1, "interrupted": 1}
    assert doc["totals"]["energy_kwh"] == pytest.approx(9.2)


def test_codecarbon_file_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header = (
        "timestamp,project_name,run_id,duration,emissions,energy_consumed,cpu_energy,gpu_energy,ram_energy\n"
    )
    (tmp_path / "cc.csv").write_text(header + "2025-01-01T00:00:00,cc,r1,10,0.5,1.0,0.2,0.7,0.1\n")
    assert main(["report", str(tmp_path / "cc.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["energy_kwh"] == 1.0


def test_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("wattwatch report: error:") for line in err)


def test_parts_of_a_distributed_run_without_a_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dist = pytest.importorskip("wattwatch.distributed.parts")
    folder = tmp_path / "node-copies"
    for rank in (0, 1):
        data = _row("dist-run", "completed", 1.0, 0.2, 0.1, 0.05)
        part = dist.Part(
            run_id="dist-run",
            rank=rank,
            world_size=2,
            node_id=f"node{rank}",
            status="completed",
            data=data,
            channels={
                "gpu:0": dist.ChannelPart("gpu", 1.0, uuid=f"GPU-{rank}"),
                "cpu": dist.ChannelPart("cpu", 0.2),
                "ram": dist.ChannelPart("ram", 0.1),
            },
        )
        dist.write_part(dist.parts_dir(folder, "dist-run"), part)
    append_row(folder / "emissions.csv", _row("solo", "completed", 2.0, 0.5, 0.1, 0.13).to_row(), COLUMNS)
    assert main(["report", str(folder), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    runs = {r["run_id"]: r for r in doc["runs"]}
    assert set(runs) == {"solo", "dist-run"}
    assert runs["dist-run"]["energy_kwh"] == pytest.approx(2.6)  # two nodes, each 1.3 kWh
    assert doc["totals"]["energy_kwh"] == pytest.approx(2.6 + 2.6)


def test_report_shows_each_runs_band_and_slices_and_the_totals_band(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "emissions.csv"
    a = _row(
        "dddddddd-4",
        "completed",
        0.0,
        0.5,
        0.1,
        0.03,
        cpu_slice="vm-vcpu/machine",
        ram_slice="machine",
        energy_low_kwh=0.3,
        energy_high_kwh=0.9,
        energy_band="cpu=vm-vcpu ram=tdp-model",
    )
    b = _row("eeeeeeee-5", "completed", 1.0, 0.0, 0.0, 0.05, energy_low_kwh=0.95, energy_high_kwh=1.05)
    append_row(path, a.to_row(), COLUMNS)
    append_row(path, b.to_row(), COLUMNS)
    assert main(["report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "band 300 to 900 Wh (cpu=vm-vcpu ram=tdp-model); slices cpu=vm-vcpu/machine ram=machine" in out
    assert "total energy band: 1.25 to 1.95 kWh" in out
    assert main(["report", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"]["energy_low_kwh"] == pytest.approx(1.25)
    assert doc["runs"][0]["cpu_slice"] == "vm-vcpu/machine"
    # a row without a band (CodeCarbon's) makes the total's band unknown, not narrower
    append_row(path, _row("ffffffff-6", "completed", 1.0, 0.0, 0.0, 0.05).to_row(), COLUMNS)
    assert main(["report", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["energy_low_kwh"] is None


def _codecarbon_row(run_id: str, kg: float, kwh: float, **cells: str) -> str:
    """A row as CodeCarbon 3 writes it (its 38 columns, its order), with ``cells`` overriding."""
    from wattwatch.result import CODECARBON_COLUMNS

    row = dict.fromkeys(CODECARBON_COLUMNS, "")
    row.update(
        timestamp="2026-12-02T12:08:52",
        project_name="codecarbon",
        run_id=run_id,
        duration="2.0",
        emissions=repr(kg),
        energy_consumed=repr(kwh),
        cpu_energy=repr(kwh / 4),
        ram_energy=repr(kwh * 3 / 4),
        gpu_energy="0.0",
        country_name="France",
        country_iso_code="FRA",
        on_cloud="N",
        pue="1.0",
    )
    row.update(cells)
    return ",".join(row[c] for c in CODECARBON_COLUMNS) + "\n"


def test_a_codecarbon_row_shows_the_intensity_codecarbon_applied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CodeCarbon's rows have no intensity column: the report shows emissions / energy (what CodeCarbon
    multiplied by) and the place the row names, not "0 g/kWh from unknown source"."""
    from wattwatch.report import load_report
    from wattwatch.result import CODECARBON_COLUMNS

    path = tmp_path / "emissions.csv"
    path.write_text(
        ",".join(CODECARBON_COLUMNS)
        + "\n"
        + _codecarbon_row("aaaaaaaa-cc", 6.4777e-07, 1.15593e-05)
        + _codecarbon_row(
            "bbbbbbbb-cc", 0.004, 0.02, on_cloud="Y", cloud_provider="gcp", cloud_region="europe-west1"
        )
    )
    assert main(["report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "aaaaaaaa: 56 g/kWh from the row's emissions / energy (France)" in out
    assert "bbbbbbbb: 200 g/kWh from the row's emissions / energy (gcp europe-west1)" in out
    assert "unknown source" not in out

    assert main(["report", str(path), "--json"]) == 0
    runs = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert runs["aaaaaaaa-cc"]["intensity_g_per_kwh"] == pytest.approx(6.4777e-07 * 1000 / 1.15593e-05, rel=1e-12)
    assert runs["bbbbbbbb-cc"]["intensity_source"] == "the row's emissions / energy (gcp europe-west1)"

    summaries = {s.run_id: s for s in load_report([str(path)], series_runs=0).runs}  # the HTML page's numbers
    assert summaries["aaaaaaaa-cc"].intensity_g_per_kwh == pytest.approx(56.039, rel=1e-4)
    assert summaries["bbbbbbbb-cc"].intensity_source.endswith("(gcp europe-west1)")


def test_a_wattwatch_row_keeps_its_own_intensity_even_at_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run given 0 g/kWh (its own renewable supply) keeps 0 and its source; nothing is derived."""
    row = _row("dddddddd-4", "completed", 1.0, 0.0, 0.0, 0.0)
    row.intensity_g_per_kwh, row.intensity_source = 0.0, "given: 0 g/kWh"
    append_row(tmp_path / "emissions.csv", row.to_row(), COLUMNS)
    assert main(["report", str(tmp_path)]) == 0
    assert "dddddddd: 0 g/kWh from given: 0 g/kWh" in capsys.readouterr().out
