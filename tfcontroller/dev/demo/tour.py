"""The scripted tour of `make demo` (see docs/demo.md).

Each step waits for an observable outcome with a timeout and records whether it happened; with `--exit`
the process exits 0 only when every step had its expected outcome. Without it the stack keeps running
until Ctrl-C (the normal end: "stopped", exit 0) so that a person can explore it with the commands it
prints (`explore_commands`: the virtualenv's activation first, since `tfcontroller` is not on PATH after
`make setup`), kubectl and the mail folder, and deploy changes from `.demo/checkout` with `git push`.
The production plan's approval is taken from anywhere (approval.py): the tour approves it with the CLI, or,
with `--wait-for-approval`, waits for a person to approve it (the dashboard's button, the CLI, kubectl).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfcontroller.dev.demo import approval, notifications, repo
from tfcontroller.dev.demo.progress import Progress, format_entry, terminal_width
from tfcontroller.dev.demo.repo import git
from tfcontroller.dev.demo.services import (
    ROOT,
    DemoError,
    Process,
    run,
    start_emulator,
    stop_emulator,
    tfcontroller_argv,
)
from tfcontroller.dev.demo.terminal import take_foreground
from tfcontroller.dev.gitserver import GitHTTPServer
from tfcontroller.dev.smtp_sink import SMTPSink
from tfcontroller.dev.webhook_sink import WebhookSink, headline
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import NotFound
from tfcontroller.kube.resources import (
    CONFIGMAPS,
    GITREPOSITORIES,
    MANIFESTSETS,
    PODS,
    SECRETS,
    TERRAFORMS,
    Resource,
)

NS = "default"
DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
EMAIL_TO = "platform-team@example.com"
RUNNER_PODS = "app.kubernetes.io/managed-by=tfcontroller"  # the label of every runner Pod (terraform/runner_pod.py)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Step:
    name: str
    ok: bool
    detail: str


@dataclass
class Tour:
    workdir: Path
    kube: KubeClient
    kubeconfig: Path
    emulator_endpoint: str
    progress: Progress
    sink: SMTPSink
    work_repo: Path
    bare_repo: Path
    steps: list[Step] = field(default_factory=list)  # the caller's list: steps survive a Ctrl-C
    dashboard: str = ""  # the dashboard's root URL (no login token)
    webhook: WebhookSink | None = None  # the receiver of the demo's NotificationProvider
    wait_for_approval: bool = False  # --wait-for-approval: a person approves the production plan, anywhere

    def show_notification(self, wanted: notifications.Wanted, timeout: float = 300) -> str:
        """Wait for a notification at the webhook sink and print it whole (signature verified); return its
        headline for the step's detail."""
        if self.webhook is None:
            raise DemoError("the webhook sink is not running")
        self.progress.say(f"waiting for {wanted.text()}")
        block = notifications.await_notification(self.webhook, wanted, timeout)
        print(block, flush=True)
        return block.splitlines()[0].removeprefix("WEBHOOK").strip()

    # ------------------------------------------------------------------ helpers
    def check(self, name: str, fn: Callable[[], str]) -> bool:
        self.progress.say(f"STEP  {name}")
        try:
            detail = fn()
            self.steps.append(Step(name, True, detail))
            self.progress.say(f"  ok  {detail}")
            return True
        except Exception as exc:  # noqa: BLE001 - every failure becomes a failed step with its reason
            self.steps.append(Step(name, False, f"{type(exc).__name__}: {exc}"))
            self.progress.say(f"  FAILED  {exc}")
            return False

    def wait(self, what: str, fn: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        last_exc: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = fn()
                if value:
                    return value
            except NotFound as exc:
                last_exc = exc
            time.sleep(1.0)
        raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}" + (f" ({last_exc})" if last_exc else ""))

    def tf(self, name: str) -> dict[str, Any]:
        return self.kube.get(TERRAFORMS, name, NS)

    def ready(self, obj: dict[str, Any]) -> bool:
        for c in (obj.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Ready":
                return bool(c.get("status") == "True")
        return False

    def outputs(self, name: str) -> dict[str, str]:
        data = self.kube.read_secret_data(NS, name)
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in data.items()}

    def boto(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service, endpoint_url=self.emulator_endpoint, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )

    def cli(self, *args: str) -> str:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        return run(tfcontroller_argv(*args), env=env, timeout=120).stdout

    def show_runner_pods(self, name: str) -> str:
        """Show a run of terraform/`name` in its runner Pod while it is in flight (`--runner=pod`): the
        Pods as `kubectl get pods` lists them, then the run's Terraform output as `tfcontroller logs
        --follow` streams it. A Pod is removed when its run succeeds, so this waits for one to exist
        (a Pod that ends before `logs` reads it is said, not a failure: the run goes on regardless)."""
        selector = f"{RUNNER_PODS},tfcontroller.io/terraform={name}"
        pod = self.wait(f"a runner Pod of terraform/{name}",
                        lambda: next(iter(self.kube.list(PODS, NS, label_selector=selector).get("items") or []), None),
                        600)
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.workdir / "kube-cache")}
        listed = run(["kubectl", "get", "pods", "-n", NS, "-L", "tfcontroller.io/operation"], env=env).stdout
        self.progress.say(f"$ kubectl get pods -n {NS} -L tfcontroller.io/operation\n")
        print(listed, flush=True)
        self.progress.say(f"$ tfcontroller logs {name} --follow")
        logs = run(tfcontroller_argv("logs", name, "--follow"), env=env, check=False, timeout=600)
        print((logs.stdout + logs.stderr).rstrip(), flush=True)
        return str(pod["metadata"]["name"])

    # ------------------------------------------------------------------ the tour
    def dev_applied(self) -> str:
        pod = self.show_runner_pods("app-stack-dev")
        obj = self.wait("terraform/app-stack-dev to be applied", lambda: self.ready(self.tf("app-stack-dev")) and self.tf("app-stack-dev"), 600)
        out = self.wait("the outputs Secret app-stack-dev-outputs", lambda: self.outputs("app-stack-dev-outputs"), 60)
        bucket = out["bucket_name"]
        self.boto("s3").head_bucket(Bucket=bucket)
        if "connection_string" in json.dumps(obj.get("status", {})).replace('"connection_string"', ""):
            raise DemoError("a sensitive output value leaked into status")
        return (f"dev stack applied automatically at {obj['status'].get('lastAppliedRevision')} by runner Pods "
                f"(first: {pod}); bucket {bucket} exists")

    def prod_approved(self) -> str:
        name = "app-stack-prod"
        pending = self.wait(
            f"a pending plan on terraform/{name}",
            lambda: (self.tf(name).get("status") or {}).get("plan", {}).get("pending"), 600,
        )
        shown = self.cli("plan", "show", name)
        print(shown)
        # The NotificationRule's PlanPending, sent while the plan waits: what a reviewer gets in chat.
        self.show_notification(notifications.Wanted("PlanPending", name, pending))
        page = f"{self.dashboard}terraform/{NS}/{name}" if self.dashboard else ""
        if self.wait_for_approval:
            self.progress.say(approval.ask_for_approval(NS, name, pending, page))
        else:
            if page:
                self.progress.say(f"the same plan in the browser, with its Approve button: {page} (the tour approves "
                                  "it here with the CLI; `--wait-for-approval` leaves that to you)")
            self.approve_with_cli(name, pending)
        # Whoever approved it, wherever: the annotation names the plan (approval.approved).
        self.wait(f"an approval of plan {pending}", lambda: approval.approved(self.tf(name), pending),
                  approval.APPROVAL_WAIT if self.wait_for_approval else 60)
        obj = self.wait(f"terraform/{name} to be applied", lambda: self.ready(self.tf(name)) and self.tf(name), 600)
        if obj["status"].get("lastAppliedPlan") != pending:
            raise DemoError(f"applied {obj['status'].get('lastAppliedPlan')}, approved {pending}")
        who = self.wait(f"the apply of {pending} in the history",
                        lambda: approval.approved_by(self.tf(name).get("status"), pending), 60)
        return f"production plan {pending} shown, notified (webhook, signed), approved by {who} and applied"

    def approve_with_cli(self, name: str, plan: str) -> None:
        """`tfcontroller approve` unless someone approved the plan already (the dashboard, another terminal):
        an approval from anywhere counts, and one made while the CLI runs is no failure either."""
        if approval.approved(self.tf(name), plan):
            self.progress.say(f"plan {plan} is approved already (not by the tour)")
            return
        self.progress.say(f"$ tfcontroller approve {name} --plan {plan}")
        try:
            self.cli("approve", name, "--plan", plan)
        except DemoError:
            if not approval.approved(self.tf(name), plan):
                raise

    def apps_configured(self) -> str:
        details = []
        for env, short in (("development", "dev"), ("production", "prod")):
            out = self.outputs(f"app-stack-{short}-outputs")

            def configured(env: str = env, out: dict[str, str] = out) -> bool:
                # The ManifestSet applies the ConfigMap before the Deployment: wait for both.
                data = self.kube.get(CONFIGMAPS, "sample-app-config", env).get("data") or {}
                if data.get("BUCKET_NAME") != out["bucket_name"] or data.get("QUEUE_URL") != out["queue_url"]:
                    return False
                dep = self.kube.get(DEPLOYMENTS, "sample-app", env)
                containers = dep["spec"]["template"]["spec"]["containers"]
                env_vars = {e["name"]: e.get("value") for e in containers[0].get("env", [])}
                return env_vars.get("BUCKET_NAME") == out["bucket_name"] and env_vars.get("QUEUE_URL") == out["queue_url"]

            self.wait(f"ConfigMap and Deployment in {env} to carry the outputs", configured, 300)
            details.append(f"{env}: bucket {out['bucket_name']}")
        return "ConfigMaps and Deployments carry the outputs (" + "; ".join(details) + ")"

    def drift_mailed_and_remediated(self) -> str:
        bucket = self.outputs("app-stack-dev-outputs")["bucket_name"]
        s3 = self.boto("s3")
        original = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
        already = set(self.sink.mails())
        tampered = {**original, "owner": "someone-in-the-console"}
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tampered.items()]})
        self.progress.say(f"drift injected: bucket {bucket} tag owner=someone-in-the-console (outside Terraform)")
        mail = self.wait(
            "a drift report in .demo/mail",
            lambda: next((p for p in self.sink.mails()
                          if p not in already and "[drift] default/app-stack-dev" in p.read_text(errors="replace")
                          and "aws_s3_bucket.this" in p.read_text(errors="replace")), None),
            300,
        )

        def restored() -> bool:
            tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
            return tags.get("owner") == original.get("owner")

        self.show_notification(notifications.Wanted("DriftDetected", "app-stack-dev"))
        self.wait("auto remediation to restore the tags", restored, 300)
        self.show_notification(notifications.Wanted("DriftResolved", "app-stack-dev"))
        return (f"drift mail saved as {mail.relative_to(self.workdir.parent)}; DriftDetected and DriftResolved "
                f"notified (webhook, signed); tags restored by remediation")

    def module_commit_replans_one_stack(self) -> str:
        before_prod = self.tf("app-stack-prod")["status"]
        before_dev = self.tf("app-stack-dev")["status"]
        # The tour commits from a clone of its own: the user's checkout (.demo/checkout) is theirs.
        clone = repo.tour_clone(self.bare_repo, self.workdir / "tour-clone")
        main_tf = clone / "infrastructure/terraform/aws/dev/main.tf"
        owner = toggle_owner(main_tf)
        git("commit", "-am", f"dev stack: owner tag {owner}", cwd=clone)
        git("push", "origin", "main", cwd=clone)
        commit = git("rev-parse", "HEAD", cwd=clone)
        try:
            self.progress.say(repo.follow(self.work_repo))
        except DemoError as exc:  # the user's checkout is theirs: a state we cannot follow is not the tour's failure
            self.progress.say(f"left {self.work_repo} as it is ({exc}); `git pull --rebase` there catches up")

        def dev_applied_new_commit() -> bool:
            st = self.tf("app-stack-dev").get("status") or {}
            return commit in (st.get("lastAppliedRevision") or "") and self.ready(self.tf("app-stack-dev"))

        self.wait("app-stack-dev to apply the new commit", dev_applied_new_commit, 600)
        after_dev = self.tf("app-stack-dev")["status"]
        after_prod = self.tf("app-stack-prod")["status"]
        # The commit changed the dev stack's inputs only. (Prod may still run its scheduled drift check,
        # a plan that changes nothing; what must not happen is a new plan to approve or a new apply.)
        if after_dev.get("inputsDigest") == before_dev.get("inputsDigest"):
            raise DemoError("app-stack-dev's inputs digest did not change with its module")
        if after_prod.get("inputsDigest") != before_prod.get("inputsDigest"):
            raise DemoError("app-stack-prod's inputs digest changed although its module did not")
        if after_prod.get("lastAppliedPlan") != before_prod.get("lastAppliedPlan"):
            raise DemoError("app-stack-prod was applied again although its inputs did not change")
        if (after_prod.get("plan") or {}).get("pending"):
            raise DemoError(f"app-stack-prod has a new pending plan {(after_prod.get('plan') or {}).get('pending')}")
        return (f"dev re-planned and applied {commit[:10]} (plan {after_dev.get('lastAppliedPlan')}); "
                f"prod kept plan {after_prod.get('lastAppliedPlan')} and its inputs digest")


OWNER_DEFAULT = re.compile(r'(variable "owner" \{[^}]*?default\s*=\s*)"([^"]*)"', re.S)


def toggle_owner(main_tf: Path) -> str:
    """Change the owner tag's default in a stack's main.tf to a new value (platform-dev, then platform
    again on the next run over the same repository), so that the tour's commit always changes the module."""
    text = main_tf.read_text()
    found = OWNER_DEFAULT.search(text)
    if not found:
        raise DemoError(f"{main_tf}: no default of variable \"owner\" to change")
    owner = "platform" if found.group(2) == "platform-dev" else "platform-dev"
    main_tf.write_text(OWNER_DEFAULT.sub(lambda m: f'{m.group(1)}"{owner}"', text, count=1))
    return owner


def _bootstrap(kube: KubeClient, kubeconfig: Path, workdir: Path, git_url: str, git_user: str,
               git_password: str, emulator: str, smtp_port: int, webhook: WebhookSink) -> None:
    env = {**os.environ, "KUBECACHEDIR": str(workdir / "kube-cache")}
    run(["kubectl", "--kubeconfig", str(kubeconfig), "apply", "-f", str(ROOT / "crds")], env=env)

    def secret(name: str, data: dict[str, str]) -> None:
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
        kube.create(SECRETS, body, NS)

    secret("git-credentials", {"username": git_user, "password": git_password})
    secret("aws-credentials", {"AWS_ENDPOINT_URL": emulator, "AWS_ACCESS_KEY_ID": "test",
                               "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                               "AWS_DEFAULT_REGION": "us-east-1"})
    secret("smtp", {"host": "127.0.0.1", "port": str(smtp_port), "from": "tfcontroller@example.com", "tls": "none"})
    # Notifications to the webhook sink, signed with its key (the Secret's `token`).
    for resource, body in notifications.manifests(NS, webhook.url, str(webhook.key)):
        kube.create(resource, body, NS)
    # The namespace's runner ServiceAccount, Role and RoleBinding (--runner=pod runs Terraform as it).
    run(tfcontroller_argv("tenant", "add", NS, "--apply", "--kubeconfig", str(kubeconfig)), env=env)
    kube.create(GITREPOSITORIES, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "GitRepository",
        "metadata": {"name": "gitops", "namespace": NS},
        "spec": {"url": git_url, "ref": {"branch": "main"}, "interval": "5s", "secretRef": {"name": "git-credentials"}},
    }, NS)
    kube.create(MANIFESTSETS, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "ManifestSet",
        "metadata": {"name": "cluster", "namespace": NS},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "gitops"}, "path": "clusters/dev-cluster",
                 "interval": "30s", "prune": True},
    }, NS)


TOUR_STEPS = (
    ("the dev stack is applied into the emulator automatically", "dev_applied"),
    ("the production stack waits for approval, is shown, notified, approved and applied", "prod_approved"),
    ("the dependent ConfigMaps and Deployments receive the bucket name and queue URL", "apps_configured"),
    ("drift is detected, mailed, notified and remediated", "drift_mailed_and_remediated"),
    ("a commit that edits one stack re-plans only that stack", "module_commit_replans_one_stack"),
)
KEEP = ("checkout", "checkout.backup-*")  # the user's repository (and backups of what stood in its way)


def clear_workdir(workdir: Path) -> None:
    """Start from a clean work dir, except the user's repository: everything else is the demo's own."""
    workdir.mkdir(parents=True, exist_ok=True)
    for entry in workdir.iterdir():
        if any(entry.match(pattern) for pattern in KEEP):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def explore_commands(workdir: Path, prefix: str = sys.prefix, base_prefix: str = sys.base_prefix) -> list[str]:
    """The commands printed for exploring the running demo, as they must be typed (absolute paths, so they
    work from any directory). `tfcontroller` is on PATH only inside the virtualenv that runs the demo, so
    the first command activates it (none when the demo runs outside a virtualenv, where the package's own
    installation put `tfcontroller` on PATH)."""
    activate = Path(prefix) / "bin" / "activate"
    return [
        *([f"source {activate}"] if prefix != base_prefix else []),
        f"export KUBECONFIG={workdir / 'kubeconfig'}",
        "tfcontroller get tf -A",
        "tfcontroller outputs app-stack-dev",
        "tfcontroller events app-stack-prod",
        "kubectl get tf,ms,gitrepo",
        "kubectl get pods -n default",
        "kubectl get notificationproviders,notificationrules -n default",
        f"ls {workdir / 'webhook'}",
        f"git -C {workdir / 'checkout'} log --oneline",
    ]


def print_explore(workdir: Path, dashboard_link: str = "") -> None:
    if dashboard_link:
        print(f"\nDashboard: {dashboard_link}\n  (`tfcontroller dashboard` as you, on loopback; the link logs one browser in, "
              "once: keep that window)")
    print("\nExplore it from another terminal (`tfcontroller` is on PATH once the virtualenv is active):")
    for command in explore_commands(workdir):
        print(f"  $ {command}")
    print(f"Your clone of the GitOps repository is {workdir / 'checkout'}: commit there; `git push` deploys "
          "(docs/demo.md). Ctrl-C here stops everything.\n", flush=True)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tfcontroller.dev.demo", description=__doc__)
    parser.add_argument("--exit", action="store_true",
                        help="run the tour once and exit 0 when every step passed (1 otherwise, also when interrupted)")
    parser.add_argument("--workdir", default=str(ROOT / ".demo"),
                        help="work dir (default .demo); its checkout/ is kept across runs")
    parser.add_argument("--aws-endpoint", default=os.environ.get("DEMO_AWS_ENDPOINT", ""),
                        help="use this running AWS emulator instead of starting LocalStack")
    parser.add_argument("--wait-for-approval", action="store_true",
                        help="do not approve the production plan with the CLI: wait (up to an hour) for your approval "
                             "from anywhere, the dashboard's Approve button, `tfcontroller approve` or kubectl annotate")
    parser.add_argument("--emulator-port", type=int, default=int(os.environ.get("DEMO_EMULATOR_PORT", "4566")))
    return parser.parse_args(argv)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _run(args: argparse.Namespace, workdir: Path, say: Callable[[str], None], start: float,
         cleanups: list[Callable[[], None]], steps: list[Step]) -> None:
    """Start everything, bootstrap, run the tour (appending to `steps`) and, without --exit, keep the stack
    running until Ctrl-C. Each thing started registers its stop in `cleanups`."""
    kubeconfig = workdir / "kubeconfig"
    cluster = Process(tfcontroller_argv("dev-cluster", "--port", "0", "--kubeconfig", str(kubeconfig),
                                        "--state-file", str(workdir / "cluster-state.json")),
                      log_path=workdir / "dev-cluster.log")
    cleanups.append(cluster.stop)
    say(cluster.start(ready_line="ready", timeout=60))

    if args.aws_endpoint:
        endpoint = args.aws_endpoint
        say(f"using the AWS emulator at {endpoint}")
    else:
        say("starting LocalStack in host mode (the first run installs it; later runs reuse the cache)")
        cleanups.append(lambda: stop_emulator(args.emulator_port))
        emu = start_emulator(args.emulator_port)
        endpoint = emu.endpoint
        say(f"AWS emulator {emu.name} at {endpoint}")

    sink = SMTPSink(workdir / "mail", on_mail=lambda subject, path: say(f"MAIL  {subject}  ({path.name})")).start()
    cleanups.append(sink.stop)
    say(f"SMTP sink on 127.0.0.1:{sink.port}, saving mail under {sink.outdir}")
    webhook = WebhookSink(key=secrets.token_urlsafe(24), outdir=workdir / "webhook",
                          on_request=lambda rec: say(f"WEBHOOK received: {headline(rec)}")).start()
    cleanups.append(webhook.stop)
    say(f"webhook sink at {webhook.url}{notifications.HOOK_PATH}, checking each notification's signature and "
        f"saving it under {webhook.outdir}")

    git_user, git_password = "gitops", secrets.token_urlsafe(12)
    bare, checkout = workdir / "git" / "gitops.git", workdir / "checkout"
    for line in repo.prepare(bare, checkout).lines(checkout):
        say(line)
    gitsrv = GitHTTPServer(workdir / "git", git_user, git_password).start()
    cleanups.append(gitsrv.stop)
    git_url = gitsrv.url_for("gitops.git")
    say(f"Git repository served over smart HTTP with basic auth at {git_url}")

    kube = KubeClient.load(str(kubeconfig))
    _bootstrap(kube, kubeconfig, workdir, git_url, git_user, git_password, endpoint, sink.port, webhook)
    say("bootstrapped: CRDs, the runner ServiceAccount of namespace default (tfcontroller tenant add default --apply), "
        "GitRepository/gitops and ManifestSet/cluster (which applies clusters/dev-cluster from Git), "
        f"NotificationProvider/{notifications.PROVIDER} (webhook, signed) and NotificationRule/{notifications.RULE} "
        f"({', '.join(notifications.EVENT_TYPES)})")
    # The dashboard first: the controller links plan-pending notifications to its plan pages.
    dashboard_link = start_dashboard(kubeconfig, workdir, cleanups)
    dashboard = dashboard_link.split("?", 1)[0]

    controller = Process(tfcontroller_argv(
        "run", "--kubeconfig", str(kubeconfig), "--concurrent", "2",
        "--artifact-dir", str(workdir / "artifacts"), "--artifact-addr", f"127.0.0.1:{free_port()}",
        "--terraform-work-dir", str(workdir / "terraform"),
        "--metrics-addr", f"127.0.0.1:{free_port()}", "--health-addr", f"127.0.0.1:{free_port()}",
        "--smtp-secret", f"{NS}/smtp", "--drift-email-default-to", EMAIL_TO,
        # Each Terraform command in a runner Pod on the dev cluster's node (image tfcontroller:dev, this
        # checkout), as the namespace's runner ServiceAccount; the Pods share the host's network, so they
        # reach the artifact server and the run API on loopback.
        "--runner", "pod", "--run-api-listen", f"127.0.0.1:{free_port()}", "--max-runners", "4",
        "--dashboard-url", dashboard.rstrip("/"),
    ), log_path=workdir / "controller.log")
    cleanups.append(controller.stop)
    controller.start()
    say(f"controller started in pod mode: every Terraform command in a runner Pod (log: {workdir / 'controller.log'})")
    say(f"dashboard at {dashboard} (tfcontroller dashboard, local mode: acts as the kubeconfig's user; log: "
        f"{workdir / 'dashboard.log'})")
    if not args.exit:
        print_explore(workdir, dashboard_link)

    with Progress(kube, NS, start) as progress:
        tour = Tour(workdir, kube, kubeconfig, endpoint, progress, sink, checkout, bare, steps, dashboard, webhook,
                    args.wait_for_approval)
        for name, method in TOUR_STEPS:
            if not tour.check(name, getattr(tour, method)):
                break
        print("\nSummary:")
        for s in steps:
            print(f"  [{'ok' if s.ok else 'FAILED'}] {s.name}: {s.detail}")
        if not args.exit:
            print_explore(workdir, dashboard_link)
            while True:
                time.sleep(3600)


SERVING = "Starting to serve on "  # the line `tfcontroller dashboard` prints once it listens


def start_dashboard(kubeconfig: Path, workdir: Path, cleanups: list[Callable[[], None]]) -> str:
    """`tfcontroller dashboard` in local mode on a free loopback port, stopped with the rest (by its process
    group); returns the link it printed, which carries its one-time login token."""
    dashboard = Process(tfcontroller_argv("dashboard", "--kubeconfig", str(kubeconfig), "--port", "0"),
                        log_path=workdir / "dashboard.log")
    cleanups.append(dashboard.stop)
    line = dashboard.start(ready_line=SERVING, timeout=60)
    return line.split(SERVING, 1)[1].strip()


def _stop_all(cleanups: list[Callable[[], None]], say: Callable[[str], None]) -> None:
    """Stop what was started, newest first; a second Ctrl-C must not cut this short (leftover servers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for stop in reversed(cleanups):
        try:
            stop()
        except Exception as exc:  # noqa: BLE001 - stop everything we can
            say(f"cleanup: {type(exc).__name__}: {exc}")


def main(argv: list[str] | None = None) -> int:
    """Exit status: without --exit, 0 when stopped with Ctrl-C (or SIGTERM), which is how the demo ends;
    with --exit, 0 only when every step of the tour passed."""
    args = _parse(argv)
    workdir = Path(args.workdir).resolve()
    clear_workdir(workdir)
    start = time.monotonic()
    cleanups: list[Callable[[], None]] = []
    steps: list[Step] = []

    def say(text: str) -> None:
        print(format_entry(f"[{time.monotonic() - start:6.1f}s]", "", text, terminal_width()), flush=True)

    give_back = take_foreground()
    signal.signal(signal.SIGTERM, _interrupt)
    interrupted = False
    try:
        _run(args, workdir, say, start, cleanups, steps)
    except KeyboardInterrupt:
        interrupted = True
        say("stopping: stopping everything the demo started (a few seconds)")
    except DemoError as exc:
        say(f"demo failed: {exc}")
        steps.append(Step("setup", False, str(exc)))
    finally:
        _stop_all(cleanups, say)
        give_back()
    if interrupted:
        say("stopped" if not args.exit else "stopped before the tour finished")
        return 1 if args.exit else 0
    passed = bool(steps) and all(s.ok for s in steps) and len(steps) == len(TOUR_STEPS)
    return 0 if passed else 1
