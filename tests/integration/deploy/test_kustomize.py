"""deploy/: the kustomize base renders with plain `kubectl kustomize`, applies to the dev cluster with
`kubectl apply -k`, carries the promised hardening (2 replicas with leader election, probes, 1 GiB limit,
non-root, read-only root with emptyDirs, no capabilities), a comment on every RBAC rule, Deployment flags
that `tfcontroller run` accepts, CRD copies identical to crds/, and a Dockerfile that verifies Terraform."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import REPO_ROOT
from tfcontroller.cli.main import build_parser
from tfcontroller.dev.cluster import DevCluster

ROOT = REPO_ROOT
DEPLOY = ROOT / "deploy"


def _kubectl(*args: str, tmp: Path, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECACHEDIR": str(tmp / "kube-cache"), "HOME": str(tmp)}
    env.pop("KUBECONFIG", None)
    cmd = ["kubectl", *(["--kubeconfig", str(kubeconfig)] if kubeconfig else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    proc = _kubectl("kustomize", str(DEPLOY), tmp=tmp_path_factory.mktemp("kustomize"))
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def _one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def test_renders_every_piece_into_the_namespace(rendered: list[dict[str, Any]]) -> None:
    kinds = sorted(d["kind"] for d in rendered)
    assert kinds == sorted(["Namespace", *["CustomResourceDefinition"] * 7, "ServiceAccount", "ClusterRole",
                            "ClusterRole", "ClusterRole", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service",
                            "Service", "Service"])
    for doc in rendered:
        if doc["kind"] in ("ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"):
            assert doc["metadata"]["namespace"] == "tfcontroller-system"
    crds = {d["metadata"]["name"] for d in rendered if d["kind"] == "CustomResourceDefinition"}
    assert crds == {"gitrepositories.tfcontroller.io", "terraforms.tfcontroller.io", "manifestsets.tfcontroller.io",
                    "planpolicies.tfcontroller.io", "policyexceptions.tfcontroller.io",
                    "notificationproviders.tfcontroller.io", "notificationrules.tfcontroller.io"}
    _one(rendered, "ClusterRole", "tfcontroller-policy-exception-author")  # issue 18, bound by the platform team
    for name in ("tfcontroller-notifications-edit", "tfcontroller-notifications-view"):  # issue 19, aggregated
        assert "rbac.authorization.k8s.io/aggregate-to-edit" in _one(rendered, "ClusterRole", name)["metadata"]["labels"]


def test_crd_copies_match_crds_dir() -> None:
    originals = sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    assert sorted(p.name for p in (DEPLOY / "crds").glob("*.yaml")) == originals
    for name in originals:
        assert (DEPLOY / "crds" / name).read_text() == (ROOT / "crds" / name).read_text(), (
            f"deploy/crds/{name} is out of date; refresh with: cp crds/*.yaml deploy/crds/")


def test_deployment_hardening(rendered: list[dict[str, Any]]) -> None:
    dep = _one(rendered, "Deployment", "tfcontroller")
    spec = dep["spec"]["template"]["spec"]
    assert dep["spec"]["replicas"] == 2
    assert spec["serviceAccountName"] == "tfcontroller"
    assert spec["securityContext"]["runAsNonRoot"] is True
    (container,) = spec["containers"]
    assert "--leader-elect" in container["args"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["limits"]["memory"] == "1Gi"
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]] and "emptyDir" in volumes[mounts["/work"]]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    service = _one(rendered, "Service", "tfcontroller-metrics")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics" and ports["metrics"] == 8080
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items())


def test_deployment_flags_are_accepted_by_tfcontroller_run(rendered: list[dict[str, Any]]) -> None:
    container = _one(rendered, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    args = build_parser().parse_args(["run", *container["args"]])  # ENTRYPOINT is `tfcontroller run`
    assert args.command == "run" and args.leader_elect is True
    assert args.health_addr == ":9440" and args.metrics_addr == ":8080"


def test_every_rbac_rule_has_a_comment(rendered: list[dict[str, Any]]) -> None:
    lines = (DEPLOY / "rbac.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("- apiGroups:"):
            above = lines[i - 1].strip()
            previous_rule_continues = lines[i - 1].startswith("    ") and not above.startswith("#")
            assert above.startswith("#") or previous_rule_continues and _grouped(lines, i), (
                f"rbac.yaml line {i + 1}: a rule without a comment saying what it is for")
    role = _one(rendered, "ClusterRole", "tfcontroller")
    verbs = {(g, r): set(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert "impersonate" in verbs[("", "serviceaccounts")]
    # --runner=pod (issue 15): Terraform takes its locks in the runner Pod; the controller reads, releases
    # (patch) and deletes them, runs Pods (watched by label: an ended runner Pod nobody waits for brings its
    # object back) and checks their tokens, and writes no ConfigMap cluster-wide.
    assert verbs[("coordination.k8s.io", "leases")] == {"get", "patch", "delete"}
    assert verbs[("", "pods")] == {"get", "list", "watch", "create", "delete"}
    assert verbs[("authentication.k8s.io", "tokenreviews")] == {"create"}
    assert verbs[("", "configmaps")] == {"get", "list", "watch"}
    assert ("", "serviceaccounts/token") not in verbs and ("", "pods/log") not in verbs
    own = _one(rendered, "Role", "tfcontroller-leader-election")
    named = {n for rule in own["rules"] if "secrets" in rule["resources"] for n in rule.get("resourceNames", [])}
    assert named == {"tfcontroller-keys", "tfcontroller-run-api"}
    # issue 16: ServiceAccounts only, never users, groups, uids or userextras
    assert [key for key, v in verbs.items() if "impersonate" in v] == [("", "serviceaccounts")]
    assert ("apps", "deployments") not in verbs  # what ManifestSets apply is granted by the cluster admin
    assert not any("*" in rule["verbs"] or "*" in rule["resources"] for rule in role["rules"])
    # issue 18: policies and exceptions are read (and their status written), never created or waived
    for kind in ("planpolicies", "policyexceptions"):
        assert verbs[("tfcontroller.io", kind)] == {"get", "list", "watch"}
        assert verbs[("tfcontroller.io", f"{kind}/status")] == {"get", "patch", "update"}


def _grouped(lines: list[str], i: int) -> bool:
    """A rule directly following another one under the same comment (e.g. the leader-election pair)."""
    j = i - 1
    while j >= 0 and not lines[j].strip().startswith("- apiGroups:"):
        if lines[j].strip().startswith("#"):
            return True
        j -= 1
    return j >= 0 and _grouped(lines, j)


def test_apply_to_dev_cluster(tmp_path: Path) -> None:
    with DevCluster(tls=True) as cluster:  # kubectl sends its token only over TLS
        proc = _kubectl("apply", "-k", str(DEPLOY), tmp=tmp_path, kubeconfig=cluster.kubeconfig)
        assert proc.returncode == 0, proc.stderr
        assert "deployment.apps/tfcontroller created" in proc.stdout
        assert "customresourcedefinition.apiextensions.k8s.io/terraforms.tfcontroller.io created" in proc.stdout
        again = _kubectl("apply", "-k", str(DEPLOY), tmp=tmp_path, kubeconfig=cluster.kubeconfig)
        assert again.returncode == 0, again.stderr
        assert "deployment.apps/tfcontroller unchanged" in again.stdout
        got = _kubectl("get", "deploy,sa,svc,role", "-n", "tfcontroller-system", "-o", "name", tmp=tmp_path,
                       kubeconfig=cluster.kubeconfig)
        assert set(got.stdout.split()) >= {"deployment.apps/tfcontroller", "serviceaccount/tfcontroller",
                                           "service/tfcontroller-metrics",
                                           "role.rbac.authorization.k8s.io/tfcontroller-leader-election"}


def test_dockerfile_verifies_terraform_and_runs_as_non_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r"^ARG TERRAFORM_URL$", text, re.M) and re.search(r"^ARG TERRAFORM_SHA256$", text, re.M)
    assert 'echo "$TERRAFORM_SHA256  /tmp/terraform.zip" | sha256sum -c -' in text
    assert "pip install --no-cache-dir ." in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("root", "0"))
    assert re.search(r'^ENTRYPOINT \["tfcontroller", "run"\]$', text, re.M)


def test_the_optional_label_admission_policy_renders_and_guards_only_label_updates(tmp_path: Path) -> None:
    """deploy/policy-admission (issue 18, docs/policy.md "What a selector can and cannot enforce"): renders on
    its own, is not part of the base, and checks UPDATEs of Terraforms only (the status subresource and
    creations pass), denying. The dev cluster runs no admission policies: the CEL itself is not run here."""
    proc = _kubectl("kustomize", str(DEPLOY / "policy-admission"), tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    policy = _one(docs, "ValidatingAdmissionPolicy", "tfcontroller-protected-terraform-labels")
    binding = _one(docs, "ValidatingAdmissionPolicyBinding", "tfcontroller-protected-terraform-labels")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"] and binding["spec"]["validationActions"] == ["Deny"]
    [rule] = policy["spec"]["matchConstraints"]["resourceRules"]
    assert (rule["apiGroups"], rule["resources"], rule["operations"]) == (["tfcontroller.io"], ["terraforms"], ["UPDATE"])
    assert policy["spec"]["failurePolicy"] == "Fail"
    variables = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}
    assert "tier" in variables["protected"] and "platform-admins" in variables["trusted"]
    base = (DEPLOY / "kustomization.yaml").read_text()
    assert "policy-admission" not in base
