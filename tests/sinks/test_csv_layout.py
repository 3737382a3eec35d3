"""The CSV header reader (:mod:`wattwatch.sinks.csv_layout`): its per-process memory of headers never changes
what a header means."""

from __future__ import annotations

from wattwatch.sinks.csv_layout import _CACHED_LINE_BYTES, parse_header


def test_a_header_read_again_means_the_same() -> None:
    head = b"timestamp;project_name;emissions\n1;a;2\n"
    first = parse_header(head)
    assert first == (("timestamp", "project_name", "emissions"), ";", "\n", False)
    assert parse_header(head) == first
    # the same names with another separator, a BOM or CRLF are other layouts, not the remembered one
    assert parse_header(b"timestamp,project_name,emissions\r\n") == (
        ("timestamp", "project_name", "emissions"), ",", "\r\n", False,
    )  # fmt: skip
    assert parse_header(b"\xef\xbb\xbf" + head) == (("timestamp", "project_name", "emissions"), ";", "\n", True)


def test_a_header_longer_than_the_remembered_ones_still_parses() -> None:
    names = [f"column_{i:06d}" for i in range(_CACHED_LINE_BYTES // 10)]
    line = ",".join(names).encode()
    assert len(line) > _CACHED_LINE_BYTES
    parsed = parse_header(line + b"\n")
    assert parsed is not None and list(parsed[0]) == names


def test_a_line_that_is_no_header_is_refused_every_time() -> None:
    for _ in range(2):
        assert parse_header(b"just one cell\n") is None
        assert parse_header(b"a,\x01b\n") is None
