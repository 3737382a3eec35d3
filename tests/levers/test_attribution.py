"""The per-request attribution rule (pure arithmetic): shares add up to the measured energy, prefill follows prompt
tokens, decode steps are split among the requests active in them, idle energy is kept apart."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattwatch.levers.attribution import DECODE, PREFILL, RequestAttributor, Step, split_energy


def test_prefill_by_prompt_tokens_and_decode_among_the_active() -> None:
    steps = [
        Step(PREFILL, 0.0, 2.0, {"a": 10.0, "b": 30.0}),  # 2 s of 4: half the energy
        Step(DECODE, 2.0, 3.0, {"a": 1.0, "b": 1.0}),  # 1 s: a quarter, split in two
        Step(DECODE, 3.0, 4.0, {"b": 1.0}),  # a finished: b alone
    ]
    shares = split_energy(steps, 100.0)
    assert shares["a"] == pytest.approx((12.5, 12.5))
    assert shares["b"] == pytest.approx((37.5, 12.5 + 25.0))
    assert math.fsum(p + d for p, d in shares.values()) == pytest.approx(100.0, rel=1e-12)


def test_steps_of_no_duration_share_equally() -> None:
    shares = split_energy([Step(PREFILL, 1.0, 1.0, {"a": 1.0}), Step(DECODE, 1.0, 1.0, {"b": 1.0})], 8.0)
    assert shares == {"a": (4.0, 0.0), "b": (0.0, 4.0)}


@settings(max_examples=200, deadline=None)
@given(
    energy=st.floats(0, 1e6, allow_nan=False),
    steps=st.lists(
        st.tuples(
            st.sampled_from([PREFILL, DECODE]),
            st.floats(0, 10, allow_nan=False),
            st.dictionaries(st.integers(0, 20), st.floats(0, 1000, allow_nan=False), min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=40,
    ),
)
def test_shares_always_add_up_to_the_energy(energy: float, steps: list[tuple[str, float, dict[int, float]]]) -> None:
    t, built = 0.0, []
    for kind, dur, weights in steps:
        built.append(Step(kind, t, t + dur, weights))
        t += dur
    shares = split_energy(built, energy)
    total = math.fsum(p + d for p, d in shares.values())
    assert total == pytest.approx(energy, rel=1e-9, abs=1e-9)
    assert all(p >= 0 and d >= 0 for p, d in shares.values())


class _Meter:
    """A cumulative energy the test advances by hand (J)."""

    def __init__(self) -> None:
        self.joules = 0.0

    def __call__(self) -> float:
        return self.joules


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_serving_loop_continuous_batching_adds_up_and_keeps_idle_apart() -> None:
    meter, clock = _Meter(), _Clock()
    attr = RequestAttributor(meter, clock=clock)
    meter.joules = 50.0  # before the first settle (the first prefill's): not the attributor's
    with attr.prefill({"a": 10}):
        clock.t += 1.0
        meter.joules += 10.0
    for _ in range(2):
        with attr.decode(["a"]):
            clock.t += 1.0
            meter.joules += 5.0
    with attr.prefill({"b": 30}):  # b joins while a is in flight: no settle, no idle
        clock.t += 1.0
        meter.joules += 10.0
    with attr.decode(["a", "b"]):
        clock.t += 1.0
        meter.joules += 5.0
    a = attr.finish("a")
    with attr.decode(["b"]):
        clock.t += 1.0
        meter.joules += 5.0
    b = attr.finish("b")
    meter.joules += 7.0  # idle again
    with attr.prefill({"c": 5}):
        clock.t += 1.0
        meter.joules += 2.0
    c = attr.finish("c")
    assert attr.idle_j == pytest.approx(7.0)
    assert a.prompt_tokens == 10 and a.new_tokens == 4 and b.new_tokens == 3 and c.new_tokens == 1
    assert a.energy_j + b.energy_j + c.energy_j == pytest.approx(attr.attributed_j)
    assert attr.attributed_j + attr.idle_j == pytest.approx(meter.joules - 50.0)
    assert a.prefill_j == pytest.approx(b.prefill_j)  # alone in prefills of the same length: same share
    assert a.latency_s == pytest.approx(5.0) and b.latency_s == pytest.approx(3.0)


def test_unknown_or_duplicate_requests_are_refused() -> None:
    attr = RequestAttributor(_Meter())
    attr.admit("a", 3)
    with pytest.raises(ValueError, match="already in flight"):
        attr.admit("a", 3)
    with pytest.raises(KeyError, match="not admitted"):
        attr.add_step(Step(DECODE, 0, 1, {"zzz": 1.0}))
