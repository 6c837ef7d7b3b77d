"""core/v1 kinds as tables (`kubectl create configmap|secret|namespace|serviceaccount|quota|service …`)
and the review kinds, decoded by hand (`kubectl create token`, `kubectl auth whoami|can-i`): those are
answered, never stored, so their decoders stay lenient and read only the fields the server uses.

Field numbers come from the `generated.proto` files of k8s.io/api and apimachinery.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfcontroller.dev.cluster.protobuf.meta import LOCAL_OBJECT_REFERENCE, OBJECT_META
from tfcontroller.dev.cluster.protobuf.wire import (
    KEEP,
    PTR,
    Field,
    Message,
    b,
    decode_message,
    i,
    many,
    one,
    s,
    strs,
)
from tfcontroller.dev.cluster.protobuf.wire import fields as _fields
from tfcontroller.dev.cluster.protobuf.wire import map_entry as _map_entry
from tfcontroller.dev.cluster.protobuf.wire import text as _str


def object_meta(buf: bytes) -> dict[str, Any]:
    return decode_message(buf, OBJECT_META)


def _message(buf: bytes, strings: dict[int, str], repeated: dict[int, str] | None = None,
             ints: dict[int, str] | None = None) -> dict[str, Any]:
    """A flat message of string, repeated string and integer fields, by field number."""
    out: dict[str, Any] = {}
    for number, value in _fields(buf):
        if number in strings and _str(value):
            out[strings[number]] = _str(value)
        elif repeated and number in repeated:
            out.setdefault(repeated[number], []).append(_str(value))
        elif ints and number in ints and isinstance(value, int):
            out[ints[number]] = value
    return out


def _spec(buf: bytes, obj: dict[str, Any], decode_spec: Callable[[bytes], dict[str, Any]]) -> None:
    for number, value in _fields(buf):
        if number == 2 and isinstance(value, bytes):
            obj["spec"] = decode_spec(value)


_RESOURCE_ATTRIBUTES = {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource", 6: "subresource", 7: "name"}


def _access_review_spec(buf: bytes) -> dict[str, Any]:
    """(Self/Local)SubjectAccessReviewSpec: resourceAttributes 1, nonResourceAttributes 2, user 3, groups 4,
    extra 5, uid 6."""
    spec = _message(buf, {3: "user", 6: "uid"}, {4: "groups"})
    for number, value in _fields(buf):
        if number == 1 and isinstance(value, bytes):
            spec["resourceAttributes"] = _message(value, _RESOURCE_ATTRIBUTES)
        elif number == 2 and isinstance(value, bytes):
            spec["nonResourceAttributes"] = _message(value, {1: "path", 2: "verb"})
        elif number == 5:
            key, val = _map_entry(value)
            spec.setdefault("extra", {})[key] = [_str(v) for n, v in _fields(val) if n == 1]
    return spec


def _token_request_spec(buf: bytes) -> dict[str, Any]:
    """TokenRequestSpec: audiences 1, boundObjectRef 3 {kind, apiVersion, name, uid}, expirationSeconds 4."""
    spec = _message(buf, {}, {1: "audiences"}, {4: "expirationSeconds"})
    for number, value in _fields(buf):
        if number == 3 and isinstance(value, bytes):
            spec["boundObjectRef"] = _message(value, {1: "kind", 2: "apiVersion", 3: "name", 4: "uid"})
    return spec


HAND_WRITTEN: dict[tuple[str, str], Callable[[bytes, dict[str, Any]], None]] = {
    ("authentication.k8s.io/v1", "SelfSubjectReview"): lambda buf, obj: None,
    ("authentication.k8s.io/v1", "TokenRequest"): lambda buf, obj: _spec(buf, obj, _token_request_spec),
    ("authentication.k8s.io/v1", "TokenReview"):
        lambda buf, obj: _spec(buf, obj, lambda b: _message(b, {1: "token"}, {2: "audiences"})),
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): lambda buf, obj: _spec(buf, obj, _access_review_spec),
    ("authorization.k8s.io/v1", "SubjectAccessReview"): lambda buf, obj: _spec(buf, obj, _access_review_spec),
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): lambda buf, obj: _spec(buf, obj, _access_review_spec),
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"):
        lambda buf, obj: _spec(buf, obj, lambda b: _message(b, {1: "namespace"})),
}


SERVICE_PORT = Message("ServicePort", {
    1: s("name"), 2: s("protocol"), 6: s("appProtocol", PTR), 3: i("port", KEEP),
    4: Field("targetPort", "intstr"), 5: i("nodePort"),
})
SERVICE_SPEC = Message("ServiceSpec", {
    1: many("ports", SERVICE_PORT), 2: Field("selector", "map"), 3: s("clusterIP"), 18: strs("clusterIPs"),
    4: s("type"), 5: strs("externalIPs"), 7: s("sessionAffinity"), 8: s("loadBalancerIP"),
    9: strs("loadBalancerSourceRanges"), 10: s("externalName"), 11: s("externalTrafficPolicy"),
    12: i("healthCheckNodePort"), 13: Field("publishNotReadyAddresses", "bool"), 19: strs("ipFamilies"),
    17: s("ipFamilyPolicy", PTR), 20: Field("allocateLoadBalancerNodePorts", "bool", PTR),
    21: s("loadBalancerClass", PTR), 22: s("internalTrafficPolicy", PTR),
})
SERVICE = Message("Service", {
    1: one("metadata", OBJECT_META), 2: one("spec", SERVICE_SPEC),
    3: one("status", Message("ServiceStatus", {1: one("loadBalancer", Message("LoadBalancerStatus", {}))})),
})

RESOURCE_QUOTA = Message("ResourceQuota", {
    1: one("metadata", OBJECT_META),
    2: one("spec", Message("ResourceQuotaSpec", {1: Field("hard", "qmap"), 2: strs("scopes")})),
    3: one("status", Message("ResourceQuotaStatus", {})),
})

_METADATA = one("metadata", OBJECT_META)
CONFIG_MAP = Message("ConfigMap", {
    1: _METADATA, 2: Field("data", "map"), 3: Field("binaryData", "bmap"), 4: b("immutable", PTR),
})
SECRET = Message("Secret", {
    1: _METADATA, 2: Field("data", "bmap"), 4: Field("stringData", "map"), 3: s("type"), 5: b("immutable", PTR),
})
NAMESPACE = Message("Namespace", {
    1: _METADATA, 2: one("spec", Message("NamespaceSpec", {1: strs("finalizers")})),
    3: one("status", Message("NamespaceStatus", {1: s("phase")})),
})
OBJECT_REFERENCE = Message("ObjectReference", {
    1: s("kind"), 2: s("namespace"), 3: s("name"), 4: s("uid"), 5: s("apiVersion"), 6: s("resourceVersion"),
    7: s("fieldPath"),
})
SERVICE_ACCOUNT = Message("ServiceAccount", {
    1: _METADATA, 2: many("secrets", OBJECT_REFERENCE), 3: many("imagePullSecrets", LOCAL_OBJECT_REFERENCE),
    4: b("automountServiceAccountToken", PTR),
})

KINDS = {
    ("v1", "ConfigMap"): CONFIG_MAP,
    ("v1", "Secret"): SECRET,
    ("v1", "Namespace"): NAMESPACE,
    ("v1", "ServiceAccount"): SERVICE_ACCOUNT,
    ("v1", "Service"): SERVICE,
    ("v1", "ResourceQuota"): RESOURCE_QUOTA,
}
