"""The dashboard in in-cluster mode against a dev cluster: viewers log in with a bearer token that the
API server reviews (TokenReview), and every call is made impersonating them. So a viewer whose RBAC lacks
`patch` sees approve disabled and is refused (403) with nothing written, an object the dashboard's own
identity could read but the viewer cannot is 403, a bad token opens no session, and the approver recorded
is the viewer (a ServiceAccount here), never the dashboard."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from tests.fixtures.dashboard import Dashboard, csrf_of, service_account_token, terraform, viewer_shown
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN, ANNOTATION_APPROVED_BY
from tfcontroller.dashboard.session import SESSION_KEY_FIELD, load_or_create_key
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import MANIFESTSETS, SECRETS, TERRAFORMS

PLAN = "plan-main-0123456789-abcdef01"
READ = {"apiGroups": ["tfcontroller.io"], "resources": ["terraforms", "gitrepositories"],
        "verbs": ["get", "list", "watch"]}
PATCH = {"apiGroups": ["tfcontroller.io"], "resources": ["terraforms"], "verbs": ["patch"]}
APPROVE_BUTTON = re.compile(r'<button[^>]* id="approve"[^>]*>')


def test_the_login_page_comes_first_and_a_bad_token_opens_no_session(
        in_cluster_dashboard: Callable[..., Dashboard], dash_cluster: DevCluster, dash_kube: KubeClient) -> None:
    dashboard = in_cluster_dashboard()
    browser = dashboard.session()
    first = browser.get(f"{dashboard.url}/terraform/team-a/net", allow_redirects=False, timeout=30)
    assert first.status_code == 303 and "/login?next=" in first.headers["Location"]
    assert browser.get(f"{dashboard.url}/live?path=/", timeout=30).status_code == 401  # streams are not redirected
    forged = service_account_token(dash_cluster, dash_kube, "team-a", "viewer", [READ])[:-4] + "AAAA"
    for token in ("not-a-token", forged, "   "):
        form = browser.get(f"{dashboard.url}/login", timeout=30)
        answer = browser.post(f"{dashboard.url}/login", data={"csrf_token": csrf_of(form.text), "token": token},
                              allow_redirects=False, timeout=30)
        assert answer.status_code == 401, token
        assert "did not accept this token" in answer.text
        assert token.strip() == "" or token not in answer.text  # the token is never echoed back
        assert browser.get(f"{dashboard.url}/", allow_redirects=False, timeout=30).status_code == 303


def test_login_without_csrf_is_refused(in_cluster_dashboard: Callable[..., Dashboard], dash_cluster: DevCluster,
                                       dash_kube: KubeClient) -> None:
    dashboard = in_cluster_dashboard()
    token = service_account_token(dash_cluster, dash_kube, "team-a", "viewer", [READ])
    answer = dashboard.session().post(f"{dashboard.url}/login", data={"token": token}, allow_redirects=False,
                                      timeout=30)
    assert answer.status_code == 403


def test_a_viewer_without_patch_sees_approve_disabled_and_a_forged_post_is_403(
        in_cluster_dashboard: Callable[..., Dashboard], dash_cluster: DevCluster, dash_kube: KubeClient) -> None:
    before = terraform(dash_kube, "team-a", "net", pending=PLAN)["metadata"]["resourceVersion"]
    dashboard = in_cluster_dashboard()
    browser = dashboard.login_with_token(service_account_token(dash_cluster, dash_kube, "team-a", "viewer", [READ]))
    page = browser.get(f"{dashboard.url}/terraform/team-a/net", timeout=30)
    assert page.status_code == 200
    assert viewer_shown(page.text) == "system:serviceaccount:team-a:viewer"
    button = APPROVE_BUTTON.search(page.text)
    assert button and "disabled" in button.group(0), page.text
    for action, form in (("approve", {"plan": PLAN}), ("replan", {}), ("suspend", {}), ("reconcile", {})):
        answer = browser.post(f"{dashboard.url}/terraform/team-a/net/{action}",
                              data={"csrf_token": csrf_of(page.text), **form}, allow_redirects=False, timeout=30)
        assert answer.status_code == 403, (action, answer.text)
        assert "system:serviceaccount:team-a:viewer" in answer.text  # the API's message names who was refused
    assert dash_kube.get(TERRAFORMS, "net", "team-a")["metadata"]["resourceVersion"] == before


def test_an_approval_in_cluster_is_recorded_as_the_viewer_not_the_dashboard(
        in_cluster_dashboard: Callable[..., Dashboard], dash_cluster: DevCluster, dash_kube: KubeClient) -> None:
    terraform(dash_kube, "team-a", "net", pending=PLAN)
    dashboard = in_cluster_dashboard()
    browser = dashboard.login_with_token(
        service_account_token(dash_cluster, dash_kube, "team-a", "approver", [READ, PATCH]))
    page = browser.get(f"{dashboard.url}/terraform/team-a/net", timeout=30)
    button = APPROVE_BUTTON.search(page.text)
    assert button and "disabled" not in button.group(0)
    answer = browser.post(f"{dashboard.url}/terraform/team-a/net/approve",
                          data={"csrf_token": csrf_of(page.text), "plan": PLAN}, allow_redirects=False, timeout=30)
    assert answer.status_code == 303, answer.text
    annotations = dash_kube.get(TERRAFORMS, "net", "team-a")["metadata"]["annotations"]
    assert annotations[ANNOTATION_APPROVE_PLAN] == PLAN
    claim = json.loads(annotations[ANNOTATION_APPROVED_BY])
    assert claim["username"] == "system:serviceaccount:team-a:approver" and claim["via"] == "dashboard"
    assert "system:serviceaccounts:team-a" in claim["groups"]
    managers = {m.get("manager") for m in dash_kube.get(TERRAFORMS, "net", "team-a")["metadata"]["managedFields"]}
    assert "tfcontroller-dashboard" in managers


@pytest.mark.parametrize("path", ["/manifestset/team-a/web", "/terraform/team-b/net"])
def test_what_the_dashboard_may_read_but_the_viewer_may_not_is_403(
        in_cluster_dashboard: Callable[..., Dashboard], dash_cluster: DevCluster, dash_kube: KubeClient,
        path: str) -> None:
    """The dashboard's own ServiceAccount reads every tfcontroller kind in every namespace; the viewer reads
    Terraforms of team-a only. Impersonation is what makes the difference."""
    terraform(dash_kube, "team-b", "net")
    terraform(dash_kube, "team-a", "net")
    dash_kube.create(MANIFESTSETS, {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "ManifestSet",
                                    "metadata": {"name": "web", "namespace": "team-a"},
                                    "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": "./",
                                             "interval": "1h"}})
    dashboard = in_cluster_dashboard()
    assert dashboard.settings.client.get_or_none(MANIFESTSETS, "web", "team-a") is not None  # it could
    browser = dashboard.login_with_token(service_account_token(dash_cluster, dash_kube, "team-a", "viewer", [READ]))
    answer = browser.get(f"{dashboard.url}{path}", timeout=30)
    assert answer.status_code == 403, answer.text
    assert "system:serviceaccount:team-a:viewer" in answer.text and "forbidden" in answer.text.lower()
    assert "data-live-url" not in answer.text  # an error page opens no stream that would fail and reconnect


def test_the_session_key_is_created_once_and_shared(dash_kube: KubeClient) -> None:
    first = load_or_create_key(dash_kube, "default", "dashboard-session")
    assert len(first) >= 32
    assert load_or_create_key(dash_kube, "default", "dashboard-session") == first  # a second replica, a restart
    assert SESSION_KEY_FIELD in dash_kube.get(SECRETS, "dashboard-session", "default")["data"]
