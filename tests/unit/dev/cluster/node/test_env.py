"""The container environment as a kubelet builds it, on plain dicts."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest

from tfcontroller.dev.cluster.node import env

POD = {"metadata": {"name": "web", "namespace": "team", "uid": "u-1", "labels": {"app": "a", "tier": "b"},
                    "annotations": {"note": "n"}},
       "spec": {"nodeName": "dev-node", "serviceAccountName": "runner",
                "containers": [{"name": "c", "resources": {"limits": {"memory": "128Mi", "cpu": "500m"},
                                                           "requests": {"cpu": "250m"}}}]},
       "status": {"hostIP": "127.0.0.1", "podIP": "127.0.0.1"}}
OBJECTS = {
    ("secrets", "creds"): {"data": {"user": base64.b64encode(b"admin").decode()}},
    ("configmaps", "cfg"): {"data": {"mode": "fast", "bad-key": "x"}},
}


def lookup(plural: str, name: str) -> dict | None:
    return OBJECTS.get((plural, name))


def build(container: dict, base: dict | None = None) -> dict[str, str]:
    return env.container_env(POD, {"name": "c", **container}, lookup, base or {}, {"memory": "1Gi", "cpu": "2"})


@pytest.mark.parametrize(("text", "want"), [
    ("$(A)", "1"), ("x$(A)y$(B)", "x1y2"), ("$(MISSING)", "$(MISSING)"), ("$$(A)", "$(A)"), ("$(A", "$(A"),
    ("$$", "$"), ("plain", "plain"),
])
def test_expand(text: str, want: str) -> None:
    assert env.expand(text, {"A": "1", "B": "2"}) == want


@pytest.mark.parametrize(("text", "want"), [
    ("128Mi", 128 * 2**20), ("1Gi", 2**30), ("500m", Decimal("0.5")), ("2", 2), ("1k", 1000), ("1e3", 1000),
    ("1.5", Decimal("1.5")),
])
def test_parse_quantity(text: str, want: object) -> None:
    assert env.parse_quantity(text) == want


def test_parse_quantity_refuses_garbage() -> None:
    with pytest.raises(ValueError):
        env.parse_quantity("lots")


def test_values_refs_and_sources_in_kubelet_order() -> None:
    got = build({
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}, {"secretRef": {"name": "creds"}}],
        "env": [{"name": "mode", "value": "override"}, {"name": "REF", "value": "$(CFG_mode)-$(user)"},
                {"name": "U", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}},
                {"name": "M", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}}],
    }, base={"PATH": "/bin"})
    assert got["CFG_mode"] == "fast" and got["user"] == "admin" and got["REF"] == "fast-admin"
    assert got["U"] == "admin" and got["M"] == "fast" and got["PATH"] == "/bin"


@pytest.mark.parametrize(("path", "want"), [
    ("metadata.name", "web"), ("metadata.namespace", "team"), ("metadata.uid", "u-1"),
    ("metadata.labels['app']", "a"), ("metadata.annotations['note']", "n"), ("spec.nodeName", "dev-node"),
    ("spec.serviceAccountName", "runner"), ("status.hostIP", "127.0.0.1"), ("status.podIP", "127.0.0.1"),
    ("metadata.labels", 'app="a"\ntier="b"'),
])
def test_field_refs(path: str, want: str) -> None:
    assert build({"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": path}}}]})["X"] == want


@pytest.mark.parametrize(("ref", "want"), [
    ({"resource": "limits.memory"}, str(128 * 2**20)),
    ({"resource": "limits.memory", "divisor": "1Mi"}, "128"),
    ({"resource": "limits.cpu"}, "1"),  # 0.5 rounded up
    ({"resource": "limits.cpu", "divisor": "1m"}, "500"),
    ({"resource": "requests.cpu", "divisor": "1m"}, "250"),
    ({"resource": "requests.memory", "divisor": "1Mi"}, "128"),  # an unset request is the limit
])
def test_resource_field_refs(ref: dict, want: str) -> None:
    assert build({"env": [{"name": "X", "valueFrom": {"resourceFieldRef": ref}}]})["X"] == want


def test_resource_field_ref_without_limit_is_the_nodes_allocatable() -> None:
    pod = {**POD, "spec": {**POD["spec"], "containers": [{"name": "c"}]}}
    got = env.container_env(pod, {"name": "c", "env": [{"name": "X", "valueFrom": {"resourceFieldRef": {
        "resource": "limits.memory", "divisor": "1Mi"}}}]}, lookup, {}, {"memory": "1Gi"})
    assert got["X"] == "1024"


@pytest.mark.parametrize(("container", "message"), [
    ({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]}, 'secret "nope" not found'),
    ({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}]},
     "couldn't find key k in Secret team/creds"),
    ({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}]},
     'configmap "nope" not found'),
    ({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]},
     "couldn't find key k in ConfigMap team/cfg"),
    ({"envFrom": [{"secretRef": {"name": "nope"}}]}, 'secret "nope" not found'),
    ({"envFrom": [{"configMapRef": {"name": "nope"}}]}, 'configmap "nope" not found'),
])
def test_missing_non_optional_sources_are_config_errors(container: dict, message: str) -> None:
    with pytest.raises(env.ConfigError) as err:
        build(container)
    assert str(err.value) == message


def test_optional_missing_sources_are_skipped() -> None:
    got = build({"envFrom": [{"secretRef": {"name": "nope", "optional": True}}], "env": [
        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}},
        {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k", "optional": True}}},
    ]})
    assert "A" not in got and "B" not in got
