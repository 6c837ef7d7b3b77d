"""A stored plan names the state backend configuration it was made with (issue 15): an apply by a
controller whose runs reach the state another way (a runner Pod in-cluster, a plan made with a kubeconfig
file) refuses it as not found — the apply step then plans again (rule §4.2) instead of handing Terraform a
plan whose backend it cannot reach, which fails on every retry."""

from __future__ import annotations

import pytest

from tests.support.terraform_helpers import seed_keys
from tfcontroller.crypto.keys import ensure_keys
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import SECRETS
from tfcontroller.terraform.plan_store import PlanNotFoundError, load_plan, save_plan

OBJ = {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
       "metadata": {"name": "app", "namespace": "default", "uid": "u-1"}}


@pytest.mark.parametrize(("made_with", "applied_with", "usable"), [
    ("kubeconfig /home/me/.kube/config", "in-cluster", False),  # local or in-process → pod mode
    ("in-cluster", "kubeconfig /home/me/.kube/config", False),  # pod mode → a laptop's controller
    ("kubeconfig /a", "kubeconfig /b", False),  # another kubeconfig file
    ("in-cluster", "in-cluster", True),
    ("", "in-cluster", True),  # stored by an earlier version: nothing says otherwise
    ("kubeconfig /a", "", True),  # a reader that does not ask (plan show)
])
def test_a_plan_is_usable_only_with_the_backend_it_was_made_with(kube: KubeClient, made_with: str,
                                                                 applied_with: str, usable: bool) -> None:
    seed_keys(kube)
    keyring = ensure_keys(kube, "default").keyring
    save_plan(kube, OBJ, "default", "plan-main-0123456789-abcdef01", b"plan bytes", keyring, backend=made_with)
    try:
        if usable:
            assert load_plan(kube, "default", "app", "default", "plan-main-0123456789-abcdef01", keyring,
                             backend=applied_with) == b"plan bytes"
        else:
            with pytest.raises(PlanNotFoundError) as err:
                load_plan(kube, "default", "app", "default", "plan-main-0123456789-abcdef01", keyring,
                          backend=applied_with)
            assert made_with in str(err.value) and applied_with in str(err.value)
    finally:
        kube.delete(SECRETS, "tfplan-default-app", "default")
