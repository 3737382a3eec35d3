"""``wattwatch merge`` appends each run's row once: a run whose ranks already appended it (the marker in its
parts folder) is not appended again, a second merge adds nothing, and parts copied elsewhere still merge."""

from __future__ import annotations

import shutil
from pathlib import Path

from wattwatch.distributed.merge import merge_directories
from wattwatch.distributed.parts import ROW_MARKER, ChannelPart, Part, parts_dir, write_part
from wattwatch.result import EmissionsData
from wattwatch.sinks.emissions_reader import read_table


def _parts(folder: Path, run_id: str, status: str = "completed") -> Path:
    directory = parts_dir(folder, run_id)
    for rank in range(2):
        data = EmissionsData(run_id=run_id, status=status, energy_consumed=1.0, emissions=0.1, duration=10.0)
        channels = {f"gpu:{rank}": ChannelPart("gpu", 1.0, "H100", f"GPU-{rank}")}
        write_part(directory, Part(run_id, rank, 2, "n0", local_rank=rank, status=status, data=data, channels=channels))
    return directory


def test_merge_appends_each_run_once(tmp_path: Path) -> None:
    directory = _parts(tmp_path, "r1")
    out = tmp_path / "emissions.csv"
    (data,) = merge_directories([tmp_path], out)
    assert data.gpu_energy == 2.0 and data.status == "completed"
    assert (directory / ROW_MARKER).exists()
    merge_directories([tmp_path], out)  # again: nothing new
    assert [r["run_id"] for r in read_table(out).rows] == ["r1"]
    assert len(read_table(tmp_path / "emissions.nodes.csv").rows) == 1


def test_parts_copied_elsewhere_merge_into_another_file(tmp_path: Path) -> None:
    directory = _parts(tmp_path / "node", "r2")
    merge_directories([tmp_path / "node"], tmp_path / "node" / "emissions.csv")
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    merge_directories([copy], tmp_path / "all.csv")  # the marker names another file: this one gets the row
    assert [r["run_id"] for r in read_table(tmp_path / "all.csv").rows] == ["r2"]


def test_a_run_still_going_is_merged_without_a_marker(tmp_path: Path) -> None:
    directory = _parts(tmp_path, "r3", status="running")
    out = tmp_path / "emissions.csv"
    merge_directories([tmp_path], out)
    assert not (directory / ROW_MARKER).exists()  # its final row comes later
    assert [r["status"] for r in read_table(out).rows] == ["running"]
