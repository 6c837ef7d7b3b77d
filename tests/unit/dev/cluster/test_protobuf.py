"""tfcontroller.dev.cluster.protobuf: decoding the protobuf bodies kubectl 1.32's imperative `create`
commands send (captured from the real binary) and refusing kinds the server cannot decode."""

from __future__ import annotations

import pytest

from tfcontroller.dev.cluster.protobuf import ProtobufError, decode, is_protobuf

# kubectl create configmap cm1 --from-literal=a=b --from-literal=c=d -n ns1
CONFIGMAP = (
    b'k8s\x00\n\x0f\n\x02v1\x12\tConfigMap\x12(\n\x16\n\x03cm1\x12\x00\x1a\x03ns1"\x00*\x002\x008\x00B\x00'
    b'\x12\x06\n\x01a\x12\x01b\x12\x06\n\x01c\x12\x01d\x1a\x00"\x00'
)
# kubectl create secret generic s1 --from-literal=p=q --type=Opaque -n ns1
SECRET = (
    b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12'\n\x15\n\x02s1\x12\x00\x1a\x03ns1\"\x00*\x002\x008\x00B\x00"
    b'\x12\x06\n\x01p\x12\x01q\x1a\x06Opaque\x1a\x00"\x00'
)
# kubectl create namespace nsx
NAMESPACE = (
    b'k8s\x00\n\x0f\n\x02v1\x12\tNamespace\x12\x1b\n\x13\n\x03nsx\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00'
    b'\x12\x00\x1a\x02\n\x00\x1a\x00"\x00'
)
# kubectl create serviceaccount sa1 -n ns1
SERVICEACCOUNT = (
    b'k8s\x00\n\x14\n\x02v1\x12\x0eServiceAccount\x12\x18\n\x16\n\x03sa1\x12\x00\x1a\x03ns1"\x00*\x002\x008\x00B\x00'
    b'\x1a\x00"\x00'
)


def test_decodes_kubectl_create_bodies() -> None:
    assert decode(CONFIGMAP) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm1", "namespace": "ns1"},
        "data": {"a": "b", "c": "d"},
    }
    assert decode(SECRET) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s1", "namespace": "ns1"},
        "data": {"p": "cQ=="},
        "type": "Opaque",
    }
    assert decode(NAMESPACE) == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nsx"}}
    assert decode(SERVICEACCOUNT) == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "sa1", "namespace": "ns1"},
    }


def test_refuses_other_kinds_and_garbage() -> None:
    deployment = b"k8s\x00\n\x15\n\x07apps/v1\x12\nDeployment\x12\x00"
    with pytest.raises(ProtobufError, match="Deployment"):
        decode(deployment)
    with pytest.raises(ProtobufError):
        decode(b'{"kind": "ConfigMap"}')
    with pytest.raises(ProtobufError):
        decode(CONFIGMAP[:30])


def test_is_protobuf() -> None:
    assert is_protobuf("application/vnd.kubernetes.protobuf")
    assert not is_protobuf("application/json")


def _field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def _envelope(api_version: bytes, kind: bytes, raw: bytes) -> bytes:
    type_meta = _field(1, api_version) + _field(2, kind)
    return b"k8s\x00" + _field(1, type_meta) + _field(2, raw)


def test_a_job_is_decoded_and_an_unmapped_field_refused_not_dropped() -> None:
    container = _field(1, b"main") + _field(2, b"busybox") + _field(3, b"sh") + _field(3, b"-c") + _field(3, b"true")
    pod_spec = _field(2, container) + _field(3, b"Never") + _field(6, b"")  # dnsPolicy "" as Go writes it
    job_spec = _field(6, _field(2, pod_spec)) + bytes([7 << 3, 2])  # backoffLimit 2
    body = _envelope(b"batch/v1", b"Job", _field(1, _field(1, b"j")) + _field(2, job_spec))
    assert decode(body)["spec"] == {"template": {"spec": {
        "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "true"]}],
        "restartPolicy": "Never"}}, "backoffLimit": 2}
    with_volumes = _field(1, _field(1, b"v")) + pod_spec  # volumes (field 1): not mapped
    body = _envelope(b"batch/v1", b"Job", _field(1, _field(1, b"j")) + _field(2, _field(6, _field(2, with_volumes))))
    with pytest.raises(ProtobufError, match="field 1 of a protobuf PodSpec"):
        decode(body)
