"""Values from `spec.fileMappings` Secrets in the readable plan (review of issue 20, finding 4), with the real
reconciler, real terraform and the dev cluster: a module reads a workingDir `.auto.tfvars`, a CA file and, from
the run's HOME, a `.netrc` password and a `.gitconfig` rewrite into a plain (not sensitive) `terraform_data`
input. The stored view and `tfcontroller plan show` mask every value that came from a Secret as they mask a
`vars[].valueFrom.secretKeyRef` value — the whole file, a key's line, a three-character `.netrc` password, a
`.tfvars` value — and keep the public parts (the `.netrc` machine, the rewritten URL with its path) readable.
Rotating mapped credentials (an ssh key, a `.gitconfig` `extraHeader` token) keeps the pending plan and its
manual approval; a rewrite re-pointed at another organisation (one URL path segment) re-plans (second review of
s19, finding 4: the URL path used to be taken for key material, masked and left out of the digest)."""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.paths import REPO_ROOT
from tests.support.terraform_helpers import NS, Harness, ready_reason
from tfcontroller.kube.resources import SECRETS

MODULE = r"""
variable "db_name" {
  type    = string
  default = "unset"
}
locals {
  netrc     = file(pathexpand("~/.netrc"))
  gitconfig = file(pathexpand("~/.gitconfig"))
}
resource "terraform_data" "app" {
  input = {
    db       = var.db_name
    ca       = trimspace(file("${path.module}/ca.pem"))
    ca_line  = split("\n", file("${path.module}/ca.pem"))[1]
    password = regex("password (\\S+)", local.netrc)[0]
    machine  = regex("machine (\\S+)", local.netrc)[0]
    rewrite  = regex("url \"([^\"]+)\"", local.gitconfig)[0]
    header   = regex("Bearer (\\S+)", local.gitconfig)[0]
  }
}
"""
DB_NAME = "orders-db-7x"  # in a .tfvars file: no secret-looking name, still a Secret's value
PASSWORD = "pw9"  # short: scrubbed only as the word after `password`
CA_LINE = "MIIBszCCAVmgAwIBAgIUQ3x7Zk9aT2Vn"
CA = f"-----BEGIN CERTIFICATE-----\n{CA_LINE}\nVR0OBBYEFPn2\n-----END CERTIFICATE-----\n"
NETRC = f"machine git.example.com\nlogin team\npassword {PASSWORD}\n"
REWRITE = "https://git.internal.example/Platform2/terraform-Modules/"
GITCONFIG = (f'[url "{REWRITE}"]\n\tinsteadOf = https://github.com/\n'
             "[http]\n\textraHeader = Authorization: Bearer {}\n")
HEADER_TOKEN = "Tok3nAAAAbbbbCCCC1234"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE{}\n-----END OPENSSH PRIVATE KEY-----\n"
MAPPINGS = [
    {"location": "workingDir", "path": "db.auto.tfvars", "secretKeyRef": {"name": "app-files", "key": "tfvars"}},
    {"location": "workingDir", "path": "ca.pem", "secretKeyRef": {"name": "app-files", "key": "ca"}},
    {"location": "home", "path": ".netrc", "secretKeyRef": {"name": "app-files", "key": "netrc"}},
    {"location": "home", "path": ".gitconfig", "secretKeyRef": {"name": "app-files", "key": "gitconfig"}},
    {"location": "home", "path": ".ssh/id_ed25519", "secretKeyRef": {"name": "app-files", "key": "identity"}},
]


def _files(gitconfig: str = GITCONFIG, key: str = "Q1", token: str = HEADER_TOKEN) -> dict[str, bytes]:
    return {"tfvars": f'db_name = "{DB_NAME}"\n'.encode(), "ca": CA.encode(), "netrc": NETRC.encode(),
            "gitconfig": gitconfig.format(token).encode(), "identity": KEY.format(key).encode()}


def _view(harness: Harness) -> dict[str, Any]:
    secret = harness.kube.get(SECRETS, "tfplanview-default-app", NS)
    return json.loads(gzip.decompress(base64.b64decode(secret["data"]["view"])))


def _plan_show(harness: Harness, tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TFCONTROLLER_") and k != "KUBECONFIG"}
    env.update({"PYTHONPATH": str(REPO_ROOT), "HOME": str(tmp_path)})
    done = subprocess.run([sys.executable, "-m", "tfcontroller", "plan", "show", "app", "--kubeconfig",
                           harness.kubeconfig, "-n", NS, "--color", "never"], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_mapped_file_values_are_masked_in_the_readable_plan(harness: Harness, git_file_remote: Any,
                                                            tmp_path: Path) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": MODULE}))
    harness.kube.upsert_secret(NS, "app-files", _files())
    harness.create("app", approvePlan="", fileMappings=MAPPINGS)
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending", what="a pending plan")
    plan_id = obj["status"]["plan"]["pending"]

    attributes = {a["path"]: a["after"] for a in _view(harness)["changes"][0]["attributes"]}
    for masked in ("db", "ca", "ca_line", "password", "header"):
        assert attributes[f"input.{masked}"] == "(sensitive)", attributes
    assert attributes["input.machine"] == "git.example.com" and attributes["input.rewrite"] == REWRITE
    out = _plan_show(harness, tmp_path)
    for secret in (DB_NAME, CA_LINE, f'"{PASSWORD}"', "VR0OBBYEFPn2", HEADER_TOKEN):
        assert secret not in out and secret not in json.dumps(obj)
    assert 'input.machine = "git.example.com"' in out and f'input.rewrite = "{REWRITE}"' in out
    assert "input.password = (sensitive)" in out and "input.db = (sensitive)" in out

    # Rotated credentials (the ssh key, the header token): same inputs digest, the plan waiting for approval stays.
    digest = obj["status"]["inputsDigest"]
    harness.kube.upsert_secret(NS, "app-files", _files(key="R2", token="Tok3nZZZZyyyyXXXX9876"))
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/PlanPending" and obj["status"]["plan"]["pending"] == plan_id
    assert obj["status"]["inputsDigest"] == digest

    # A rewrite re-pointed at another organisation (one path segment) changes what would be fetched: a new plan.
    harness.kube.upsert_secret(NS, "app-files", _files(gitconfig=GITCONFIG.replace("Platform2", "Platform3")))
    obj = harness.reconcile_until("app", lambda o: (o.get("status") or {}).get("plan", {}).get("pending")
                                  not in (None, plan_id), what="a new plan")
    assert obj["status"]["inputsDigest"] != digest
