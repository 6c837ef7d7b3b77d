"""The readable plan's store on the dev cluster (terraform/plan_view_store.py over secret_chunks.py, shared
with the encrypted plan): a view round-trips whole and in chunks; a smaller view removes the chunks a
larger one left; the plan's and the view's chunk clean-ups never touch each other's Secrets (each has its
own part label); a reader asking for another plan id, or finding a chunk gone, gets PlanViewNotFoundError;
plan_store.delete_plan removes both (by name when the counts are known, by label otherwise)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.devcluster import install_crds
from tests.support.terraform_helpers import seed_keys
from tfcontroller.crypto.keys import ensure_keys
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import SECRETS, TERRAFORMS
from tfcontroller.terraform.plan_store import delete_plan, load_plan, save_plan
from tfcontroller.terraform.plan_view_store import (
    PlanViewNotFoundError,
    delete_plan_view,
    load_plan_view,
    save_plan_view,
)

PLAN = "plan-main-0123456789-abcdef01"
OTHER = "plan-main-0123456789-99999999"


@pytest.fixture
def owner(kube: KubeClient) -> dict[str, Any]:
    """A real Terraform to own the Secrets (the garbage collector removes what an absent owner owns)."""
    install_crds(kube)
    return kube.create(TERRAFORMS, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform", "metadata": {"name": "app", "namespace": "default"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "src"}, "path": "./", "interval": "1h"}})


def _view(plan_id: str, n: int) -> dict[str, Any]:
    """A view of `n` resources whose JSON hardly compresses (so that it needs chunks when `n` is large)."""
    import hashlib

    changes = [{"address": f"a_b.r{i}", "type": "a_b", "action": "create", "actions": ["create"],
                "actionReason": None,
                "attributes": [{"path": "v", "before": None, "after": hashlib.sha256(str(i).encode()).hexdigest(),
                                "sensitive": False, "unknown": False}]} for i in range(n)]
    return {"planId": plan_id, "revision": "main@sha1:" + "0" * 40, "createdAt": "2026-01-01T00:00:00Z",
            "isDrift": False, "isDestroy": False, "terraformVersion": "1.11.4",
            "counts": {"add": n, "change": 0, "destroy": 0, "replace": 0}, "changes": changes, "drift": [],
            "outputs": [], "variables": [], "omitted": 0}


def _names(kube: KubeClient) -> set[str]:
    items, _ = kube.list_all(SECRETS, "default", label_selector="tfcontroller.io/terraform=app")
    return {i["metadata"]["name"] for i in items}


def test_round_trip_whole_and_chunked_and_stale_chunks_removed(kube: KubeClient, owner: dict[str, Any]) -> None:
    big = _view(PLAN, 300)
    assert save_plan_view(kube, owner, "default", PLAN, big, chunk_bytes=4096) > 2
    assert load_plan_view(kube, "default", "app", "default", PLAN) == big
    assert load_plan_view(kube, "default", "app", "default") == big  # whatever plan is stored
    chunk = kube.get(SECRETS, "tfplanview-default-app-0", "default")
    assert chunk["metadata"]["labels"]["tfcontroller.io/plan-view-part"] == "1"
    assert chunk["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]

    small = _view(OTHER, 2)
    assert save_plan_view(kube, owner, "default", OTHER, small) == 1
    assert _names(kube) == {"tfplanview-default-app"}
    assert load_plan_view(kube, "default", "app", "default", OTHER) == small
    with pytest.raises(PlanViewNotFoundError):
        load_plan_view(kube, "default", "app", "default", PLAN)


def test_a_missing_chunk_is_not_found(kube: KubeClient, owner: dict[str, Any]) -> None:
    save_plan_view(kube, owner, "default", PLAN, _view(PLAN, 300), chunk_bytes=4096)
    kube.delete(SECRETS, "tfplanview-default-app-1", "default")
    with pytest.raises(PlanViewNotFoundError, match="chunk 1"):
        load_plan_view(kube, "default", "app", "default", PLAN)


@pytest.mark.parametrize("by_name", [True, False], ids=["counts-known", "by-label"])
def test_plan_and_view_chunks_live_side_by_side_and_go_together(kube: KubeClient, owner: dict[str, Any],
                                                                  by_name: bool) -> None:
    seed_keys(kube)
    keyring = ensure_keys(kube, "default").keyring
    plan_secrets = save_plan(kube, owner, "default", PLAN, b"p" * 10_000, keyring, chunk_bytes=4096)
    view_secrets = save_plan_view(kube, owner, "default", PLAN, _view(PLAN, 300), chunk_bytes=4096)
    assert plan_secrets == 3 and view_secrets > 2
    # Saving either again with fewer chunks removes only its own stale chunks.
    save_plan(kube, owner, "default", PLAN, b"p" * 10, keyring, chunk_bytes=4096)
    assert {n for n in _names(kube) if n.startswith("tfplanview-")} == \
        {"tfplanview-default-app", *(f"tfplanview-default-app-{i}" for i in range(view_secrets - 1))}
    plan_secrets = save_plan(kube, owner, "default", PLAN, b"p" * 10_000, keyring, chunk_bytes=4096)
    save_plan_view(kube, owner, "default", PLAN, _view(PLAN, 2))
    assert {n for n in _names(kube) if n.startswith("tfplan-")} == \
        {"tfplan-default-app", "tfplan-default-app-0", "tfplan-default-app-1"}
    assert load_plan(kube, "default", "app", "default", PLAN, keyring) == b"p" * 10_000
    view_secrets = save_plan_view(kube, owner, "default", PLAN, _view(PLAN, 300), chunk_bytes=4096)

    if by_name:
        delete_plan(kube, "default", "app", "default", saved=plan_secrets, saved_view=view_secrets)
    else:
        delete_plan(kube, "default", "app", "default")
    assert _names(kube) == set()
    delete_plan_view(kube, "default", "app", "default")  # nothing left: no error
