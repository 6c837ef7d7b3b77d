"""The `format` names Kubernetes checks in CRD schemas (a subset: `int32`, `int64`, `date-time`, `date`,
`byte`, `uuid`, `ipv4`, `ipv6`, `cidr`, `duration`), as a jsonschema `FormatChecker`. Unknown format
names pass, as they do in jsonschema and, for the rarely used ones, in kube-apiserver."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import re
import uuid
from collections.abc import Callable

from jsonschema import FormatChecker

_DURATION = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)(((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))*)$|^0$")


def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value.upper()


def _date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _byte(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return True


def _uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _ipv4(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def _ipv6(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _cidr(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _duration(value: object) -> bool:
    return not isinstance(value, str) or bool(_DURATION.match(value))


# The format name → its check (True: valid, or not a value of the type the format applies to).
_CHECKS: dict[str, Callable[[object], bool]] = {
    "int32": _int32,
    "int64": _int64,
    "date-time": _date_time,
    "date": _date,
    "byte": _byte,
    "uuid": _uuid,
    "ipv4": _ipv4,
    "ipv6": _ipv6,
    "cidr": _cidr,
    "duration": _duration,
}
FORMATS = FormatChecker(formats=())  # only the checks above
for _name, _check in _CHECKS.items():
    FORMATS.checks(_name)(_check)
