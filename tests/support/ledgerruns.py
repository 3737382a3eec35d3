"""Real runs for the ledger's tests: a :class:`~wattwatch.Tracker` on constant-power fake GPUs writes its row
(and, with ``ledger_url``, pushes it, waiting for the push), as a user's run would."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fakesensors import ConstantPowerSensor

from wattwatch import Tracker
from wattwatch.result import EmissionsData

__all__ = ["count_rows", "make_run"]


def make_run(
    folder: Path,
    *,
    project: str = "ledger-test",
    environ: Mapping[str, str] | None = None,
    ledger_url: str | None = "",
    watts: float = 300.0,
    tokens: int = 0,
    phases: tuple[str, ...] = (),
    state: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[Tracker, EmissionsData]:
    """One run in ``folder`` (its row appended to ``folder/emissions.csv``); ``state``: continue a saved run (a
    new segment). ``ledger_url`` ``""``: no ledger (whatever ``$WATTWATCH_DB`` says)."""
    t = Tracker(
        project_name=project,
        output_dir=folder,
        sensors=[ConstantPowerSensor(watts, n=2)],
        carbon_intensity_g_per_kwh=100.0,
        handle_signals=False,
        save_timeseries=False,
        environ=dict(environ) if environ is not None else {"USER": "alice"},
        ledger_url=ledger_url,
        **kwargs,
    )
    if state is not None:
        t.load_state_dict(state)
    t.start()
    for phase in phases:
        with t.phase(phase):
            pass
    if tokens:
        t.step(tokens=tokens)
    sink = t._recorder.ledger
    data = t.stop()
    assert data is not None
    if sink is not None:  # stop() waits at most 100 ms; a test reads the database after the push
        assert sink.done.wait(60)
    return t, data


def count_rows(url: str) -> dict[str, int]:
    """Rows per table of the ledger at ``url``."""
    import sqlalchemy as sa

    from wattwatch.ledger.engine import open_engine
    from wattwatch.ledger.urls import parse_url

    engine = open_engine(parse_url(url))
    try:
        with engine.connect() as conn:
            return {
                t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() or 0)
                for t in ("runs", "segments", "segment_details", "phases", "devices")
            }
    finally:
        engine.dispose()



