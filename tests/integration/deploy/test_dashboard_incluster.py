"""deploy/dashboard/: the in-cluster dashboard as installed, on the dev cluster with its node and an OIDC issuer.

Static: the kustomization renders the ServiceAccount, its least RBAC (TokenReview, impersonation, its session
Secret by name — nothing that reads our kinds), the viewer/approver ClusterRoles, a hardened Deployment whose
command line `tfcontroller dashboard` accepts (in-cluster, the session Secret the Role names), and a Service.

Live: `kubectl apply -k deploy/dashboard --dry-run=server`, then for real; the Deployment's Pod
template run by the dev node as a Pod (the dev cluster makes no Pods for Deployments), so the dashboard runs
exactly as installed — in-cluster config, the projected token of `tfcontroller-dashboard`, non-root, read-only
root (only its address and port are changed, to loopback and a free port, because the dev node shares the
host's network). Through it: a ServiceAccount token and an OIDC id token log in (TokenReview) and, with the
viewer role alone, see the whole Terraform page (no part refused, the stored readable plan's diff masked); an
OIDC user in
the group bound to the approver role approves, and the Terraform's approved-by annotation names that OIDC user
via the dashboard, and the page's live stream (watched as that user) announces it; an OIDC user without that
group sees approve disabled, a forged approval is 403 and changes
nothing; a POST without the CSRF token is refused; a bad token does not log in. The dashboard's own identity
cannot read Terraforms, and its log shows no request of its own refused: its RBAC is enough and no more."""

from __future__ import annotations

import html
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.fixtures.oidc import OIDCIssuer
from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for
from tests.support.sample_plan import SECRETS, drift_plan
from tfcontroller.cli.main import build_parser
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import TERRAFORMS
from tfcontroller.terraform.plan_view import build_plan_view
from tfcontroller.terraform.plan_view_store import save_plan_view

DASHBOARD = REPO_ROOT / "deploy" / "dashboard"
NS = "tfcontroller-system"
TEAM = "team-a"
SA = "tfcontroller-dashboard"
SA_USER = f"system:serviceaccount:{NS}:{SA}"
SESSION_SECRET = "tfcontroller-dashboard-session"
PLAN = "plan-main-0123456789-abcdef01"
APPROVE_PLAN = "tfcontroller.io/approve-plan"
APPROVED_BY = "tfcontroller.io/approved-by"


def _kubectl(kubeconfig: str | None, tmp: Path, *args: str, check: bool = True,
             stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECACHEDIR": str(tmp / "kube-cache"), "HOME": str(tmp)}
    env.pop("KUBECONFIG", None)
    cmd = ["kubectl", *(["--kubeconfig", kubeconfig] if kubeconfig else []), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, input=stdin)
    if check:
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    proc = _kubectl(None, tmp_path_factory.mktemp("kustomize"), "kustomize", str(DASHBOARD))
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def _one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _rules(doc: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """(apiGroup, resource, resourceName or '', verb) of every rule: what the role grants, flattened."""
    return {(g, r, n, v) for rule in doc["rules"] for g in rule.get("apiGroups", []) for r in rule["resources"]
            for n in (rule.get("resourceNames") or [""]) for v in rule["verbs"]}


# ------------------------------------------------------------------------------------------ static
def test_renders_the_pieces_into_the_controller_namespace(rendered: list[dict[str, Any]]) -> None:
    assert sorted((d["kind"], d["metadata"]["name"]) for d in rendered) == sorted([
        ("ServiceAccount", SA), ("ClusterRole", SA), ("ClusterRoleBinding", SA), ("Role", SA), ("RoleBinding", SA),
        ("ClusterRole", "tfcontroller-dashboard-viewer"), ("ClusterRole", "tfcontroller-dashboard-approver"),
        ("Deployment", SA), ("Service", SA)])
    for doc in rendered:
        if doc["kind"] in ("ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"):
            assert doc["metadata"]["namespace"] == NS
        assert doc["metadata"]["labels"]["app.kubernetes.io/component"] == "dashboard"


def test_the_dashboard_identity_gets_the_least(rendered: list[dict[str, Any]]) -> None:
    assert _rules(_one(rendered, "ClusterRole", SA)) == {
        ("authentication.k8s.io", "tokenreviews", "", "create"),
        ("", "users", "", "impersonate"), ("", "groups", "", "impersonate"), ("", "serviceaccounts", "", "impersonate"),
    }
    assert _rules(_one(rendered, "Role", SA)) == {("", "secrets", "", "create"),
                                                   ("", "secrets", SESSION_SECRET, "get")}
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        binding = _one(rendered, kind, SA)
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SA, "namespace": NS}]
        assert binding["roleRef"]["name"] == SA


@pytest.mark.parametrize("name", ["rbac.yaml", "roles.yaml"])
def test_every_rule_says_what_it_is_for(name: str) -> None:
    """A comment above every rule, or above the group of rules it belongs to (no blank line between)."""
    lines = (DASHBOARD / name).read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip().startswith("- apiGroups:"):
            continue
        j = i - 1
        while j >= 0 and lines[j].startswith(("    ", "  - ")) and not lines[j].strip().startswith("#"):
            j -= 1  # the previous rule of the same group
        assert j >= 0 and lines[j].strip().startswith("#"), f"{name} line {i + 1}: a rule without a comment"


def test_people_roles(rendered: list[dict[str, Any]]) -> None:
    viewer = _rules(_one(rendered, "ClusterRole", "tfcontroller-dashboard-viewer"))
    for kind in ("gitrepositories", "terraforms", "manifestsets"):
        assert {("tfcontroller.io", kind, "", v) for v in ("get", "list", "watch")} <= viewer
    assert ("", "pods/log", "", "get") in viewer and ("", "events", "", "watch") in viewer
    assert ("", "secrets", "", "get") in viewer  # the readable plan (roles.yaml says why and how to bind it)
    assert not {r for r in viewer if r[3] not in ("get", "list", "watch")}, "the viewer role only reads"
    assert _rules(_one(rendered, "ClusterRole", "tfcontroller-dashboard-approver")) == {
        ("tfcontroller.io", "terraforms", "", "patch")}


def test_the_deployment_runs_the_dashboard_in_cluster_hardened(rendered: list[dict[str, Any]]) -> None:
    dep = _one(rendered, "Deployment", SA)
    spec = dep["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == SA
    assert spec["securityContext"]["runAsNonRoot"] is True
    (container,) = spec["containers"]
    assert container["image"] == "ghcr.io/tfcontroller/tfcontroller:v0.1.0"
    assert container["command"] == ["tfcontroller", "dashboard"]
    args = build_parser().parse_args(["dashboard", *container["args"]])
    assert args.in_cluster and args.address == "0.0.0.0" and args.port == 9090
    assert args.session_secret == SESSION_SECRET
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["limits"]["memory"]
    (port,) = container["ports"]
    assert port["containerPort"] == 9090
    service = _one(rendered, "Service", SA)
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items())
    assert dep["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


# ------------------------------------------------------------------------------------------ live
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pod_from_template(dep: dict[str, Any], port: int) -> dict[str, Any]:
    """The Deployment's Pod as the ReplicaSet would make it, on the dev node's image of tfcontroller, with
    --address/--port moved to loopback and a free port (the dev node shares the host's network)."""
    template = json.loads(json.dumps(dep["spec"]["template"]))
    (container,) = template["spec"]["containers"]
    container["image"] = "tfcontroller:dev"
    args = container["args"]
    args[args.index("--address") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    container["ports"][0]["containerPort"] = port
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "tfcontroller-dashboard-0", "namespace": NS, "labels": template["metadata"]["labels"]},
            "spec": template["spec"]}


class Browser:
    """A viewer's HTTP session with the dashboard: cookies kept, the CSRF token of the last form read."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.trust_env = False
        self.csrf = ""

    def get(self, path: str) -> requests.Response:
        r = self.http.get(self.base + path, timeout=30, allow_redirects=False)
        found = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
        if found:
            self.csrf = found.group(1)
        return r

    def post(self, path: str, data: dict[str, str], csrf: bool = True) -> requests.Response:
        body = {**data, **({"csrf_token": self.csrf} if csrf else {})}
        return self.http.post(self.base + path, data=body, timeout=30, allow_redirects=False)

    def login(self, token: str) -> requests.Response:
        assert self.get("/login").status_code == 200
        return self.post("/login", {"token": token, "next": "/"})


@pytest.fixture
def installed(oidc_issuer: OIDCIssuer, tmp_path: Path, rendered: list[dict[str, Any]]) -> Iterator[tuple[DevCluster, str]]:
    """deploy/ and deploy/dashboard applied to a dev cluster that trusts the issuer (groups prefixed `oidc:`),
    team-a's Terraform `web` with a pending plan and the people's bindings, and the dashboard's Pod serving."""
    with DevCluster(node=True, oidc=oidc_issuer.config(groups_claim="groups", groups_prefix="oidc:")) as cluster:
        kc = cluster.kubeconfig
        _kubectl(kc, tmp_path, "apply", "-k", str(REPO_ROOT / "deploy"))
        dry = _kubectl(kc, tmp_path, "apply", "-k", str(DASHBOARD), "--dry-run=server")
        assert "(server dry run)" in dry.stdout
        assert _kubectl(kc, tmp_path, "get", "serviceaccount", SA, "-n", NS, check=False).returncode != 0
        _kubectl(kc, tmp_path, "apply", "-k", str(DASHBOARD))
        _team(kc, tmp_path)
        port = _free_port()
        pod = _pod_from_template(_one(rendered, "Deployment", SA), port)
        _kubectl(kc, tmp_path, "apply", "-f", "-", stdin=json.dumps(pod))
        base = f"http://127.0.0.1:{port}"

        def serving() -> bool:
            try:
                return requests.get(base + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        try:
            wait_for(serving, 90, "the dashboard Pod to serve /healthz")
        except AssertionError:
            log = _kubectl(kc, tmp_path, "logs", "-n", NS, pod["metadata"]["name"], check=False)
            raise AssertionError(f"dashboard Pod not serving; its log:\n{log.stdout}{log.stderr}") from None
        yield cluster, base


def _team(kubeconfig: str, tmp: Path) -> None:
    """team-a: Terraform `web` with a pending plan (status written as the controller writes it), a ServiceAccount
    `viewer`; viewer role to group oidc:team-a and that ServiceAccount, approver role to group oidc:approvers."""
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TEAM}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "viewer", "namespace": TEAM}},
        {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform", "metadata": {"name": "web", "namespace": TEAM},
         "spec": {"sourceRef": {"kind": "GitRepository", "name": "infra"}, "path": "./web", "interval": "10m"}},
        _rolebinding("viewers", "tfcontroller-dashboard-viewer",
                     [{"kind": "Group", "name": "oidc:team-a", "apiGroup": "rbac.authorization.k8s.io"},
                      {"kind": "ServiceAccount", "name": "viewer", "namespace": TEAM}]),
        _rolebinding("approvers", "tfcontroller-dashboard-approver",
                     [{"kind": "Group", "name": "oidc:approvers", "apiGroup": "rbac.authorization.k8s.io"}]),
    ]
    _kubectl(kubeconfig, tmp, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    status = {"status": {"plan": {"pending": PLAN, "add": 1, "change": 0, "destroy": 0}}}
    _kubectl(kubeconfig, tmp, "patch", "terraform", "web", "-n", TEAM, "--subresource", "status", "--type", "merge",
             "-p", json.dumps(status))
    # ... and its readable form, as the controller stores it beside the plan (masked; Secret tfplanview-*)
    view = build_plan_view(drift_plan(), plan_id=PLAN, revision="main@sha1:" + "0" * 40,
                           created_at="2026-01-01T00:00:00Z", is_drift=False, is_destroy=False)
    kube = KubeClient.load(kubeconfig)
    try:
        save_plan_view(kube, kube.get(TERRAFORMS, "web", TEAM), "default", PLAN, view)
    finally:
        kube.close()


def _rolebinding(name: str, role: str, subjects: list[dict[str, str]]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": TEAM},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": subjects}


def _annotations(cluster: DevCluster, tmp: Path) -> dict[str, str]:
    out = _kubectl(cluster.kubeconfig, tmp, "get", "terraform", "web", "-n", TEAM, "-o", "json").stdout
    annotations: dict[str, str] = json.loads(out)["metadata"].get("annotations") or {}
    return annotations


def _assert_whole_page(page: str) -> None:
    """The viewer role is enough for the whole Terraform page: no part refused ("You may not …"), the pending
    plan's readable diff shown — masked, none of the plan's sensitive values in it."""
    assert "You may not" not in page, re.findall(r"You may not[^<]*", page)
    assert 'class="diff-line diff-' in page, "the readable plan's diff is shown"
    assert not [secret for secret in SECRETS if secret in page or html.escape(secret) in page]


def _approve_button(page: str) -> str:
    """The approve button's start tag (Interface 5: `button#approve`, `disabled` when not allowed)."""
    found = re.search(r'<button\b[^>]*\bid="approve"[^>]*>', page)
    assert found, "the page has no approve button"
    return found.group(0)


def _next_event(stream: requests.Response, timeout: float) -> str:
    """The name of the next server-sent event (`event: NAME`), skipping comments (heartbeats)."""
    deadline = time.monotonic() + timeout
    for line in stream.iter_lines(decode_unicode=True):
        if line and line.startswith("event:"):
            return str(line.split(":", 1)[1].strip())
        if time.monotonic() > deadline:
            break
    return ""


@pytest.mark.timeout(300)
def test_in_cluster_dashboard_logs_in_impersonates_and_approves_as_the_oidc_user(
        installed: tuple[DevCluster, str], oidc_issuer: OIDCIssuer, tmp_path: Path) -> None:
    cluster, base = installed
    page = "/terraform/team-a/web"

    # A bad token does not log in; nothing else is reachable without a session.
    stranger = Browser(base)
    assert stranger.login(oidc_issuer.token("eve", expires_in=-300)).status_code == 401
    assert stranger.get(page).status_code in (302, 303)

    # A ServiceAccount token logs in (TokenReview) and sees team-a's Terraform with its own RBAC.
    sa_token = _kubectl(cluster.kubeconfig, tmp_path, "create", "token", "viewer", "-n", TEAM).stdout.strip()
    viewer = Browser(base)
    r = viewer.login(sa_token)
    assert r.status_code == 303, r.text
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    r = viewer.get(page)
    assert r.status_code == 200 and f"system:serviceaccount:{TEAM}:viewer" in r.text
    _assert_whole_page(r.text)

    # An OIDC user outside the approvers group: approve is disabled, a forged approval is 403, nothing changes.
    bob = Browser(base)
    assert bob.login(oidc_issuer.token("bob", groups=["team-a"])).status_code == 303
    r = bob.get(page)
    assert r.status_code == 200 and f"{oidc_issuer.url}#bob" in r.text
    _assert_whole_page(r.text)
    assert re.search(r"\bdisabled\b", _approve_button(r.text)), "approve must be disabled for bob"
    r = bob.post(page + "/approve", {"plan": PLAN})
    assert r.status_code == 403, r.text
    assert APPROVE_PLAN not in _annotations(cluster, tmp_path)

    # The OIDC user in the group bound to the approver role approves that plan, recorded as them.
    alice = Browser(base)
    assert alice.login(oidc_issuer.token("alice", groups=["team-a", "approvers"])).status_code == 303
    r = alice.get(page)
    assert r.status_code == 200 and not re.search(r"\bdisabled\b", _approve_button(r.text))
    assert alice.post(page + "/approve", {"plan": PLAN}, csrf=False).status_code in (400, 403)  # no CSRF token
    assert APPROVE_PLAN not in _annotations(cluster, tmp_path)
    live = re.search(r'data-live-url="([^"]+)"', r.text)
    assert live, "the page names its live stream"
    with alice.http.get(base + html.unescape(live.group(1)), stream=True, timeout=(5, 30)) as stream:
        assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        r = alice.post(page + "/approve", {"plan": PLAN})
        assert r.status_code == 303, r.text
        # the page's live stream, watched as alice (the viewer role's watch), announces the change
        assert _next_event(stream, 10) == "changed"
    annotations = _annotations(cluster, tmp_path)
    assert annotations[APPROVE_PLAN] == PLAN
    approved_by = json.loads(annotations[APPROVED_BY])
    assert approved_by["plan"] == PLAN and approved_by["via"] == "dashboard"
    assert approved_by["username"] == f"{oidc_issuer.url}#alice"
    assert "oidc:approvers" in approved_by["groups"]

    # The dashboard's own identity reads nothing of ours; it only reviews tokens and impersonates.
    def can(*args: str) -> str:
        return _kubectl(cluster.kubeconfig, tmp_path, "auth", "can-i", *args, "--as", SA_USER,
                        check=False).stdout.strip()

    assert can("get", "terraforms.tfcontroller.io", "-n", TEAM) == "no"
    assert can("list", "terraforms.tfcontroller.io", "--all-namespaces") == "no"
    assert can("get", "secrets", "-n", TEAM) == "no"
    assert can("get", f"secrets/{SESSION_SECRET}", "-n", NS) == "yes"
    assert can("create", "tokenreviews.authentication.k8s.io") == "yes"
    assert can("impersonate", "users") == "yes"
    own = _kubectl(cluster.kubeconfig, tmp_path, "create", "token", SA, "-n", NS).stdout.strip()
    refused = _kubectl(cluster.kubeconfig, tmp_path, "get", "terraforms", "-n", TEAM, "--token", own, check=False)
    assert refused.returncode != 0 and f'User "{SA_USER}" cannot list resource "terraforms"' in refused.stderr
    # ... and nothing it asked for as itself was refused: its session Secret exists, its log names no refusal.
    assert _kubectl(cluster.kubeconfig, tmp_path, "get", "secret", SESSION_SECRET, "-n", NS).returncode == 0
    log = _kubectl(cluster.kubeconfig, tmp_path, "logs", "-n", NS, "tfcontroller-dashboard-0").stdout
    assert f'"{SA_USER}" cannot' not in log, log
