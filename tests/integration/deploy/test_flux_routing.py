"""Routing our events through Flux (docs/notifications.md, "Routing through Flux"): the kustomize patch the
page gives for Flux's Alert CRD, and deploy/flux/notification-controller-rbac.yaml, checked with the real
`kubectl kustomize` and the dev cluster.

- The documented patch, built over a trimmed stand-in of Flux's Alert CRD (tests/fixtures/flux/), adds
  Terraform and ManifestSet to eventSources[].kind of every version, and the API server then accepts an
  Alert naming them (it refuses one before the patch: the enum is the whole problem).
- Its `test` operations make the build fail when the CRD's versions are not the ones the patch was written
  for (another Flux release), instead of patching the wrong version.
- notification-controller's ServiceAccount may read our workload kinds (for eventSources[].matchLabels)
  and nothing else of ours, and no Secret.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.devcluster import install_crds
from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, Forbidden, Unprocessable
from tfcontroller.kube.resources import CRDS, NOTIFICATIONRULES, SECRETS, TERRAFORMS, Resource

DOC = REPO_ROOT / "docs" / "notifications.md"
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "flux" / "alerts-crd.yaml"
READER = REPO_ROOT / "deploy" / "flux" / "notification-controller-rbac.yaml"
ALERTS = Resource("notification.toolkit.fluxcd.io/v1beta3", "Alert", "alerts")
OUR_KINDS = ["Terraform", "ManifestSet"]


def documented_kustomization() -> str:
    """The YAML block after the `<!-- flux-alert-patch -->` marker of docs/notifications.md."""
    found = re.search(r"<!-- flux-alert-patch -->\s*```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert found, "docs/notifications.md lost its flux-alert-patch block"
    return found.group(1)


def _build(tmp: Path, crd_text: str) -> subprocess.CompletedProcess[str]:
    """`kubectl kustomize` of the documented kustomization over `crd_text` as Flux's gotk-components.yaml."""
    (tmp / "gotk-components.yaml").write_text(crd_text)
    (tmp / "gotk-sync.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: flux-system}\n")
    (tmp / "kustomization.yaml").write_text(documented_kustomization())
    env = {**os.environ, "HOME": str(tmp), "KUBECACHEDIR": str(tmp / "kube-cache")}
    env.pop("KUBECONFIG", None)
    return subprocess.run(["kubectl", "kustomize", str(tmp)], capture_output=True, text=True, env=env, timeout=120)


def _patched_crd(tmp: Path) -> dict[str, Any]:
    proc = _build(tmp, FIXTURE.read_text())
    assert proc.returncode == 0, proc.stderr
    (crd,) = [d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] == "CustomResourceDefinition"]
    return crd


def _kinds(version: dict[str, Any]) -> list[str]:
    props = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    return list(props["eventSources"]["items"]["properties"]["kind"]["enum"])


def alert(kind: str) -> dict[str, Any]:
    return {"apiVersion": ALERTS.api_version, "kind": "Alert", "metadata": {"name": "tf-errors", "namespace": "team-a"},
            "spec": {"providerRef": {"name": "slack"}, "eventSeverity": "error",
                     "eventSources": [{"kind": kind, "name": "*", "matchLabels": {"team": "a"}}]}}


def test_the_patch_adds_our_kinds_to_every_version(tmp_path: Path) -> None:
    crd = _patched_crd(tmp_path)
    assert [v["name"] for v in crd["spec"]["versions"]] == ["v1beta2", "v1beta3"]
    for version in crd["spec"]["versions"]:
        kinds = _kinds(version)
        assert kinds[-2:] == OUR_KINDS and "Kustomization" in kinds, version["name"]


@pytest.mark.parametrize("versions", [["v1beta3"], ["v1beta1", "v1beta2", "v1beta3"]])
def test_the_patch_refuses_a_crd_of_other_versions(tmp_path: Path, versions: list[str]) -> None:
    """Another Flux release (fewer or more Alert versions): the build fails on a `test` operation, nothing
    is patched at the wrong index."""
    crd = yaml.safe_load(FIXTURE.read_text())
    template = crd["spec"]["versions"][-1]
    crd["spec"]["versions"] = [{**template, "name": name, "storage": name == versions[-1]} for name in versions]
    proc = _build(tmp_path, yaml.safe_dump(crd))
    assert proc.returncode != 0
    assert "test failed" in proc.stderr or "testing value" in proc.stderr, proc.stderr


def test_flux_accepts_an_alert_for_our_kinds_once_patched(kube: KubeClient, tmp_path: Path) -> None:
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}, field_manager="test")
    kube.create(CRDS, yaml.safe_load(FIXTURE.read_text()))  # Flux as installed: its kinds only
    _wait_served(kube)
    for kind in OUR_KINDS:
        with pytest.raises(Unprocessable) as info:
            kube.create(ALERTS, alert(kind))
        assert "kind" in info.value.message
    kube.apply(_patched_crd(tmp_path), field_manager="test", force=True)
    for kind in OUR_KINDS:
        created = kube.create(ALERTS, {**alert(kind), "metadata": {"name": f"{kind.lower()}-errors",
                                                                     "namespace": "team-a"}})
        assert created["spec"]["eventSources"][0]["kind"] == kind


def _wait_served(kube: KubeClient) -> None:
    def served() -> bool:
        try:
            kube.list(ALERTS, "default")
        except ApiError:  # not served yet
            return False
        return True

    wait_for(served, timeout=30, what="the Alert CRD is served")


def test_notification_controller_reads_our_workloads_only(kube: KubeClient) -> None:
    install_crds(kube)
    for ns in ("flux-system", "team-a"):
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, field_manager="test")
    for doc in yaml.safe_load_all(READER.read_text()):
        kube.apply(doc, field_manager="test", force=True)
    kube.create(TERRAFORMS, {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
                             "metadata": {"name": "orders", "namespace": "team-a", "labels": {"team": "a"}},
                             "spec": {"sourceRef": {"name": "repo"}, "interval": "5m", "suspend": True}})
    flux = kube.impersonating("system:serviceaccount:flux-system:notification-controller")
    assert flux.get(TERRAFORMS, "orders", "team-a")["metadata"]["labels"] == {"team": "a"}
    for res in (SECRETS, NOTIFICATIONRULES):
        with pytest.raises(Forbidden):
            flux.list(res, "team-a")
    with pytest.raises(Forbidden):
        flux.patch(TERRAFORMS, "orders", {"metadata": {"annotations": {"x": "y"}}}, "team-a")
