"""The shared helpers: warn-once, number parsing, UTC time text."""

from __future__ import annotations

import logging

import pytest

from wattwatch.util.numbers import as_float, as_int, finite_float
from wattwatch.util.once import WarnOnce
from wattwatch.util.times import parse_utc, utc_display, utc_iso, utc_iso_minutes


def test_warn_once_logs_each_key_once_until_reset(caplog: pytest.LogCaptureFixture) -> None:
    warn = WarnOnce(logging.getLogger("wattwatch.test"))
    with caplog.at_level(logging.WARNING, logger="wattwatch.test"):
        warn("a", "first")
        warn("a", "again")
        warn("b", "other")
        warn.reset()
        warn("a", "after reset")
    assert [r.getMessage() for r in caplog.records] == ["first", "other", "after reset"]


@pytest.mark.parametrize(
    ("value", "f", "i"),
    [(3, 3.0, 3), ("2.0", 2.0, 2), ("2.5", 2.5, None), (True, None, None), ("x", None, None), (None, None, None)],
)
def test_number_parsers(value: object, f: float | None, i: int | None) -> None:
    assert as_float(value) == f
    assert as_int(value) == i


def test_finite_float_rejects_nan_and_infinity() -> None:
    assert finite_float("nan") is None and finite_float("inf") is None and finite_float("1e3") == 1000.0


def test_time_formats() -> None:
    t = 1_740_787_200.0  # 2025-03-01T00:00Z
    assert utc_iso(t) == "2025-03-01T00:00:00+00:00"
    assert utc_iso_minutes(t) == "2025-03-01T00:00Z"
    assert utc_display(t) == "2025-03-01 00:00 UTC"


def test_parse_utc() -> None:
    t = 1_740_787_200.0
    assert parse_utc("2025-03-01T00:00Z") == (t, False)
    assert parse_utc("2025-03-01T01:00+01:00") == (t, False)
    assert parse_utc("2025-03-01T00:00") == (t, True)
    assert parse_utc(" 1740787200 ") == (t, False)
    for bad, message in (("", "empty"), ("nan", "finite"), ("1740787200000", "milliseconds"), ("soon", "ISO")):
        with pytest.raises(ValueError, match=message):
            parse_utc(bad)


def test_millisecond_stamps_are_datetime_s_own_text() -> None:
    """The time series' stamps, formatted without importing datetime, equal datetime's for every kind of
    fraction: rounding to the microsecond (half to even), carries into the next second, negative times."""
    import random
    from datetime import datetime, timezone

    from wattwatch.util.times import utc_iso_ms

    rng = random.Random(7)
    walls = [rng.uniform(0, 4e9) for _ in range(20_000)] + [rng.uniform(-1e6, 1e6) for _ in range(2_000)]
    walls += [1.9999995, 1.0000005, 1764676800.9999996, 1764676800.0004999, 0.0, -0.0000004, -1.5, 1e9 + 0.1234565]
    for wall in walls:
        assert utc_iso_ms(wall) == datetime.fromtimestamp(wall, tz=timezone.utc).isoformat(timespec="milliseconds")


def test_iso_unix_reads_iso_text_as_utc_and_nothing_else() -> None:
    from wattwatch.util.times import iso_unix

    assert iso_unix("2026-01-01T00:00:00+00:00") == 1767225600.0
    assert iso_unix("2026-01-01T00:00:00") == 1767225600.0  # no zone: UTC
    assert iso_unix("2026-01-01T01:00:00+01:00") == 1767225600.0
    assert iso_unix("") is None and iso_unix("yesterday") is None and iso_unix("1767225600") is None
