"""`tfcontroller seal` against the dev cluster: `--fetch-cert` prints the certificate the controller
published, sealing reads the value from stdin and binds it to namespace/name (it opens for that object
with the controller's key and not for another one), and a missing certificate is one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import REPO_ROOT
from tests.support.terraform_helpers import Harness
from tfcontroller.crypto.errors import SealedValueError
from tfcontroller.crypto.keys import ensure_keys
from tfcontroller.crypto.sealed import unseal


def _cli(harness: Harness, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "tfcontroller", "seal", "--kubeconfig", harness.kubeconfig, *args],
                          input=stdin, capture_output=True, cwd=REPO_ROOT, timeout=60)


def test_seal_cli_round_trip(harness: Harness) -> None:
    missing = _cli(harness, "--fetch-cert", "--controller-namespace", "default")
    assert missing.returncode == 3 and b"tfcontroller-sealing-cert" in missing.stderr

    keys = ensure_keys(harness.kube, "default")
    cert = _cli(harness, "--fetch-cert", "--controller-namespace", "default")
    assert cert.returncode == 0 and cert.stdout == keys.sealing_cert_pem

    sealed = _cli(harness, "--namespace", "team", "--name", "app", "--controller-namespace", "default",
                  stdin=b"pa55-w0rd")
    assert sealed.returncode == 0, sealed.stderr
    token = sealed.stdout.decode().strip()
    assert b"pa55-w0rd" not in sealed.stdout
    assert unseal(keys.sealing_key_pem, "team", "app", token) == b"pa55-w0rd"
    with pytest.raises(SealedValueError):
        unseal(keys.sealing_key_pem, "other", "app", token)

    empty = _cli(harness, "--namespace", "team", "--name", "app", "--controller-namespace", "default")
    assert empty.returncode == 2 and b"stdin" in empty.stderr
