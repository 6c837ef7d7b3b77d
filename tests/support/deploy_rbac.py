"""The controller's client as the ServiceAccount deploy/ installs: deploy/namespace.yaml,
serviceaccount.yaml and rbac.yaml applied to a dev cluster with real kubectl, and a KubeClient holding a
token of `tfcontroller-system/tfcontroller` that records every request the API server refused with 403
(`forbidden`), so a test can assert that a controller needs nothing beyond deploy/'s RBAC. Shared by the
pod-mode test (tests/integration/deploy/test_rbac_pod_mode.py) and the notification provider's
(tests/integration/controllers/notification/test_provider_rbac.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from tests.support.paths import REPO_ROOT
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.cluster.kubeconfig import write_kubeconfig
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import Forbidden

CONTROLLER_NS = "tfcontroller-system"


class RecordingClient(KubeClient):
    """The controller's client, noting every request the API server refused with 403."""

    forbidden: list[str]

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return super().request(method, path, **kwargs)
        except Forbidden as exc:
            self.forbidden.append(f"{method} {path}: {exc.message}")
            raise


def kubectl(cluster: DevCluster, tmp: Path, *args: str) -> str:
    """Run kubectl against the dev cluster (its own cache and HOME under `tmp`); its stdout, or fail."""
    env = {**os.environ, "KUBECACHEDIR": str(tmp / "kube-cache"), "HOME": str(tmp)}
    env.pop("KUBECONFIG", None)
    proc = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, *args], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def controller_client(cluster: DevCluster, tmp: Path) -> tuple[RecordingClient, str]:
    """deploy/'s ServiceAccount and RBAC applied, and a client with a token of that ServiceAccount (and the
    path of its kubeconfig)."""
    for name in ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml"):
        kubectl(cluster, tmp, "apply", "-f", str(REPO_ROOT / "deploy" / name))
    token = kubectl(cluster, tmp, "create", "token", "tfcontroller", "-n", CONTROLLER_NS,
                    "--duration", "3600s").strip()
    path = tmp / "controller.kubeconfig"
    write_kubeconfig(path, cluster.url, token, cluster.ca_pem, namespace=CONTROLLER_NS)
    client = RecordingClient.load(str(path))
    client.forbidden = []
    return client, str(path)
