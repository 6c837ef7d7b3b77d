"""The NotificationProvider reconciler (issue 19): tell a provider's author whether it can deliver, in its
Ready condition; the rule controller delivers (rule_reconciler.py) and decides by the same rules
(`resolve_provider`, `rejection_current`), never by this condition.

Shape (as the PolicyException reconciler): read → suspend (nothing) → the ordered steps through `run_frame`
(one status patch, observedGeneration) → an Event on a Ready transition. The rows:

| what                                                  | Ready=False reason      | frame row (next run)          |
|-------------------------------------------------------|-------------------------|-------------------------------|
| a spec that can never work                            | SpecValidationFailed    | Stalled (a spec change)       |
| a referenced Secret missing, or a needed key missing  | SecretNotFound          | waiting (the Secret watch; a  |
|                                                       |                         | slow backstop)                |
| a Secret value that can never work                    | SecretInvalid           | Stalled (the Secret watch)    |
| `status.rejected` current (same generation, same      | DeliveryRejected        | Stalled (a spec or Secret     |
| resourceVersion of every referenced Secret)           |                         | change, or requested-at)      |
| otherwise                                             | (True) ProviderReady    | none: changes bring it back   |

`status.rejected` is written by the rule controller on a permanent answer (an HTTP 4xx but 429). When it no
longer describes the provider — a new generation, a rotated, added or removed Secret, or a new
`tfcontroller.io/requested-at` value (the user says: the receiving end is fixed, try again) — this reconciler
removes it, and the rules deliver again. Since the rule controller writes only status, the primary informer's
update filter passes a change of `status.rejected` too (`provider_update_predicate`).
Secrets are watched through an index of providers by the Secrets they name, with an informer that caches
no Secret data (`runtime.informer.metadata_only`).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.errors import StallingError, WaitingError
from tfcontroller.api.notification import (
    REASON_DELIVERY_REJECTED,
    REASON_PROVIDER_READY,
    REASON_SECRET_NOT_FOUND,
    NotificationProvider,
    Rejection,
    rejection_current,
)
from tfcontroller.controllers.notification.provider_secrets import (
    ProviderSecretError,
    ResolvedProvider,
    resolve_provider,
)
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import NotFound
from tfcontroller.kube.events import EventRecorder
from tfcontroller.kube.resources import NOTIFICATIONPROVIDERS, SECRETS, object_key, split_key
from tfcontroller.notify.http_delivery import where
from tfcontroller.runtime.informer import metadata_only
from tfcontroller.runtime.manager import Controller, Watch, ignore_status_only_changes
from tfcontroller.runtime.reconciler import StepResult, log_outcome, ready, ready_transition, run_frame
from tfcontroller.runtime.requested import mark_handled
from tfcontroller.runtime.result import Result
from tfcontroller.runtime.status import patch_status_with_retry
from tfcontroller.runtime.suspend import report_suspended

log = logging.getLogger(__name__)

PROVIDER_CONTROLLER_NAME = "notificationprovider"
INDEX_SECRETS = "secretRefs"
SECRET_RECHECK_SECONDS = 600.0  # the Secret watch brings a created Secret at once; this is a backstop only

Obj = dict[str, Any]


@dataclass
class ProviderContext:
    """One reconcile's state: the typed view (validate), its Secrets resolved (resolve), a retry request."""

    namespace: str
    name: str
    provider: NotificationProvider | None = None
    resolved: ResolvedProvider | None = None
    retry_requested: bool = False


class ProviderReconciler:
    """One instance per manager; `reconcile` is safe to call from several worker threads."""

    def __init__(self, kube: KubeClient, events: EventRecorder | None = None) -> None:
        self.kube = kube
        self.events = events or EventRecorder(kube)

    def reconcile(self, key: str) -> Result:
        namespace, name = split_key(key)
        namespace = namespace or "default"
        obj = self.kube.get_or_none(NOTIFICATIONPROVIDERS, name, namespace)
        if obj is None:
            return Result()
        if (obj.get("spec") or {}).get("suspend") is True:
            log.info("reconciliation is suspended", extra={"obj": key})
            report_suspended(self.kube, NOTIFICATIONPROVIDERS, obj)
            return Result()
        before = copy.deepcopy(obj.get("status") or {})
        outcome = run_frame(ProviderContext(namespace, name), obj, [self.validate, self.resolve, self.judge],
                            self._patch_status)
        self._record_events(obj, before)
        log_outcome(log, outcome, key)
        return outcome.result()

    # ---- steps (in order; steps never call steps) ----------------------------------------------
    def validate(self, ctx: ProviderContext, obj: Obj) -> None:
        ctx.retry_requested = mark_handled(obj)
        ctx.provider = NotificationProvider.from_dict(obj)  # SpecError: Stalled until the spec changes

    def resolve(self, ctx: ProviderContext, obj: Obj) -> None:
        assert ctx.provider is not None
        try:
            ctx.resolved = resolve_provider(self.kube, ctx.provider)
        except ProviderSecretError as exc:
            if exc.reason == REASON_SECRET_NOT_FOUND:
                raise WaitingError(exc.reason, exc.message, SECRET_RECHECK_SECONDS) from None
            raise StallingError(exc.reason, exc.message) from None

    def judge(self, ctx: ProviderContext, obj: Obj) -> StepResult:
        """DeliveryRejected while the recorded rejection still describes the provider; a stale one is removed."""
        assert ctx.provider is not None and ctx.resolved is not None
        status = obj.setdefault("status", {})
        rejection = Rejection.of(status)
        if rejection is not None and not ctx.retry_requested \
                and rejection_current(rejection, ctx.provider.generation, ctx.resolved.secret_versions):
            raise StallingError(REASON_DELIVERY_REJECTED, rejection_message(ctx.provider, rejection))
        if rejection is not None:
            del status["rejected"]
        return ready(REASON_PROVIDER_READY, ready_message(ctx.resolved))

    # ---- status and Events ------------------------------------------------------------------------
    def _patch_status(self, before: Obj, after: Obj) -> object:
        """One attempt: on a conflict (the rule controller wrote status.rejected meanwhile) the error makes the
        manager run this reconcile again on what is there now, instead of rebasing a removal of `rejected`
        onto a rejection this run never saw."""
        try:
            return patch_status_with_retry(self.kube, NOTIFICATIONPROVIDERS, before, after, attempts=1)
        except NotFound:
            return None

    def _record_events(self, obj: Obj, before: Obj) -> None:
        notice = ready_transition(before.get("conditions") or [], (obj.get("status") or {}).get("conditions") or [])
        if notice is not None:
            self.events.event(obj, notice.type, notice.reason, notice.message)


def rejection_message(provider: NotificationProvider, rejection: Rejection) -> str:
    """What the service answered and how to get deliveries going again (the message was scrubbed when
    recorded)."""
    secrets = f" or its Secret{'s' if len(provider.secret_names) > 1 else ''} ({', '.join(provider.secret_names)})" \
        if provider.secret_names else ""
    return (f"{rejection.message} (at {rejection.at}); nothing is sent to this provider until its spec{secrets} "
            f"changes, or annotate it with a new tfcontroller.io/requested-at to try again")


def ready_message(resolved: ResolvedProvider) -> str:
    """Where it delivers, without a secret: host and port of a URL (a chat URL's path is its token)."""
    provider = resolved.provider
    if provider.type == "ses":
        return f"ses: sends to {_recipients(provider)} through Amazon SES (the controller's --ses-* settings)"
    if provider.type == "smtp":
        server = f"{resolved.smtp['host']} (Secret {provider.secret_name})" if resolved.smtp \
            else "the controller's --smtp-* server"
        return f"smtp: sends to {_recipients(provider)} through {server}"
    via = f" via proxy {where(resolved.proxy)}" if resolved.proxy else ""
    return f"{provider.type}: posts to {where(resolved.address)}{via}"


def _recipients(provider: NotificationProvider) -> str:
    return f"{len(provider.to)} recipient{'s' if len(provider.to) != 1 else ''}"


def index_secret_refs(obj: Obj) -> list[str]:
    """`<namespace>/<secret>` of every Secret a provider names (secretRef, certSecretRef), read leniently:
    an invalid spec still names the Secrets whose change might matter."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    namespace = (obj.get("metadata") or {}).get("namespace") or "default"
    names = []
    for key in ("secretRef", "certSecretRef"):
        ref = (spec or {}).get(key)
        if isinstance(ref, dict) and isinstance(ref.get("name"), str) and ref["name"]:
            names.append(f"{namespace}/{ref['name']}")
    return sorted(set(names))


def provider_update_predicate(old: Obj, new: Obj) -> bool:
    """The default filter (not our own status patches), plus a change of `status.rejected` (the rule
    controller's write, which this controller turns into Ready=False)."""
    return ignore_status_only_changes(old, new) or \
        (old.get("status") or {}).get("rejected") != (new.get("status") or {}).get("rejected")


def new_provider_controller(reconciler: ProviderReconciler, concurrency: int | None = None) -> Controller:
    """The Controller: NotificationProviders, and the Secrets they name (metadata only, through the index)."""
    return Controller(
        name=PROVIDER_CONTROLLER_NAME,
        resource=NOTIFICATIONPROVIDERS,
        reconcile=reconciler.reconcile,
        concurrency=concurrency,
        indexes={INDEX_SECRETS: index_secret_refs},
        watches=[Watch(SECRETS, index=INDEX_SECRETS, value_fn=object_key, transform=metadata_only)],
        update_predicate=provider_update_predicate,
    )
