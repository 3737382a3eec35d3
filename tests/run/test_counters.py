"""Counters: unknown counts stay unknown, the projection's base is the first counted step, state round-trips."""

from __future__ import annotations

import pytest
from fakesensors import ConstantPowerSensor

from wattwatch.measure.ledger import J_PER_KWH, Ledger
from wattwatch.run.counters import Counters, WorkDone


def test_counters_never_fed_are_unknown_not_zero() -> None:
    c = Counters()
    assert c.done() == WorkDone(None, None, None)
    c.add("steps", 3)
    c.set("tokens", 0)
    assert c.done() == WorkDone(steps=3, samples=None, tokens=0)
    c.reset()
    assert c.done() == WorkDone()


def test_state_round_trip() -> None:
    c = Counters()
    c.add("steps", 5)
    c.add("samples", 40)
    other = Counters()
    other.load_state(*c.to_state())
    assert other.done() == WorkDone(5, 40, None)
    other.load_state({}, {})
    assert other.done() == WorkDone()


def test_projection_counts_start_up_work_once() -> None:
    """1 kWh of start-up before the first step, then 0.5 kWh per step: 10 steps project 1 + 10 * 0.5 kWh."""
    sensor = ConstantPowerSensor(100.0)
    ledger = Ledger(sensor.describe())
    c = Counters()
    c.start_projection(10)
    assert c.project(1.0, 1.0, 0.1) is None  # no step yet
    c.add("steps", 1)
    c.feed_first_step(ledger)  # base: the ledger's totals at the first step (empty ledger: zero)
    c.add("steps", 1)
    p = c.project(2.0, 0.5, 0.05)
    assert p is not None
    # base (0 steps of energy 0 at step 1) -> one step later 0.5 kWh: 8 steps left at 0.5 kWh each
    assert p.energy_kwh == pytest.approx(0.5 + 8 * 0.5)
    assert p.emissions_kg == pytest.approx(0.05 + 8 * 0.05)
    assert J_PER_KWH > 0


def test_no_total_steps_no_projection() -> None:
    c = Counters()
    c.start_projection(None)
    c.add("steps", 4)
    assert c.project(1.0, 1.0, 1.0) is None
