"""crds/ on the development API server through the real kubectl: `apply -f crds/` succeeds and
registers the kinds (short names, category, printer columns), the documented examples apply with
defaults filled in, and invalid objects (`interval: banana`, no `sourceRef`, the docs' invalid
examples) are rejected with a message naming the field."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT
from tfcontroller.dev.cluster import DevCluster

ROOT = REPO_ROOT
EXAMPLES = ROOT / "docs" / "api-examples"
CRD_NAMES = ["gitrepositories.tfcontroller.io", "terraforms.tfcontroller.io", "manifestsets.tfcontroller.io",
             "planpolicies.tfcontroller.io", "policyexceptions.tfcontroller.io",
             "notificationproviders.tfcontroller.io", "notificationrules.tfcontroller.io"]

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def _kubectl_with_crds(tmp_path: Path) -> Iterator[Kubectl]:
    """kubectl against a fresh TLS dev cluster (kubectl sends tokens only over TLS), private cache and
    HOME, with the project's CRDs applied and established."""
    env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "kube-cache"), "HOME": str(tmp_path)}
    env.pop("KUBECONFIG", None)
    with DevCluster(tls=True) as cluster:

        def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
            proc = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, *args], input=stdin,
                                  capture_output=True, text=True, env=env, timeout=60)
            if check and proc.returncode != 0:
                raise AssertionError(f"kubectl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
            return proc

        out = run("apply", "-f", str(ROOT / "crds")).stdout
        for name in CRD_NAMES:
            assert f"customresourcedefinition.apiextensions.k8s.io/{name} created" in out
        run("wait", "--for=condition=Established", "--timeout=20s", *(f"crd/{n}" for n in CRD_NAMES))
        yield run


@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[Kubectl]:
    """A cluster of its own, for tests that create objects."""
    yield from _kubectl_with_crds(tmp_path)


@pytest.fixture(scope="module")
def rejecting_kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    """One cluster shared by the tests whose objects must all be refused (they leave nothing behind)."""
    yield from _kubectl_with_crds(tmp_path_factory.mktemp("rejecting"))


def test_crds_registered_with_short_names_and_category(kubectl: Kubectl) -> None:
    resources = kubectl("api-resources", "--api-group=tfcontroller.io", "-o", "wide").stdout
    for line in ("gitrepositories", "terraforms", "manifestsets", "planpolicies", "policyexceptions",
                 "notificationproviders", "notificationrules"):
        assert line in resources
    for short in ("gitrepo", "tf", "ms", "pp", "pex", "tfnp", "tfnr"):
        assert re.search(rf"\b{short}\b", resources), resources
    assert kubectl("get", "tfcontroller", "-A").returncode == 0
    # a second apply is a no-op
    again = kubectl("apply", "-f", str(ROOT / "crds")).stdout
    assert again.count("unchanged") == len(CRD_NAMES)


def test_examples_apply_and_get_defaults(kubectl: Kubectl) -> None:
    out = kubectl("apply", "-f", str(EXAMPLES)).stdout
    for created in ("gitrepository.tfcontroller.io/infra created", "terraform.tfcontroller.io/bucket created",
                    "terraform.tfcontroller.io/queue created", "manifestset.tfcontroller.io/app created",
                    "planpolicy.tfcontroller.io/protect-data created", "planpolicy.tfcontroller.io/tags-warn created",
                    "policyexception.tfcontroller.io/retire-orders-table created",
                    "notificationprovider.tfcontroller.io/platform-slack created",
                    "notificationrule.tfcontroller.io/errors-by-mail created"):
        assert created in out
    slack = json.loads(kubectl("get", "tfnp", "platform-slack", "-o", "json").stdout)
    assert slack["spec"]["timeout"] == "15s" and slack["spec"]["rateLimit"] == {"messages": 10, "per": "1m"}
    mail_rule = json.loads(kubectl("get", "tfnr", "errors-by-mail", "-o", "json").stdout)
    assert mail_rule["spec"]["severity"] == "error"
    rule = json.loads(kubectl("get", "notificationrule", "plans-to-slack", "-o", "json").stdout)
    assert rule["spec"]["severity"] == "info"  # default
    policy = json.loads(kubectl("get", "pp", "tags-warn", "-o", "json").stdout)
    assert (policy["spec"]["failurePolicy"], policy["spec"]["timeout"]) == ("Closed", "5s")  # defaults
    queue = json.loads(kubectl("get", "tf", "queue", "-o", "json").stdout)
    assert queue["spec"]["workspace"] == "default"
    assert queue["spec"]["sourceRef"]["kind"] == "GitRepository"
    assert queue["spec"]["vars"][1]["value"] == 60
    bucket = json.loads(kubectl("get", "terraform", "bucket", "-o", "json").stdout)
    assert bucket["spec"]["vars"][1]["value"] == {"team": "platform", "cost-center": 42}
    names = kubectl("get", "tfcontroller", "-o", "name").stdout.split()
    assert "gitrepository.tfcontroller.io/modules" in names and "manifestset.tfcontroller.io/app" in names
    assert "unchanged" in kubectl("apply", "-f", str(EXAMPLES / "terraform-auto.yaml")).stdout


def test_printer_columns(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(EXAMPLES / "terraform-auto.yaml"))
    status = {"status": {"lastAppliedRevision": "main@sha1:" + "a" * 40,
                         "plan": {"pending": "plan-main-0123456789-abcdef01"},
                         "conditions": [{"type": "Ready", "status": "False", "reason": "PlanPending",
                                         "message": "Plan waiting for approval",
                                         "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}
    kubectl("patch", "tf", "queue", "--subresource=status", "--type=merge", "-p", json.dumps(status))
    header, row = kubectl("get", "tf", "queue").stdout.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "REVISION", "PLAN", "AGE"]
    assert row.startswith("queue") and "False" in row and "Plan waiting for approval" in row
    assert "plan-main-0123456789-abcdef01" in row and "main@sha1:" in row


def test_notification_printer_columns(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(EXAMPLES / "notificationprovider.yaml"), "-f", str(EXAMPLES / "notificationrule.yaml"))
    ready = {"type": "Ready", "status": "False", "reason": "DeliveryRejected", "message": "HTTP 400 from x: bad",
             "lastTransitionTime": "2024-01-01T00:00:00Z"}
    kubectl("patch", "tfnp", "audit-webhook", "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": {"conditions": [ready]}}))
    header, *rows = kubectl("get", "tfnp").stdout.splitlines()
    assert header.split() == ["NAME", "TYPE", "READY", "STATUS", "AGE"]
    row = next(r for r in rows if r.startswith("audit-webhook"))
    assert row.split()[1:3] == ["webhook", "False"] and "HTTP 400 from x: bad" in row
    kubectl("patch", "tfnr", "plans-to-slack", "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": {"pendingCount": 3, "sent": 7, "failed": 2, "conditions": [ready | {"status": "True",
                                                                                     "reason": "RuleReady",
                                                                                     "message": "ok"}]}}))
    header, *rows = kubectl("get", "tfnr").stdout.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "PENDING", "SENT", "FAILED", "AGE"]
    row = next(r for r in rows if r.startswith("plans-to-slack"))
    assert row.split()[1:6] == ["True", "ok", "3", "7", "2"]


def test_banana_interval_rejected_naming_the_field(rejecting_kubectl: Kubectl) -> None:
    kubectl = rejecting_kubectl
    manifest = (EXAMPLES / "terraform-auto.yaml").read_text().replace("interval: 5m", "interval: banana")
    proc = kubectl("apply", "-f", "-", stdin=manifest, check=False)
    assert proc.returncode != 0
    assert 'The Terraform "queue" is invalid' in proc.stderr
    assert 'spec.interval: Invalid value: "banana"' in proc.stderr


def test_missing_source_ref_rejected_naming_the_field(rejecting_kubectl: Kubectl) -> None:
    kubectl = rejecting_kubectl
    proc = kubectl("apply", "-f", str(EXAMPLES / "invalid" / "terraform-no-sourceref.yaml"), check=False)
    assert proc.returncode != 0
    assert "spec.sourceRef: Required value" in proc.stderr


@pytest.mark.parametrize("path", sorted((EXAMPLES / "invalid").glob("*.yaml")), ids=lambda p: p.name)
def test_invalid_examples_rejected(rejecting_kubectl: Kubectl, path: Path) -> None:
    kubectl = rejecting_kubectl
    field = re.search(r"^# expect-invalid: (\S+)$", path.read_text(), re.M)
    assert field
    proc = kubectl("create", "-f", str(path), check=False)
    assert proc.returncode != 0
    assert f"{field.group(1)}: " in proc.stderr, proc.stderr
    assert kubectl("get", "tfcontroller", "-A", "-o", "name").stdout.strip() == ""
