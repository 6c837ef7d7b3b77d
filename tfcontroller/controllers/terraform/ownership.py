"""The controller's side of "a state belongs to exactly one Terraform object" (design.md §4.8).

The rule itself — who may use a state Secret, and the StateInUse / StateTakeOverRequired refusals — lives in
`terraform/state_ownership.py`, shared with `tfcontroller state import` so that both give the same answer
with the same reason and message. Here: before the first Terraform command of a reconcile, record the
object as the owner (creating the Secret empty, with the backend's labels, when there is none: Terraform
then finds it with no `tfstate` key, "no state", and fills it in) or stall on a refusal; whether a deleted
object may destroy; and removing the empty default-workspace state that `terraform init` used to create
beside a custom workspace.
"""

from __future__ import annotations

import logging
from typing import Any

from tfcontroller.api.constants import (
    ANNOTATION_STATE_OWNER,
    ANNOTATION_STATE_OWNER_UID,
    tfstate_lease_name,
    tfstate_secret_name,
)
from tfcontroller.api.errors import StallingError, TransientError
from tfcontroller.api.terraform import DEFAULT_WORKSPACE, Terraform
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import Conflict, NotFound
from tfcontroller.kube.resources import LEASES, SECRETS
from tfcontroller.terraform.state import read_lock, read_state
from tfcontroller.terraform.state_ownership import (
    CLAIM,
    CREATE,
    LABEL_SUFFIX,
    LABEL_TFSTATE,
    LABEL_WORKSPACE,
    PROCEED,
    REFUSE,
    claimant,
    decide,
    other_claimants,
    ownership_of,
    record_of,
)

log = logging.getLogger(__name__)

STRAY_STATE_REMOVED = "StrayStateRemoved"


def _owner_annotations(tf: Terraform) -> dict[str, str]:
    return {ANNOTATION_STATE_OWNER: tf.meta.name, ANNOTATION_STATE_OWNER_UID: tf.meta.uid or ""}


def _new_state_secret(tf: Terraform) -> dict[str, Any]:
    """An empty state Secret as the backend would create it (same labels), owned by `tf`."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {
        "name": tf.state_secret_name, "namespace": tf.meta.namespace,
        "labels": {LABEL_TFSTATE: "true", LABEL_SUFFIX: tf.spec.secret_suffix, LABEL_WORKSPACE: tf.spec.workspace,
                   "app.kubernetes.io/managed-by": "terraform"},
        "annotations": {"encoding": "gzip", **_owner_annotations(tf)}}}


def ensure_state_owner(kube: KubeClient, tf: Terraform, events: list[tuple[str, str, str]]) -> None:
    """Before the first Terraform command of a reconcile: make sure `tf` owns its state Secret, or raise
    StallingError (a backend Terraform always refuses, StateInUse, StateTakeOverRequired)."""
    ns, secret_name = tf.meta.namespace, tf.state_secret_name
    for _ in range(3):
        secret = kube.get_or_none(SECRETS, secret_name, ns)
        decision = ownership_of(kube, tf, secret)
        if decision.action == REFUSE:
            raise StallingError(decision.reason, f"nothing was planned: {decision.message}")
        try:
            if decision.action == CREATE:
                kube.create(SECRETS, _new_state_secret(tf))
            elif decision.action == CLAIM:
                assert secret is not None
                kube.patch(SECRETS, secret_name, {"metadata": {
                    "resourceVersion": secret["metadata"]["resourceVersion"],
                    "annotations": _owner_annotations(tf)}}, ns)
                events.append(("Normal", decision.reason, decision.message))
                log.info("state owner recorded: %s", decision.message, extra={"obj": f"{ns}/{tf.meta.name}"})
        except (Conflict, NotFound):
            continue  # another writer was faster: decide again on what is there now
        if tf.spec.workspace != DEFAULT_WORKSPACE:
            remove_stray_default_state(kube, tf, events)
        return
    raise TransientError("StateOwnerConflict", f"state Secret {secret_name} kept changing while its owner "
                                               "was recorded; trying again")


def destroy_refusal(kube: KubeClient, tf: Terraform) -> str | None:
    """Deleting with destroyResourcesOnDeletion: why nothing may be destroyed (None: destroy). Only the
    owner's (or an unambiguous adopter's) resources are destroyed; with no state there is nothing to do."""
    secret = kube.get_or_none(SECRETS, tf.state_secret_name, tf.meta.namespace)
    if secret is None:
        return f"no state Secret {tf.state_secret_name}: nothing to destroy"
    me = claimant(tf)
    decision = decide(me, record_of(secret), other_claimants(kube, tf.meta.namespace, me.name))
    if decision.action in (PROCEED, CLAIM):
        return None
    return f"nothing destroyed: {decision.message}"


def remove_stray_default_state(kube: KubeClient, tf: Terraform, events: list[tuple[str, str, str]]) -> None:
    """Remove the empty default-workspace state (and its Lease) that `terraform init` created beside a
    custom workspace before runs selected their workspace with TF_WORKSPACE — only when it is certainly
    that: labelled with this suffix, no recorded owner, no resources or outputs, unlocked, and no other
    object of the namespace uses the default workspace with this suffix."""
    ns, suffix = tf.meta.namespace, tf.spec.secret_suffix
    name = tfstate_secret_name(DEFAULT_WORKSPACE, suffix)
    secret = kube.get_or_none(SECRETS, name, ns)
    record = record_of(secret)
    if secret is None or record is None or record.owner or \
            (record.workspace, record.suffix) != (DEFAULT_WORKSPACE, suffix):
        return
    state = read_state(kube, ns, name)
    lease = tfstate_lease_name(DEFAULT_WORKSPACE, suffix)
    if state.resources or state.outputs or read_lock(kube, ns, lease) is not None:
        return
    if any(o.secret_name == name for o in other_claimants(kube, ns, tf.meta.name)):
        return
    try:
        kube.delete(SECRETS, name, ns, resource_version=secret["metadata"]["resourceVersion"])
    except (Conflict, NotFound):
        return  # changed meanwhile (then it is kept) or already gone
    try:
        kube.delete(LEASES, lease, ns)
    except NotFound:
        pass
    events.append(("Normal", STRAY_STATE_REMOVED, f"removed the empty state Secret {name} and its Lease, left in "
                                                  f"the default workspace by an earlier init of workspace "
                                                  f"{tf.spec.workspace}"))
