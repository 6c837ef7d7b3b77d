"""Review of issue 20, finding 4: a notification about a Terraform is scrubbed of what its
`cliConfigSecretRef` and `fileMappings` Secrets hold — the whole values, and the parts that are secret on
their own (a `.netrc` password, a `credentials` token, a key's line: terraform/run_files.file_secret_forms)
— but not of the public lines such files have (`Host github.com`, `User git`), which would garble it.

The Secrets are served by a KubeClient whose Secret read returns fixed data, as in
test_object_secrets_review2.py: what is tested is which values ObjectReader collects from what it read."""

from __future__ import annotations

from typing import Any

from tfcontroller.api.redact import scrub
from tfcontroller.controllers.notification.object_secrets import (
    ObjectReader,
    referenced_secrets,
    run_file_forms,
    run_file_keys,
)
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import NotFound

NETRC = "machine git.example.com\nlogin team\npassword pw9\n"
FRAGMENT = 'credentials "registry.example.test" {\n  token = "tok-registry-1"\n}\n'
SSH_CONFIG = "Host github.com\n  User git\n  StrictHostKeyChecking yes\n"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE\nQyNTUxOQAAACBk==\n" \
      "-----END OPENSSH PRIVATE KEY-----\n"


class _Kube(KubeClient):
    def __init__(self, secrets: dict[str, dict[str, bytes]]) -> None:
        self._secrets = secrets

    def read_secret_data(self, namespace: str, name: str) -> dict[str, bytes]:
        if name not in self._secrets:
            raise NotFound(404, "NotFound", f"secrets {name!r} not found")
        return self._secrets[name]


def _terraform() -> dict[str, Any]:
    return {"kind": "Terraform", "metadata": {"name": "net", "namespace": "team-a", "uid": "u1"}, "spec": {
        "cliConfigSecretRef": {"name": "registry"},
        "fileMappings": [
            {"location": "home", "path": ".netrc", "secretKeyRef": {"name": "git-creds", "key": "netrc"}},
            {"location": "home", "path": ".ssh/config", "secretKeyRef": {"name": "git-creds", "key": "config"}},
            {"location": "home", "path": ".ssh/id_ed25519", "secretKeyRef": {"name": "ssh", "key": "id"}},
            {"location": "workingDir", "path": "db.auto.tfvars", "secretKeyRef": {"name": "db", "key": "vars"}}],
        "varsFrom": [{"kind": "Secret", "name": "db"}]}}


def test_run_file_secrets_are_referenced() -> None:
    assert referenced_secrets(_terraform()) == ["db", "registry", "git-creds", "ssh"]
    assert run_file_keys(_terraform())[0] == ("registry", "", "")  # the default key is the parser's business
    assert run_file_keys({"spec": {"fileMappings": ["x", {"secretKeyRef": "y"}, {}]}}) == []
    assert referenced_secrets({"spec": {"cliConfigSecretRef": "x", "fileMappings": "y"}}) == []


def test_a_notification_is_scrubbed_of_run_file_parts_and_keeps_public_lines() -> None:
    kube = _Kube({"registry": {"terraform.tfrc": FRAGMENT.encode()},
                  "git-creds": {"netrc": NETRC.encode(), "config": SSH_CONFIG.encode()},
                  "ssh": {"id": KEY.encode()}, "db": {"vars": b'db_name = "orders-7x"\n'}})
    secrets = ObjectReader(kube).secrets(_terraform())
    text = ("init failed: registry.example.test answered 401 for tok-registry-1; git: password pw9 refused "
            "for Host github.com (User git); key line QyNTUxOQAAACBk==; database orders-7x")
    scrubbed = scrub(text, secrets)
    for secret in ("tok-registry-1", "pw9", "QyNTUxOQAAACBk==", "orders-7x"):
        assert secret not in scrubbed
    for public in ("registry.example.test", "Host github.com", "User git"):
        assert public in scrubbed


def test_run_file_forms_only_for_mapped_secrets() -> None:
    assert run_file_forms(_terraform(), "other", {"k": NETRC}) == []
    assert "pw9" in run_file_forms(_terraform(), "git-creds", {"netrc": NETRC})
    assert "orders-7x" in run_file_forms(_terraform(), "db", {"vars": 'db_name = "orders-7x"\n'})  # a .tfvars
