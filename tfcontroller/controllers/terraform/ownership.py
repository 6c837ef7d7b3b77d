"""A state belongs to exactly one Terraform object (design.md §4.8).

Two objects of a namespace whose workspace + secret suffix give the same Secret name (the same suffix,
`workspace: a-b, suffix: c` beside `workspace: a, suffix: b-c`, a derived suffix equal to another's
name, …) would plan against one state, and the second would destroy the first's resources. So, before
the first Terraform command of a reconcile, the object must own its state Secret:

- The owner is recorded on the state Secret as annotation `tfcontroller.io/state-owner: <name>` (plus the
  uid, for information). Terraform's kubernetes backend writes state by reading the Secret and updating
  it whole, so annotations it does not know survive its writes (tested with real terraform), and the
  record survives controller restarts. Identity is the name: an object deleted and created again under
  the same name (GitOps re-applying it) keeps its state.
- No Secret yet: the controller creates it, empty, with the labels the backend would write and the owner
  annotation; creation is atomic on the API server, so of two racing objects exactly one wins. Terraform
  then finds the Secret (it has no `tfstate` key: "no state") and fills it in.
- Owned by another object that still uses it: Stalled `StateInUse`, naming the owner. Nothing runs.
- Owned by an object that no longer exists (or now uses another state): Stalled `StateTakeOverRequired`
  until the user annotates the object `tfcontroller.io/take-over-state: <state Secret name>` — never
  silently. A live owner cannot be displaced, even with the annotation.
- No owner recorded (a state written before owners were recorded, or outside the controller): adopted
  only when unambiguous — the object has run Terraform on it before (status `lastPlannedRevision` or
  `lastAppliedRevision`), the Secret's `tfstateWorkspace`/`tfstateSecretSuffix` labels are its own
  split, and no other object resolving to it has run. Otherwise `StateInUse` (one other object has
  used it) or `StateTakeOverRequired` (several have, or none: a state of unknown origin).

`decide` is the pure rule (unit-tested on plain values); the rest reads and writes the Secret. Also here:
removing the empty default-workspace state that `terraform init` used to create beside a custom workspace.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.commands import take_over_state_command
from tfcontroller.api.constants import (
    ANNOTATION_STATE_OWNER,
    ANNOTATION_STATE_OWNER_UID,
    ANNOTATION_TAKE_OVER_STATE,
    tfstate_lease_name,
    tfstate_secret_name,
)
from tfcontroller.api.errors import SpecError, StallingError, TransientError
from tfcontroller.api.statenames import backend_problems
from tfcontroller.api.terraform import DEFAULT_WORKSPACE, Terraform
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import Conflict, NotFound
from tfcontroller.kube.resources import LEASES, SECRETS, TERRAFORMS
from tfcontroller.terraform.state import read_lock, read_state

log = logging.getLogger(__name__)

# Condition and Event reasons.
STATE_IN_USE = "StateInUse"
STATE_TAKE_OVER_REQUIRED = "StateTakeOverRequired"
STATE_TAKEN_OVER = "StateTakenOver"
STATE_ADOPTED = "StateOwnerRecorded"
BACKEND_CONFIG_INVALID = "BackendConfigInvalid"
STRAY_STATE_REMOVED = "StrayStateRemoved"

# The labels Terraform's kubernetes backend puts on a state Secret (client.go getLabels).
LABEL_TFSTATE = "tfstate"
LABEL_WORKSPACE = "tfstateWorkspace"
LABEL_SUFFIX = "tfstateSecretSuffix"

PROCEED, CREATE, CLAIM, REFUSE = "proceed", "create", "claim", "refuse"


@dataclass(frozen=True)
class Claimant:
    """What the rule needs of a Terraform object."""

    name: str
    workspace: str
    suffix: str
    used_state: bool = False  # it has run Terraform on its state before (status)
    take_over: str = ""  # the take-over-state annotation's value
    namespace: str = "default"  # for the command the messages print

    @property
    def secret_name(self) -> str:
        return tfstate_secret_name(self.workspace, self.suffix)


@dataclass(frozen=True)
class StateRecord:
    """What the existing state Secret says: its recorded owner and the backend's labels."""

    owner: str = ""
    workspace: str = ""
    suffix: str = ""


@dataclass(frozen=True)
class Ownership:
    action: str  # PROCEED | CREATE | CLAIM | REFUSE
    reason: str = ""
    message: str = ""


def decide(me: Claimant, record: StateRecord | None, others: Sequence[Claimant]) -> Ownership:
    """May `me` run Terraform on its state? `record` is None when the Secret does not exist; `others`
    are the other Terraform objects of the namespace."""
    secret = me.secret_name
    if record is None:
        return Ownership(CREATE)
    if record.owner == me.name:
        return Ownership(PROCEED)
    sharing = [o for o in others if o.secret_name == secret]
    hint = take_over_state_command(me.namespace, me.name, secret)
    if record.owner:
        if any(o.name == record.owner for o in sharing):
            return Ownership(REFUSE, STATE_IN_USE, (
                f"state Secret {secret} belongs to Terraform {record.owner}. Give this "
                "object its own state (another spec.backendConfig.secretSuffix or spec.workspace)"))
        gone = "now uses another state" if any(o.name == record.owner for o in others) else "no longer exists"
        if me.take_over == secret:
            return Ownership(CLAIM, STATE_TAKEN_OVER, f"took over state Secret {secret} from Terraform "
                                                      f"{record.owner}, which {gone}")
        return Ownership(REFUSE, STATE_TAKE_OVER_REQUIRED, (
            f"state Secret {secret} belongs to Terraform {record.owner}, which {gone}. "
            f"To manage its resources with this object, take it over: {hint}"))
    return _decide_unowned(me, record, sharing, hint)


def _decide_unowned(me: Claimant, record: StateRecord, sharing: Sequence[Claimant], hint: str) -> Ownership:
    """A state with no recorded owner: adopt it only when exactly this object has used it."""
    secret = me.secret_name
    if me.take_over == secret:
        return Ownership(CLAIM, STATE_TAKEN_OVER, f"took over state Secret {secret}, which had no recorded owner")

    def written_for(c: Claimant) -> bool:
        return (record.workspace, record.suffix) in (("", ""), (c.workspace, c.suffix))

    users = sorted(o.name for o in sharing if o.used_state and written_for(o))
    mine = me.used_state and written_for(me)
    if mine and not users:
        return Ownership(CLAIM, STATE_ADOPTED, f"recorded Terraform {me.name} as the owner of state Secret "
                                               f"{secret}, which it has used and no other object has")
    if len(users) == 1 and not mine:
        return Ownership(REFUSE, STATE_IN_USE, (
            f"state Secret {secret} is in use by Terraform {users[0]}. Give this object "
            "its own state (another spec.backendConfig.secretSuffix or spec.workspace)"))
    if users:
        why = f"Terraform objects {', '.join(sorted({*users, me.name} if mine else users))} have all used it"
    elif not written_for(me):
        why = (f"it was written for workspace {record.workspace!r} and suffix {record.suffix!r}, not for this "
               f"object's workspace {me.workspace!r} and suffix {me.suffix!r}")
    else:
        why = "no Terraform object has used it (it was made outside this controller, or by a deleted object)"
    return Ownership(REFUSE, STATE_TAKE_OVER_REQUIRED, (
        f"state Secret {secret} has no recorded owner and {why}. To manage its resources "
        f"with this object, take it over: {hint}"))


# ---- reading and writing the cluster ----------------------------------------------------------------

def claimant(tf: Terraform) -> Claimant:
    status = tf.status
    return Claimant(tf.meta.name, tf.spec.workspace, tf.spec.secret_suffix,
                    used_state=bool(status.get("lastPlannedRevision") or status.get("lastAppliedRevision")),
                    take_over=tf.meta.annotations.get(ANNOTATION_TAKE_OVER_STATE, "").strip(),
                    namespace=tf.meta.namespace)


def claimant_of(obj: dict[str, Any]) -> Claimant | None:
    """The Claimant of a Terraform object (None when its spec does not parse: it cannot run)."""
    try:
        return claimant(Terraform.from_dict(obj))
    except SpecError:
        return None


def record_of(secret: dict[str, Any] | None) -> StateRecord | None:
    if secret is None:
        return None
    meta = secret.get("metadata") or {}
    labels, notes = meta.get("labels") or {}, meta.get("annotations") or {}
    return StateRecord(str(notes.get(ANNOTATION_STATE_OWNER) or ""), str(labels.get(LABEL_WORKSPACE) or ""),
                       str(labels.get(LABEL_SUFFIX) or ""))


def _others(kube: KubeClient, namespace: str, name: str) -> list[Claimant]:
    items, _ = kube.list_all(TERRAFORMS, namespace)
    found = (claimant_of(o) for o in items if (o.get("metadata") or {}).get("name") != name)
    return [c for c in found if c is not None]


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
    problems = backend_problems(tf.spec.workspace, tf.spec.secret_suffix)
    if problems:
        raise StallingError(BACKEND_CONFIG_INVALID, "Terraform's kubernetes backend would refuse this state: "
                                                    + "; ".join(problems))
    me = claimant(tf)
    ns, secret_name = tf.meta.namespace, tf.state_secret_name
    for _ in range(3):
        secret = kube.get_or_none(SECRETS, secret_name, ns)
        record = record_of(secret)
        others = [] if record is None or record.owner == me.name else _others(kube, ns, me.name)
        decision = decide(me, record, others)
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
                log.info("state owner recorded: %s", decision.message, extra={"obj": f"{ns}/{me.name}"})
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
    decision = decide(me, record_of(secret), _others(kube, tf.meta.namespace, me.name))
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
    if any(o.secret_name == name for o in _others(kube, ns, tf.meta.name)):
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
