"""Who may talk to the run API about a run: the pure decisions (docs/architecture.md, "How plans travel").

A runner Pod proves who it is with a projected ServiceAccount token of audience `RUNNER_AUDIENCE`, bound to
its Pod. The API server's TokenReview says whether the token is valid and whose it is; these functions then
decide, on plain dicts, whether that identity is the run's own Pod:

- `identity_from_review` (401 when not): the review authenticated the token *for our audience*, the user is
  a ServiceAccount, and the token is bound to a Pod (the extras `pod-name`/`pod-uid`). A token without a Pod
  binding (`kubectl create token`) is refused: anyone able to create tokens for the ServiceAccount could
  otherwise pose as every run of it.
- `authorise` (403 when not): the Pod the token names still exists with that uid, runs under that
  ServiceAccount, and carries the label `tfcontroller.io/run-id` equal to the run of the URL; when the
  controller told the API what it expects of the run (`RunExpectation`: namespace, and optionally the Pod's
  name and uid), those too.

The reasons are CamelCase and the messages say what was wrong, never a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RUNNER_AUDIENCE = "tfcontroller.io/runner"
LABEL_RUN_ID = "tfcontroller.io/run-id"
EXTRA_POD_NAME = "authentication.kubernetes.io/pod-name"
EXTRA_POD_UID = "authentication.kubernetes.io/pod-uid"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: HTTP status (401 who, 403 what), a CamelCase reason and a message."""

    status: int
    reason: str
    message: str


@dataclass(frozen=True)
class RunnerIdentity:
    """Who the token says the caller is: a ServiceAccount, and the Pod the token is bound to."""

    namespace: str
    service_account: str
    pod_name: str
    pod_uid: str

    @property
    def pod(self) -> str:
        return f"{self.namespace}/{self.pod_name}"


@dataclass(frozen=True)
class RunExpectation:
    """What the controller knows of a run before its runner calls: its namespace, and when known the Pod's
    name and uid (the run record's). Binds the run id to one namespace, so that a Pod elsewhere that copies
    the run-id label is refused even if it learnt the id."""

    namespace: str
    pod_name: str | None = None
    pod_uid: str | None = None


def _first_extra(extra: dict[str, Any], key: str) -> str:
    values = extra.get(key)
    if isinstance(values, list) and values:
        return str(values[0])
    return str(values) if isinstance(values, str) else ""


def identity_from_review(status: dict[str, Any] | None) -> RunnerIdentity | Refusal:
    """The runner's identity from a TokenReview's `status` (asked with audiences [RUNNER_AUDIENCE])."""
    status = status or {}
    if not status.get("authenticated"):
        error = str(status.get("error") or "the token is not valid")
        return Refusal(401, "TokenInvalid", f"token refused by the API server: {error}")
    audiences = status.get("audiences")
    if isinstance(audiences, list) and RUNNER_AUDIENCE not in audiences:
        return Refusal(401, "TokenAudienceWrong", f"the token's audience must be {RUNNER_AUDIENCE}")
    user = status.get("user") or {}
    username = str(user.get("username") or "")
    if not username.startswith(SERVICE_ACCOUNT_PREFIX) or username.count(":") != 3:
        return Refusal(401, "NotAServiceAccount",
                       f"user {username!r} is not a ServiceAccount; a runner uses its Pod's projected token")
    namespace, service_account = username[len(SERVICE_ACCOUNT_PREFIX):].split(":")
    extra = user.get("extra") or {}
    pod_name, pod_uid = _first_extra(extra, EXTRA_POD_NAME), _first_extra(extra, EXTRA_POD_UID)
    if not pod_name or not pod_uid:
        return Refusal(401, "TokenNotPodBound",
                       f"the token of {username} is not bound to a Pod; a runner uses its Pod's projected token "
                       f"(audience {RUNNER_AUDIENCE})")
    return RunnerIdentity(namespace, service_account, pod_name, pod_uid)


def authorise(identity: RunnerIdentity, pod: dict[str, Any] | None, run_id: str,
              expected: RunExpectation | None = None) -> Refusal | None:
    """None when the Pod of `identity` (as read from the API server, None when gone) is the runner of
    `run_id`; else the 403 that says why."""
    if expected is not None and identity.namespace != expected.namespace:
        return _forbidden("NamespaceMismatch",
                          f"run {run_id} belongs to namespace {expected.namespace}, "
                          f"not to Pod {identity.pod}'s namespace")
    if pod is None:
        return _forbidden("PodGone", f"Pod {identity.pod} the token is bound to no longer exists")
    meta = pod.get("metadata") or {}
    if meta.get("uid") != identity.pod_uid:
        return _forbidden("PodReplaced", f"Pod {identity.pod} was re-created (uid differs from the token's)")
    spec_sa = (pod.get("spec") or {}).get("serviceAccountName") or "default"
    if spec_sa != identity.service_account:
        return _forbidden("ServiceAccountMismatch",
                          f"Pod {identity.pod} runs as ServiceAccount {spec_sa}, "
                          f"the token is of {identity.service_account}")
    label = (meta.get("labels") or {}).get(LABEL_RUN_ID)
    if label != run_id:
        shown = f"{label!r}" if label is not None else "absent"
        return _forbidden("RunIdMismatch",
                          f"Pod {identity.pod} is not the runner of run {run_id}: its label {LABEL_RUN_ID} "
                          f"is {shown}")
    if expected is not None:
        return _match_expected_pod(identity, run_id, expected)
    return None


def _match_expected_pod(identity: RunnerIdentity, run_id: str, expected: RunExpectation) -> Refusal | None:
    if expected.pod_name is not None and identity.pod_name != expected.pod_name:
        return _forbidden("PodMismatch",
                          f"run {run_id} runs in Pod {expected.namespace}/{expected.pod_name}, not {identity.pod}")
    if expected.pod_uid is not None and identity.pod_uid != expected.pod_uid:
        return _forbidden("PodReplaced", f"Pod {identity.pod} is not the one run {run_id} was started in (uid)")
    return None


def _forbidden(reason: str, message: str) -> Refusal:
    return Refusal(403, reason, message)
