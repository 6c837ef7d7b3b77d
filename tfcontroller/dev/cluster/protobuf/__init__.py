"""The Kubernetes protobuf wire format, for what kubectl's typed `create` commands send (kubectl POSTs
protobuf and does not fall back on JSON after a 415).

A body is the magic `k8s\\0` followed by a `runtime.Unknown` {typeMeta, raw}; `raw` is the object's
protobuf message, decoded into the object's JSON form: one module per API group (`core`, `rbac`,
`batch`, `apps`, `networking` with policy; `pod` holds the PodSpec they share), the field rules in
`wire`. What cannot be decoded is refused in words a client shows its user: a kind the dev cluster does
not serve is 404 as on a real server; a served kind not mapped here, or a field the tables do not know
(never silently dropped), is 415 naming it and saying to send JSON.
"""

from __future__ import annotations

from typing import Any

from tfcontroller.dev.cluster import errors
from tfcontroller.dev.cluster.protobuf import apps, batch, core, networking, rbac
from tfcontroller.dev.cluster.protobuf.wire import (
    Message,
    ProtobufError,
    UnknownField,
    decode_message,
    fields,
    text,
)
from tfcontroller.dev.cluster.resources import BUILTIN_RESOURCES

__all__ = ["MAGIC", "PROTOBUF", "ProtobufError", "decode", "is_protobuf", "supported_kinds"]

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"
_SEND_JSON = "send the object as JSON instead (kubectl create -f FILE or kubectl apply -f FILE)"

_TABLES: dict[tuple[str, str], Message] = {
    **core.KINDS, **rbac.KINDS, **batch.KINDS, **apps.KINDS, **networking.KINDS,
}
_SERVED = {(info.api_version, info.kind) for info in BUILTIN_RESOURCES}


def supported_kinds() -> list[tuple[str, str]]:
    """(apiVersion, kind) of every object a protobuf body may hold."""
    return sorted([*_TABLES, *core.HAND_WRITTEN])


def is_protobuf(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == PROTOBUF


def _unknown(body: bytes) -> tuple[str, str, bytes]:
    """runtime.Unknown: typeMeta 1 {apiVersion 1, kind 2}, raw 2."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    api_version = kind = ""
    raw = b""
    for number, value in fields(body[len(MAGIC) :]):
        if number == 1 and isinstance(value, bytes):
            for n, v in fields(value):
                if n == 1:
                    api_version = text(v)
                elif n == 2:
                    kind = text(v)
        elif number == 2 and isinstance(value, bytes):
            raw = value
    return api_version, kind, raw


def _refused(reason: str) -> errors.ApiError:
    """415 with the reason appended: kubectl prints the message, so the user learns what to do."""
    base = errors.unsupported_media_type(PROTOBUF)
    return errors.ApiError(base.code, base.reason, f"{base.message}: {reason}")


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object.

    ProtobufError for a malformed body; errors.ApiError 404 for a kind the dev cluster does not serve
    and 415 (with the reason) for a kind or field not mapped here.
    """
    api_version, kind, raw = _unknown(body)
    table = _TABLES.get((api_version, kind))
    if table is not None:
        try:
            return {"kind": kind, "apiVersion": api_version, **decode_message(raw, table)}
        except UnknownField as exc:
            raise _refused(f"the dev cluster does not decode {exc} in a protobuf {kind}; {_SEND_JSON}") from None
    decoder = core.HAND_WRITTEN.get((api_version, kind))
    if decoder is None:
        if (api_version, kind) not in _SERVED:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        raise _refused(f"the dev cluster does not decode protobuf bodies of {api_version} {kind}; {_SEND_JSON}")
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    for number, value in fields(raw):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = core.object_meta(value)
    decoder(raw, obj)
    return obj
