"""The one RFC 3339 format and parser (`api/times.py`): what we write, what we accept, what we refuse."""

from __future__ import annotations

import datetime as dt

import pytest

from tfcontroller.api.times import (
    format_micro,
    format_rfc3339,
    format_timestamp,
    parse_rfc3339,
    parse_terraform_time,
)

UTC = dt.UTC
T = dt.datetime(2026, 11, 27, 11, 7, 9, tzinfo=UTC)


@pytest.mark.parametrize(("text", "want"), [
    ("2026-11-27T11:07:09Z", T),
    ("2026-11-27t11:07:09z", T),
    ("2026-11-27 11:07:09Z", T),
    ("2026-11-27T12:07:09+01:00", T),
    ("2026-11-27T06:37:09-04:30", T),
    ("2026-11-27T11:07:09+00:00", T),
    ("2026-11-27T11:07:09.5Z", T.replace(microsecond=500000)),
    ("2026-11-27T11:07:09.303Z", T.replace(microsecond=303000)),
    ("2026-11-27T11:07:09.303636Z", T.replace(microsecond=303636)),
    ("2026-11-27T11:07:09.303636043Z", T.replace(microsecond=303636)),   # Terraform/Go nanoseconds
    ("2026-11-27T11:07:09.999999999Z", T.replace(microsecond=999999)),   # cut, not rounded into :10
    ("2026-11-28T00:07:09.1+13:00", T.replace(microsecond=100000)),
    ("  2026-11-27T11:07:09Z\n", T),
])
def test_parse_accepts_z_offsets_and_any_fraction(text: str, want: dt.datetime) -> None:
    got = parse_rfc3339(text)
    assert got == want
    assert got is not None and got.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("text", [
    "2026-11-27T11:07:09",             # naive: zone unknown
    "2026-11-27T11:07:09.123456",      # naive with fraction
    "2026-11-27",                      # a date only
    "2026-13-27T11:07:09Z",            # month 13
    "2026-11-27T25:07:09Z",            # hour 25
    "2026-11-27T11:07:09+0100",        # offset without colon is not RFC 3339
    "2026-11-27T11:07:09.Z",           # a dot without digits
    "yesterday", "", None, 17, 1.5, ["2026-11-27T11:07:09Z"],
])
def test_parse_refuses_naive_and_malformed(text: object) -> None:
    assert parse_rfc3339(text) is None


def test_format_second_and_micro_precision() -> None:
    when = T.replace(microsecond=303636)
    assert format_rfc3339(when) == "2026-11-27T11:07:09Z"
    assert format_micro(when) == "2026-11-27T11:07:09.303636Z"
    cet = dt.timezone(dt.timedelta(hours=1))
    assert format_rfc3339(when.astimezone(cet)) == "2026-11-27T11:07:09Z"
    assert format_rfc3339(dt.datetime(2026, 11, 27, 11, 7, 9)) == "2026-11-27T11:07:09Z"  # naive datetime: UTC
    assert format_timestamp(T.timestamp() + 0.75) == "2026-11-27T11:07:09Z"


def test_format_defaults_to_now_and_round_trips() -> None:
    before = dt.datetime.now(UTC).replace(microsecond=0)
    now = parse_rfc3339(format_rfc3339())
    assert now is not None and before <= now <= dt.datetime.now(UTC)
    micro = parse_rfc3339(format_micro())
    assert micro is not None and micro >= before
    for when in (T, T.replace(microsecond=1), T.replace(year=1999, month=2, day=28)):
        assert parse_rfc3339(format_micro(when)) == when
        assert parse_rfc3339(format_rfc3339(when)) == when.replace(microsecond=0)


@pytest.mark.parametrize(("text", "want"), [
    ("2026-11-27 11:07:09.303636043 +0000 UTC", T.replace(microsecond=303636)),   # Terraform's Lock Info
    ("2026-11-27 12:07:09.303636043 +0100 CET", T.replace(microsecond=303636)),
    ("2026-11-27 11:07:09 +0000 UTC", T),
    ("2026-11-27T11:07:09.303636043Z", T.replace(microsecond=303636)),              # the Lease's lock JSON
])
def test_parse_terraform_time(text: str, want: dt.datetime) -> None:
    assert parse_terraform_time(text) == want


@pytest.mark.parametrize("text", ["2026-11-27 11:07:09.303636043", "2026-11-27 11:07:09 UTC", "", None])
def test_parse_terraform_time_refuses_naive(text: object) -> None:
    assert parse_terraform_time(text) is None
