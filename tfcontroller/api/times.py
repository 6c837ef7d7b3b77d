"""The one RFC 3339 format and parser for every timestamp we write or read.

Six hand-written copies once disagreed (one took text without an offset as UTC, one kept it naive, one
could not read Terraform's nanoseconds). The rules here:
- We write UTC with a `Z`: `format_rfc3339` at second precision (conditions, status fields, Events, as the
  API server writes them), `format_micro` with microseconds (a Lease's MicroTime, annotation values that
  must differ within a second).
- We read RFC 3339 with `Z` or a numeric offset and any number of fractional digits (Terraform and Go
  write nanoseconds; Python keeps microseconds, the rest is cut, never rounded up into the next second).
  The result is always aware, in UTC. Text without an offset is refused (`None`): its zone is unknown,
  and guessing one would shift schedules by hours. Garbage is refused the same way, so a hand-edited
  status field cannot crash a reconcile.
- A *datetime* without tzinfo given to a formatter is taken as UTC: only our own code builds datetimes,
  and it builds them in UTC.
- `parse_terraform_time` also reads Go's `time.String()` form (`2026-11-27 11:07:09.303636043 +0000 UTC`),
  which Terraform prints as a lock's `Created` time.

`api/` imports nothing of ours, so every layer may use this module.
"""

from __future__ import annotations

import datetime as dt
import re

_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?"
    r"(?P<zone>[Zz]|[+-]\d{2}:\d{2})$"
)
_GO_TIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2}) (?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?"
    r" (?P<sign>[+-])(?P<hh>\d{2})(?P<mm>\d{2})(?: [A-Za-z]+)?$"
)


def _utc(when: dt.datetime | None) -> dt.datetime:
    when = when or dt.datetime.now(dt.UTC)
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def format_rfc3339(when: dt.datetime | None = None) -> str:
    """`when` (default: now) as the API server writes it: UTC, second precision, `Z` suffix."""
    return _utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro(when: dt.datetime | None = None) -> str:
    """`when` (default: now) in UTC with microseconds and `Z` (a Kubernetes MicroTime)."""
    return _utc(when).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_timestamp(seconds: float) -> str:
    """A POSIX timestamp (e.g. a log record's `created`) as `format_rfc3339` writes it."""
    return format_rfc3339(dt.datetime.fromtimestamp(seconds, dt.UTC))


def _build(date: str, time: str, frac: str | None, offset: str) -> dt.datetime | None:
    micros = (frac or "")[:6].ljust(6, "0")
    try:
        return dt.datetime.fromisoformat(f"{date}T{time}.{micros}{offset}").astimezone(dt.UTC)
    except ValueError:  # a month 13, an hour 25, an offset of 99 hours
        return None


def parse_rfc3339(text: object) -> dt.datetime | None:
    """An aware UTC datetime from RFC 3339 text, or None for empty, naive or malformed text."""
    if not isinstance(text, str):
        return None
    m = _RFC3339.match(text.strip())
    if m is None:
        return None
    zone = m["zone"]
    return _build(m["date"], m["time"], m["frac"], "+00:00" if zone in ("Z", "z") else zone)


def parse_terraform_time(text: object) -> dt.datetime | None:
    """RFC 3339, or Go's `time.String()` form that Terraform prints for a lock's creation time."""
    parsed = parse_rfc3339(text)
    if parsed is not None or not isinstance(text, str):
        return parsed
    m = _GO_TIME.match(text.strip())
    if m is None:
        return None
    return _build(m["date"], m["time"], m["frac"], f"{m['sign']}{m['hh']}:{m['mm']}")


def short_age(stamp: object, now: dt.datetime | None = None) -> str:
    """kubectl's short age of an RFC 3339 stamp: `45s`, `12m`, `5h`, `3d`; `<unknown>` when unreadable.
    The one copy: `tfcontroller get` prints it and the dashboard shows it (the stamp in a tooltip)."""
    when = parse_rfc3339(stamp)
    if when is None:
        return "<unknown>"
    seconds = max(0, int(((now or dt.datetime.now(dt.UTC)) - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
