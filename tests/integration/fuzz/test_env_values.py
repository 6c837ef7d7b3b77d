"""A value no process environment can carry (a NUL byte), whether written in `spec.env` or read from a
Secret through `envFrom` or `env[].valueFrom`, stalls the Terraform with `EnvInvalid` naming the variable
before any run (issue 21: the fuzz found `ValueError: embedded null byte` at the run's start, retried for
ever); the value itself appears nowhere in the status."""

from __future__ import annotations

import json

import pytest

from tests.support.terraform_helpers import NS, SIMPLE_TF, Harness, condition

pytestmark = pytest.mark.slow


def test_nul_in_an_env_value_stalls_before_any_run(harness: Harness, git_file_remote) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    harness.kube.upsert_secret(NS, "creds", {"TOKEN": b"s3cr3t\0tail"})
    cases = {"literal": {"env": [{"name": "FOO", "value": "lit3ral\u0000tail"}]},
             "env-from": {"envFrom": [{"kind": "Secret", "name": "creds"}]},
             "value-from": {"env": [{"name": "BAR", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "TOKEN"}}}]}}
    for name, spec in cases.items():
        harness.create(name, **spec)
        obj = harness.reconcile_until(name, lambda o: (s := condition(o, "Stalled")) is not None and s.status == "True",
                                      timeout=60, what=f"{name}: Stalled")
        ready = condition(obj, "Ready")
        assert ready is not None and ready.reason == "EnvInvalid" and "NUL byte" in ready.message, (name, ready)
        status = json.dumps(obj["status"])
        assert "s3cr3t" not in status and "lit3ral" not in status, name
        assert condition(obj, "Planned") is None and harness.state(name) is None, f"{name}: a run started"
