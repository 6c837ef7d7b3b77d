"""Private modules (issue 20, spec.fileMappings): a root module calls one module from a private Git
repository over smart HTTP with basic auth (`git::http://…`, credentials in a mapped `~/.netrc`) and one over
SSH (`git::ssh://…`, a mapped `~/.ssh/id_ed25519` and `~/.ssh/known_hosts`), with the project's real git
servers, real terraform and the dev cluster. Without the mappings init fails (the server saw no credentials:
git never prompts); with them the object plans and applies and both modules' outputs arrive; a wrong host
key is refused (host keys are checked strictly); no credential appears in status, Events or logs, and no
mapped file outlives its run. In both runner modes (local sandbox, runner Pod)."""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.terraform_helpers import NS, Harness, condition, ready_reason
from tfcontroller.api import conditions as c

MODULE = """
variable "name" { type = string }
resource "terraform_data" "this" { input = var.name }
output "id" { value = "${var.name}-from-MOD" }
"""

ROOT = """
module "net" {
  source = "git::HTTP_URL?ref=main"
  name   = "net"
}
module "dns" {
  source = "git::SSH_URL?ref=main"
  name   = "dns"
}
output "net" { value = module.net.id }
output "dns" { value = module.dns.id }
"""


@pytest.mark.slow
@pytest.mark.runner_modes
def test_private_git_modules_over_http_basic_auth_and_ssh(harness: Harness, git_file_remote, git_http_server,
                                                         git_ssh_server, caplog: pytest.LogCaptureFixture,
                                                         runner_mode: str) -> None:
    caplog.set_level(logging.DEBUG)
    kube = harness.kube
    net, dns, infra = git_file_remote("net"), git_file_remote("dns"), git_file_remote("infra")
    net.commit({"main.tf": MODULE.replace("MOD", "http")})
    dns.commit({"main.tf": MODULE.replace("MOD", "ssh")})
    root = ROOT.replace("HTTP_URL", git_http_server.url_for(net)).replace("SSH_URL", git_ssh_server.url_for(dns))
    harness.publish("src", infra.bare, infra.commit({"main.tf": root}))
    host = git_http_server.url.split("://", 1)[1].split(":", 1)[0]
    netrc = f"machine {host}\nlogin {git_http_server.username}\npassword {git_http_server.password}\n"
    kube.upsert_secret(NS, "git-creds", {"netrc": netrc.encode(), "identity": git_ssh_server.identity,
                                         "known_hosts": git_ssh_server.known_hosts,
                                         "wrong_known_hosts": git_ssh_server.wrong_known_hosts})

    # Without credentials init fails, and fails at once: git does not wait for a user name.
    harness.create("app", writeOutputsToSecret={"name": "app-outputs"})
    obj = harness.reconcile("app")
    assert condition(obj, c.READY).status == "False", condition(obj, c.READY)
    assert git_http_server.auth_seen and "Basic" not in git_http_server.auth_seen

    # A known_hosts with another key for the server: refused, the private key notwithstanding.
    mappings = [
        {"location": "home", "path": ".netrc", "secretKeyRef": {"name": "git-creds", "key": "netrc"}},
        {"location": "home", "path": ".ssh/id_ed25519", "secretKeyRef": {"name": "git-creds", "key": "identity"}},
        {"location": "home", "path": ".ssh/known_hosts",
         "secretKeyRef": {"name": "git-creds", "key": "wrong_known_hosts"}},
    ]
    harness.patch("app", {"spec": {"fileMappings": [*mappings[:2], {**mappings[2], "secretKeyRef": {
        "name": "git-creds", "key": "nope"}}]}})
    obj = harness.reconcile("app")  # a missing key is named with its field, before any run
    assert ready_reason(obj) == "False/VarsGenerationFailed"
    assert ("spec.fileMappings[2].secretKeyRef: key 'nope' not found in Secret default/git-creds"
            in condition(obj, c.READY).message)
    harness.patch("app", {"spec": {"fileMappings": mappings}})
    obj = harness.reconcile("app")
    assert condition(obj, c.READY).status == "False"
    assert "Basic" in git_http_server.auth_seen  # the .netrc reached git: the HTTP module was fetched
    assert "dns" in condition(obj, c.READY).message  # the SSH one was not

    # The right host key: both modules fetched, planned and applied.
    mappings[2]["secretKeyRef"]["key"] = "known_hosts"
    harness.patch("app", {"spec": {"fileMappings": mappings}})
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    assert harness.secret("app-outputs") == {"net": "net-from-http", "dns": "dns-from-ssh"}

    visible = json.dumps(obj) + json.dumps(harness.events("app")) + caplog.text
    for secret in (git_http_server.password, git_ssh_server.identity.decode().splitlines()[1]):
        assert secret not in visible
    if runner_mode == "pod":  # the runs really were runner Pods, reading the Secret as the runner
        assert any("tfrun-" in line for line in caplog.text.splitlines())
    leftovers = [p for p in harness.tmp.rglob("*") if p.name in (".netrc", "id_ed25519", "known_hosts")]
    assert leftovers == []
