"""A plan made by the real Terraform controller (real git remote, real `terraform`, the dev cluster) notified
to every HTTP provider type through loopback receivers: the message carries the plan's readable diff (read
from the plan-view Secret at send time), and no secret value reaches any payload.

The module takes a variable from a Secret (`varsFrom`) and has a sensitive output derived from it; the
object's outputs go to a Secret too. Two rules: one to slack, msteams, discord, webhook (signed), flux
(Bearer token) and smtp (the SMTP sink), one to the webhook only — exactly one message per rule and provider, none again after the
rules and the Terraform are reconciled again. Each payload is checked against the service's documented
schema (tests/fixtures/notify_schemas/), the webhook's HMAC at the receiver, flux's Authorization header.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.fixtures.git_servers import GitRemote
from tests.fixtures.http_receiver import HTTPReceiver
from tests.fixtures.smtp import SMTPServer
from tests.support.controllers import gitrepo
from tests.support.notifications import NotifyEnv, hmac_ok, ready_is
from tests.support.polling import wait_for
from tfcontroller.api.constants import ANNOTATION_REQUESTED_AT
from tfcontroller.kube.resources import GITREPOSITORIES, TERRAFORMS
from tfcontroller.notify.formats.webhook import SIGNATURE_HEADER

pytestmark = pytest.mark.slow

SCHEMAS = Path(__file__).parents[3] / "fixtures" / "notify_schemas"
GREETING = "s3cret-greeting-7f3a9"
HOOK_KEY = "hmac-key-for-tests-2"
FLUX_TOKEN = "flux-bearer-token-5c1d"
MODULE = """
variable "greeting" {
  type = string
}

resource "terraform_data" "this" {
  input = var.greeting
}

output "token" {
  value     = "tok-${var.greeting}-zz"
  sensitive = true
}

output "plain" {
  value = "visible-output"
}
"""
HTTP_TYPES = ("slack", "msteams", "discord", "webhook", "flux")


def _pending_plan(env: NotifyEnv, ns: str, name: str) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def check() -> bool:
        box["obj"] = env.kube.get(TERRAFORMS, name, ns)
        return bool(((box["obj"].get("status") or {}).get("plan") or {}).get("pending"))

    try:
        wait_for(check, 180, "a pending plan", interval=0.2)
    except AssertionError:
        raise AssertionError(f"no pending plan; status: {box.get('obj', {}).get('status')}") from None
    return dict(box["obj"])


def test_a_real_pending_plan_reaches_every_provider_once_without_a_secret(env: NotifyEnv, http_receiver: HTTPReceiver,
                                                                           smtp_server: SMTPServer,
                                                                           tmp_path: Path) -> None:
    ns = env.namespace("plan")
    remote = GitRemote(tmp_path, "infra")
    remote.commit({"tf/main.tf": MODULE})
    env.kube.create(GITREPOSITORIES, {**gitrepo("src", remote.url, {"branch": "main"}, interval="1h"),
                                      "metadata": {"name": "src", "namespace": ns}}, ns)
    env.secret(ns, "greeting", {"greeting": GREETING})
    env.secret(ns, "hook", {"address": http_receiver.url + "/webhook", "token": HOOK_KEY})
    env.secret(ns, "flux", {"token": FLUX_TOKEN})
    for ptype in HTTP_TYPES:
        spec: dict[str, Any] = {"address": f"{http_receiver.url}/{ptype}"}
        if ptype == "webhook":
            spec = {"secretRef": {"name": "hook"}}
        elif ptype == "flux":
            spec["secretRef"] = {"name": "flux"}
        env.provider(ns, ptype, ptype, **spec)
    env.secret(ns, "mail", {"host": smtp_server.host, "port": str(smtp_server.port), "from": "tf@example.com",
                            "tls": "none"})
    env.provider(ns, "smtp", "smtp", secretRef={"name": "mail"}, to=["reviewers@example.com"])
    env.rule(ns, "everywhere", [*HTTP_TYPES, "smtp"], eventTypes=["PlanPending", "PlanApplied"])
    env.rule(ns, "webhook-only", ["webhook"], selector={"kinds": ["Terraform"], "names": ["orders*"]})
    env.kube.create(TERRAFORMS, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform", "metadata": {"name": "orders", "namespace": ns},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "src"}, "path": "./tf", "interval": "1h",
                 "approvePlan": "", "varsFrom": [{"kind": "Secret", "name": "greeting"}],
                 "writeOutputsToSecret": {"name": "orders-outputs"}}}, ns)

    plan_id = _pending_plan(env, ns, "orders")["status"]["plan"]["pending"]
    http_receiver.wait_for(6, timeout=60)
    for rule in ("everywhere", "webhook-only"):
        env.wait_rule(ns, rule, lambda o: ready_is(o, "True", "RuleReady") and not (o.get("status") or {}).get("pending"),
                      f"rule {rule} to have delivered everything")
        env.reconcile_rule(ns, rule, "again")
    env.kube.patch(TERRAFORMS, "orders", {"metadata": {"annotations": {ANNOTATION_REQUESTED_AT: "again"}}}, ns)
    wait_for(lambda: (env.kube.get(TERRAFORMS, "orders", ns).get("status") or {}).get("lastHandledRequestedAt")
             == "again", 60, "the Terraform's reconcile")
    env.reconcile_rule(ns, "everywhere", "again-2")

    by_path: dict[str, list[Any]] = {}
    for req in http_receiver.requests:
        by_path.setdefault(req.path.strip("/"), []).append(req)
    assert sorted((p, len(r)) for p, r in by_path.items()) == sorted(
        [(t, 2 if t == "webhook" else 1) for t in HTTP_TYPES]), "one message per rule and provider"
    for ptype, requests in by_path.items():
        for req in requests:
            body = req.body.decode()
            assert req.status == 200
            for secret in (GREETING, f"tok-{GREETING}-zz", HOOK_KEY, FLUX_TOKEN):
                assert secret not in body, f"{secret!r} in the {ptype} payload"
            assert plan_id in body
            assert "terraform_data.this" in body, f"the {ptype} message lacks the plan's diff"
            schema = json.loads((SCHEMAS / f"{ptype}.json").read_text())
            jsonschema.validate(req.json(), schema, format_checker=jsonschema.FormatChecker())
    webhook = by_path["webhook"][0]
    assert hmac_ok(webhook.body, HOOK_KEY, webhook.header(SIGNATURE_HEADER))
    assert by_path["flux"][0].header("Authorization") == f"Bearer {FLUX_TOKEN}"
    assert by_path["slack"][0].header("Authorization") is None
    mails = smtp_server.wait_for(1, timeout=30)
    assert len(mails) == 1 and mails[0].rcpt_tos == ["reviewers@example.com"]
    text = "\n".join(str(part.get_content()) for part in mails[0].message.walk() if not part.is_multipart())
    assert plan_id in text and "terraform_data.this" in text
    for secret in (GREETING, f"tok-{GREETING}-zz"):
        assert secret not in text and secret.encode() not in mails[0].raw
