"""tfcontroller.api.duration: Go-style duration parsing and formatting."""

from __future__ import annotations

import re

import pytest

from tfcontroller.api.duration import CRD_PATTERN, MAX_SECONDS, DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("1.5h", 5400), ("0", 0), ("2h0m3s", 7203),
     ("1m0.25s", 60.25), ("100us", 0.0001)],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_largest_go_duration_parses() -> None:
    assert parse_duration("2562047h47m16s") == pytest.approx(MAX_SECONDS, abs=1)


@pytest.mark.parametrize("text", ["", "banana", "5", "-5m", "5 m", "m5", "1h30", "1d", "1.5.5s",
                                  # above Go's largest duration (an int64 of ns), however it is written
                                  "99999999999h", "2562048h", "153722868m", "9223372037s", "1e400s",
                                  "1" + "0" * 400 + "ms", "2562047h47m17s"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "500ms"), (30, "30s"), (90, "1m30s"), (3600, "1h"), (5400, "1h30m"), (3601.5, "1h1.5s"),
     (60.25, "1m0.25s")],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


def test_format_rejects_negative() -> None:
    with pytest.raises(DurationError):
        format_duration(-1)


def test_crd_pattern_agrees_with_parser() -> None:
    for good in ["30s", "1h30m", "500ms", "1.5h"]:
        assert re.match(CRD_PATTERN, good)
        parse_duration(good)
    for bad in ["banana", "5", "1d", ""]:
        assert not re.match(CRD_PATTERN, bad)
