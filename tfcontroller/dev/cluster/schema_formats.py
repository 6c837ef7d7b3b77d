"""The `format` names Kubernetes checks in CRD schemas (a subset: `int32`, `int64`, `date-time`, `date`,
`byte`, `uuid`, `ipv4`, `ipv6`, `cidr`, `duration`), as a jsonschema `FormatChecker`. Unknown format
names pass, as they do in jsonschema and, for the rarely used ones, in kube-apiserver."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import re
import uuid

from jsonschema import FormatChecker

FORMATS = FormatChecker(formats=())  # only the checkers registered below
_DURATION = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)(((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))*)$|^0$")


@FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@FORMATS.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


@FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value.upper()


@FORMATS.checks("date")
def _date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


@FORMATS.checks("byte")
def _byte(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return True


@FORMATS.checks("uuid")
def _uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@FORMATS.checks("ipv4")
def _ipv4(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


@FORMATS.checks("ipv6")
def _ipv6(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


@FORMATS.checks("cidr")
def _cidr(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


@FORMATS.checks("duration")
def _duration(value: object) -> bool:
    return not isinstance(value, str) or bool(_DURATION.match(value))
