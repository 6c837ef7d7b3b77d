"""Helpers for the ManifestSet controller tests: the `Env` behind the `ms_env` fixture (dev cluster with the CRDs, a
KubeClient, and `start()` for a real in-process manager built by `controllers.setup.build_manager`,
stopped at teardown), builders for ManifestSet/Terraform objects, a git repository seeded with the
seed-article overlays, status readers and kubectl on the dev cluster. The `ms_env` fixture that builds an
`Env` lives in tests/fixtures/manifestset.py."""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.kstatus import assert_kstatus
from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for
from tfcontroller.api import conditions as c
from tfcontroller.api.times import format_rfc3339
from tfcontroller.controllers.gitrepository import GitRepositoryOptions
from tfcontroller.controllers.setup import ControllerManager, ControllerOptions, build_manager
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, MANIFESTSETS, NAMESPACES, SECRETS, TERRAFORMS

ROOT = REPO_ROOT
EXAMPLE_APP = ROOT / "examples" / "apps" / "sample-app"


@dataclass
class Env:
    kube: KubeClient
    kubeconfig: str
    tmp_path: Path
    managers: list[ControllerManager] = field(default_factory=list)

    def start(self) -> ControllerManager:
        return self.run(self.start_unstarted())

    def start_unstarted(self) -> ControllerManager:
        """A built manager, not yet started (to add controllers `build_manager` does not register)."""
        opts = ControllerOptions(namespace=None, concurrent=2, artifact_dir=str(self.tmp_path / "artifacts"),
                                 retry_base=0.2, retry_cap=2.0, shutdown_grace=10.0,
                                 gitrepository=GitRepositoryOptions(ls_remote_ttl=0.5))
        mgr = build_manager(opts, self.kube)
        self.managers.append(mgr)
        return mgr

    def run(self, mgr: ControllerManager) -> ControllerManager:
        mgr.start()
        assert mgr.wait_synced(10), "informers did not sync"
        return mgr


def gitrepo(name: str, url: str, ref: dict[str, str], interval: str = "1s") -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "GitRepository",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"url": url, "ref": ref, "interval": interval}}


def example_files(prefix: str = "apps/sample-app") -> dict[str, str]:
    """The seed-article layout (base + three overlays) as repository files under `prefix`."""
    return {f"{prefix}/{p.relative_to(EXAMPLE_APP).as_posix()}": p.read_text()
            for p in sorted(EXAMPLE_APP.rglob("*")) if p.is_file()}


def manifestset(name: str, path: str, source: str = "repo", interval: str = "1s", **spec: Any) -> dict[str, Any]:
    body = {"sourceRef": {"kind": "GitRepository", "name": source}, "path": path, "interval": interval,
            "retryInterval": "1s", **spec}
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "ManifestSet",
            "metadata": {"name": name, "namespace": "default"}, "spec": body}


def create_source(kube: KubeClient, url: str, name: str = "repo") -> None:
    kube.create(GITREPOSITORIES, gitrepo(name, url, {"branch": "main"}, interval="1s"))


def ensure_namespace(kube: KubeClient, name: str) -> None:
    if kube.get_or_none(NAMESPACES, name) is None:
        kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def ms_status(kube: KubeClient, name: str) -> dict[str, Any]:
    obj = kube.get_or_none(MANIFESTSETS, name, "default")
    assert_kstatus(obj)
    return (obj or {}).get("status") or {}


def ms_ready(kube: KubeClient, name: str) -> c.Condition | None:
    return c.find(ms_status(kube, name).get("conditions"), c.READY)


def wait_ms(kube: KubeClient, name: str, status: str, reason: str | None = None, timeout: float = 20.0,
            contains: str | None = None) -> c.Condition:
    def check() -> c.Condition | None:
        cond = ms_ready(kube, name)
        if cond is None or cond.status != status or (reason and cond.reason != reason):
            return None
        if contains and contains not in cond.message:
            return None
        return cond

    try:
        return wait_for(check, timeout, f"ManifestSet {name} Ready={status} {reason or ''} {contains or ''}")
    except AssertionError:
        raise AssertionError(f"ManifestSet {name}: Ready is {ms_ready(kube, name)}") from None


def wait_revision(kube: KubeClient, name: str, commit: str, timeout: float = 20.0) -> None:
    wait_for(lambda: commit in (ms_status(kube, name).get("lastAppliedRevision") or ""), timeout,
             f"ManifestSet {name} to apply {commit[:8]}")


def fake_terraform(kube: KubeClient, name: str, outputs_secret: str) -> dict[str, Any]:
    """A suspended Terraform (no controller acts on it) that the test makes Ready by patching status,
    standing in for the Terraform controller."""
    obj = {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"sourceRef": {"kind": "GitRepository", "name": "none"}, "path": "./", "interval": "1h",
                    "approvePlan": "auto", "suspend": True, "writeOutputsToSecret": {"name": outputs_secret}}}
    return kube.create(TERRAFORMS, obj)


def set_terraform_ready(kube: KubeClient, name: str, ready: bool, revision: str = "main@sha1:" + "a" * 40) -> None:
    obj = kube.get(TERRAFORMS, name, "default")
    cond = {"type": "Ready", "status": "True" if ready else "False",
            "reason": "ApplySucceeded" if ready else "Progressing", "message": "test stand-in",
            "lastTransitionTime": format_rfc3339(), "observedGeneration": obj["metadata"]["generation"]}
    kube.patch_status(TERRAFORMS, name, "default", {
        "conditions": [cond], "observedGeneration": obj["metadata"]["generation"],
        "lastAppliedRevision": revision})


def write_outputs(kube: KubeClient, secret: str, terraform: str, values: dict[str, str]) -> None:
    kube.upsert_secret("default", secret, {k: v.encode() for k, v in values.items()},
                       labels={"tfcontroller.io/terraform": terraform})


def secret_exists(kube: KubeClient, name: str) -> bool:
    return kube.get_or_none(SECRETS, name, "default") is not None


def kubectl(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=60)


def events_for(kube: KubeClient, name: str, reason: str) -> list[dict[str, Any]]:
    from tfcontroller.kube.resources import EVENTS

    items = kube.list(EVENTS, "default").get("items") or []
    return [e for e in items if (e.get("involvedObject") or {}).get("name") == name and e.get("reason") == reason]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()

