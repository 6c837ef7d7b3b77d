"""The dashboard in a real browser (headless Chromium through Selenium, tests/fixtures/browser.py) against
the dev cluster, a real git server, the real controllers (in-process, `build_manager` as `tfcontroller run`
builds it, Terraform in the local runner) and `tfcontroller dashboard` as a process (issue 17).

One stack per module (its objects settle once; each test reads what it needs from the API, so the tests do
not depend on their order): GitRepository `gitops` (smart HTTP with basic auth), Terraform `auto`
(approvePlan auto, outputs Secret), ManifestSet `app` (dependsOn `auto`, two ConfigMaps carrying its output),
and two manual Terraforms `manual` and `guarded` whose plans wait for approval and carry a sensitive
variable and a sensitive output (SECRET, which no page may contain).

- the overview lists every object with its Ready status and reason as the API has them, counters right
  (pending = the Terraforms with a pending plan; none drifted or failing), the state filter narrows it;
- a pending plan's page shows that plan's id and its diff, sensitive values masked;
- clicking approve applies exactly the plan on the page (lastAppliedPlan and history name it, approved via
  the dashboard by the viewer's username), and the page turns Ready live (no reload; live updates counted);
- the ManifestSet page lists the inventory with each object's health; the GitRepository page its artifact and
  the objects using it; the graph draws every object with its Ready status and the ManifestSet's objects;
- in-cluster mode, its own identity deploy/dashboard's ServiceAccount and RBAC (it reviews tokens and
  impersonates, reads nothing itself): a viewer logged in with a ServiceAccount token bound to the
  viewer role of deploy/dashboard/roles.yaml, which may not `patch` the Terraform, sees
  approve disabled, a POST forged with their valid session and CSRF token is refused 403, and nothing is
  applied (plan still pending, no approve annotation, no apply in history);
- a POST without (or with a wrong) CSRF token is refused 403 and approves nothing;
- "Reconcile now" on the GitRepository's page (one tab) fetches a commit that drops an object, and the
  ManifestSet's page (another tab) follows live: inventory without it, the prune Event shown.
Screenshots of each page land under test-output/<test id>/ (the `browser` fixture prints where).
"""

from __future__ import annotations

import base64
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from tests.fixtures.browser import Browser
from tests.fixtures.devcluster import install_crds
from tests.fixtures.git_servers import GitHTTPServer, GitRemote
from tests.support.dashboard import DashboardProcess, session_of
from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for
from tests.support.terraform_helpers import seed_keys
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import ANNOTATION_APPROVED_BY
from tfcontroller.controllers.gitrepository import GitRepositoryOptions
from tfcontroller.controllers.setup import ControllerManager, ControllerOptions, build_manager
from tfcontroller.controllers.terraform import TerraformOptions
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.cluster.kubeconfig import write_kubeconfig
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import AlreadyExists
from tfcontroller.kube.resources import (
    CONFIGMAPS,
    GITREPOSITORIES,
    MANIFESTSETS,
    NAMESPACES,
    SECRETS,
    SERVICEACCOUNTS,
    TERRAFORMS,
    Resource,
)
from tfcontroller.kube.reviews import whoami

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

NS = "default"
SECRET = "hunter2-" + secrets.token_hex(6)  # the sensitive variable's value: on no page, ever
APPROVE_ANNOTATION = "tfcontroller.io/approve-plan"
DASHBOARD_NS, DASHBOARD_SA = "tfcontroller-system", "tfcontroller-dashboard"  # deploy/dashboard/
ROLEBINDINGS = Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")
KINDS: tuple[tuple[str, Resource], ...] = (
    ("GitRepository", GITREPOSITORIES), ("Terraform", TERRAFORMS), ("ManifestSet", MANIFESTSETS))

AUTO_MODULE = """
variable "bucket" {
  type = string
}

resource "terraform_data" "bucket" {
  input = var.bucket
}

output "bucket_name" {
  value = terraform_data.bucket.output
}
"""

MANUAL_MODULE = """
variable "greeting" {
  type = string
}

variable "db_password" {
  type      = string
  sensitive = true
}

resource "terraform_data" "greeting" {
  input = var.greeting
}

resource "terraform_data" "credential" {
  input = var.db_password
}

output "greeting" {
  value = terraform_data.greeting.output
}

output "db_password" {
  value     = var.db_password
  sensitive = true
}
"""

PRUNABLE_FILES = {
    f"prunable/{n}.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: prune-{n}\ndata:\n  K: v\n"
    for n in ("a", "b")
}
APP_FILES = {
    "app/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n"
                       "data:\n  BUCKET_NAME: ${bucket_name}\n",
    "app/flags.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-flags\ndata:\n  FEATURE: \"on\"\n",
}


# ---------------------------------------------------------------- the stack


@dataclass
class Stack:
    cluster: DevCluster
    kube: KubeClient
    logs: Path
    remote: GitRemote

    def get(self, resource: Resource, name: str) -> dict[str, Any]:
        return self.kube.get(resource, name, NS)

    def tf_status(self, name: str) -> dict[str, Any]:
        return self.get(TERRAFORMS, name).get("status") or {}

    def pending(self, name: str) -> str | None:
        return (self.tf_status(name).get("plan") or {}).get("pending")

    def local_dash(self, name: str) -> DashboardProcess:
        dash = DashboardProcess(self.cluster.kubeconfig, self.logs / f"dashboard-{name}.log")
        dash.wait_ready()
        return dash


def ready_of(obj: dict[str, Any]) -> tuple[str, str]:
    cond = c.find((obj.get("status") or {}).get("conditions"), c.READY)
    return (cond.status, cond.reason) if cond is not None else ("Unknown", "")


def b64(values: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}


def terraform(name: str, path: str, approve: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "gitops"}, "path": path, "interval": "1h",
                     "approvePlan": approve, **spec}}


def create_objects(kube: KubeClient, git_url: str, git_user: str, git_password: str) -> None:
    kube.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "git-credentials",
                                                                             "namespace": NS},
                          "data": b64({"username": git_user, "password": git_password})})
    kube.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": NS},
                          "data": b64({"db_password": SECRET})})
    kube.create(GITREPOSITORIES, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "GitRepository", "metadata": {"name": "gitops",
                                                                                         "namespace": NS},
        "spec": {"url": git_url, "ref": {"branch": "main"}, "interval": "1m",
                 "secretRef": {"name": "git-credentials"}}})
    kube.create(TERRAFORMS, terraform("auto", "./auto", "auto", vars=[{"name": "bucket", "value": "bucket-one"}],
                                      writeOutputsToSecret={"name": "auto-outputs"}))
    for name, greeting in (("manual", "hello"), ("guarded", "good morning")):
        kube.create(TERRAFORMS, terraform(name, "./manual", "", vars=[{"name": "greeting", "value": greeting}],
                                          varsFrom=[{"kind": "Secret", "name": "db"}]))
    kube.create(MANIFESTSETS, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "ManifestSet", "metadata": {"name": "app",
                                                                                       "namespace": NS},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "gitops"}, "path": "./app", "interval": "1h",
                 "prune": True, "dependsOn": [{"kind": "Terraform", "name": "auto"}],
                 "substituteFrom": [{"kind": "Secret", "name": "auto-outputs"}]}})
    kube.create(MANIFESTSETS, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "ManifestSet", "metadata": {"name": "prunable",
                                                                                       "namespace": NS},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "gitops"}, "path": "./prunable",
                 "interval": "1h", "prune": True}})


def settled(kube: KubeClient) -> bool:
    """auto applied, app and prunable applied, manual and guarded waiting for approval."""
    def get(resource: Resource, name: str) -> dict[str, Any]:
        return kube.get_or_none(resource, name, NS) or {}

    return (ready_of(get(TERRAFORMS, "auto"))[0] == "True" and ready_of(get(MANIFESTSETS, "app"))[0] == "True"
            and ready_of(get(MANIFESTSETS, "prunable"))[0] == "True"
            and all(((get(TERRAFORMS, n).get("status") or {}).get("plan") or {}).get("pending")
                    for n in ("manual", "guarded")))


def start_controllers(kube: KubeClient, kubeconfig: str, tmp: Path) -> ControllerManager:
    opts = ControllerOptions(
        kubeconfig=kubeconfig, namespace=None, concurrent=3, artifact_dir=str(tmp / "artifacts"),
        retry_base=0.2, retry_cap=2.0, shutdown_grace=15.0, lease_namespace=NS,
        gitrepository=GitRepositoryOptions(ls_remote_ttl=0.5),
        terraform=TerraformOptions(work_dir=str(tmp / "tf"), runner="local"),
    )
    manager = build_manager(opts, kube)
    manager.start()
    assert manager.wait_synced(15), "informers did not sync"
    return manager


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("dashboard-stack")
    remotes = logs / "git"
    remotes.mkdir()
    remote = GitRemote(remotes, "gitops")
    remote.commit({"auto/main.tf": AUTO_MODULE, "manual/main.tf": MANUAL_MODULE, **APP_FILES, **PRUNABLE_FILES})
    git_password = secrets.token_hex(12)
    # A short work directory: provider sockets live under a run's TMPDIR (108-byte limit on socket paths).
    with DevCluster() as cluster, GitHTTPServer(remotes, "git-user", git_password, host="127.0.0.1") as git, \
            tempfile.TemporaryDirectory(prefix="tfc-dash-") as work:
        kube = KubeClient.load(cluster.kubeconfig)
        manager = None
        try:
            install_crds(kube)
            seed_keys(kube)
            manager = start_controllers(kube, cluster.kubeconfig, Path(work))
            create_objects(kube, git.url_for(remote), "git-user", git_password)
            wait_for(lambda: settled(kube), 240, "auto and app applied, manual and guarded pending", interval=0.5)
            yield Stack(cluster, kube, logs, remote)
        finally:
            if manager is not None:
                manager.stop(grace=15)
            kube.close()


@pytest.fixture
def local_dash(stack: Stack, request: pytest.FixtureRequest) -> Iterator[DashboardProcess]:
    """`tfcontroller dashboard` in local mode (the kubeconfig's identity) for one test: its one-time
    login URL is good for one browser."""
    dash = stack.local_dash(request.node.name)
    try:
        yield dash
    finally:
        dash.stop()


# ---------------------------------------------------------------- browser helpers


def login_local(browser: Browser, dash: DashboardProcess) -> None:
    """Open the printed one-time URL, as a person does; it leaves a session cookie and shows the overview."""
    browser.get(dash.url)
    browser.wait_css("main#main")
    assert browser.find("#viewer").text, "no viewer name on the page"


def open_page(browser: Browser, dash: DashboardProcess, path: str, ready_selector: str = "main#main") -> None:
    browser.get(dash.base + path)
    browser.wait_css(ready_selector)
    assert SECRET not in browser.driver.page_source, f"{path} shows the sensitive value"


def wait_live(browser: Browser) -> None:
    browser.wait_css('body[data-live="connected"]', timeout=30)


def live_updates(browser: Browser) -> int:
    return int(browser.find("body").get_attribute("data-live-updates") or 0)


def form_post_status(browser: Browser, form_selector: str, action: str, drop: tuple[str, ...] = (),
                     override: dict[str, str] | None = None) -> int:
    """POST the fields of the page's form `form_selector` to `action` from inside the page (the browser's
    cookies, same origin), leaving out `drop` and replacing `override`; the HTTP status, redirects not
    followed."""
    script = """
const [sel, action, drop, override, done] = arguments;
const data = new FormData(document.querySelector(sel));
for (const k of drop) data.delete(k);
for (const [k, v] of Object.entries(override)) data.set(k, v);
fetch(action, {method: 'POST', body: new URLSearchParams(data), credentials: 'same-origin', redirect: 'manual'})
  .then(r => done(r.type === 'opaqueredirect' ? 303 : r.status), e => done('error: ' + e));
"""
    status = browser.driver.execute_async_script(script, form_selector, action, list(drop), override or {})
    assert isinstance(status, int), status
    return status


def objects_in_cluster(kube: KubeClient) -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, name) → (Ready status, reason) of every object of the three kinds in NS."""
    found = {}
    for kind, resource in KINDS:
        for obj in kube.list(resource, NS).get("items") or []:
            found[(kind, obj["metadata"]["name"])] = ready_of(obj)
    return found


def rows(browser: Browser) -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, name) → (data-ready, data-reason) of the overview's rows in NS, read in one script (a live
    update may swap the table between two element reads)."""
    found = browser.driver.execute_script(
        "return Array.from(document.querySelectorAll('#objects tr.object')).map(r => "
        "[r.dataset.kind, r.dataset.namespace, r.dataset.name, r.dataset.ready, r.dataset.reason]);")
    return {(kind, name): (ready, reason) for kind, ns, name, ready, reason in found if ns == NS}


def applies_of(status: dict[str, Any]) -> list[dict[str, Any]]:
    return [h for h in status.get("history") or [] if h.get("kind") == "apply"]


# ---------------------------------------------------------------- tests


def test_overview_lists_every_object_with_its_state_and_counts(stack: Stack, local_dash: DashboardProcess,
                                                               browser: Browser) -> None:
    login_local(browser, local_dash)
    open_page(browser, local_dash, "/", "#objects tr.object")
    want = objects_in_cluster(stack.kube)
    assert len(want) == 6, want
    browser.wait_until(lambda d: rows(browser) == objects_in_cluster(stack.kube), 15,
                       "every object's row with the API's Ready status and reason")
    assert rows(browser)[("Terraform", "auto")] == ("True", ready_of(stack.get(TERRAFORMS, "auto"))[1])
    pending = {name for (kind, name) in want if kind == "Terraform" and stack.pending(name)}
    assert pending >= {"guarded"}, pending
    assert browser.find("#count-pending").text.strip() == str(len(pending))
    assert browser.find("#count-drifted").text.strip() == "0"
    assert browser.find("#count-failing").text.strip() == "0"  # waiting for approval is not failing
    browser.screenshot("overview")

    # The state filter, through the form as a person uses it.
    from selenium.webdriver.support.ui import Select

    Select(browser.find("#filters select[name=state]")).select_by_value("pending")
    browser.driver.execute_script("const f = arguments[0]; f.requestSubmit ? f.requestSubmit() : f.submit();",
                                  browser.find("#filters"))
    browser.wait_until(lambda d: "state=pending" in d.current_url, 15, "the filtered overview")
    browser.wait_until(lambda d: {name for (_, name) in rows(browser)} == {
        n for n in ("manual", "guarded") if stack.pending(n)}, 15, "only the pending Terraforms listed")
    browser.screenshot("overview-pending")

    # Each row links to its object's page.
    link = browser.find('#objects tr.object[data-name="guarded"] a.object-link')
    link.click()
    browser.wait_until(lambda d: "/terraform/default/guarded" in d.current_url, 15, "the Terraform page")


def test_pending_plan_page_shows_its_diff_with_sensitive_values_masked(
        stack: Stack, local_dash: DashboardProcess, browser: Browser) -> None:
    login_local(browser, local_dash)
    plan_id = stack.pending("guarded")
    assert plan_id
    open_page(browser, local_dash, "/terraform/default/guarded", "#plan[data-plan-id]")
    assert browser.find("#plan").get_attribute("data-plan-id") == plan_id
    assert plan_id in browser.find("#plan").text or plan_id in browser.find("#approve-form").get_attribute(
        "innerHTML"), "the plan id is not shown where approve is"
    assert browser.find("#approve-form input[name=plan]").get_attribute("value") == plan_id
    assert browser.find("#ready").get_attribute("data-status") == ready_of(stack.get(TERRAFORMS, "guarded"))[0]

    lines = [(e.get_attribute("class"), e.text) for e in browser.find_all("#plan .diff-line")]
    text = "\n".join(t for _, t in lines)
    creates = [t for cls, t in lines if "diff-create" in cls]
    assert any("terraform_data.greeting" in t for t in creates), lines
    assert any("terraform_data.credential" in t for t in creates), lines
    assert any("diff-summary" in cls and "2 to add" in t for cls, t in lines), lines
    assert '"good morning"' in text or "good morning" in text, "the plain attribute is not shown"
    assert "(sensitive)" in text, "the sensitive input is not shown as masked"
    assert SECRET not in browser.driver.page_source
    # Colours come from the stylesheet (diff-<kind> classes), as terraform colours its own output.
    colour = browser.find("#plan .diff-line.diff-create").value_of_css_property("color")
    assert colour not in ("", "rgba(0, 0, 0, 1)"), colour
    outputs = browser.find("#outputs").text
    assert SECRET not in outputs
    browser.screenshot("terraform-with-plan")


def test_approve_in_the_browser_applies_that_plan_and_the_page_turns_ready_live(
        stack: Stack, local_dash: DashboardProcess, browser: Browser) -> None:
    login_local(browser, local_dash)
    plan_id = stack.pending("manual")
    assert plan_id
    username = whoami(stack.kube).username
    open_page(browser, local_dash, "/terraform/default/manual", "#plan[data-plan-id]")
    assert browser.find("#plan").get_attribute("data-plan-id") == plan_id
    assert browser.find("#ready").get_attribute("data-status") != "True"
    assert browser.find("#approve").get_attribute("disabled") is None

    browser.find("#approve").click()
    browser.wait_css(".flash")  # the redirect back to the page, with what happened
    wait_live(browser)
    before = live_updates(browser)
    # No get/refresh from here on: the live stream swaps the page in as the controller applies.
    browser.wait_until(lambda d: d.find_element("css selector", "#ready").get_attribute("data-status") == "True",
                       180, "the page to turn Ready without a reload")
    assert live_updates(browser) > before
    assert not browser.find_all("#plan[data-plan-id]"), "the applied plan is still shown as pending"
    browser.screenshot("terraform-after-approve")

    status = stack.tf_status("manual")
    assert status.get("lastAppliedPlan") == plan_id
    applied = applies_of(status)
    assert applied and applied[0].get("planId") == plan_id, status.get("history")
    assert applied[0].get("outcome") == "Succeeded"
    approved_by = applied[0].get("approvedBy") or {}
    assert (approved_by.get("via"), approved_by.get("username")) == ("dashboard", username), approved_by
    # The history on the page says the same, live.
    browser.wait_until(lambda d: any(
        e.get_attribute("data-kind") == "apply" and e.get_attribute("data-plan-id") == plan_id
        and username in e.find_element("css selector", ".approved-by").text
        for e in d.find_elements("css selector", "#history tr.history-entry")), 30, "the apply in the history")


def test_manifestset_gitrepository_and_graph_pages(stack: Stack, local_dash: DashboardProcess, browser: Browser) -> None:
    login_local(browser, local_dash)
    inventory = {e["id"] for e in (stack.get(MANIFESTSETS, "app").get("status") or {}).get("inventory") or []}
    assert inventory == {"default_app-config__ConfigMap", "default_app-flags__ConfigMap"}, inventory
    open_page(browser, local_dash, "/manifestset/default/app", "#inventory tr.inventory-entry")
    entries = {e.get_attribute("data-id"): e.get_attribute("data-health")
               for e in browser.find_all("#inventory tr.inventory-entry")}
    assert set(entries) == inventory
    assert all(entries.values()), entries
    browser.wait_css("#events")
    browser.screenshot("manifestset")

    open_page(browser, local_dash, "/gitrepository/default/gitops", "#artifact")
    assert browser.find("#ready").get_attribute("data-status") == "True"
    users = {(u.get_attribute("data-kind"), u.get_attribute("data-name")) for u in browser.find_all("#users li.user")}
    assert users == {(kind, name) for (kind, name) in objects_in_cluster(stack.kube) if kind != "GitRepository"}
    browser.screenshot("gitrepository")

    open_page(browser, local_dash, "/graph", "svg#graph g.node")
    nodes = {(n.get_attribute("data-kind"), n.get_attribute("data-name")): n.get_attribute("data-ready")
             for n in browser.find_all("svg#graph g.node") if n.get_attribute("data-namespace") in (NS, "", None)}
    for (kind, name), (ready, _) in objects_in_cluster(stack.kube).items():
        assert nodes.get((kind, name)) == ready, (kind, name, nodes)
    assert ("ConfigMap", "app-config") in nodes, nodes  # the ManifestSet's Kubernetes objects
    # gitops → 3 Terraforms, auto → app, app → its 2 objects, prunable → its objects
    assert len(browser.find_all("svg#graph path.edge")) >= 7
    browser.screenshot("graph")


def install_dashboard_rbac(kube: KubeClient) -> None:
    """deploy/dashboard's ServiceAccount and RBAC (its own least RBAC, and the viewer/approver roles), as
    `kubectl apply -k deploy/dashboard` creates them (the Deployment aside: the test runs the process)."""
    if kube.get_or_none(NAMESPACES, DASHBOARD_NS) is None:
        kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DASHBOARD_NS}})
    for part in ("serviceaccount.yaml", "rbac.yaml", "roles.yaml"):
        for doc in yaml.safe_load_all((REPO_ROOT / "deploy" / "dashboard" / part).read_text()):
            if doc:
                try:
                    kube.create(kube.resource_of(doc), doc, doc["metadata"].get("namespace"))
                except AlreadyExists:
                    pass


def service_account_token(stack: Stack, namespace: str, name: str) -> str:
    api = kubernetes.config.new_client_from_config(config_file=stack.cluster.kubeconfig)
    try:
        core = kubernetes.client.CoreV1Api(api)
        token: str = core.create_namespaced_service_account_token(name, namespace, {"spec": {}}).status.token
        return token
    finally:
        api.close()


def viewer_token(stack: Stack) -> str:
    """A ServiceAccount `viewer` bound in NS to deploy/dashboard's viewer ClusterRole (read our kinds,
    Events, Pods and the readable plan; no patch); its token (TokenRequest), what the viewer pastes."""
    stack.kube.create(SERVICEACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                        "metadata": {"name": "viewer", "namespace": NS}}, NS)
    stack.kube.create(ROLEBINDINGS, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "viewer-dashboard-viewer", "namespace": NS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "tfcontroller-dashboard-viewer"},
        "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": NS}]}, NS)
    return service_account_token(stack, NS, "viewer")


def installed_dashboard_kubeconfig(stack: Stack) -> str:
    """A kubeconfig holding the token of deploy/dashboard's ServiceAccount: the in-cluster dashboard's own
    identity as installed (it reviews tokens and impersonates; it cannot read a Terraform by itself)."""
    path = stack.logs / "dashboard-sa.kubeconfig"
    write_kubeconfig(path, stack.cluster.url, service_account_token(stack, DASHBOARD_NS, DASHBOARD_SA),
                     stack.cluster.ca_pem)
    return str(path)


def nothing_applied(stack: Stack, name: str, plan_id: str) -> None:
    obj = stack.get(TERRAFORMS, name)
    annotations = obj["metadata"].get("annotations") or {}
    assert APPROVE_ANNOTATION not in annotations and ANNOTATION_APPROVED_BY not in annotations, annotations
    status = obj.get("status") or {}
    assert (status.get("plan") or {}).get("pending") == plan_id
    assert not status.get("lastAppliedPlan") and not applies_of(status), status


def test_viewer_without_patch_sees_approve_disabled_and_a_forged_post_is_refused(
        stack: Stack, browser: Browser) -> None:
    plan_id = stack.pending("guarded")
    assert plan_id
    install_dashboard_rbac(stack.kube)
    token = viewer_token(stack)
    dash = DashboardProcess(installed_dashboard_kubeconfig(stack), stack.logs / "dashboard-in-cluster.log",
                            "--in-cluster")
    try:
        dash.wait_ready()
        browser.get(dash.base + "/")  # not logged in: the login page
        field = browser.wait_css("form#login-form textarea[name=token]")
        browser.screenshot("login")
        field.send_keys(token)
        browser.find("form#login-form button#login").click()
        browser.wait_until(lambda d: d.find_elements("css selector", "#viewer")
                           and "system:serviceaccount:default:viewer" in d.find_element("css selector", "#viewer").text,
                           30, "the overview as the viewer")
        assert token not in browser.driver.page_source

        open_page(browser, dash, "/terraform/default/guarded", "#plan[data-plan-id]")
        approve = browser.find("#approve")
        assert approve.get_attribute("disabled") is not None, "approve is enabled for a viewer without patch"
        assert "patch" in (approve.get_attribute("title") or ""), approve.get_attribute("title")
        for button in ("#replan", "#reconcile", "#suspend"):
            found = browser.find_all(button)
            assert not found or found[0].get_attribute("disabled") is not None, button
        browser.screenshot("terraform-read-only")

        # A forged POST: the viewer's own session and a valid CSRF token, as a script in their browser could.
        action = "/terraform/default/guarded/approve"
        assert form_post_status(browser, "form#approve-form", action) == 403
        # …and the same through the form itself, button enabled by hand: the refusal page.
        browser.driver.execute_script("document.querySelector('#approve').removeAttribute('disabled');")
        browser.find("#approve").click()
        browser.wait_until(lambda d: "403" in d.page_source or "not allowed" in d.page_source.lower(), 15,
                           "the refusal page")
        browser.screenshot("refused")
        nothing_applied(stack, "guarded", plan_id)
    finally:
        dash.stop()


def test_a_post_without_a_valid_csrf_token_is_refused(stack: Stack, local_dash: DashboardProcess,
                                                      browser: Browser) -> None:
    login_local(browser, local_dash)
    plan_id = stack.pending("guarded")
    assert plan_id
    open_page(browser, local_dash, "/terraform/default/guarded", "#approve-form")
    action = "/terraform/default/guarded/approve"
    assert form_post_status(browser, "form#approve-form", action, drop=("csrf_token",)) == 403
    assert form_post_status(browser, "form#approve-form", action, override={"csrf_token": "forged"}) == 403
    # Outside the browser with the session cookie but no token: the same.
    session = session_of(browser.driver, local_dash.base)
    refused = session.post(local_dash.base + action, data={"plan": plan_id}, allow_redirects=False, timeout=10)
    assert refused.status_code == 403, refused.text[:500]
    nothing_applied(stack, "guarded", plan_id)


def test_graph_draws_a_plan_waiting_for_approval_as_waiting_not_failing(
        stack: Stack, local_dash: DashboardProcess, browser: Browser) -> None:
    login_local(browser, local_dash)
    assert stack.pending("guarded")
    open_page(browser, local_dash, "/graph", 'svg#graph g.node[data-name="guarded"]')
    state = browser.find('svg#graph g.node[data-kind="Terraform"][data-name="guarded"]').get_attribute("data-state")
    assert state != "failing", "a plan waiting for approval is drawn as failing (the overview counts it pending)"


def inventory_ids(browser: Browser) -> set[str]:
    return set(browser.driver.execute_script(
        "return Array.from(document.querySelectorAll('#inventory tr.inventory-entry')).map(e => e.dataset.id);"))


def test_a_reconcile_clicked_in_one_tab_prunes_and_the_manifestset_page_follows_live(
        stack: Stack, local_dash: DashboardProcess, browser: Browser) -> None:
    """A commit drops one of prunable's ConfigMaps; "Reconcile now" on the GitRepository's page (a second
    tab) fetches it at once; the ManifestSet's page, open in the first tab, follows without a reload: the
    inventory loses the object and the prune Event appears."""
    login_local(browser, local_dash)
    open_page(browser, local_dash, "/manifestset/default/prunable", "#inventory tr.inventory-entry")
    assert inventory_ids(browser) == {"default_prune-a__ConfigMap", "default_prune-b__ConfigMap"}
    wait_live(browser)
    before = live_updates(browser)
    ms_tab = browser.driver.current_window_handle

    stack.remote.commit({"prunable/b.yaml": None}, message="prunable: drop prune-b")
    browser.driver.switch_to.new_window("tab")
    open_page(browser, local_dash, "/gitrepository/default/gitops", "#reconcile")
    browser.find("#reconcile").click()
    browser.wait_css(".flash")
    browser.screenshot("gitrepository-reconcile-requested")

    browser.driver.switch_to.window(ms_tab)
    browser.wait_until(lambda d: inventory_ids(browser) == {"default_prune-a__ConfigMap"}, 120,
                       "the inventory without prune-b, without a reload")
    browser.wait_until(lambda d: any("ConfigMap/default/prune-b pruned" in e.text
                                     for e in browser.find_all("#events tr.event .message")), 30,
                       "the prune Event on the page")
    assert live_updates(browser) > before
    assert stack.kube.get_or_none(CONFIGMAPS, "prune-b", NS) is None
    browser.screenshot("manifestset-after-prune")
