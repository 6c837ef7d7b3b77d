"""A state belongs to exactly one Terraform object (design.md §4.8): the rule, and what it reads.

Two objects of a namespace whose workspace + secret suffix give the same Secret name (the same suffix,
`workspace: a-b, suffix: c` beside `workspace: a, suffix: b-c`, a derived suffix equal to another's
name, …) would plan against one state, and the second would destroy the first's resources. So, before
the first Terraform command of a reconcile — and before `tfcontroller state import` writes a state — the
object must own its state Secret:

- The owner is recorded on the state Secret as annotation `tfcontroller.io/state-owner: <name>` (plus the
  uid, for information). Terraform's kubernetes backend writes state by reading the Secret and updating
  it whole, so annotations it does not know survive its writes (tested with real terraform), and the
  record survives controller restarts. Identity is the name: an object deleted and created again under
  the same name (GitOps re-applying it) keeps its state.
- No Secret yet: it is created, with the labels the backend would write and the owner annotation;
  creation is atomic on the API server, so of two racing writers exactly one wins.
- Owned by another object that still uses it: `StateInUse`, naming the owner. Nothing runs.
- Owned by an object that no longer exists (or now uses another state): `StateTakeOverRequired` until
  the user annotates the object `tfcontroller.io/take-over-state: <state Secret name>` — never
  silently. A live owner cannot be displaced, even with the annotation.
- No owner recorded (a state written before owners were recorded, or outside the controller): adopted
  only when unambiguous — the object has run Terraform on it before (status `lastPlannedRevision` or
  `lastAppliedRevision`), the Secret's `tfstateWorkspace`/`tfstateSecretSuffix` labels are its own
  split, and no other object resolving to it has run. Otherwise `StateInUse` (one other object has
  used it) or `StateTakeOverRequired` (several have, or none: a state of unknown origin).

Why here, in the terraform layer, and not in the controller: the controller (controllers/terraform/
ownership.py, which records the owner and stalls on a refusal) and the CLI's `state import` (which writes
a state) must apply the *same* rule with the same reasons and messages; the CLI may not import the
controller (.importlinter). `decide` is the pure rule (unit-tested on plain values, tests/unit/terraform/
test_state_ownership.py); `ownership_of` reads what it needs from the cluster and decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.commands import take_over_state_command
from tfcontroller.api.constants import ANNOTATION_STATE_OWNER, ANNOTATION_TAKE_OVER_STATE, tfstate_secret_name
from tfcontroller.api.errors import SpecError
from tfcontroller.api.statenames import backend_problems
from tfcontroller.api.terraform import Terraform
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import TERRAFORMS

# Condition and Event reasons.
STATE_IN_USE = "StateInUse"
STATE_TAKE_OVER_REQUIRED = "StateTakeOverRequired"
STATE_TAKEN_OVER = "StateTakenOver"
STATE_ADOPTED = "StateOwnerRecorded"
BACKEND_CONFIG_INVALID = "BackendConfigInvalid"

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


# ---- reading the cluster --------------------------------------------------------------------------

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


def other_claimants(kube: KubeClient, namespace: str, name: str) -> list[Claimant]:
    """The other Terraform objects of the namespace (those whose spec parses: the others cannot run)."""
    items, _ = kube.list_all(TERRAFORMS, namespace)
    found = (claimant_of(o) for o in items if (o.get("metadata") or {}).get("name") != name)
    return [c for c in found if c is not None]


def ownership_of(kube: KubeClient, tf: Terraform, secret: dict[str, Any] | None) -> Ownership:
    """May `tf` run Terraform on (or write) its state Secret `secret` (None: there is none)? A name
    Terraform's kubernetes backend always refuses is `BackendConfigInvalid`; otherwise `decide`, reading
    the namespace's other objects only when the answer depends on them."""
    problems = backend_problems(tf.spec.workspace, tf.spec.secret_suffix)
    if problems:
        return Ownership(REFUSE, BACKEND_CONFIG_INVALID, "Terraform's kubernetes backend would refuse this "
                                                         "state: " + "; ".join(problems))
    me = claimant(tf)
    record = record_of(secret)
    others = [] if record is None or record.owner == me.name else other_claimants(kube, tf.meta.namespace, me.name)
    return decide(me, record, others)
