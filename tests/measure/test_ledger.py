"""Ledger arithmetic against hand-computed truths."""

from __future__ import annotations

import json

import pytest

from wattwatch.measure.ledger import J_PER_KWH, Ledger
from wattwatch.sensors.base import ENERGY, POWER, ChannelInfo, Reading

GPU0 = ChannelInfo("gpu:0", "gpu", "counter")
GPU1 = ChannelInfo("gpu:1", "gpu", "power-integral")
CPU = ChannelInfo("cpu", "cpu", "model:test")


def e(j: float) -> Reading:
    return Reading(j, ENERGY)


def p(w: float) -> Reading:
    return Reading(w, POWER)


def test_counter_deltas_and_reset_never_negative() -> None:
    led = Ledger([GPU0])
    led.add(0.0, 100.0, {"gpu:0": e(1000.0)})
    led.add(1.0, 101.0, {"gpu:0": e(1300.0)})
    led.add(2.0, 102.0, {"gpu:0": e(50.0)})  # counter went backwards: adds nothing
    led.add(3.0, 103.0, {"gpu:0": e(250.0)})
    snap = led.snapshot()
    assert snap.channels["gpu:0"].energy_j == pytest.approx(300.0 + 200.0)
    assert snap.channels["gpu:0"].resets == 1
    assert snap.duration_s == pytest.approx(3.0)


def test_trapezoid_is_exact_for_a_ramp() -> None:
    led = Ledger([GPU1])
    # P(t) = 100 + 10 t over [0, 5]: exact integral 500 + 125 = 625 J, with uneven steps.
    for t in (0.0, 0.3, 1.7, 2.0, 4.1, 5.0):
        led.add(t, t, {"gpu:1": p(100.0 + 10.0 * t)})
    assert led.snapshot().channels["gpu:1"].energy_j == pytest.approx(625.0)


def test_phases_split_energy_and_emissions() -> None:
    led = Ledger([GPU0], intensity=lambda wall: 100.0)
    led.add(0.0, 0.0, {"gpu:0": e(0.0)})
    led.add(1.0, 1.0, {"gpu:0": e(3.6e6)})  # 1 kWh before any phase was named
    led.set_phase("eval")
    led.add(2.0, 2.0, {"gpu:0": e(5.4e6)})  # 0.5 kWh in eval
    snap = led.snapshot()
    assert snap.phase_energy_j == pytest.approx({"(unphased)": 3.6e6, "eval": 1.8e6})  # nothing named first
    assert snap.phase_emissions_g == pytest.approx({"(unphased)": 100.0, "eval": 50.0})
    assert snap.emissions_g == pytest.approx(150.0)


def test_pue_and_time_varying_intensity() -> None:
    # 200 g/kWh before wall time 10, 400 after; PUE 1.5.
    led = Ledger([GPU0], intensity=lambda wall: 200.0 if wall < 10 else 400.0, pue=1.5)
    led.add(0.0, 0.0, {"gpu:0": e(0.0)})
    led.add(5.0, 5.0, {"gpu:0": e(J_PER_KWH)})  # midpoint 2.5 -> 200
    led.add(15.0, 15.0, {"gpu:0": e(2 * J_PER_KWH)})  # midpoint 10 -> 400
    snap = led.snapshot()
    assert snap.energy_kwh == pytest.approx(3.0)
    assert snap.emissions_g == pytest.approx(1.5 * 200 + 1.5 * 400)


def test_pue_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="pue"):
        Ledger([GPU0], pue=0.9)


def test_gap_on_a_counter_is_bridged_exactly_and_recorded() -> None:
    led = Ledger([GPU0, GPU1])
    both = ["gpu:0", "gpu:1"]
    led.add(0.0, 0.0, {"gpu:0": e(0.0), "gpu:1": p(100.0)}, both)
    led.add(1.0, 1.0, {"gpu:1": p(100.0)}, both)  # gpu:0 missing
    led.add(2.0, 2.0, {"gpu:1": p(100.0)}, both)
    led.add(3.0, 3.0, {"gpu:0": e(900.0), "gpu:1": p(100.0)}, both)
    snap = led.snapshot()
    c0 = snap.channels["gpu:0"]
    assert c0.energy_j == pytest.approx(900.0)  # the counter kept counting through the gap
    assert c0.gap_count == 1 and c0.gap_s == pytest.approx(3.0)
    assert snap.gaps[0].channel == "gpu:0" and snap.gaps[0].end_t == pytest.approx(3.0)
    assert snap.channels["gpu:1"].energy_j == pytest.approx(300.0)


def test_lost_channel_stops_adding_and_gap_stays_open() -> None:
    led = Ledger([GPU0, GPU1])
    both = ["gpu:0", "gpu:1"]
    led.add(0.0, 0.0, {"gpu:0": e(0.0), "gpu:1": p(50.0)}, both)
    led.add(1.0, 1.0, {"gpu:0": e(200.0), "gpu:1": p(50.0)}, both)
    for t in (2.0, 3.0, 4.0):
        led.add(t, t, {"gpu:1": p(50.0)}, both)
    snap = led.snapshot()
    assert snap.channels["gpu:0"].energy_j == pytest.approx(200.0)
    assert snap.channels["gpu:0"].in_gap
    assert snap.gaps[-1].end_t is None
    assert snap.channels["gpu:1"].energy_j == pytest.approx(200.0)


def test_counter_turning_into_power_keeps_counting() -> None:
    led = Ledger([GPU0])
    led.add(0.0, 0.0, {"gpu:0": e(0.0)})
    led.add(1.0, 1.0, {"gpu:0": e(100.0)})
    led.add(2.0, 2.0, {"gpu:0": p(150.0)})
    led.add(3.0, 3.0, {"gpu:0": p(150.0)})
    snap = led.snapshot()
    assert snap.channels["gpu:0"].energy_j == pytest.approx(100.0 + 150.0 + 150.0)
    assert snap.channels["gpu:0"].method == "counter+power-integral"


def test_gap_list_is_bounded_but_counts_grow() -> None:
    led = Ledger([GPU0], max_gaps=5)
    for i in range(40):
        led.add(float(2 * i), 0.0, {"gpu:0": e(float(i))}, ["gpu:0"])
        led.add(float(2 * i + 1), 0.0, {}, ["gpu:0"])
    snap = led.snapshot()
    assert len(snap.gaps) == 5
    assert snap.gap_count == 40


def test_resume_adds_segments_not_replaces_them() -> None:
    first = Ledger([GPU0, CPU], intensity=lambda w: 300.0)
    first.add(0.0, 0.0, {"gpu:0": e(0.0), "cpu": p(10.0)})
    first.add(10.0, 10.0, {"gpu:0": e(2000.0), "cpu": p(10.0)})
    state = json.loads(json.dumps(first.to_dict()))  # must survive JSON

    second = Ledger.from_dict(state, [GPU0, CPU], intensity=lambda w: 300.0)
    second.add(100.0, 100.0, {"gpu:0": e(5.0e6), "cpu": p(20.0)})  # fresh counter origin
    second.add(105.0, 105.0, {"gpu:0": e(5.0e6 + 1000.0), "cpu": p(20.0)})
    snap = second.snapshot()
    assert snap.channels["gpu:0"].energy_j == pytest.approx(3000.0)
    assert snap.channels["cpu"].energy_j == pytest.approx(100.0 + 100.0)
    assert snap.duration_s == pytest.approx(15.0)
    assert snap.resumed_segments == 1
    assert snap.emissions_g == pytest.approx((3000.0 + 200.0) / J_PER_KWH * 300.0)
    # And a third segment keeps adding.
    third = Ledger.from_dict(second.to_dict(), [GPU0, CPU])
    assert third.snapshot().channels["gpu:0"].energy_j == pytest.approx(3000.0)
    assert third.snapshot().resumed_segments == 2


@pytest.mark.parametrize("state", [{}, {"version": 99}, {"version": 1, "channels": "x"}, []])
def test_bad_resume_state_is_a_clear_error(state: object) -> None:
    with pytest.raises(ValueError, match="new run"):
        Ledger.from_dict(state, [GPU0])  # type: ignore[arg-type]


def test_ledger_is_reentrant_for_a_signal_handler_in_the_same_thread() -> None:
    """SIGTERM's handler stops the run on the thread it interrupted, which may be inside the ledger (a flush's
    snapshot, the emissions lookup of an add). The ledger must let that thread in again instead of deadlocking
    on its own lock: here the intensity lookup, called inside ``add`` under the lock, takes a snapshot."""
    import threading

    ledger: Ledger
    seen: list[float] = []

    def intensity(wall: float) -> float:
        seen.append(ledger.snapshot().channels["gpu:0"].energy_j)
        return 100.0

    ledger = Ledger([GPU0], intensity=intensity)
    ledger.add(0.0, 0.0, {"gpu:0": Reading(0.0, ENERGY)})
    worker = threading.Thread(target=ledger.add, args=(1.0, 1.0, {"gpu:0": Reading(100.0, ENERGY)}), daemon=True)
    worker.start()
    worker.join(10.0)
    assert not worker.is_alive(), "the ledger deadlocked on its own lock"
    assert seen and ledger.snapshot().channels["gpu:0"].energy_j == pytest.approx(100.0)
