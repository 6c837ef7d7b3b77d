"""tfcontroller.api.constants: names of owned Secrets/Leases and plan ids (design.md §3)."""

from __future__ import annotations

import pytest

from tfcontroller.api import constants as k

COMMIT = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "fedcba98" + "0" * 56


def test_owned_names() -> None:
    assert k.tfstate_secret_name("default", "bucket") == "tfstate-default-bucket"
    assert k.tfstate_lease_name("default", "bucket") == "lock-tfstate-default-bucket"
    assert k.tfplan_secret_name("prod", "bucket") == "tfplan-prod-bucket"
    assert k.tfplan_chunk_name("prod", "bucket", 1) == "tfplan-prod-bucket-1"
    assert k.FINALIZER == "tfcontroller.io/finalizer"
    assert k.ANNOTATION_APPROVE_PLAN == "tfcontroller.io/approve-plan"


def test_plan_id() -> None:
    assert k.plan_id("main", COMMIT, DIGEST) == "plan-main-0123456789-fedcba98"
    assert k.plan_id("main", "sha1:" + COMMIT, DIGEST[7:]) == "plan-main-0123456789-fedcba98"


@pytest.mark.parametrize(
    ("ref", "want"),
    [("feature/Add_Bucket", "feature-add-bucket"), ("v1.2.3", "v1-2-3"), ("--x--", "x"), ("///", "ref"),
     ("refs/heads/main", "refs-heads-main")],
)
def test_ref_sanitised(ref: str, want: str) -> None:
    pid = k.plan_id(ref, COMMIT, DIGEST)
    assert pid == f"plan-{want}-0123456789-fedcba98"
    assert k.is_plan_id(pid)


def test_plan_id_fits_a_label_value() -> None:
    pid = k.plan_id("a-very-long-branch-name/" * 5, COMMIT, DIGEST)
    assert len(pid) <= 63 and k.is_plan_id(pid)


@pytest.mark.parametrize(("commit", "digest"), [("abc", DIGEST), (COMMIT, "sha256:zz"), ("g" * 40, DIGEST)])
def test_plan_id_rejects_bad_hex(commit: str, digest: str) -> None:
    with pytest.raises(ValueError):
        k.plan_id("main", commit, digest)


def test_is_plan_id() -> None:
    assert not k.is_plan_id("auto") and not k.is_plan_id("plan-main-123")
