"""The pure parts of a local run's identity (controllers/terraform/credentials.py): the token's lifetime
is the run's bound (never below the API server's minimum), the kubeconfig carries every value inline
(the sandbox mounts only that file), one stable path per object, and the ServiceAccount's name decided in
one place; `--runner`'s usage error for a removed or unknown mode."""

from __future__ import annotations

import argparse
import base64
from pathlib import Path
from types import SimpleNamespace

import pytest

from tfcontroller.controllers.terraform import runner_choice
from tfcontroller.controllers.terraform.credentials import (
    DEFAULT_RUNNER_SERVICE_ACCOUNT,
    MIN_TOKEN_SECONDS,
    Connection,
    Credential,
    kubeconfig_document,
    kubeconfig_path,
    runner_service_account,
    token_seconds,
)


@pytest.mark.parametrize(("timeout", "grace", "expected"), [
    (0, 0, MIN_TOKEN_SECONDS),  # a short run still gets the minimum the API server grants
    (60, 30, MIN_TOKEN_SECONDS),  # 3 * 90 + 60 = 330
    (300, 30, 3 * 330 + 60),
    (3600, 5, 3 * 3605 + 60),
    (200.4, 0, 3 * 200.4 + 60),  # rounded up: never shorter than the bound
])
def test_token_lives_for_the_runs_bound(timeout: float, grace: float, expected: float) -> None:
    seconds = token_seconds(timeout, grace)
    assert isinstance(seconds, int) and seconds >= expected and seconds - expected < 1


def test_kubeconfig_carries_every_value_inline() -> None:
    doc = kubeconfig_document(Connection("https://10.0.0.1:6443", b"CA PEM"), Credential(token="t0k"), "team-a")
    cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]
    assert cluster == {"server": "https://10.0.0.1:6443", "certificate-authority-data": base64.b64encode(b"CA PEM").decode()}
    assert user == {"token": "t0k"}
    assert doc["contexts"][0]["context"]["namespace"] == "team-a" and doc["current-context"] == "run"

    certs = kubeconfig_document(Connection("https://h", None, insecure=True),
                                Credential(client_cert_pem=b"C", client_key_pem=b"K"), "ns")
    assert certs["clusters"][0]["cluster"] == {"server": "https://h", "insecure-skip-tls-verify": True}
    assert certs["users"][0]["user"] == {"client-certificate-data": "Qw==", "client-key-data": "Sw=="}
    assert not any(k.endswith(("-file", "certificate", "key")) or k == "certificate-authority"
                   for section in (certs["clusters"][0]["cluster"], certs["users"][0]["user"]) for k in section)


def test_one_kubeconfig_path_per_object() -> None:
    work = Path("/w")
    assert kubeconfig_path(work, "default/app") == kubeconfig_path(work, "default/app")
    assert kubeconfig_path(work, "default/app") != kubeconfig_path(work, "default/app2")
    assert kubeconfig_path(work, "a/b-c") != kubeconfig_path(work, "a-b/c")
    assert kubeconfig_path(work, "../../etc/x").is_relative_to(work / "credentials")


def test_runner_service_account_defaults_and_follows_the_spec() -> None:
    assert runner_service_account(SimpleNamespace(spec=SimpleNamespace())) == DEFAULT_RUNNER_SERVICE_ACCOUNT
    spec = SimpleNamespace(runner_pod=SimpleNamespace(service_account_name="team-runner"))
    assert runner_service_account(SimpleNamespace(spec=spec)) == "team-runner"
    empty = SimpleNamespace(runner_pod=SimpleNamespace(service_account_name=""))
    assert runner_service_account(SimpleNamespace(spec=empty)) == DEFAULT_RUNNER_SERVICE_ACCOUNT


@pytest.mark.parametrize("value", ["inprocess", "podd", ""])
def test_runner_flag_names_the_modes_to_use(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as err:
        runner_choice(value)
    assert "--runner=local" in str(err.value) and "--runner=pod" in str(err.value)
    assert runner_choice("local") == "local"
