"""The kubeconfig a DevCluster writes: cluster, user and context all named `dev-cluster`.

With TLS it carries the cluster's CA, so that real clients (kubectl, client-go, Terraform) verify the
server and send the bearer token; tests write one for a ServiceAccount token the same way."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml

NAME = "dev-cluster"


def write_kubeconfig(path: Path, server: str, token: str, ca_pem: bytes | None, namespace: str = "default") -> None:
    cluster: dict[str, str] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": NAME, "cluster": cluster}],
        "users": [{"name": NAME, "user": {"token": token}}],
        "contexts": [{"name": NAME, "context": {"cluster": NAME, "user": NAME, "namespace": namespace}}],
        "current-context": NAME,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds a token
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False)
    os.replace(tmp, path)
