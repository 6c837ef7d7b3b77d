"""`seal` finds the namespace of the object the value is for as every other command does (issue 13,
point 10): `-n/--namespace`, else the kubeconfig context's namespace (also offline, with `--cert`), else
`default` — the one rule `kubectx.resolve_namespace`; the sealed value opens for that namespace only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import Run
from tfcontroller.crypto.errors import SealedValueError
from tfcontroller.crypto.keys import ControllerKeys, ensure_keys
from tfcontroller.crypto.sealed import unseal
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient


@pytest.fixture
def keys(kube: KubeClient) -> ControllerKeys:
    return ensure_keys(kube, "default")


def _kubeconfig_in(dev_cluster: DevCluster, tmp_path: Path, namespace: str | None) -> str:
    """The dev cluster's kubeconfig with its context's namespace set to `namespace` (or none)."""
    doc: dict[str, Any] = yaml.safe_load(Path(dev_cluster.kubeconfig).read_text())
    for ctx in doc["contexts"]:
        ctx["context"].pop("namespace", None)
        if namespace:
            ctx["context"]["namespace"] = namespace
    path = tmp_path / f"kubeconfig-{namespace}"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _seal(cli: Run, monkeypatch: pytest.MonkeyPatch, value: bytes, *args: str, kubeconfig: str) -> str:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(value)))
    res = cli("seal", "--name", "app", "--controller-namespace", "default", "--kubeconfig", kubeconfig, *args,
              kubeconfig=False)
    assert res.code == 0, res.err
    return res.out.strip()


@pytest.mark.parametrize(("context_ns", "args", "want"), [
    ("ctx-ns", ["-n", "team"], "team"),
    ("ctx-ns", ["--namespace", "team"], "team"),
    ("ctx-ns", [], "ctx-ns"),
    (None, [], "default"),
])
def test_seal_namespace_follows_the_shared_rule(cli: Run, dev_cluster: DevCluster, keys: ControllerKeys,
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                context_ns: str | None, args: list[str], want: str) -> None:
    kubeconfig = _kubeconfig_in(dev_cluster, tmp_path, context_ns)
    token = _seal(cli, monkeypatch, b"pa55", *args, kubeconfig=kubeconfig)
    assert unseal(keys.sealing_key_pem, want, "app", token) == b"pa55"
    with pytest.raises(SealedValueError):
        unseal(keys.sealing_key_pem, "elsewhere", "app", token)


def test_offline_seal_with_a_saved_certificate_uses_the_context_namespace(
        cli: Run, dev_cluster: DevCluster, keys: ControllerKeys, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    cert = tmp_path / "sealing.pem"
    cert.write_bytes(keys.sealing_cert_pem)
    kubeconfig = _kubeconfig_in(dev_cluster, tmp_path, "ctx-ns")
    token = _seal(cli, monkeypatch, b"offline", "--cert", str(cert), kubeconfig=kubeconfig)
    assert unseal(keys.sealing_key_pem, "ctx-ns", "app", token) == b"offline"


def test_get_and_seal_resolve_the_same_namespace(cli: Run, dev_cluster: DevCluster, tmp_path: Path) -> None:
    """`get` names the namespace it looked in; it is the one `seal` binds to (the same function)."""
    kubeconfig = _kubeconfig_in(dev_cluster, tmp_path, "ctx-ns")
    res = cli("get", "tf", "--kubeconfig", kubeconfig, kubeconfig=False)
    assert res.code == 0 and res.out.strip() == "No terraforms found in namespace ctx-ns."
