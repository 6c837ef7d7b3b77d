"""Go-style durations (`30s`, `5m`, `1h30m`, `1.5h`, `500ms`) as used in every spec interval.

Parsing follows Go's time.ParseDuration for the units a CRD allows (the CRD pattern admits `ms`, `s`,
`m`, `h`; `ns`/`us`/`µs` are accepted here too so a value written by Go tools still parses). Negative
durations are refused: an interval below zero has no meaning here, and so are durations above Go's
largest (`MAX_SECONDS`, an int64 of nanoseconds: about 292 years), which Go itself refuses — a value such
as `99999999999h` passed the CRD pattern and, used as a requeue delay, overflowed the platform's time_t
in a worker thread (found by the schema fuzz, issue 21).
"""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")

# The pattern the CRDs use for every duration field (kept here so tests and docs agree with crds/).
CRD_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"


MAX_SECONDS = (2**63 - 1) / 1e9  # Go's time.Duration: 2562047h47m16.854775807s


class DurationError(ValueError):
    """The text is not a Go duration."""


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string; `0` alone is allowed, as in Go."""
    if not isinstance(text, str):
        raise DurationError(f"invalid duration {text!r}: not a string")
    s = text.strip()
    if s == "0":
        return 0.0
    if not s or s.startswith(("-", "+")):
        raise DurationError(f"invalid duration {text!r}")
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None:
            raise DurationError(f"invalid duration {text!r}: expected a number and a unit (ms, s, m, h)")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if total > MAX_SECONDS:
        raise DurationError(f"invalid duration {text!r}: longer than the largest duration, 2562047h")
    return total


def format_duration(seconds: float) -> str:
    """The shortest Go-style text for `seconds` (`90` → `1m30s`, `0.5` → `500ms`, `0` → `0s`)."""
    if seconds < 0:
        raise DurationError(f"negative duration {seconds}")
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    text = ""
    if hours:
        text += f"{hours}h"
    if minutes:
        text += f"{minutes}m"
    if secs or ms:
        if ms and not (hours or minutes or secs):
            text += f"{ms}ms"
        elif ms:
            text += f"{secs}.{ms:03d}".rstrip("0") + "s"
        else:
            text += f"{secs}s"
    return text
