"""The Aggregator sees a run only through RunView: any object with the output paths, channels and a snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from wattwatch.distributed.aggregator import Aggregator
from wattwatch.distributed.parts import parts_dir, read_parts
from wattwatch.distributed.topology import Topology
from wattwatch.measure.ledger import J_PER_KWH, Ledger, LedgerSnapshot
from wattwatch.result import EmissionsData
from wattwatch.sensors.base import ENERGY, ChannelInfo, Reading
from wattwatch.sinks.journal import SaveOutcome


class View:
    """A run that is not a Tracker: two readings of one GPU, 3.6 MJ apart (exactly 1 kWh)."""

    def __init__(self, folder: Path) -> None:
        self.output_dir = folder
        self.output_path = folder / "emissions.csv"
        self.channel_infos: Sequence[ChannelInfo] = [
            ChannelInfo("gpu:0", "gpu", "counter", model="H100", details={"uuid": "GPU-a"})
        ]
        self.ledger = Ledger(self.channel_infos)
        self.ledger.add(0.0, 1000.0, {"gpu:0": Reading(0.0, ENERGY)})
        self.ledger.add(10.0, 1010.0, {"gpu:0": Reading(J_PER_KWH, ENERGY)})

    def snapshot(self) -> LedgerSnapshot | None:
        return self.ledger.snapshot()

    def segment_snapshot(self) -> LedgerSnapshot | None:
        return self.ledger.snapshot(carried=False)


def test_a_rank_alone_writes_its_part_and_the_last_rank_appends_the_row_once(tmp_path: Path) -> None:
    view = View(tmp_path)
    agg = Aggregator(Topology(rank=0, world_size=2, node_id="n0"), environ={})
    data = EmissionsData(run_id="r1", status="completed", duration=10.0, gpu_energy=1.0, energy_consumed=1.0)
    combined = agg.aggregate(view, data, final=True, collective=False)
    assert combined.gpu_energy == pytest.approx(1.0)  # from the ledger's joules, not the row's claim
    assert combined.gpu_model == "1 x H100" and combined.rank_count == 2
    assert combined.status == "running" and combined.missing_ranks == "1"
    written: list[EmissionsData] = []

    def append(d: EmissionsData) -> SaveOutcome:
        written.append(d)
        return SaveOutcome(d.run_id, view.output_path, view.output_path)

    assert agg.write(view, combined, append) is None  # rank 1 still runs: the parts are the live state
    (part,) = read_parts(parts_dir(tmp_path, "r1"))
    assert part.rank == 0 and part.final and part.channels["gpu:0"].uuid == "GPU-a"
    assert part.channels["gpu:0"].kwh == pytest.approx(1.0)
    assert written == [] and not (tmp_path / "emissions.nodes.csv").exists()
    # rank 1 ends: its stop makes the run final and appends the one row, with the node rows
    other = Aggregator(Topology(rank=1, world_size=2, node_id="n1"), environ={})
    last = other.aggregate(view, data, final=True, collective=False)
    assert last.status == "completed" and last.rank_count == 2 and last.missing_ranks == ""
    outcome = other.write(view, last, append)
    assert outcome is not None and outcome.saved and [w.status for w in written] == ["completed"]
    assert (tmp_path / "emissions.nodes.csv").exists()
    assert other.write(view, last, append) is None and agg.write(view, combined, append) is None  # once
    assert len(written) == 1
