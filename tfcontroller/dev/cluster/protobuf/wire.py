"""The protobuf wire format and a table-driven decoder that yields what Go's `encoding/json` writes.

Why a table and not one function per message: kubectl's typed clients marshal Go structs with gogo
protobuf, which writes every non-pointer field (zero values too) and pointer fields only when set. The
JSON a client would have sent instead depends on each Go field's shape: `omitempty` drops a zero scalar
or empty list, a field without it keeps the zero (`"verbs": null`, `"containerPort": 0`), a non-pointer
struct is always written (`"resources": {}`, `"status": {}`), a pointer only when set (`"replicas": 0`
survives). A `Field` records that shape once per field, so the decoded object equals, key for key, what
`kubectl create -f` of the same object sends as JSON — the tests compare the two on the real server.

A field number a table does not know is skipped when its value is the zero value (gogo writes zeros of
fields the JSON form would omit or we do not model) and refused otherwise: dropping data a user set would
be worse than a 415 telling them to send JSON.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Value = int | bytes


class ProtobufError(ValueError):
    pass


class UnknownField(ProtobufError):
    """A field set on the wire that the tables do not map; `path` is where it sits in the object."""

    def __init__(self, number: int, message: str) -> None:
        super().__init__(f"field {number} of {message}")
        self.number, self.message, self.path = number, message, ""

    def at(self, name: str) -> UnknownField:
        """Prefix the path with the enclosing field's JSON name (inline fields add nothing)."""
        if name:
            self.path = f"{name}.{self.path}" if self.path else name
        return self

    def __str__(self) -> str:
        where = f" (at {self.path})" if self.path else ""
        return f"field {self.number} of {self.message}{where}"


# How a field appears in the JSON form (see the module docstring).
OMIT = "omitempty"  # dropped when zero / empty
KEEP = "keep"  # always written: the zero value when absent (null for lists and maps, {} for structs)
PTR = "pointer"  # written exactly when it is on the wire, even when zero


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise ProtobufError("varint too long")


def fields(buf: bytes) -> Iterator[tuple[int, Value]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited fields."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos)
            yield number, value
        elif wire == 2:
            length, pos = varint(buf, pos)
            if pos + length > len(buf):
                raise ProtobufError("truncated field")
            yield number, buf[pos : pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")


def _packed(buf: bytes) -> Iterator[int]:
    pos = 0
    while pos < len(buf):
        value, pos = varint(buf, pos)
        yield value


def text(value: Value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _signed(value: Value) -> int:
    """int32/int64 fields: negative numbers travel as 64-bit two's complement varints."""
    number = value if isinstance(value, int) else 0
    return number - (1 << 64) if number >= 1 << 63 else number


def _bytes(value: Value) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a length-delimited field")
    return value


def map_entry(value: Value) -> tuple[str, bytes]:
    key, val = "", b""
    for number, item in fields(_bytes(value)):
        if number == 1:
            key = text(item)
        elif number == 2 and isinstance(item, bytes):
            val = item
    return key, val


def _time(value: Value) -> str | None:
    """metav1.Time {seconds 1, nanos 2}: RFC 3339 in UTC; the zero time is JSON null."""
    seconds = 0
    for number, item in fields(_bytes(value)):
        if number == 1:
            seconds = _signed(item)
    if seconds == 0:
        return None
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quantity(value: Value) -> str:
    """resource.Quantity {string 1}: the canonical string the client computed."""
    return next((text(v) for n, v in fields(_bytes(value)) if n == 1), "0")


def _int_or_string(value: Value) -> int | str:
    """intstr.IntOrString {type 1 (0 int, 1 string), intVal 2, strVal 3}."""
    kind, number, string = 0, 0, ""
    for n, item in fields(_bytes(value)):
        if n == 1:
            kind = _signed(item)
        elif n == 2:
            number = _signed(item)
        elif n == 3:
            string = text(item)
    return string if kind == 1 else number


@dataclass(frozen=True)
class Message:
    """A protobuf message: field number → Field. `name` is the Go type, for error messages."""

    name: str
    fields: dict[int, Field]


# scalar converters, by Field.kind
_SCALARS: dict[str, Callable[[Value], Any]] = {
    "str": text,
    "int": _signed,
    "bool": bool,
    "bytes": lambda v: base64.b64encode(_bytes(v)).decode(),
    "time": _time,
    "quantity": _quantity,
    "intstr": _int_or_string,
}
_MAPS = ("map", "bmap", "qmap")
_ZERO: dict[str, Any] = {"str": "", "int": 0, "bool": False, "bytes": "", "time": None, "quantity": "0", "intstr": 0}


@dataclass(frozen=True)
class Field:
    """One field of a Go struct: its JSON name, its type and how it appears in JSON.

    kind: a scalar name of `_SCALARS`, "map" (string → string), "bmap" (string → bytes, base64 in JSON),
    "qmap" (string → Quantity), or a Message.
    inline: the Go field is embedded (`json:",inline"`): its keys join the parent's.
    """

    name: str
    kind: str | Message
    mode: str = OMIT
    repeated: bool = False
    inline: bool = False


def _one(f: Field, value: Value) -> Any:
    if isinstance(f.kind, Message):
        return decode_message(_bytes(value), f.kind)
    if f.kind == "map":
        key, val = map_entry(value)
        return {key: val.decode()}
    if f.kind == "qmap":
        key, val = map_entry(value)
        return {key: _quantity(val)}
    if f.kind == "bmap":
        key, val = map_entry(value)
        return {key: base64.b64encode(val).decode()}
    return _SCALARS[f.kind](value)


def _is_zero(value: Value) -> bool:
    """A zero scalar, or a message whose fields are all zero (gogo writes those for unset structs)."""
    if value in (0, b""):
        return True
    try:
        return isinstance(value, bytes) and all(_is_zero(v) for _, v in fields(value))
    except ProtobufError:
        return False


def _empty(value: Any) -> bool:
    return value is None or value in ("", 0, [], {})


def decode_message(buf: bytes, message: Message) -> dict[str, Any]:
    """The JSON form of one message (see the module docstring for the field rules)."""
    out: dict[str, Any] = {}
    seen: set[int] = set()
    for number, value in fields(buf):
        f = message.fields.get(number)
        if f is None:
            if not _is_zero(value):
                raise UnknownField(number, message.name)
            continue
        seen.add(number)
        if f.repeated and f.kind == "int" and isinstance(value, bytes):  # a packed list of varints
            out.setdefault(f.name, []).extend(_signed(v) for v in _packed(value))
            continue
        try:
            item = _one(f, value)
        except UnknownField as exc:
            raise exc.at(f.name + "[]" if f.repeated else f.name) from None
        if f.inline:
            out.update(item)
        elif f.kind in _MAPS:
            out.setdefault(f.name, {}).update(item)
        elif f.repeated:
            out.setdefault(f.name, []).append(item)
        else:
            out[f.name] = item
    for number, f in message.fields.items():
        _finish(out, number in seen, f)
    return out


def _finish(out: dict[str, Any], seen: bool, f: Field) -> None:
    """Apply the field's JSON shape: drop what omitempty drops, write what Go always writes."""
    if f.inline:
        if not seen and isinstance(f.kind, Message):
            out.update(decode_message(b"", f.kind))
        return
    if f.mode == PTR:
        return
    present = f.name in out
    if f.mode == OMIT:
        # a Go struct is never empty to omitempty; a list of structs is
        struct = isinstance(f.kind, Message) and not f.repeated
        if present and not struct and _empty(out[f.name]):
            del out[f.name]
        return
    if not present:  # KEEP
        if f.repeated or f.kind in _MAPS:
            out[f.name] = None
        elif isinstance(f.kind, Message):
            out[f.name] = decode_message(b"", f.kind)
        else:
            out[f.name] = _ZERO[f.kind]


# Shorthands for the tables of the API-group modules.
def s(name: str, mode: str = OMIT) -> Field:
    return Field(name, "str", mode)


def i(name: str, mode: str = OMIT) -> Field:
    return Field(name, "int", mode)


def b(name: str, mode: str = OMIT) -> Field:
    return Field(name, "bool", mode)


def strs(name: str, mode: str = OMIT) -> Field:
    return Field(name, "str", mode, repeated=True)


def one(name: str, kind: Message, mode: str = KEEP) -> Field:
    """A struct field: KEEP for a Go value field (always written), PTR for a pointer."""
    return Field(name, kind, mode)


def many(name: str, kind: Message, mode: str = OMIT) -> Field:
    return Field(name, kind, mode, repeated=True)


def inline(kind: Message) -> Field:
    return Field("", kind, KEEP, inline=True)
