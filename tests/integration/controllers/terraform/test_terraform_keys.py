"""The controller's keys Secret (tfcontroller.crypto.keys): `read_keys` reads and never creates; the digest key
that salts every inputsDigest survives plan-key rotation (a new key whose id sorts first, made active),
and a Secret written before `digest-key` existed gets the key that salted digests until then, so
neither rotation nor upgrading changes any object's inputsDigest; the controller namespace defaults
(flag, POD_NAMESPACE, lease namespace, default)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from tests.support.terraform_helpers import _sealing_pair
from tfcontroller.controllers.terraform import (
    TerraformControllerOptions,
    TerraformReconciler,
    controller_namespace,
)
from tfcontroller.crypto import keys as tk
from tfcontroller.crypto.aead import generate_key
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import SECRETS
from tfcontroller.terraform.config import TerraformConfig


def _legacy_data(key_id: str = "kmmmm", key: bytes | None = None) -> dict[str, bytes]:
    private_pem, cert_pem = _sealing_pair()
    return {f"plan-key.{key_id}": key or generate_key(), "plan-key-active": key_id.encode(),
            "sealing.key": private_pem, "sealing.crt": cert_pem}


def _rotate(data: dict[str, bytes], new_id: str) -> dict[str, bytes]:
    return {**data, f"plan-key.{new_id}": generate_key(), "plan-key-active": new_id.encode()}


def test_digest_key_is_stable_across_rotation_pure() -> None:
    data = {**_legacy_data(), "digest-key": generate_key()}
    before = tk._from_data(data)
    after = tk._from_data(_rotate(data, "kaaaa"))  # sorts before the old id
    assert before is not None and after is not None
    assert after.keyring.active_id == "kaaaa" and before.keyring.active_id == "kmmmm"
    assert after.digest_key == before.digest_key == data["digest-key"]
    # Without a pinned digest key the legacy rule (first id) would follow the rotation: the bug.
    legacy = _legacy_data()
    assert tk._from_data(_rotate(legacy, "kaaaa")).digest_key != tk._from_data(legacy).digest_key


def test_read_keys_reads_only(kube: KubeClient) -> None:
    assert tk.read_keys(kube, "default") is None
    assert kube.get_or_none(SECRETS, tk.KEYS_SECRET, "default") is None  # nothing created
    kube.upsert_secret("default", tk.KEYS_SECRET, {"plan-key.k1": generate_key()})
    with pytest.raises(tk.KeysIncompleteError):
        tk.read_keys(kube, "default")
    data = _legacy_data()
    kube.upsert_secret("default", tk.KEYS_SECRET, data)
    keys = tk.read_keys(kube, "default")
    assert keys is not None and keys.keyring.active_id == "kmmmm" and keys.sealing_cert_pem == data["sealing.crt"]
    assert "digest-key" not in kube.read_secret_data("default", tk.KEYS_SECRET)  # read-only: nothing pinned


def test_rotation_and_upgrade_keep_every_inputs_digest(kube: KubeClient, tmp_path: Path) -> None:
    legacy = _legacy_data()
    kube.upsert_secret("default", tk.KEYS_SECRET, legacy)

    def keyed(value: object) -> str:  # a fresh controller each time (keys are cached per process)
        options = TerraformControllerOptions(work_dir=tmp_path / "work", terraform=TerraformConfig.from_env(),
                                             controller_namespace="default")
        return TerraformReconciler(kube, options).keyed(value)

    # The old controller salted with the plan key whose id sorts first; the upgraded one pins that key.
    old = "hmac-sha256:" + hmac.new(legacy["plan-key.kmmmm"], json.dumps({"v": "s3cret"}, separators=(",", ":"))
                                    .encode(), hashlib.sha256).hexdigest()
    assert keyed({"v": "s3cret"}) == old
    pinned = kube.read_secret_data("default", tk.KEYS_SECRET)["digest-key"]
    assert pinned == legacy["plan-key.kmmmm"]

    # Rotation: a new key whose id sorts first becomes active; digests do not move.
    rotated = _rotate(kube.read_secret_data("default", tk.KEYS_SECRET), "kaaaa")
    kube.upsert_secret("default", tk.KEYS_SECRET, rotated)
    assert keyed({"v": "s3cret"}) == old
    keys = tk.ensure_keys(kube, "default")
    assert keys.keyring.active_id == "kaaaa" and keys.digest_key == pinned


def test_new_keys_get_an_independent_digest_key(kube: KubeClient) -> None:
    data = tk._new_data()
    plan_keys = [v for k, v in data.items() if k.startswith("plan-key.")]
    assert len(data["digest-key"]) == 32 and data["digest-key"] not in plan_keys


def test_controller_namespace_precedence() -> None:
    assert controller_namespace("flag-ns", {"POD_NAMESPACE": "pod-ns"}, "lease-ns") == "flag-ns"
    assert controller_namespace(None, {"POD_NAMESPACE": "pod-ns"}, "lease-ns") == "pod-ns"
    assert controller_namespace(None, {}, "lease-ns") == "lease-ns"
    assert controller_namespace(None, {"POD_NAMESPACE": ""}, None) == "default"
