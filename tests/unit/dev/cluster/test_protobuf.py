"""tfcontroller.dev.cluster.protobuf: decoding the protobuf bodies kubectl 1.32's imperative `create`
commands send (captured from the real binary) into the JSON form kubectl would have sent instead
(`--dry-run=client -o json`), the field rules of the table-driven decoder, and refusing kinds and fields
the server cannot decode."""

from __future__ import annotations

import pytest

from tfcontroller.dev.cluster.errors import ApiError
from tfcontroller.dev.cluster.protobuf import MAGIC, ProtobufError, decode, is_protobuf
from tfcontroller.dev.cluster.protobuf.wire import KEEP, PTR, Field, Message, decode_message

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
        "metadata": {"name": "cm1", "namespace": "ns1", "creationTimestamp": None},
        "data": {"a": "b", "c": "d"},
    }
    assert decode(SECRET) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s1", "namespace": "ns1", "creationTimestamp": None},
        "data": {"p": "cQ=="},
        "type": "Opaque",
    }
    assert decode(NAMESPACE) == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nsx", "creationTimestamp": None},
                                 "spec": {}, "status": {}}
    assert decode(SERVICEACCOUNT) == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "sa1", "namespace": "ns1", "creationTimestamp": None},
    }


def test_refuses_garbage() -> None:
    with pytest.raises(ProtobufError):
        decode(b'{"kind": "ConfigMap"}')
    with pytest.raises(ProtobufError):
        decode(CONFIGMAP[:30])


def test_is_protobuf() -> None:
    assert is_protobuf("application/vnd.kubernetes.protobuf")
    assert not is_protobuf("application/json")


# kubectl create role r1 --verb=get,list --resource=secrets,pods/log,deployments.apps --resource-name=a
ROLE = (
    b'k8s\x00\n$\n\x1crbac.authorization.k8s.io/v1\x12\x04Role\x12\\\n\x12\n\x02r1\x12\x00\x1a\x00"\x00*\x002\x008'
    b'\x00B\x00\x12#\n\x03get\n\x04list\x12\x00\x1a\x07secrets\x1a\x08pods/log"\x01a\x12!\n\x03get\n\x04list\x12\x04apps'
    b'\x1a\x0bdeployments"\x01a\x1a\x00"\x00'
)
# kubectl create clusterrole cr1 --aggregation-rule=a=b
AGGREGATED = (
    b'k8s\x00\n+\n\x1crbac.authorization.k8s.io/v1\x12\x0bClusterRole\x12!\n\x13\n\x03cr1\x12\x00\x1a\x00"\x00*\x002'
    b'\x008\x00B\x00\x1a\n\n\x08\n\x06\n\x01a\x12\x01b\x1a\x00"\x00'
)
# kubectl create rolebinding rb1 --role=r1 --serviceaccount=default:default --user=u --group=g
ROLEBINDING = (
    b'k8s\x00\n+\n\x1crbac.authorization.k8s.io/v1\x12\x0bRoleBinding\x12\xb3\x01\n\x13\n\x03rb1\x12\x00\x1a\x00"\x00*'
    b'\x002\x008\x00B\x00\x12&\n\x04User\x12\x19rbac.authorization.k8s.io\x1a\x01u"\x00\x12\'\n\x05Group\x12\x19rbac.'
    b'authorization.k8s.io\x1a\x01g"\x00\x12$\n\x0eServiceAccount\x12\x00\x1a\x07default"\x07default\x1a%\n\x19rbac.'
    b'authorization.k8s.io\x12\x04Role\x1a\x02r1\x1a\x00"\x00'
)
# kubectl create job j1 --image=busybox -- echo hi
JOB = (
    b'k8s\x00\n\x0f\n\x08batch/v1\x12\x03Job\x12\x84\x01\n\x12\n\x02j1\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x12d2b'
    b'\n\x10\n\x00\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x12N\x12+\n\x02j1\x12\x07busybox\x1a\x04echo\x1a\x02hi*\x00B'
    b'\x00j\x00r\x00\x80\x01\x00\x88\x01\x00\x90\x01\x00\xa2\x01\x00\x1a\x05Never2\x00B\x00J\x00R\x00X\x00`\x00h\x00\x82'
    b'\x01\x00\x8a\x01\x00\x9a\x01\x00\xc2\x01\x00\x1a\x08 \x00(\x000\x00:\x00\x1a\x00"\x00'
)
# kubectl create deployment d1 --image=nginx --replicas=0 --port=80
DEPLOYMENT = (
    b'k8s\x00\n\x15\n\x07apps/v1\x12\nDeployment\x12\xb4\x01\n\x1d\n\x02d1\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00Z\t'
    b'\n\x03app\x12\x02d1\x12\x84\x01\x08\x00\x12\x0b\n\t\n\x03app\x12\x02d1\x1ak\n\x1b\n\x00\x12\x00\x1a\x00"\x00*\x002'
    b'\x008\x00B\x00Z\t\n\x03app\x12\x02d1\x12L\x12.\n\x05nginx\x12\x05nginx*\x002\n\n\x00\x10\x00\x18P"\x00*\x00B\x00j'
    b'\x00r\x00\x80\x01\x00\x88\x01\x00\x90\x01\x00\xa2\x01\x00\x1a\x002\x00B\x00J\x00R\x00X\x00`\x00h\x00\x82\x01\x00'
    b'\x8a\x01\x00\x9a\x01\x00\xc2\x01\x00"\x02\n\x00(\x008\x00\x1a\x0c\x08\x00\x10\x00\x18\x00 \x00(\x008\x00\x1a\x00"\x00'
)
# kubectl create service nodeport s3 --tcp=80:8080 --node-port=30001
SERVICE = (
    b'k8s\x00\n\r\n\x02v1\x12\x07Service\x12g\n\x1d\n\x02s3\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00Z\t\n\x03app\x12\x02s3'
    b'\x12B\n\x1d\n\x0780-8080\x12\x03TCP\x18P"\x07\x08\x00\x10\x90?\x1a\x00(\xb1\xea\x01\x12\t\n\x03app\x12\x02s3\x1a\x00'
    b'"\x08NodePort:\x00B\x00R\x00Z\x00`\x00h\x00\x1a\x02\n\x00\x1a\x00"\x00'
)
# kubectl create pdb pdb1 --selector=app=x --min-available=1
PDB = (
    b'k8s\x00\n \n\tpolicy/v1\x12\x13PodDisruptionBudget\x128\n\x14\n\x04pdb1\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00'
    b'\x12\x14\n\x06\x08\x00\x10\x01\x1a\x00\x12\n\n\x08\n\x03app\x12\x01x\x1a\n\x08\x00\x18\x00 \x00(\x000\x00\x1a\x00"\x00'
)
# kubectl create priorityclass pc1 --value=10 (scheduling.k8s.io is not served by the dev cluster)
PRIORITYCLASS = (
    b'k8s\x00\n%\n\x14scheduling.k8s.io/v1\x12\rPriorityClass\x121\n\x13\n\x03pc1\x12\x00\x1a\x00"\x00*\x002\x008\x00B'
    b'\x00\x10\n\x18\x00"\x00*\x14PreemptLowerPriority\x1a\x00"\x00'
)
META = {"creationTimestamp": None}
RBAC = "rbac.authorization.k8s.io"


def test_rbac_bodies_decode_to_their_json_form() -> None:
    assert decode(ROLE) == {
        "kind": "Role", "apiVersion": f"{RBAC}/v1", "metadata": {"name": "r1", **META},
        "rules": [
            {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets", "pods/log"], "resourceNames": ["a"]},
            {"verbs": ["get", "list"], "apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["a"]},
        ],
    }
    # `rules` has no omitempty: an aggregated ClusterRole's is null, as in its JSON form
    assert decode(AGGREGATED) == {
        "kind": "ClusterRole", "apiVersion": f"{RBAC}/v1", "metadata": {"name": "cr1", **META}, "rules": None,
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]},
    }
    assert decode(ROLEBINDING) == {
        "kind": "RoleBinding", "apiVersion": f"{RBAC}/v1", "metadata": {"name": "rb1", **META},
        "subjects": [
            {"kind": "User", "apiGroup": RBAC, "name": "u"},
            {"kind": "Group", "apiGroup": RBAC, "name": "g"},
            {"kind": "ServiceAccount", "name": "default", "namespace": "default"},
        ],
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "r1"},
    }


def test_workload_bodies_decode_to_their_json_form() -> None:
    template_meta = {"creationTimestamp": None}
    assert decode(JOB) == {
        "kind": "Job", "apiVersion": "batch/v1", "metadata": {"name": "j1", **META},
        "spec": {"template": {"metadata": template_meta, "spec": {
            "containers": [{"name": "j1", "image": "busybox", "command": ["echo", "hi"], "resources": {}}],
            "restartPolicy": "Never",
        }}},
        "status": {},
    }
    deployment = decode(DEPLOYMENT)
    assert deployment["spec"]["replicas"] == 0  # a pointer set to zero is kept
    assert deployment["spec"]["strategy"] == {}  # a Go struct is always written
    assert deployment["spec"]["template"]["spec"]["containers"] == [
        {"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}], "resources": {}}
    ]


def test_service_and_pdb_int_or_string_and_kept_zeros() -> None:
    service = decode(SERVICE)
    assert service["spec"] == {
        "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30001}],
        "selector": {"app": "s3"}, "type": "NodePort",
    }
    assert service["status"] == {"loadBalancer": {}}
    pdb = decode(PDB)
    assert pdb["spec"] == {"minAvailable": 1, "selector": {"matchLabels": {"app": "x"}}}
    assert pdb["status"] == {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}


def test_a_kind_not_served_is_not_found() -> None:
    with pytest.raises(ApiError) as info:
        decode(PRIORITYCLASS)
    assert info.value.code == 404 and info.value.message == "the server could not find the requested resource"


def _unknown_of(api_version: str, kind: str, raw: bytes) -> bytes:
    """A runtime.Unknown envelope around `raw`."""
    type_meta = _len(1, api_version.encode()) + _len(2, kind.encode())
    return MAGIC + _len(1, type_meta) + _len(2, raw)


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1  # negative integers: 64-bit two's complement
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _len(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def test_a_served_kind_not_mapped_is_415_naming_it() -> None:
    with pytest.raises(ApiError) as info:
        decode(_unknown_of("v1", "LimitRange", _len(1, _len(1, b"lr"))))
    assert info.value.code == 415
    assert "does not decode protobuf bodies of v1 LimitRange" in info.value.message
    assert "send the object as JSON" in info.value.message


def test_an_unknown_field_is_refused_with_its_path_unless_zero() -> None:
    # PodSpec field 18 (affinity, not mapped) set: refused, naming where it is
    container = _len(2, _len(1, b"c"))
    job = _len(1, _len(1, b"j")) + _len(2, _len(6, _len(2, container + _len(18, _len(1, b"x")))))
    with pytest.raises(ApiError) as info:
        decode(_unknown_of("batch/v1", "Job", job))
    assert info.value.code == 415
    assert "field 18 of PodSpec (at spec.template.spec)" in info.value.message
    # deeper: Container field 23 (resizePolicy) names the list it sits in
    resize = _len(2, _len(1, b"c") + _len(23, _len(1, b"cpu")))
    with pytest.raises(ApiError) as info:
        decode(_unknown_of("batch/v1", "Job", _len(2, _len(6, _len(2, resize)))))
    assert "field 23 of Container (at spec.template.spec.containers[])" in info.value.message
    # the same field holding only zeros is what gogo writes for an unset struct: skipped
    zero = _len(2, _len(6, _len(2, container + _len(18, _varint_field(1, 0)))))
    assert decode(_unknown_of("batch/v1", "Job", _len(1, _len(1, b"j")) + zero))["spec"]["template"]["spec"][
        "containers"] == [{"name": "c", "resources": {}}]


def test_field_shapes() -> None:
    """omitempty drops zeros, fields without it keep them, pointers keep what is on the wire; negative
    integers travel as 64-bit two's complement; times are RFC 3339 and the zero time is null."""
    limits = Message("T", {
        1: Field("omitted", "int"), 2: Field("kept", "int", KEEP), 3: Field("pointer", "int", PTR),
        4: Field("negative", "int", PTR), 5: Field("list", "str", KEEP, repeated=True), 6: Field("when", "time", KEEP),
    })
    assert decode_message(_varint_field(1, 0) + _varint_field(3, 0) + _varint_field(4, -5), limits) == {
        "kept": 0, "pointer": 0, "negative": -5, "list": None, "when": None,
    }
    stamp = _len(6, _varint_field(1, 1700000000))
    assert decode_message(stamp, limits)["when"] == "2023-11-14T22:13:20Z"


def test_repeated_integers_packed_or_not() -> None:
    groups = Message("G", {4: Field("supplementalGroups", "int", repeated=True)})
    unpacked = _varint_field(4, 3000) + _varint_field(4, 3001)
    packed = _len(4, _varint(3000) + _varint(3001))
    assert decode_message(unpacked, groups) == decode_message(packed, groups) == {"supplementalGroups": [3000, 3001]}
