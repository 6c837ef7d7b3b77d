"""The dashboard in local mode against a dev cluster, over real HTTP (waitress): the one-time login token,
the headers of every answer, CSRF on every action, and approvals that name the plan the viewer saw
(right plan: both annotations written with the kubeconfig's identity; another plan: 409, nothing written)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests

from tests.fixtures.dashboard import LOCAL_TOKEN, Dashboard, csrf_of, serve, terraform, viewer_shown
from tests.support.polling import wait_for
from tfcontroller.api.constants import (
    ANNOTATION_APPROVE_PLAN,
    ANNOTATION_APPROVED_BY,
    ANNOTATION_REPLAN,
    ANNOTATION_REQUESTED_AT,
)
from tfcontroller.dashboard.app import SECURITY_HEADERS
from tfcontroller.dashboard.settings import LOCAL, DashboardSettings
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import TERRAFORMS

PLAN = "plan-main-0123456789-abcdef01"


def _annotations(kube: KubeClient, namespace: str, name: str) -> dict[str, str]:
    return dict(kube.get(TERRAFORMS, name, namespace)["metadata"].get("annotations") or {})


def test_the_one_time_token_opens_one_session_and_is_then_refused(local_dashboard: Dashboard) -> None:
    assert requests.get(f"{local_dashboard.url}/", timeout=30).status_code == 401
    browser = local_dashboard.session()
    first = browser.get(f"{local_dashboard.url}/?namespace=x&token={LOCAL_TOKEN}", allow_redirects=False, timeout=30)
    assert first.status_code == 303
    assert first.headers["Location"].endswith("/?namespace=x"), "the token leaves the URL, the rest stays"
    page = browser.get(f"{local_dashboard.url}/", timeout=30)
    assert page.status_code == 200
    assert viewer_shown(page.text) == "dev-cluster-admin"  # whoami of the kubeconfig's user

    for token in (LOCAL_TOKEN, "guessed", ""):
        other = local_dashboard.session().get(f"{local_dashboard.url}/?token={token}", timeout=30)
        assert other.status_code == 401, token
    assert "already used" in other.text


def test_a_used_login_link_in_the_browser_it_logged_in_goes_to_the_page(local_dashboard: Dashboard) -> None:
    """A reload of the login link (or the link opened again) in the browser that holds the session it opened
    goes to the same page without the token; the spent token opens nothing anywhere else."""
    browser = local_dashboard.login()
    for query in ("", "namespace=team-a&"):
        again = browser.get(f"{local_dashboard.url}/graph?{query}token={LOCAL_TOKEN}", allow_redirects=False,
                            timeout=30)
        assert again.status_code == 303, again.text
        assert again.headers["Location"] == f"/graph?{query.rstrip('&')}".rstrip("?")
        assert "Set-Cookie" not in again.headers  # the session stays the one the link opened
        assert browser.get(f"{local_dashboard.url}{again.headers['Location']}", timeout=30).status_code == 200
    wrong = browser.get(f"{local_dashboard.url}/?token=guessed", allow_redirects=False, timeout=30)
    assert (wrong.status_code, wrong.headers["Location"]) == (303, "/")
    for token in (LOCAL_TOKEN, "guessed"):  # without that session the token is useless
        stranger = local_dashboard.session().get(f"{local_dashboard.url}/graph?token={token}", timeout=30)
        assert stranger.status_code == 401 and "already used" in stranger.text


# names no Kubernetes object can have, as they arrive in a URL: every route refuses them (404) before an API call
BAD_NAMES = ["%2e%2e", "a..b", ".hidden", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "x" * 254, "net%0a", "Net", "a%20b"]


def test_every_route_refuses_a_name_that_cannot_be_one(local_dashboard: Dashboard, dash_kube: KubeClient) -> None:
    terraform(dash_kube, "team-a", "net", pending=PLAN)
    before = dash_kube.get(TERRAFORMS, "net", "team-a")["metadata"]["resourceVersion"]
    browser = local_dashboard.login()
    token = csrf_of(browser.get(f"{local_dashboard.url}/terraform/team-a/net", timeout=30).text)
    for bad in BAD_NAMES:
        bad_ns = bad if len(bad) < 254 else "n" * 64  # a namespace is a label: 63 characters at most
        paths = [f"/{kind}/{ns}/{name}/{action}" for ns, name in (("team-a", bad), (bad_ns, "net"))
                 for kind, action in (("terraform", "approve"), ("terraform", "replan"), ("terraform", "reconcile"),
                                      ("terraform", "suspend"), ("terraform", "resume"), ("manifestset", "reconcile"),
                                      ("manifestset", "suspend"), ("gitrepository", "reconcile"))]
        for path in paths:
            answer = browser.post(f"{local_dashboard.url}{path}", data={"csrf_token": token, "plan": PLAN},
                                  allow_redirects=False, timeout=30)
            assert answer.status_code == 404, (path, answer.status_code)
            assert "tfcontroller.io" not in answer.text, "refused by the dashboard, not by the API server"
            assert "<script>alert" not in answer.text
        for page in (f"/terraform/team-a/{bad}", f"/manifestset/{bad_ns}/net", f"/gitrepository/team-a/{bad}"):
            assert browser.get(f"{local_dashboard.url}{page}", timeout=30).status_code == 404, page
            # the live stream of such a page: the same check (the path arrives decoded, or still escaped)
            for path in (requests.utils.unquote(page), page):
                answer = browser.get(f"{local_dashboard.url}/live", params={"path": path}, timeout=30)
                assert answer.status_code == 404, (path, answer.status_code)
    assert dash_kube.get(TERRAFORMS, "net", "team-a")["metadata"]["resourceVersion"] == before


def test_every_answer_carries_the_security_headers_and_the_cookie_is_locked_down(local_dashboard: Dashboard,
                                                                                 dash_kube: KubeClient) -> None:
    terraform(dash_kube, "team-a", "net")
    anonymous = local_dashboard.session()
    login = anonymous.get(f"{local_dashboard.url}/?token={LOCAL_TOKEN}", allow_redirects=False, timeout=30)
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Expires=" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    answers = {
        "login redirect": login,
        "page": anonymous.get(f"{local_dashboard.url}/terraform/team-a/net", timeout=30),
        "fragment": anonymous.get(f"{local_dashboard.url}/terraform/team-a/net", headers={"X-Fragment": "1"},
                                  timeout=30),
        "not found": anonymous.get(f"{local_dashboard.url}/terraform/team-a/none", timeout=30),
        "no route": anonymous.get(f"{local_dashboard.url}/nothing/here", timeout=30),
        "static": anonymous.get(f"{local_dashboard.url}/static/live.js", timeout=30),
        "csrf refused": anonymous.post(f"{local_dashboard.url}/terraform/team-a/net/reconcile", timeout=30),
        "no session": requests.get(f"{local_dashboard.url}/", timeout=30),
    }
    assert [answers[k].status_code for k in answers] == [303, 200, 200, 404, 404, 200, 403, 401]
    for what, answer in answers.items():
        for header, value in SECURITY_HEADERS.items():
            assert answer.headers.get(header) == value, (what, header)
    assert "'unsafe-inline'" not in SECURITY_HEADERS["Content-Security-Policy"]
    fragment = answers["fragment"].text  # the inside of <main id="main"> only
    assert '<main id="main"' not in fragment and "<html" not in fragment and "<h1>net</h1>" in fragment


def test_secure_cookies_when_viewers_come_over_https(dash_kube: KubeClient) -> None:
    dashboard = serve(DashboardSettings(mode=LOCAL, client=dash_kube, secret_key=b"k" * 32, login_token=LOCAL_TOKEN,
                                        external_url="https://dash.example.com/", secure=True))
    try:
        answer = dashboard.session().get(f"{dashboard.url}/?token={LOCAL_TOKEN}", allow_redirects=False, timeout=30)
        assert "Secure" in answer.headers["Set-Cookie"]
    finally:
        dashboard.server.stop()


@pytest.mark.parametrize("form", [{}, {"csrf_token": "forged"}, {"csrf_token": ""}])
def test_an_action_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
        local_dashboard: Dashboard, dash_kube: KubeClient, form: dict[str, str]) -> None:
    before = terraform(dash_kube, "team-a", "net", pending=PLAN)["metadata"]["resourceVersion"]
    browser = local_dashboard.login()
    for action in ("approve", "replan", "reconcile", "suspend", "resume"):
        answer = browser.post(f"{local_dashboard.url}/terraform/team-a/net/{action}", data={**form, "plan": PLAN},
                              allow_redirects=False, timeout=30)
        assert answer.status_code == 403, (action, answer.text)
        assert "CSRF" in answer.text
    assert dash_kube.get(TERRAFORMS, "net", "team-a")["metadata"]["resourceVersion"] == before


def test_a_csrf_token_of_another_session_is_refused(local_dashboard: Dashboard, dash_kube: KubeClient) -> None:
    terraform(dash_kube, "team-a", "net", pending=PLAN)
    mine = local_dashboard.login()
    token = csrf_of(mine.get(f"{local_dashboard.url}/terraform/team-a/net", timeout=30).text)
    stranger = local_dashboard.session()  # no session at all: 401 before the CSRF check
    answer = stranger.post(f"{local_dashboard.url}/terraform/team-a/net/approve",
                           data={"csrf_token": token, "plan": PLAN}, allow_redirects=False, timeout=30)
    assert answer.status_code == 401
    assert ANNOTATION_APPROVE_PLAN not in _annotations(dash_kube, "team-a", "net")


def test_approving_the_plan_shown_writes_both_annotations_with_the_viewers_identity(
        local_dashboard: Dashboard, dash_kube: KubeClient) -> None:
    terraform(dash_kube, "team-a", "net", pending=PLAN)
    browser = local_dashboard.login()
    page = browser.get(f"{local_dashboard.url}/terraform/team-a/net", timeout=30)
    answer = browser.post(f"{local_dashboard.url}/terraform/team-a/net/approve",
                          data={"csrf_token": csrf_of(page.text), "plan": PLAN}, allow_redirects=False, timeout=30)
    assert answer.status_code == 303, answer.text
    assert answer.headers["Location"].endswith("/terraform/team-a/net")
    annotations = _annotations(dash_kube, "team-a", "net")
    assert annotations[ANNOTATION_APPROVE_PLAN] == PLAN
    claim = json.loads(annotations[ANNOTATION_APPROVED_BY])
    assert claim == {"plan": PLAN, "username": "dev-cluster-admin", "groups": claim["groups"], "via": "dashboard"}
    assert "system:masters" in claim["groups"]
    assert f"Approved plan {PLAN}" in browser.get(f"{local_dashboard.url}/terraform/team-a/net", timeout=30).text


@pytest.mark.parametrize("shown", ["plan-main-0123456789-ffffffff", "plan-other-0000000000-abcdef01"])
def test_approving_another_plan_than_the_pending_one_is_409_and_writes_nothing(
        local_dashboard: Dashboard, dash_kube: KubeClient, shown: str) -> None:
    before = terraform(dash_kube, "team-a", "net", pending=PLAN)["metadata"]["resourceVersion"]
    browser = local_dashboard.login()
    token = csrf_of(browser.get(f"{local_dashboard.url}/terraform/team-a/net", timeout=30).text)
    answer = browser.post(f"{local_dashboard.url}/terraform/team-a/net/approve",
                          data={"csrf_token": token, "plan": shown}, allow_redirects=False, timeout=30)
    assert answer.status_code == 409
    assert shown in answer.text and PLAN in answer.text  # names both: what you saw, what is pending
    assert dash_kube.get(TERRAFORMS, "net", "team-a")["metadata"]["resourceVersion"] == before


def test_approving_a_plan_the_policies_deny_is_409_with_the_messages_and_writes_nothing(
        local_dashboard: Dashboard, dash_kube: KubeClient) -> None:
    """Issue 18: the same rule as `tfcontroller approve` (operations.approval): a forged POST too."""
    terraform(dash_kube, "team-a", "net", pending=PLAN)
    dash_kube.patch_status(TERRAFORMS, "net", "team-a", {"plan": {"pending": PLAN, "policy": {
        "result": "denied", "results": [{"policy": "team-a/protect", "enforcement": "deny", "result": "denied",
                                         "messages": ["aws_dynamodb_table.orders would be deleted"]}]}}})
    before = dash_kube.get(TERRAFORMS, "net", "team-a")["metadata"]["resourceVersion"]
    browser = local_dashboard.login()
    token = csrf_of(browser.get(f"{local_dashboard.url}/terraform/team-a/net", timeout=30).text)
    answer = browser.post(f"{local_dashboard.url}/terraform/team-a/net/approve",
                          data={"csrf_token": token, "plan": PLAN}, allow_redirects=False, timeout=30)
    assert answer.status_code == 409, answer.text
    assert "team-a/protect: aws_dynamodb_table.orders would be deleted" in answer.text
    assert dash_kube.get(TERRAFORMS, "net", "team-a")["metadata"]["resourceVersion"] == before


def test_approving_with_nothing_pending_is_refused(local_dashboard: Dashboard, dash_kube: KubeClient) -> None:
    terraform(dash_kube, "team-a", "net")
    terraform(dash_kube, "team-a", "other", pending=PLAN)  # a page with a form: the session's CSRF token
    browser = local_dashboard.login()
    token = csrf_of(browser.get(f"{local_dashboard.url}/terraform/team-a/other", timeout=30).text)
    for form, status in (({"plan": PLAN}, 404), ({"plan": ""}, 400)):
        answer = browser.post(f"{local_dashboard.url}/terraform/team-a/net/approve",
                              data={"csrf_token": token, **form}, allow_redirects=False, timeout=30)
        assert answer.status_code == status, answer.text
    assert ANNOTATION_APPROVE_PLAN not in _annotations(dash_kube, "team-a", "net")


def test_replan_reconcile_suspend_and_resume_write_what_the_controller_reads(
        local_dashboard: Dashboard, dash_kube: KubeClient) -> None:
    terraform(dash_kube, "team-a", "net", pending=PLAN)
    browser = local_dashboard.login()
    token = csrf_of(browser.get(f"{local_dashboard.url}/terraform/team-a/net", timeout=30).text)

    def post(action: str) -> requests.Response:
        answer = browser.post(f"{local_dashboard.url}/terraform/team-a/net/{action}", data={"csrf_token": token},
                              allow_redirects=False, timeout=30)
        assert answer.status_code == 303, (action, answer.text)
        return answer

    post("replan")
    annotations = _annotations(dash_kube, "team-a", "net")
    assert annotations[ANNOTATION_REPLAN] == annotations[ANNOTATION_REQUESTED_AT]
    post("suspend")
    assert dash_kube.get(TERRAFORMS, "net", "team-a")["spec"]["suspend"] is True
    refused = browser.post(f"{local_dashboard.url}/terraform/team-a/net/reconcile", data={"csrf_token": token},
                           allow_redirects=False, timeout=30)
    assert refused.status_code == 409 and "suspended" in refused.text  # nobody would answer it
    post("resume")
    assert dash_kube.get(TERRAFORMS, "net", "team-a")["spec"]["suspend"] is False
    stamp = _annotations(dash_kube, "team-a", "net")[ANNOTATION_REQUESTED_AT]
    post("reconcile")
    assert _annotations(dash_kube, "team-a", "net")[ANNOTATION_REQUESTED_AT] != stamp


def test_logout_ends_the_session(local_dashboard: Dashboard, dash_kube: KubeClient) -> None:
    terraform(dash_kube, "team-a", "net", pending=PLAN)
    browser = local_dashboard.login()
    token = csrf_of(browser.get(f"{local_dashboard.url}/terraform/team-a/net", timeout=30).text)
    assert browser.post(f"{local_dashboard.url}/logout", data={"csrf_token": token}, timeout=30).status_code == 200
    assert browser.get(f"{local_dashboard.url}/", timeout=30).status_code == 401


def test_a_session_expires_after_its_lifetime(dash_kube: KubeClient) -> None:
    dashboard = serve(DashboardSettings(mode=LOCAL, client=dash_kube, secret_key=b"k" * 32, login_token=LOCAL_TOKEN,
                                        session_lifetime=dt.timedelta(seconds=2)))
    try:
        browser = dashboard.login()
        assert browser.get(f"{dashboard.url}/", timeout=30).status_code == 200
        wait_for(lambda: browser.get(f"{dashboard.url}/", timeout=30).status_code == 401, 10,
                 "the session to expire after its lifetime")
    finally:
        dashboard.server.stop()


@pytest.mark.parametrize("host", ["evil.example", "evil.example:9090", "192.168.1.2"])
def test_local_mode_answers_only_requests_for_a_loopback_host(local_dashboard: Dashboard, host: str) -> None:
    """A page of another site whose name was rebound to 127.0.0.1 sends its own Host: refused."""
    answer = requests.get(f"{local_dashboard.url}/?token={LOCAL_TOKEN}", headers={"Host": host}, timeout=30)
    assert answer.status_code == 403 and "Host not allowed" in answer.text
    for good in ("localhost", f"127.0.0.1:{local_dashboard.server.port}"):
        assert requests.get(f"{local_dashboard.url}/healthz", headers={"Host": good}, timeout=30).status_code == 200
    assert local_dashboard.login()  # the token was not spent by the refused request


def test_a_link_from_another_site_reloads_from_this_site_to_send_the_strict_cookie(
        local_dashboard: Dashboard, dash_kube: KubeClient) -> None:
    """SameSite=Strict keeps the cookie off a navigation that starts on another site: such a request gets a
    page that loads the same URL again from here (the browser then sends the cookie); never a loop."""
    terraform(dash_kube, "team-a", "net")
    browser = local_dashboard.login()
    browser.cookies.clear()  # as the browser sends it on a cross-site navigation
    cross = browser.get(f"{local_dashboard.url}/terraform/team-a/net?x=1", headers={"Sec-Fetch-Site": "cross-site"},
                        timeout=30)
    assert cross.status_code == 200
    assert '<meta http-equiv="refresh" content="0;url=/terraform/team-a/net?x=1">' in cross.text
    sneaky = browser.get(f"{local_dashboard.url}//evil.example/x", headers={"Sec-Fetch-Site": "cross-site"}, timeout=30)
    assert "url=//" not in sneaky.text and 'href="//' not in sneaky.text  # never a redirect to another site
    for site in ("same-origin", "none", None):
        headers = {"Sec-Fetch-Site": site} if site else {}
        assert browser.get(f"{local_dashboard.url}/terraform/team-a/net", headers=headers,
                           timeout=30).status_code == 401
