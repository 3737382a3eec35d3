"""A running row's journal text (run/rowtext.py: steady columns converted once) is exactly
``bound_row(data.to_row())``, whatever the row holds and whatever changes from one row to the next."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from wattwatch.result import EmissionsData
from wattwatch.run.rowtext import RowText
from wattwatch.sinks.cells import bound_row

TEXT = st.text(min_size=0, max_size=60) | st.sampled_from(["=1+1", "-3", "@x", "a\r\nb", "\ud800x", "x" * 5000])
NUM = st.floats(allow_nan=False, allow_infinity=False) | st.none()


@settings(max_examples=60, deadline=None)
@given(
    project=TEXT, hostname=TEXT, status=TEXT, method=TEXT, energy=st.floats(min_value=-1.0, max_value=1e9),
    low=NUM, phases=st.dictionaries(TEXT, st.floats(min_value=0, max_value=10), max_size=40),
    steps=st.none() | st.integers(min_value=-5, max_value=10**12),
)  # fmt: skip
def test_row_text_is_bound_row_of_to_row(
    project: str, hostname: str, status: str, method: str, energy: float, low: float | None,
    phases: dict[str, float], steps: int | None,
) -> None:  # fmt: skip
    text = RowText()
    base = EmissionsData(project_name="p", hostname="h", status="running", energy_consumed=1.0)
    assert text(base) == bound_row(base.to_row())
    data = dataclasses.replace(
        base, project_name=project, hostname=hostname, status=status, gpu_method=method, energy_consumed=energy,
        energy_low_kwh=low, phase_energy_kwh=phases, phase_emissions_kg=dict(phases), steps=steps,
    )  # fmt: skip
    assert text(data) == bound_row(data.to_row())  # a steady column that changed is converted again
    assert text(data) == bound_row(data.to_row())
