"""User-facing names the controller reads and writes (design.md §3): API group, annotations, labels,
the finalizer, and the names of the Secrets and Leases it owns. They are part of the contract, so they
live in one place and are computed by functions rather than assembled ad hoc."""

from __future__ import annotations

import re

GROUP = "tfcontroller.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

GITREPOSITORY_KIND = "GitRepository"
TERRAFORM_KIND = "Terraform"
MANIFESTSET_KIND = "ManifestSet"
PLANPOLICY_KIND = "PlanPolicy"  # issue 18: Rego policies gating plans (api/planpolicy.py)
POLICYEXCEPTION_KIND = "PolicyException"  # issue 18: a waiver for one plan id (api/policyexception.py)
NOTIFICATIONPROVIDER_KIND = "NotificationProvider"  # issue 19: where to send (api/notification.py)
NOTIFICATIONRULE_KIND = "NotificationRule"  # issue 19: what to send there (api/notification.py)
PLURALS = {GITREPOSITORY_KIND: "gitrepositories", TERRAFORM_KIND: "terraforms", MANIFESTSET_KIND: "manifestsets",
           PLANPOLICY_KIND: "planpolicies", POLICYEXCEPTION_KIND: "policyexceptions",
           NOTIFICATIONPROVIDER_KIND: "notificationproviders", NOTIFICATIONRULE_KIND: "notificationrules"}

FINALIZER = f"{GROUP}/finalizer"
FIELD_MANAGER = "tfcontroller"  # server-side apply field manager and Event source

# Annotations users set (on a Terraform unless stated).
ANNOTATION_APPROVE_PLAN = f"{GROUP}/approve-plan"  # value: a plan id
ANNOTATION_REQUESTED_AT = f"{GROUP}/requested-at"  # any new value: reconcile now (all kinds)
ANNOTATION_REPLAN = f"{GROUP}/replan"  # any new value: discard the pending plan, plan again
ANNOTATION_REPLACE = f"{GROUP}/replace"  # issue 20: `<address>[,…][@<token>]`, a new request: re-create them in the next plan
ANNOTATION_FORCE_UNLOCK = f"{GROUP}/force-unlock"  # value: the lock id to release
# Who approved: JSON {"plan": <plan id>, "username": ..., "groups": [...], "via": "cli"|"dashboard"}, written
# with the approve-plan annotation by `tfcontroller approve` and the dashboard; the controller copies it into
# status.history for the apply of that plan (an approval without it is recorded as a bare annotation).
ANNOTATION_APPROVED_BY = f"{GROUP}/approved-by"
ANNOTATION_TAKE_OVER_STATE = f"{GROUP}/take-over-state"  # value: the state Secret to take over (rule §4.8)
# Annotations on objects rendered by a ManifestSet; value DISABLED opts the object out.
ANNOTATION_SUBSTITUTE = f"{GROUP}/substitute"
ANNOTATION_PRUNE = f"{GROUP}/prune"
DISABLED = "disabled"
# Annotations the controller writes.
ANNOTATION_PLAN_ID = f"{GROUP}/plan-id"  # on the plan Secret
ANNOTATION_PLAN_CHUNKS = f"{GROUP}/plan-chunks"  # on the plan Secret: number of extra chunk Secrets
ANNOTATION_STATE_OWNER = f"{GROUP}/state-owner"  # on the state Secret: the owning Terraform's name
ANNOTATION_STATE_OWNER_UID = f"{GROUP}/state-owner-uid"  # on the state Secret: that object's uid (information)

APPROVE_AUTO = "auto"
APPROVE_MANUAL = ""

# Labels the controller writes.
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "tfcontroller"
LABEL_TERRAFORM = f"{GROUP}/terraform"  # plan Secret and outputs Secret: the owning Terraform's name
LABEL_WORKSPACE = f"{GROUP}/workspace"
LABEL_MANIFESTSET_NAME = f"{GROUP}/manifestset-name"  # on every object a ManifestSet applied
LABEL_MANIFESTSET_NAMESPACE = f"{GROUP}/manifestset-namespace"

# Plan ids must fit a label value (63 characters): "plan-" + ref + "-" + 10 + "-" + 8.
PLAN_REF_MAX = 38
PLAN_ID_PATTERN = r"^plan-[a-z0-9]([a-z0-9-]*[a-z0-9])?-[0-9a-f]{10}-[0-9a-f]{8}$"
PLAN_CHUNK_BYTES = 900 * 1024


def tfstate_secret_name(workspace: str, suffix: str) -> str:
    """The state Secret Terraform's kubernetes backend writes (`secret_suffix` = suffix)."""
    return f"tfstate-{workspace}-{suffix}"


def tfstate_lease_name(workspace: str, suffix: str) -> str:
    """The Lease the kubernetes backend uses as the state lock."""
    return f"lock-tfstate-{workspace}-{suffix}"


def tfplan_secret_name(workspace: str, name: str) -> str:
    """The Secret holding the pending plan of Terraform `name` (first chunk)."""
    return f"tfplan-{workspace}-{name}"


def tfplanview_secret_name(workspace: str, name: str) -> str:
    """The Secret holding the readable (masked) form of the pending plan (terraform/plan_view.py); chunks
    `<that name>-0`, `-1`, ... The prefix differs from `tfplan-` at its 7th character, so no Terraform's
    plan Secret or chunk can take this name."""
    return f"tfplanview-{workspace}-{name}"


def tfplan_chunk_name(workspace: str, name: str, index: int) -> str:
    """Further chunks of a plan above PLAN_CHUNK_BYTES: `<plan secret>-0`, `-1`, ..."""
    return f"{tfplan_secret_name(workspace, name)}-{index}"


def sanitise_ref(ref: str) -> str:
    """A git ref as a name fragment: lower case `[a-z0-9-]`, dashes collapsed, at most PLAN_REF_MAX."""
    text = re.sub(r"[^a-z0-9]+", "-", ref.lower()).strip("-")
    text = text[:PLAN_REF_MAX].strip("-")
    return text or "ref"


def _hex(text: str, n: int, what: str) -> str:
    value = text.split(":", 1)[1] if ":" in text else text
    value = value.lower()
    if len(value) < n or not re.fullmatch(r"[0-9a-f]+", value):
        raise ValueError(f"{what} must be at least {n} hex digits (optionally `algo:`-prefixed), got {text!r}")
    return value[:n]


def plan_id(ref: str, commit: str, plan_digest: str) -> str:
    """`plan-<ref>-<first 10 hex of commit>-<first 8 hex of plan digest>` (design.md §3).

    `commit` and `plan_digest` may carry an `algo:` prefix (`sha1:...`, `sha256:...`). The digest covers
    what the plan would change, so an approval binds to the exact changes the user saw.
    """
    return f"plan-{sanitise_ref(ref)}-{_hex(commit, 10, 'commit')}-{_hex(plan_digest, 8, 'plan digest')}"


def is_plan_id(text: str) -> bool:
    return re.fullmatch(PLAN_ID_PATTERN, text) is not None


# Bounds of a source artifact, the same where it is packed (GitRepository, source/artifact.py) and where it
# is unpacked (every run, terraform/archive.py): entries (files, links, directories) and bytes of file
# content. A module is untrusted input (design.md §4.10): a few kilobytes of gzip or a push of a huge or
# many-file tree must not fill the controller's disk or memory. Generous for a GitOps repository of
# Terraform modules and manifests (Flux bounds an unpacked artifact at 100 MiB); what a run does not need
# is left out with the GitRepository's `spec.ignore`.
# These are the defaults; `--artifact-max-entries` / `--artifact-max-bytes` (api/artifact_bounds.py) raise
# or lower them for a monorepo, up to the hard ceilings below, which no flag passes: the digest of an
# artifact keeps one entry per member in memory and every concurrent run unpacks its own copy.
ARTIFACT_MAX_ENTRIES = 5_000
ARTIFACT_MAX_BYTES = 256 << 20  # 256 MiB
ARTIFACT_HARD_MAX_ENTRIES = 200_000
ARTIFACT_HARD_MAX_BYTES = 4 << 30  # 4 GiB
