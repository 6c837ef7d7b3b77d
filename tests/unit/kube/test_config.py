"""The operator CLI's static kubeconfig loader (`kube.config.load_static`) against `kubernetes`' own loader:
for every kind of static credential both give the same server, Authorization header and TLS material,
and every kubeconfig the static loader does not understand (plugins, proxies, unknown keys, a missing
context) is left to `kubernetes` (None), so no kubeconfig is read two ways."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.config import load_configuration, load_static

CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n").decode()
CERT = base64.b64encode(b"client certificate").decode()
KEY = base64.b64encode(b"client key").decode()


def _kubeconfig(tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any], name: str = "config") -> str:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "k", "cluster": cluster}], "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "team"}},
                        {"name": "other", "context": {"cluster": "k", "user": "u"}}]}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


STATIC_CASES = {
    "token over https with CA data": ({"server": "https://k.example:6443", "certificate-authority-data": CA},
                                      {"token": "abc"}),
    "token file": ({"server": "https://k.example:6443/", "certificate-authority-data": CA}, {"tokenFile": "tok"}),
    "client certificate data": ({"server": "https://k.example", "certificate-authority-data": CA},
                                {"client-certificate-data": CERT, "client-key-data": KEY}),
    "client certificate files, relative paths": ({"server": "https://k.example", "certificate-authority": "ca.crt"},
                                                  {"client-certificate": "c.crt", "client-key": "c.key"}),
    "basic auth, insecure": ({"server": "https://k.example", "insecure-skip-tls-verify": True},
                             {"username": "admin", "password": "s3cret"}),
    "plain http, no user credentials": ({"server": "http://127.0.0.1:8080"}, {}),
}


@pytest.mark.parametrize("case", sorted(STATIC_CASES))
def test_static_loader_matches_kubernetes(tmp_path: Path, case: str) -> None:
    (tmp_path / "tok").write_text("from-file")  # kubernetes keeps a trailing newline; client-go trims it, as we do
    (tmp_path / "ca.crt").write_bytes(base64.b64decode(CA))
    (tmp_path / "c.crt").write_bytes(b"cert file")
    (tmp_path / "c.key").write_bytes(b"key file")
    cluster, user = STATIC_CASES[case]
    path = _kubeconfig(tmp_path, cluster, user)
    static = load_static(path)
    assert static is not None
    real = load_configuration(path)
    assert static.host == real.host.rstrip("/")
    assert static.verify_ssl == real.verify_ssl
    assert _read(static.ssl_ca_cert) == _read(real.ssl_ca_cert)
    assert _read(static.cert_file) == _read(real.cert_file)
    assert _read(static.key_file) == _read(real.key_file)
    fast, slow = KubeClient(static), KubeClient(real)
    try:
        assert fast._headers(None).get("Authorization") == slow._headers(None).get("Authorization")
    finally:
        fast.close()
        slow.close()


def test_static_loader_follows_the_named_context(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path, {"server": "https://k.example"}, {"token": "abc"})
    assert load_static(path, "other") is not None
    assert load_static(path, "absent") is None  # kubernetes' loader says which context is missing


@pytest.mark.parametrize("user", [
    {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "aws"}},
    {"auth-provider": {"name": "oidc"}},
    {"token": "abc", "as": "someone"},
])
def test_plugins_and_unknown_keys_are_left_to_kubernetes(tmp_path: Path, user: dict[str, Any]) -> None:
    assert load_static(_kubeconfig(tmp_path, {"server": "https://k.example"}, user)) is None


@pytest.mark.parametrize("cluster", [
    {"server": "https://k.example", "proxy-url": "http://proxy:3128"},
    {"server": "https://k.example", "tls-server-name": "kube"},
    {"certificate-authority-data": CA},
])
def test_cluster_settings_it_does_not_know_are_left_to_kubernetes(tmp_path: Path, cluster: dict[str, Any]) -> None:
    assert load_static(_kubeconfig(tmp_path, cluster, {"token": "abc"})) is None


def test_unreadable_kubeconfig_is_left_to_kubernetes(tmp_path: Path) -> None:
    (tmp_path / "bad").write_text("{not yaml")
    assert load_static(str(tmp_path / "bad")) is None
    assert load_static(str(tmp_path / "absent")) is None
