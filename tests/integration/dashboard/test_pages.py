"""The dashboard's pages rendered by the real app (C1's `create_app`, Flask's test client) against a dev
cluster holding objects in the states a controller leaves (status written as the controller writes it):
the DOM the browser tests rely on (docs/dashboard.md, "Pages"), the readable plan with sensitive values
masked, what a viewer with narrow RBAC sees (approve disabled with a reason, a note instead of the plan,
one namespace instead of all), and escaping: every text an object carries (names of outputs, condition,
event and history messages, plan values, drift attributes) renders as text, never as markup.

One dev cluster (no node) per module: the pages only read, so the tests share the objects."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.fixtures.devcluster import install_crds
from tests.support.htmldom import Element, parse
from tests.support.sample_plan import SECRETS as SENSITIVE_VALUES
from tests.support.sample_plan import drift_plan
from tfcontroller.api.constants import tfplanview_secret_name
from tfcontroller.dashboard.app import create_app
from tfcontroller.dashboard.settings import LOCAL, DashboardSettings
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.cluster.kubeconfig import write_kubeconfig
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import AlreadyExists
from tfcontroller.kube.resources import (
    CONFIGMAPS,
    EVENTS,
    GITREPOSITORIES,
    MANIFESTSETS,
    NAMESPACES,
    SECRETS,
    SERVICEACCOUNTS,
    TERRAFORMS,
    Resource,
)
from tfcontroller.terraform.plan_view import build_plan_view
from tfcontroller.terraform.plan_view_store import save_plan_view

TOKEN = "pages-test-token"
NS = "team-a"
PLAN = "plan-main-0123456789-abcdef01"
REPLACED = ["aws_s3_bucket.demo", 'aws_s3_bucket.logs["<b>x</b>"]']
REVISION = "main@sha1:0123456789abcdef0123456789abcdef01234567"
XSS = '<script>alert("x")</script>'
ALL = {"infra", "bucket", "broken", "app", "unstored", "damaged"}
ROLES = Resource("rbac.authorization.k8s.io/v1", "Role", "roles")
ROLEBINDINGS = Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")


def _now(minutes: int = 0) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ready(status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": "Ready", "status": status, "reason": reason, "message": message, "lastTransitionTime": _now()}


def _create(kube: KubeClient, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    try:
        return kube.create(resource, obj)
    except AlreadyExists:
        return kube.get(resource, obj["metadata"]["name"], obj["metadata"].get("namespace"))


def _kind(resource: Resource, name: str, spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": {"name": name, "namespace": NS},
            "spec": spec, "status": status}


def _event(kube: KubeClient, obj: dict[str, Any], name: str, reason: str, message: str, minutes_ago: int,
           type_: str = "Normal") -> None:
    meta = obj["metadata"]
    _create(kube, EVENTS, {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": NS},
        "involvedObject": {"kind": obj["kind"], "name": meta["name"], "namespace": NS, "uid": meta["uid"],
                           "apiVersion": obj["apiVersion"]},
        "reason": reason, "message": message, "type": type_, "count": 1,
        "firstTimestamp": _now(minutes_ago), "lastTimestamp": _now(minutes_ago)})


def _objects(kube: KubeClient) -> None:
    """A GitRepository, a Terraform with a manual plan pending (readable plan stored, history, drift,
    outputs), a failing one, a ManifestSet with an inventory (one object there, one missing)."""
    _create(kube, NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    src = {"sourceRef": {"kind": "GitRepository", "name": "infra"}}
    repo = _create(kube, GITREPOSITORIES, _kind(GITREPOSITORIES, "infra", {
        "url": "https://git.example.com/infra.git", "ref": {"branch": "main"}, "interval": "1m"}, {}))
    kube.patch_status(GITREPOSITORIES, "infra", NS, {
        "artifact": {"revision": REVISION, "digest": "sha256:" + "a" * 64, "path": "x", "url": "http://x/a.tar.gz",
                     "size": 1, "lastUpdateTime": _now()},
        "conditions": [_ready("True", "Succeeded", f"stored artifact {XSS}")]})
    bucket = _create(kube, TERRAFORMS, _kind(TERRAFORMS, "bucket", {**src, "path": "./bucket", "interval": "1h"}, {}))
    kube.patch_status(TERRAFORMS, "bucket", NS, {
        "lastAttemptedRevision": REVISION,
        "plan": {"pending": PLAN, "add": 1, "change": 2, "destroy": 0, "createdAt": _now(), "isDrift": True},
        "availableOutputs": ["bucket_arn", "db_password"], "sensitiveOutputs": ["db_password"],
        "drift": {"lastCheckedAt": _now(5), "lastDetectedAt": _now(5), "fingerprint": "f1",
                  "resources": [{"address": "aws_s3_bucket.demo", "action": "update", "attributes": [f"tags.{XSS}"]}]},
        "history": [
            {"runId": "r2", "kind": "drift", "outcome": "Succeeded", "reason": "DriftDetected", "planId": PLAN,
             "revision": REVISION, "add": 1, "change": 2, "startedAt": _now(6), "finishedAt": _now(5),
             "message": f"drift {XSS}"},
            {"runId": "r1", "kind": "apply", "outcome": "Succeeded", "reason": "ApplySucceeded",
             "planId": "plan-main-0123456789-00000001", "revision": REVISION, "add": 1, "startedAt": _now(60),
             "finishedAt": _now(59), "approvedBy": {"username": "alice", "groups": ["team-a"], "via": "dashboard"}},
            {"runId": "r0", "kind": "plan", "outcome": "Succeeded", "reason": "PlanGenerated",
             "planId": "plan-main-0123456789-00000001", "revision": REVISION, "add": 1, "destroy": 1,
             "startedAt": _now(62), "finishedAt": _now(61), "replace": REPLACED},  # issue 20: -replace
        ],
        "conditions": [_ready("False", "PlanPending", f"plan {PLAN} waits for approval {XSS}"),
                       {"type": "Drifted", "status": "True", "reason": "DriftDetected", "message": "1 resource",
                        "lastTransitionTime": _now(5)}]})
    bucket = kube.get(TERRAFORMS, "bucket", NS)
    show = drift_plan()
    show["resource_changes"][2]["change"]["after"] = {"name": XSS}
    view = build_plan_view(show, plan_id=PLAN, revision=REVISION, created_at=_now(), is_drift=True, is_destroy=False)
    save_plan_view(kube, bucket, "default", PLAN, view)
    _event(kube, bucket, "bucket.1", "PlanGenerated", f"older {XSS}", 30)
    _event(kube, bucket, "bucket.2", "DriftDetected", "newest", 1, "Warning")
    _create(kube, TERRAFORMS, _kind(TERRAFORMS, "broken", {**src, "path": "./broken", "interval": "1h",
                                                            "dependsOn": [{"name": "bucket"}]}, {}))
    kube.patch_status(TERRAFORMS, "broken", NS, {"conditions": [_ready("False", "PlanFailed", "bad module")]})
    app = _create(kube, MANIFESTSETS, _kind(MANIFESTSETS, "app", {
        **src, "path": "./app", "interval": "1h", "prune": True,
        "dependsOn": [{"kind": "Terraform", "name": "bucket"}]}, {}))
    _create(kube, CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": NS},
                               "data": {"a": "b"}})
    kube.patch_status(MANIFESTSETS, "app", NS, {
        "inventory": [{"id": f"{NS}_settings__ConfigMap", "version": "v1"},
                      {"id": f"{NS}_web_apps_Deployment", "version": "v1"}],
        "lastAppliedRevision": REVISION, "conditions": [_ready("True", "ReconciliationSucceeded", f"applied {XSS}")]})
    _event(kube, app, "app.1", "Pruned", "pruned ConfigMap/team-a/old", 2)
    for name, damaged in (("unstored", False), ("damaged", True)):  # a plan whose readable form is missing / bad
        tf = _create(kube, TERRAFORMS, _kind(TERRAFORMS, name, {**src, "path": "./x", "interval": "1h"}, {}))
        kube.patch_status(TERRAFORMS, name, NS, {"plan": {"pending": PLAN, "add": 1}})
        if damaged:
            save_plan_view(kube, tf, "default", PLAN, view)
            kube.patch(SECRETS, tfplanview_secret_name("default", name), {"data": {"view": "bm90IGd6aXA="}}, NS)
    assert repo


@pytest.fixture(scope="module")
def cluster() -> Iterator[DevCluster]:
    with DevCluster() as c:
        yield c


@pytest.fixture(scope="module")
def admin(cluster: DevCluster) -> Iterator[KubeClient]:
    kube = KubeClient.load(cluster.kubeconfig)
    install_crds(kube)
    _objects(kube)
    try:
        yield kube
    finally:
        kube.close()


def _browser(client: KubeClient, default_namespace: str = "default") -> FlaskClient:
    settings = DashboardSettings(mode=LOCAL, client=client, secret_key=b"p" * 32, login_token=TOKEN,
                                 default_namespace=default_namespace)
    browser = create_app(settings).test_client()
    assert browser.get(f"/?token={TOKEN}").status_code == 303
    return browser


@pytest.fixture(scope="module")
def browser(admin: KubeClient) -> FlaskClient:
    return _browser(admin)


@pytest.fixture(scope="module")
def reader(cluster: DevCluster, admin: KubeClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """A viewer who may read the kinds and Events in team-a only: no patch, no Secrets, no other namespace."""
    _create(admin, SERVICEACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                     "metadata": {"name": "reader", "namespace": NS}})
    _create(admin, ROLES, {"apiVersion": ROLES.api_version, "kind": "Role", "metadata": {"name": "reader", "namespace": NS},
                           "rules": [{"apiGroups": ["tfcontroller.io"], "resources": ["*"],
                                      "verbs": ["get", "list", "watch"]},
                                     {"apiGroups": [""], "resources": ["events", "configmaps"],
                                      "verbs": ["get", "list", "watch"]}]})
    _create(admin, ROLEBINDINGS, {
        "apiVersion": ROLEBINDINGS.api_version, "kind": "RoleBinding", "metadata": {"name": "reader", "namespace": NS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": NS}]})
    token, _ = cluster.tokens.issue(NS, "reader")
    path = Path(tmp_path_factory.mktemp("reader")) / "reader.kubeconfig"
    write_kubeconfig(path, cluster.url, token, cluster.ca_pem)
    client = KubeClient.load(str(path))
    try:
        yield _browser(client, NS)
    finally:
        client.close()


def page(browser: FlaskClient, path: str, status: int = 200) -> tuple[Element, str]:
    answer = browser.get(path)
    html = answer.get_data(as_text=True)
    assert answer.status_code == status, html[:2000]
    return parse(html), html


def assert_escaped(html: str) -> None:
    """No markup from the objects' text: the script tag only ever appears escaped."""
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html


# ---- overview ------------------------------------------------------------------------------------------


def test_overview_lists_every_object_with_its_state_and_counters(browser: FlaskClient) -> None:
    dom, html = page(browser, "/")
    assert dom.one(id="viewer").text() == "dev-cluster-admin"
    dom.one("main", id="main")
    rows = {(r.attrs["data-kind"], r.attrs["data-name"]): r
            for r in dom.one("table", id="objects").find_all("tr", cls="object")}
    assert {k: (r.attrs["data-ready"], r.attrs["data-reason"]) for k, r in rows.items()} == {
        ("GitRepository", "infra"): ("True", "Succeeded"), ("Terraform", "bucket"): ("False", "PlanPending"),
        ("Terraform", "broken"): ("False", "PlanFailed"), ("ManifestSet", "app"): ("True", "ReconciliationSucceeded"),
        ("Terraform", "unstored"): ("Unknown", ""), ("Terraform", "damaged"): ("Unknown", "")}
    assert rows[("Terraform", "bucket")].one("a", cls="object-link").attrs["href"] == f"/terraform/{NS}/bucket"
    assert REVISION in rows[("GitRepository", "infra")].text()
    age = rows[("GitRepository", "infra")].find("time")
    assert age is not None and re.fullmatch(r"\d+[smhd]", age.text()) and age.attrs["title"].endswith("Z")
    counts = {c: dom.one(id=f"count-{c}").text() for c in ("pending", "drifted", "failing")}
    assert counts == {"pending": "3", "drifted": "1", "failing": "1"}
    form = dom.one("form", id="filters")
    assert {s.attrs["name"] for s in form.find_all("select")} == {"namespace", "kind", "state"}
    assert {o.attrs["value"] for o in form.one("select", name="state").find_all("option")} == {
        "", "ready", "pending", "drifted", "failing", "suspended"}
    assert_escaped(html)


@pytest.mark.parametrize(("query", "want"), [
    ("state=pending", {"bucket", "unstored", "damaged"}), ("state=drifted", {"bucket"}), ("state=failing", {"broken"}),
    ("state=ready", {"infra", "app"}), ("state=suspended", set()), ("kind=Terraform", {"bucket", "broken", "unstored", "damaged"}),
    (f"namespace={NS}&kind=ManifestSet", {"app"}), ("namespace=nobody", set()),
    ("state=nonsense", ALL),  # an unknown filter value filters nothing
])
def test_overview_filters(browser: FlaskClient, query: str, want: set[str]) -> None:
    dom, _ = page(browser, f"/?{query}")
    assert {r.attrs["data-name"] for r in dom.find_all("tr", cls="object")} == want


@pytest.mark.parametrize("path", ["/", "/graph"])
@pytest.mark.parametrize("namespace", [XSS, "a/b", "../../../api/v1/secrets"])
def test_a_namespace_filter_that_is_no_namespace_shows_nothing_escaped(browser: FlaskClient, path: str,
                                                                        namespace: str) -> None:
    answer = browser.get(path, query_string={"namespace": namespace})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200, html[:1000]
    dom = parse(html)
    assert dom.find_all("tr", cls="object") == [] and dom.find_all("g", cls="node") == []
    assert "is not a namespace name" in dom.one(cls="note").text()
    assert "<script>alert" not in html


@pytest.mark.parametrize("path", [f"/terraform/{NS}/a..b", "/terraform/Team/bucket", f"/manifestset/{NS}/..",
                                  "/gitrepository/../infra"])
def test_a_name_that_is_no_name_is_not_found(browser: FlaskClient, path: str) -> None:
    assert browser.get(path).status_code == 404


def test_a_viewer_who_may_not_list_cluster_wide_sees_their_namespace_with_a_note(reader: FlaskClient) -> None:
    dom, html = page(reader, "/")
    assert dom.one(id="viewer").text() == f"system:serviceaccount:{NS}:reader"
    assert {r.attrs["data-name"] for r in dom.find_all("tr", cls="object")} == ALL
    assert "in all namespaces" in html and f'showing namespace "{NS}"' in html.replace("&#34;", '"')


# ---- Terraform ---------------------------------------------------------------------------------------------


def test_terraform_page_shows_the_plan_masked_with_approve_and_the_rest(browser: FlaskClient) -> None:
    dom, html = page(browser, f"/terraform/{NS}/bucket")
    ready = dom.one(id="ready")
    assert (ready.attrs["data-status"], ready.attrs["data-reason"]) == ("False", "PlanPending")
    plan = dom.one(id="plan")
    assert plan.attrs["data-plan-id"] == PLAN
    kinds = [line.attrs["class"].split()[1] for line in plan.find_all(cls="diff-line")]
    assert {"diff-update", "diff-create", "diff-attribute", "diff-summary"} <= set(kinds), kinds
    diff_text = " ".join(line.text() for line in plan.find_all(cls="diff-line"))
    assert "aws_s3_bucket.demo" in diff_text and "(sensitive)" in diff_text
    for secret in SENSITIVE_VALUES:
        assert secret not in html and secret.replace("<", "&lt;").replace("&", "&amp;") not in html
    form = dom.one("form", id="approve-form")
    assert form.one("input", name="plan").attrs["value"] == PLAN and form.find("input", name="csrf_token")
    assert "disabled" not in dom.one("button", id="approve").attrs
    for button in ("replan", "reconcile", "suspend"):
        assert "disabled" not in dom.one("button", id=button).attrs
    assert dom.find(id="resume") is None
    drift = dom.one(id="drift")
    assert drift.attrs["data-drifted"] == "true" and "aws_s3_bucket.demo" in drift.text()
    outputs = {li.attrs["data-name"]: li for li in dom.one(id="outputs").find_all("li", cls="output")}
    assert set(outputs) == {"bucket_arn", "db_password"} and outputs["db_password"].attrs.get("data-sensitive")
    history = dom.one(id="history").find_all("tr", cls="history-entry")
    assert [(h.attrs["data-kind"], h.attrs["data-outcome"], h.attrs["data-plan-id"]) for h in history] == [
        ("drift", "Succeeded", PLAN), ("apply", "Succeeded", "plan-main-0123456789-00000001"),
        ("plan", "Succeeded", "plan-main-0123456789-00000001")]
    assert history[1].one(cls="approved-by").text() == "alice (dashboard)"
    # issue 20's replace is shown beside the counts, each address as text (one holds markup: escaped)
    assert [a.text() for a in history[2].find_all("code", cls="replace-address")] == REPLACED
    assert history[2].one(cls="c-replace").text().startswith("replace ")
    assert not history[0].find_all(cls="c-replace") and not history[1].find_all(cls="c-replace")
    assert '["<b>' not in html
    events = dom.one(id="events").find_all("tr", cls="event")
    assert [e.attrs["data-reason"] for e in events] == ["DriftDetected", "PlanGenerated"]  # newest first
    assert dom.find(id="run-log") is None  # no runner Pod
    assert dom.one(id="conditions").find("tr", data_type="Drifted") is not None
    assert_escaped(html)


def test_a_live_update_gets_the_inside_of_main_only(browser: FlaskClient) -> None:
    html = browser.get(f"/terraform/{NS}/bucket", headers={"X-Fragment": "1"}).get_data(as_text=True)
    dom = parse(html)
    assert "<main" not in html and "<html" not in html and "<body" not in html
    assert dom.one(id="plan").attrs["data-plan-id"] == PLAN and dom.find(id="viewer") is None


def test_a_viewer_without_patch_or_secrets_sees_approve_disabled_and_a_note(reader: FlaskClient) -> None:
    dom, html = page(reader, f"/terraform/{NS}/bucket")
    approve = dom.one("button", id="approve")
    assert "disabled" in approve.attrs and "may not patch terraforms/bucket" in approve.attrs["title"]
    for button in ("replan", "reconcile", "suspend"):
        assert "disabled" in dom.one("button", id=button).attrs
    plan = dom.one(id="plan")
    assert plan.attrs["data-plan-id"] == PLAN and not plan.find_all(cls="diff-line")
    assert "get secrets" in dom.one(id="plan-note").text()
    assert dom.one(id="events").find_all("tr", cls="event")  # Events are granted to this viewer
    assert_escaped(html)


@pytest.mark.parametrize(("name", "note"), [("unstored", "No readable form of plan"),
                                           ("damaged", "cannot be read (Secret tfplanview-default-damaged")])
def test_a_plan_without_a_readable_form_shows_a_note(browser: FlaskClient, name: str, note: str) -> None:
    dom, _ = page(browser, f"/terraform/{NS}/{name}")
    plan = dom.one(id="plan")
    assert plan.attrs["data-plan-id"] == PLAN and not plan.find_all(cls="diff-line")
    assert note in dom.one(id="plan-note").text()


@pytest.fixture
def guarded(admin: KubeClient) -> Iterator[None]:
    """A Terraform whose pending plan the policies deny (one policy waived); removed after the test, so the
    overview and graph tests keep their set of objects."""
    kube = admin
    src = {"sourceRef": {"kind": "GitRepository", "name": "infra"}}
    guarded = _create(kube, TERRAFORMS, _kind(TERRAFORMS, "guarded", {**src, "path": "./g", "interval": "1h"}, {}))
    kube.patch_status(TERRAFORMS, "guarded", NS, {  # issue 18: a plan the policies deny, one policy waived
        "plan": {"pending": PLAN, "add": 1, "policy": {"result": "denied", "evaluatedAt": _now(), "results": [
            {"policy": f"{NS}/protect", "enforcement": "deny", "result": "denied", "messages": [f"db deleted {XSS}"]},
            {"policy": f"{NS}/tags", "enforcement": "deny", "result": "waived", "messages": ["no owner tag"],
             "exception": "tags-later"},
            {"policy": f"{NS}/sizes", "enforcement": "deny", "result": "passed"}]}},
        "history": [{"runId": "r1", "kind": "plan", "outcome": "Succeeded", "reason": "PlanGenerated", "planId": PLAN,
                     "startedAt": _now(2), "finishedAt": _now(1), "policy": "denied", "exceptions": ["tags-later"]}],
        "conditions": [_ready("False", "PolicyDenied", f"plan {PLAN} is denied by policy")]})
    save_plan_view(kube, guarded, "default", PLAN, build_plan_view(
        drift_plan(), plan_id=PLAN, revision=REVISION, created_at=_now(), is_drift=False, is_destroy=False))
    try:
        yield
    finally:
        kube.delete(TERRAFORMS, "guarded", NS)


@pytest.mark.usefixtures("guarded")
def test_policy_results_and_exceptions_beside_the_plan_and_approve_disabled(browser: FlaskClient) -> None:
    """Issue 18: `#policy` with one `.policy-result` per policy (result, messages, the waiving exception);
    a denied plan's approve button is disabled with the reason; the history shows policy and exceptions."""
    dom, html = page(browser, f"/terraform/{NS}/guarded")
    policy = dom.one(id="plan").one(id="policy")
    assert policy.attrs["data-result"] == "denied"
    rows = {r.attrs["data-policy"]: r for r in policy.find_all(cls="policy-result")}
    assert {k: r.attrs["data-result"] for k, r in rows.items()} == {
        f"{NS}/protect": "denied", f"{NS}/tags": "waived", f"{NS}/sizes": "passed"}
    assert [m.text() for m in rows[f"{NS}/protect"].find_all(cls="policy-message")] == [f"db deleted {XSS}"]
    assert rows[f"{NS}/tags"].attrs["data-exception"] == "tags-later"
    assert rows[f"{NS}/tags"].one(cls="policy-exception").text() == "tags-later"
    assert f"{NS}/protect: db deleted" in policy.one(id="policy-blocked").text()
    approve = dom.one("button", id="approve")
    assert "disabled" in approve.attrs and "denied by policy" in approve.attrs["title"]
    entry = dom.one(id="history").one("tr", cls="history-entry")
    assert entry.one(cls="policy").attrs["data-policy-result"] == "denied"
    assert "tags-later" in entry.one(cls="policy").text()
    assert_escaped(html)


def test_nothing_pending_and_a_missing_object(browser: FlaskClient) -> None:
    dom, html = page(browser, f"/terraform/{NS}/broken")
    assert dom.find(id="plan") is None and dom.find(id="approve") is None
    assert dom.one(id="ready").attrs["data-reason"] == "PlanFailed"
    assert dom.one(id="history").find_all("tr", cls="history-entry") == []
    page(browser, f"/terraform/{NS}/nothing", 404)


# ---- ManifestSet, GitRepository ----------------------------------------------------------------------------


def test_manifestset_page_shows_inventory_health_and_events(browser: FlaskClient) -> None:
    dom, html = page(browser, f"/manifestset/{NS}/app")
    rows = {r.attrs["data-id"]: r.attrs["data-health"] for r in dom.one(id="inventory").find_all("tr", cls="inventory-entry")}
    assert rows == {f"{NS}_settings__ConfigMap": "Current", f"{NS}_web_apps_Deployment": "Missing"}
    assert [e.attrs["data-reason"] for e in dom.one(id="events").find_all("tr", cls="event")] == ["Pruned"]
    assert dom.one(id="ready").attrs["data-status"] == "True"
    assert_escaped(html)


def test_gitrepository_page_shows_the_artifact_and_who_uses_it(browser: FlaskClient) -> None:
    dom, html = page(browser, f"/gitrepository/{NS}/infra")
    assert REVISION in dom.one(id="artifact").text()
    assert {(u.attrs["data-kind"], u.attrs["data-name"]) for u in dom.one(id="users").find_all("li", cls="user")} == {
        ("Terraform", "bucket"), ("Terraform", "broken"), ("ManifestSet", "app"), ("Terraform", "unstored"),
        ("Terraform", "damaged")}
    assert_escaped(html)


# ---- graph -------------------------------------------------------------------------------------------------


def test_graph_draws_every_object_and_its_edges(browser: FlaskClient) -> None:
    dom, _ = page(browser, "/graph")
    svg = dom.one("svg", id="graph")
    nodes = {(n.attrs["data-kind"], n.attrs["data-name"]): n.attrs["data-ready"] for n in svg.find_all("g", cls="node")}
    assert nodes == {("GitRepository", "infra"): "True", ("Terraform", "bucket"): "False",
                     ("Terraform", "broken"): "False", ("ManifestSet", "app"): "True",
                     ("ConfigMap", "settings"): "True", ("Deployment", "web"): "False",
                     ("Terraform", "unstored"): "Unknown", ("Terraform", "damaged"): "Unknown"}
    states = {n.attrs["data-name"]: n.attrs["data-state"] for n in svg.find_all("g", cls="node")}
    assert (states["bucket"], states["broken"], states["infra"]) == ("pending", "failing", "ready")  # as the overview
    edges = {(e.attrs["data-from"], e.attrs["data-to"]) for e in svg.find_all("path", cls="edge")}
    assert (f"GitRepository/{NS}/infra", f"Terraform/{NS}/bucket") in edges
    assert (f"Terraform/{NS}/bucket", f"Terraform/{NS}/broken") in edges
    assert (f"Terraform/{NS}/bucket", f"ManifestSet/{NS}/app") in edges
    assert (f"ManifestSet/{NS}/app", f"Object:/ConfigMap/{NS}/settings") in edges
    assert len(edges) == 9
    links = {a.attrs["href"] for a in svg.find_all("a")}
    assert f"/terraform/{NS}/bucket" in links
