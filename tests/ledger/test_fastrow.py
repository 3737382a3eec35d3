"""The fast path of a push (cells straight into the tables' values) gives exactly what the slow path
(``EmissionsData.from_row`` then ``prepare_row``) gives, for any row -- or steps aside for the slow path."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from wattwatch.ledger.fastrow import prepare_cells
from wattwatch.ledger.sources import prepare
from wattwatch.result import COLUMNS, EmissionsData

_KINDS = {f.name: str(f.type) for f in dataclasses.fields(EmissionsData)}
_TEXT = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(["\x00", "\udc80", "é", ","]), max_size=12)
_NUMBER = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.integers(-(10**12), 10**12).map(str),
    st.just(""),
)
_DICT = st.one_of(
    st.dictionaries(_TEXT, st.floats(allow_nan=False, allow_infinity=False, width=64), max_size=3).map(
        lambda d: EmissionsData(phase_energy_kwh=d).to_row()["phase_energy_kwh"]
    ),
    st.sampled_from(["", "{}", '{"train": 1e308, "eval": 0}']),
)
_JUNK = st.sampled_from(["nan", "inf", "-inf", "1e400", "x", "[]", '{"a": "x"}', '{"a": true}', "{bad", '{"gpu:0": 1}'])


def _cell(name: str) -> st.SearchStrategy[str]:
    kind = _KINDS[name]
    if kind == "dict[str, str]":
        return st.sampled_from(["", "{}", '{"gpu:0": "counter"}'])
    if kind.startswith("dict"):
        return _DICT
    if kind.startswith(("float", "int")):
        return _NUMBER
    return _TEXT


_VALID = st.fixed_dictionaries({name: _cell(name) for name in COLUMNS})
_ROWS = st.tuples(
    _VALID,
    st.sets(st.sampled_from(COLUMNS), max_size=6),  # columns missing from the file
    st.dictionaries(st.sampled_from(COLUMNS), _JUNK, max_size=2),  # cells damaged
)


def _slow(row: dict[str, str], full: bool) -> object:
    try:
        data = EmissionsData.from_row(row)
    except ValueError:
        return "error"
    if not data.run_id:
        return "no run id"
    return prepare(data, full_row=full, source="f.csv", pushed_at="now").row


@settings(max_examples=150, deadline=None)
@given(_ROWS, st.booleans())
def test_fast_and_slow_paths_agree(parts: tuple[dict[str, str], set[str], dict[str, str]], full: bool) -> None:
    valid, dropped, damaged = parts
    row = {k: v for k, v in {**valid, **damaged}.items() if k not in dropped}
    fast = prepare_cells(row, full_row=full, source="f.csv", pushed_at="now")
    if fast is None:  # the slow path takes the row (and says what is wrong with it)
        clean = not damaged or all(k in dropped for k in damaged)
        assert not clean or not row.get("embodied_emissions") or not row.get("run_id"), row
        return
    assert fast == _slow(row, full)


def test_a_real_row_takes_the_fast_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ledgerruns import make_run

    _, data = make_run(tmp_path, phases=("train", "eval"), tokens=10)
    row = data.to_row()
    fast = prepare_cells(row, full_row=True, source="f.csv", pushed_at="now")
    assert fast is not None and fast == _slow(row, True)
    assert len(fast.phase_values) == 3 and len(fast.device_values) == 2  # (unphased) before the phases, train, eval
