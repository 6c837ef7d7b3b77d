"""Just enough of the Kubernetes protobuf wire format to accept what `kubectl create configmap|secret|
namespace|serviceaccount|token|job|role|clusterrole|rolebinding|clusterrolebinding` and `kubectl auth
whoami|can-i` send (kubectl's typed clients POST
protobuf and do not fall back on 415).

A body is the magic `k8s\\0` followed by a `runtime.Unknown` {typeMeta, raw}; `raw` is the object's
protobuf message. Field numbers come from the `generated.proto` files of k8s.io/api and
apimachinery; only the fields those commands can set are mapped. Other kinds answer 415.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
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


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited fields."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(buf, pos)
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


def _str(value: int | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _map_entry(value: int | bytes) -> tuple[str, bytes]:
    key, val = "", b""
    for number, item in _fields(value if isinstance(value, bytes) else b""):
        if number == 1:
            key = _str(item)
        elif number == 2 and isinstance(item, bytes):
            val = item
    return key, val


def _owner_reference(buf: bytes) -> dict[str, Any]:
    names = {1: "kind", 3: "name", 4: "uid", 5: "apiVersion"}
    flags = {6: "controller", 7: "blockOwnerDeletion"}
    ref: dict[str, Any] = {}
    for number, value in _fields(buf):
        if number in names:
            ref[names[number]] = _str(value)
        elif number in flags:
            ref[flags[number]] = bool(value)
    return ref


def _object_meta(buf: bytes) -> dict[str, Any]:
    strings = {1: "name", 2: "generateName", 3: "namespace", 6: "resourceVersion"}
    meta: dict[str, Any] = {}
    for number, value in _fields(buf):
        if number in strings and _str(value):
            meta[strings[number]] = _str(value)
        elif number in (11, 12):
            key, val = _map_entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = val.decode()
        elif number == 13 and isinstance(value, bytes):
            meta.setdefault("ownerReferences", []).append(_owner_reference(value))
        elif number == 14:
            meta.setdefault("finalizers", []).append(_str(value))
    return meta


def _config_map(buf: bytes, obj: dict[str, Any]) -> None:
    for number, value in _fields(buf):
        if number == 2:
            key, val = _map_entry(value)
            obj.setdefault("data", {})[key] = val.decode()
        elif number == 3:
            key, val = _map_entry(value)
            obj.setdefault("binaryData", {})[key] = base64.b64encode(val).decode()
        elif number == 4:
            obj["immutable"] = bool(value)


def _secret(buf: bytes, obj: dict[str, Any]) -> None:
    for number, value in _fields(buf):
        if number == 2:
            key, val = _map_entry(value)
            obj.setdefault("data", {})[key] = base64.b64encode(val).decode()
        elif number == 3 and _str(value):
            obj["type"] = _str(value)
        elif number == 4:
            key, val = _map_entry(value)
            obj.setdefault("stringData", {})[key] = val.decode()
        elif number == 5:
            obj["immutable"] = bool(value)


def _namespace(buf: bytes, obj: dict[str, Any]) -> None:
    for number, value in _fields(buf):
        if number == 2 and isinstance(value, bytes):
            finalizers = [_str(v) for n, v in _fields(value) if n == 1]
            if finalizers:
                obj["spec"] = {"finalizers": finalizers}


def _service_account(buf: bytes, obj: dict[str, Any]) -> None:
    for number, value in _fields(buf):
        if number == 4:
            obj["automountServiceAccountToken"] = bool(value)
        elif number in (2, 3) and isinstance(value, bytes):
            # secrets are ObjectReferences (name is field 3), imagePullSecrets LocalObjectReferences (field 1)
            name_field = 3 if number == 2 else 1
            names = [_str(v) for n, v in _fields(value) if n == name_field]
            ref = {"name": names[-1]} if names else {}
            obj.setdefault("secrets" if number == 2 else "imagePullSecrets", []).append(ref)


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


def _policy_rule(buf: bytes) -> dict[str, Any]:
    """PolicyRule: verbs 1, apiGroups 2, resources 3, resourceNames 4, nonResourceURLs 5 (all repeated;
    a rule's `apiGroups: [""]` is one empty string, kept)."""
    names = {1: "verbs", 2: "apiGroups", 3: "resources", 4: "resourceNames", 5: "nonResourceURLs"}
    rule: dict[str, Any] = {}
    for number, value in _fields(buf):
        if number in names:
            rule.setdefault(names[number], []).append(_str(value))
    return rule


def _label_selector(buf: bytes) -> dict[str, Any]:
    """LabelSelector: matchLabels 1 (map), matchExpressions 2 {key 1, operator 2, values 3}."""
    selector: dict[str, Any] = {}
    for number, value in _fields(buf):
        if number == 1:
            key, val = _map_entry(value)
            selector.setdefault("matchLabels", {})[key] = val.decode()
        elif number == 2 and isinstance(value, bytes):
            selector.setdefault("matchExpressions", []).append(_message(value, {1: "key", 2: "operator"}, {3: "values"}))
    return selector


def _role(buf: bytes, obj: dict[str, Any]) -> None:
    """Role and ClusterRole: rules 2, aggregationRule 3 {clusterRoleSelectors 1}."""
    for number, value in _fields(buf):
        if number == 2 and isinstance(value, bytes):
            obj.setdefault("rules", []).append(_policy_rule(value))
        elif number == 3 and isinstance(value, bytes):
            selectors = [_label_selector(v) for n, v in _fields(value) if n == 1 and isinstance(v, bytes)]
            obj["aggregationRule"] = {"clusterRoleSelectors": selectors}


def _binding(buf: bytes, obj: dict[str, Any]) -> None:
    """RoleBinding and ClusterRoleBinding: subjects 2 {kind 1, apiGroup 2, name 3, namespace 4}, roleRef 3
    {apiGroup 1, kind 2, name 3}."""
    for number, value in _fields(buf):
        if number == 2 and isinstance(value, bytes):
            obj.setdefault("subjects", []).append(_message(value, {1: "kind", 2: "apiGroup", 3: "name", 4: "namespace"}))
        elif number == 3 and isinstance(value, bytes):
            obj["roleRef"] = _message(value, {1: "apiGroup", 2: "kind", 3: "name"})


def _trivial(value: int | bytes) -> bool:
    """Whether a field holds only what Go's encoder writes for an unset value: 0, "", or a message of
    such fields (gogo-protobuf writes non-pointer fields even when empty)."""
    if isinstance(value, int):
        return value == 0
    if not value:
        return True
    try:
        return all(_trivial(v) for _n, v in _fields(value))
    except ProtobufError:
        return False


def _known(buf: bytes, what: str, fields: dict[int, Callable[[int | bytes], tuple[str, Any]]],
           repeated: tuple[int, ...] = ()) -> dict[str, Any]:
    """A message of the fields mapped in `fields` (number → (name, value)); one that is set but not
    mapped is refused, never dropped (a Pod template losing its volumes would run something else)."""
    out: dict[str, Any] = {}
    for number, value in _fields(buf):
        if number in fields:
            name, decoded = fields[number](value)
            if number in repeated:
                out.setdefault(name, []).append(decoded)
            elif decoded not in ("", None):
                out[name] = decoded
        elif not _trivial(value):
            raise ProtobufError(f"field {number} of a protobuf {what} is not supported here; send JSON (kubectl -o json | kubectl create -f -)")
    return out


def _named(name: str, decode: Callable[[int | bytes], Any] = _str) -> Callable[[int | bytes], tuple[str, Any]]:
    return lambda value: (name, decode(value))


def _int(value: int | bytes) -> int | None:
    return value if isinstance(value, int) else None


def _container(value: int | bytes) -> dict[str, Any]:
    """Container: name 1, image 2, command 3, args 4, workingDir 5 (what `kubectl create job` sets)."""
    buf = value if isinstance(value, bytes) else b""
    return _known(buf, "Container", {1: _named("name"), 2: _named("image"), 3: _named("command"),
                                     4: _named("args"), 5: _named("workingDir")}, repeated=(3, 4))


def _pod_template(value: int | bytes) -> dict[str, Any]:
    """PodTemplateSpec {metadata 1, spec 2 PodSpec {containers 2, restartPolicy 3, serviceAccountName 8}}."""
    buf = value if isinstance(value, bytes) else b""
    template: dict[str, Any] = {}
    for number, item in _fields(buf):
        if number == 1 and isinstance(item, bytes):
            meta = _object_meta(item)
            if meta:
                template["metadata"] = meta
        elif number == 2 and isinstance(item, bytes):
            template["spec"] = _known(item, "PodSpec", {2: _named("containers", _container),
                                                        3: _named("restartPolicy"), 8: _named("serviceAccountName")},
                                      repeated=(2,))
        elif not _trivial(item):
            raise ProtobufError(f"field {number} of a protobuf PodTemplateSpec is not supported here; send JSON")
    return template


def _job(buf: bytes, obj: dict[str, Any]) -> None:
    """Job: spec 2 {parallelism 1, completions 2, activeDeadlineSeconds 3, template 6, backoffLimit 7,
    ttlSecondsAfterFinished 8} — what `kubectl create job` sends."""
    for number, value in _fields(buf):
        if number == 2 and isinstance(value, bytes):
            obj["spec"] = _known(value, "JobSpec", {
                1: _named("parallelism", _int), 2: _named("completions", _int),
                3: _named("activeDeadlineSeconds", _int), 6: _named("template", _pod_template),
                7: _named("backoffLimit", _int), 8: _named("ttlSecondsAfterFinished", _int)})


_RBAC = "rbac.authorization.k8s.io/v1"
_KINDS: dict[tuple[str, str], Callable[[bytes, dict[str, Any]], None]] = {
    ("v1", "ConfigMap"): _config_map,
    ("v1", "Secret"): _secret,
    ("v1", "Namespace"): _namespace,
    ("v1", "ServiceAccount"): _service_account,
    ("batch/v1", "Job"): _job,
    (_RBAC, "Role"): _role,
    (_RBAC, "ClusterRole"): _role,
    (_RBAC, "RoleBinding"): _binding,
    (_RBAC, "ClusterRoleBinding"): _binding,
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


def is_protobuf(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == "application/vnd.kubernetes.protobuf"


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object; ProtobufError for kinds not mapped here."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    api_version = kind = ""
    raw = b""
    for number, value in _fields(body[len(MAGIC) :]):
        if number == 1 and isinstance(value, bytes):
            for n, v in _fields(value):
                if n == 1:
                    api_version = _str(v)
                elif n == 2:
                    kind = _str(v)
        elif number == 2 and isinstance(value, bytes):
            raw = value
    decoder = _KINDS.get((api_version, kind))
    if decoder is None:
        raise ProtobufError(f"protobuf bodies of {api_version}/{kind} are not supported; send JSON")
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    for number, value in _fields(raw):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = _object_meta(value)
    decoder(raw, obj)
    return obj
