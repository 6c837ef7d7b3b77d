"""The NotificationRule reconciler (issue 19): observe the selected Terraform and ManifestSet objects, queue
what is news in the rule's own status (the outbox), deliver what is due, and say how it went.

Level-based: no controller sends "events" here. Each reconcile reads the objects' current status from the
manager's shared informers (the Terraform controller's own cache), derives the events that are true now
(notify/observe.py, pure), and lets the rule's outbox (notify/rule_outbox.py, pure) decide what is new —
per (object, stream) by fingerprint, remembered in `status.observed` — so a re-reconcile, a second replica
taking over, or a restart sends nothing twice: what was sent is in the status that the next reconcile reads
(fresh from the API, never from a cache that may predate our last patch).

Order of one reconcile (the frame of runtime/reconciler.py; the status is patched after each delivery and
once at the end):
    validate → access → providers → observe → deliver → summarise
- validate: a bad spec is Stalled `SpecValidationFailed` naming the field;
- access: a selector naming another namespace (or `*`, every namespace) is Stalled `AccessDenied` unless
  the rule is in the controller's own namespace (the platform team's, where PlanPolicies are the
  cluster-wide defaults) or the controller runs with `--allow-cross-namespace-refs`;
- providers: each providerRef read fresh and resolved (its Secrets); one that is missing, invalid,
  suspended, lacks a Secret or still stands rejected (api/notification.rejection_current) is *not ready*:
  its entries stay pending, the others are delivered, and the rule ends Ready=False `ProviderNotReady`
  naming each and why;
- observe: at most MAX_OBSERVED_OBJECTS selected objects (more is Stalled `SelectionTooLarge`: the rule's
  memory of them must fit its status), each keyed with its creationTimestamp (the history floor);
- deliver: the due (entry, provider) pairs (never-tried first, then retrying, oldest first within), each
  through the provider's rate limit (delivery.py, with a wall-clock deadline per attempt); what observe
  queued is written before the first attempt, and each outcome recorded in the outbox and patched into
  the rule's status right away (a crash re-sends at most the one message in flight; a conflict is
  rebased on fresh data, never re-sent); a write that fails stops the deliveries of this reconcile
  (`StatusWriteFailed`, retried with backoff): nothing is sent that cannot be recorded; a permanent answer is written to the provider's
  `status.rejected` (the provider controller turns it into Ready=False `DeliveryRejected`); a Warning
  Event `NotificationFailed` on the rule for the first failure of each (entry, provider) streak. An entry
  the outbox parks (refused twice for its content, 400/413/422) is a Warning `NotificationUndeliverable`,
  and that second refusal does not reject the provider again (another message can pass).
  Circuit breaker: after a retryable failure (timeout, refused connection, 429, 5xx) a provider gets no
  more attempts in this reconcile and is held (Deliverer.hold: every rule) until the server's Retry-After,
  else for the first backoff step (`provider_hold`; the entry keeps its own, growing backoff): its other
  entries wait together instead of each waiting out its own timeout. An attempt refused because the
  provider's earlier attempt still runs (`AttemptRunning`) is a hold, not a failure: not counted, no
  Event. The whole step
  stops after `delivery_budget` seconds, the rest requeued at once, so one rule cannot hold a worker for
  long;
- summarise: Ready=True `RuleReady`, requeued at the next due time (a backoff, a Retry-After, a token).
At-least-once: a delivery happens before the status patch that records it, so a crash between the two
sends that one message again on restart (never zero times). A delivery never raises into the reconcile.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from tfcontroller.api.access import ACCESS_DENIED
from tfcontroller.api.errors import SpecError, StallingError, TransientError, WaitingError
from tfcontroller.api.links import plan_page_url
from tfcontroller.api.notification import (
    ALL_NAMESPACES,
    REASON_PROVIDER_NOT_READY,
    REASON_RULE_READY,
    NotificationProvider,
    NotificationRule,
    Rejection,
    rejection_current,
)
from tfcontroller.api.times import format_rfc3339, parse_rfc3339
from tfcontroller.controllers.notification.context import (
    CACHE_WAIT,
    DELIVERY_BUDGET,
    MIN_REQUEUE,
    NOT_READY_RECHECK,
    REASON_NOTIFICATION_FAILED,
    REASON_NOTIFICATION_UNDELIVERABLE,
    REASON_SELECTION_TOO_LARGE,
    REASON_STATUS_WRITE_FAILED,
    Obj,
    RuleContext,
)
from tfcontroller.controllers.notification.delivery import REASON_ATTEMPT_RUNNING, Deliverer, delivery_id
from tfcontroller.controllers.notification.metrics import NotificationMetrics
from tfcontroller.controllers.notification.object_secrets import (
    SCRUB_UNAVAILABLE,
    ObjectReader,
    ScrubUnavailableError,
)
from tfcontroller.controllers.notification.provider_secrets import (
    ProviderSecretError,
    ResolvedProvider,
    resolve_provider,
)
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, Conflict, NotFound
from tfcontroller.kube.events import EventRecorder
from tfcontroller.kube.resources import NOTIFICATIONPROVIDERS, NOTIFICATIONRULES, split_key
from tfcontroller.notify.event import NotificationEvent
from tfcontroller.notify.http_delivery import BACKOFF_BASE, DeliveryResult, next_attempt_delay
from tfcontroller.notify.observe import manifestset_observations, terraform_observations
from tfcontroller.notify.rule_outbox import MAX_OBSERVED_OBJECTS, Due, ObjectKey, Outcome, Parked, RuleOutbox
from tfcontroller.runtime.informer import Informer
from tfcontroller.runtime.reconciler import (
    StepResult,
    log_outcome,
    ready,
    ready_transition,
    requeue_after,
    run_frame,
)
from tfcontroller.runtime.requested import mark_handled
from tfcontroller.runtime.result import Result
from tfcontroller.runtime.status import patch_status_with_retry
from tfcontroller.runtime.suspend import report_suspended

log = logging.getLogger(__name__)

MAX_REJECTION = 500  # characters of a permanent answer's message kept in the provider's status.rejected


class RuleReconciler:
    """One instance per manager; `reconcile` is safe from several workers (the work queue never hands one
    rule to two workers at once, and each rule's outbox lives in its own status)."""

    def __init__(self, kube: KubeClient, sources: Sequence[Informer], deliverer: Deliverer,
                 metrics: NotificationMetrics, events: EventRecorder | None = None, *, dashboard_url: str = "",
                 allow_cross_namespace_refs: bool = False, controller_namespace: str = "",
                 backoff_base: float = BACKOFF_BASE.total_seconds(), delivery_budget: float = DELIVERY_BUDGET) -> None:
        self.kube = kube
        self.sources = list(sources)  # the Terraform and ManifestSet informers
        self.deliverer = deliverer
        self.metrics = metrics
        self.events = events or EventRecorder(kube)
        self.dashboard_url = dashboard_url
        self.allow_cross_namespace_refs = allow_cross_namespace_refs
        self.controller_namespace = controller_namespace
        self.delivery_budget = delivery_budget
        self.backoff_base = dt.timedelta(seconds=backoff_base)
        self.objects = ObjectReader(kube)
        self.provider_types: dict[str, str] = {}  # `<ns>/<name>` -> type, for the pending gauge's label

    def reconcile(self, key: str) -> Result:
        namespace, name = split_key(key)
        namespace = namespace or "default"
        obj = self.kube.get_or_none(NOTIFICATIONRULES, name, namespace)
        if obj is None:
            self.metrics.set_pending(key, {})
            return Result()
        if (obj.get("spec") or {}).get("suspend") is True:
            log.info("notification rule is suspended", extra={"obj": key})
            report_suspended(self.kube, NOTIFICATIONRULES, obj)
            return Result()
        if not all(informer.has_synced for informer in self.sources):
            # an empty cache would read as "every object is gone": the outbox would forget what it sent and
            # send it again once the cache fills (a restart must send nothing twice)
            return Result(requeue_after=CACHE_WAIT)
        ctx = RuleContext(namespace, name, dt.datetime.now(dt.UTC), read=copy.deepcopy(obj))
        before = copy.deepcopy(obj.get("status") or {})
        steps = [self.validate, self.access, self.resolve_providers, self.observe, self.deliver, self.summarise]
        outcome = run_frame(ctx, obj, steps, lambda read, after: self._patch_status(ctx.written or read, after))
        self._record_events(obj, before, ctx)
        self._report_pending(key, ctx)
        log_outcome(log, outcome, key)
        return outcome.result()

    # ---- steps ---------------------------------------------------------------------------------
    def validate(self, ctx: RuleContext, obj: Obj) -> None:
        mark_handled(obj)
        ctx.rule = NotificationRule.from_dict(obj)

    def access(self, ctx: RuleContext, obj: Obj) -> None:
        assert ctx.rule is not None
        denial = cross_namespace_denial(ctx.namespace, ctx.rule.selector.namespaces, self.controller_namespace,
                                        self.allow_cross_namespace_refs)
        if denial:
            raise StallingError(ACCESS_DENIED, denial)

    def resolve_providers(self, ctx: RuleContext, obj: Obj) -> None:
        assert ctx.rule is not None
        for name in ctx.rule.provider_names:
            resolved, why = self._provider(ctx.namespace, name)
            if resolved is not None:
                ctx.providers[name] = resolved
            else:
                ctx.not_ready[name] = why

    def observe(self, ctx: RuleContext, obj: Obj) -> None:
        rule = ctx.rule
        assert rule is not None
        created = parse_rfc3339((obj.get("metadata") or {}).get("creationTimestamp")) or ctx.now
        selected = self._selected(rule.selector.matches)
        if len(selected) > MAX_OBSERVED_OBJECTS:
            raise StallingError(REASON_SELECTION_TOO_LARGE, too_many_objects(len(selected)))
        outbox = RuleOutbox.of(obj.get("status"), created)
        for target in selected:
            uid = str((target.get("metadata") or {}).get("uid") or "")
            ctx.objects[uid] = target
            outbox.observe(object_key(target), self._observations(target), rule.wants, rule.provider_names,
                           ctx.now)
        outbox.forget_missing(set(ctx.objects), ctx.now)
        ctx.outbox = outbox
        self._scrub_queued(ctx)
        _write_outbox(obj, outbox)

    def deliver(self, ctx: RuleContext, obj: Obj) -> None:
        """Deliver what is due (see the module docstring). Nothing is sent that cannot be recorded: the
        observations are written before the first attempt and each outcome right after it; a write that
        fails (status too big, RBAC, an admission webhook, conflicts without end) stops this reconcile
        before the next attempt, and the rule is retried with backoff (a `TransientError`) instead of
        sending everything again at every look."""
        outbox = ctx.outbox
        assert outbox is not None
        rule_uid = str((obj.get("metadata") or {}).get("uid") or "")
        started = time.monotonic()
        attempted = 0
        recorded = False
        try:
            for due in outbox.due(ctx.now, ctx.ready_names):
                resolved = ctx.providers.get(due.provider)
                if resolved is None or due.provider in ctx.waits:  # rejected, or held/throttled in this run
                    continue
                if attempted and time.monotonic() - started >= self.delivery_budget:
                    ctx.more = True  # the rest at once, in a reconcile of its own (other rules get a turn)
                    break
                if not recorded:  # what observe queued, before anything is sent
                    if not self._checkpoint(ctx, obj):
                        raise _unrecorded(ctx)
                    recorded = True
                wait = self.deliverer.throttle(resolved.provider)  # also a provider held after a failure
                if wait > 0:
                    ctx.waits[due.provider] = wait  # its entries are due, but not before this
                    continue
                attempted += 1
                ident = delivery_id(rule_uid, due.entry_id, due.provider, due.event.timestamp.isoformat())
                raw = self._send(ctx, due, resolved, ident)
                if raw.reason == REASON_ATTEMPT_RUNNING:  # held, not failed: the earlier attempt still runs
                    ctx.waits[due.provider] = max(resolved.provider.timeout, MIN_REQUEUE)
                    continue
                result = with_backoff(raw, due.attempt, self.backoff_base)
                parked = outbox.record(Outcome(due.entry_id, due.provider, result), dt.datetime.now(dt.UTC))
                self._count(ctx, due, resolved, raw, parked)
                if not self._checkpoint(ctx, obj):
                    raise _unrecorded(ctx)
        finally:
            _write_outbox(obj, outbox)

    def summarise(self, ctx: RuleContext, obj: Obj) -> StepResult:
        assert ctx.outbox is not None
        after = self._next_look(ctx)
        if ctx.not_ready:
            whys = "; ".join(f"{name}: {why}" for name, why in sorted(ctx.not_ready.items()))
            raise WaitingError(REASON_PROVIDER_NOT_READY,  # no counts: a changing message is a new Event
                               f"provider(s) not ready — {whys}; their notifications wait in status.pending",
                               after if after is not None else NOT_READY_RECHECK)
        message = f"{len(ctx.objects)} object(s) observed, {len(ctx.providers)} provider(s) ready"
        if ctx.more:
            return requeue_after(MIN_REQUEUE, REASON_RULE_READY, message)
        if after is not None:
            return requeue_after(after, REASON_RULE_READY, message)
        return ready(REASON_RULE_READY, message)

    # ---- helpers -------------------------------------------------------------------------------
    def _provider(self, namespace: str, name: str) -> tuple[ResolvedProvider | None, str]:
        """The provider resolved, or None and why it cannot be used now (no secret value in the reason)."""
        raw = self.kube.get_or_none(NOTIFICATIONPROVIDERS, name, namespace)
        if raw is None:
            return None, "NotificationProvider not found"
        try:
            provider = NotificationProvider.from_dict(raw)
        except SpecError as exc:
            return None, f"invalid spec ({exc.message})"
        self.provider_types[provider.key] = provider.type
        if provider.suspend:
            return None, "suspended"
        try:
            resolved = resolve_provider(self.kube, provider)
        except ProviderSecretError as exc:
            return None, f"{exc.reason} ({exc.message})"
        rejection = Rejection.of(raw.get("status"))
        if rejection_current(rejection, provider.generation, resolved.secret_versions):
            assert rejection is not None
            return None, rejected_why(rejection.message)
        return resolved, ""

    def _selected(self, matches: Callable[[Obj], bool]) -> list[Obj]:
        return [o for informer in self.sources for o in informer.list() if matches(o)]

    def _observations(self, target: Obj) -> list[Any]:
        if target.get("kind") == "ManifestSet":
            return list(manifestset_observations(target))
        meta = target.get("metadata") or {}
        link = plan_page_url(self.dashboard_url, str(meta.get("namespace")), str(meta.get("name")))
        return list(terraform_observations(target, dashboard_url=link))

    def _send(self, ctx: RuleContext, due: Due, resolved: ResolvedProvider, ident: str) -> DeliveryResult:
        """One delivery: the event with its plan's readable diff (not stored in status: read again now, and
        only when it is the object's pending plan), scrubbed of the object's secret values."""
        target = ctx.objects.get(due.event.object.uid) or {}
        if not target and not (ctx.outbox and ctx.outbox.is_scrubbed(due.entry_id)):
            return _scrub_unavailable("its object is gone and its record was not scrubbed when it was queued")
        try:
            secrets = self.objects.secrets(target)
        except ScrubUnavailableError as exc:
            return _scrub_unavailable(str(exc))
        return self.deliverer.send(resolved, self._with_diff(due.event, target), secrets, ident)

    def _scrub_queued(self, ctx: RuleContext) -> None:
        """Scrub the stored records of newly queued entries with their object's secret values of now, so
        that an entry still waiting when its object (and so its spec) is gone is sent scrubbed. Secrets are
        read only for objects with such entries; one that cannot be read now is tried at the next look."""
        assert ctx.outbox is not None
        for uid in sorted(ctx.outbox.unscrubbed_uids() & set(ctx.objects)):
            try:
                ctx.outbox.scrub_records(uid, self.objects.secrets(ctx.objects[uid]))
            except ScrubUnavailableError as exc:
                log.info("rule %s/%s: %s", ctx.namespace, ctx.name, exc)

    def _checkpoint(self, ctx: RuleContext, obj: Obj) -> bool:
        """Patch the outbox into the rule's status now (before the first delivery, and after each one): a
        crash later re-sends nothing of what this run delivered before it. A conflict is rebased on the
        fresh status (our changes on top; nothing is sent again). False when the status could not be
        written: the caller sends nothing more (what cannot be recorded would be sent again at every look)."""
        assert ctx.outbox is not None
        _write_outbox(obj, ctx.outbox)
        base = ctx.written or ctx.read
        after = copy.deepcopy(base)  # the outbox only: conditions and the handled request wait for the end
        _write_outbox(after, ctx.outbox)
        try:
            written = patch_status_with_retry(self.kube, NOTIFICATIONRULES, base, after)
        except (NotFound, Conflict, ApiError) as exc:
            log.warning("could not record the outbox in the status of rule %s/%s: %s; no more deliveries in this "
                        "reconcile", ctx.namespace, ctx.name, type(exc).__name__)
            ctx.unrecorded = type(exc).__name__
            return False
        if written is not None:
            ctx.written = written
        return True

    def _with_diff(self, event: NotificationEvent, target: Obj) -> NotificationEvent:
        plan = event.plan
        if plan is None or event.type != "PlanPending" or plan.diff or not target:
            return event
        lines = self.objects.pending_diff(target, plan.plan_id)
        return replace(event, details=replace(plan, diff=lines)) if lines else event

    def _count(self, ctx: RuleContext, due: Due, resolved: ResolvedProvider, result: DeliveryResult,
               parked: Parked | None = None) -> None:
        provider = resolved.provider
        if result.delivered:
            self.metrics.delivered(provider.type)
            return
        self.metrics.failure(provider.type, result.outcome)
        if result.outcome == "retryable" and result.reason != SCRUB_UNAVAILABLE:
            # the breaker: no more attempts to it now, held for every rule (not for our own scrub failing)
            self.deliverer.hold(provider, provider_hold(result, self.backoff_base).total_seconds())
        if due.attempt == 1:  # the first failure of this (entry, provider): one Event per streak
            ctx.failures.append((due.provider, f"{due.event.title} to {provider.name}: {result.message}"))
        if parked is not None:  # given up for its content (refused twice, or 5xx while others pass)
            why = "refused twice for its content" if result.outcome == "permanent" else \
                "the receiver failed on it again and again while other notifications got through"
            ctx.parked.append((due.provider, f"{due.event.title} to {provider.name} is undeliverable ({why}; "
                                             f"not retried): {result.message}"))
            return
        if result.outcome == "permanent":
            self._reject(resolved, result)
            ctx.not_ready[due.provider] = rejected_why(result.message[:MAX_REJECTION])
            ctx.providers.pop(due.provider, None)

    def _reject(self, resolved: ResolvedProvider, result: DeliveryResult) -> None:
        """Record a permanent answer in the provider's status (the provider controller, whose update filter
        passes this status change, reports it as Ready=False DeliveryRejected until its spec or Secrets
        change)."""
        provider = resolved.provider
        rejection = Rejection(http_status=result.status or 0, message=result.message[:MAX_REJECTION], at=format_rfc3339(),
                              generation=provider.generation, secret_versions=dict(resolved.secret_versions))
        try:
            self.kube.patch_status(NOTIFICATIONPROVIDERS, provider.name, provider.namespace,
                                   {"rejected": rejection.to_status()})
        except (NotFound, ApiError) as exc:
            log.warning("could not record the rejection on provider %s: %s", provider.key, exc)

    def _next_look(self, ctx: RuleContext) -> float | None:
        """When to look again: the next due time of the providers that may send, and for a provider that is
        rate-limited or held (its entries are due already) the end of its wait — not "now", which would
        reconcile in a tight loop for as long as a Retry-After lasts."""
        assert ctx.outbox is not None
        candidates = list(ctx.waits.values())
        next_due = ctx.outbox.next_due(ctx.ready_names - set(ctx.waits))
        if next_due is not None:
            candidates.append((next_due - dt.datetime.now(dt.UTC)).total_seconds())
        return max(MIN_REQUEUE, min(candidates)) if candidates else None

    def _patch_status(self, before: Obj, after: Obj) -> object:
        try:
            return patch_status_with_retry(self.kube, NOTIFICATIONRULES, before, after)
        except NotFound:
            return None

    def _record_events(self, obj: Obj, before: Obj, ctx: RuleContext) -> None:
        for _provider, message in ctx.failures:
            self.events.warning(obj, REASON_NOTIFICATION_FAILED, message)
        for _provider, message in ctx.parked:
            self.events.warning(obj, REASON_NOTIFICATION_UNDELIVERABLE, message)
        notice = ready_transition(before.get("conditions") or [], (obj.get("status") or {}).get("conditions") or [])
        if notice is not None:
            self.events.event(obj, notice.type, notice.reason, notice.message)

    def _report_pending(self, key: str, ctx: RuleContext) -> None:
        if ctx.outbox is None or ctx.rule is None:
            return
        counts: dict[str, int] = {}
        for provider_name, n in ctx.outbox.pending_by_provider().items():
            ptype = self.provider_types.get(f"{ctx.namespace}/{provider_name}") or "unknown"
            counts[ptype] = counts.get(ptype, 0) + n
        self.metrics.set_pending(key, counts)


def cross_namespace_denial(own: str, namespaces: Sequence[str], controller_namespace: str, allowed: bool) -> str:
    """Why a rule in `own` may not select `namespaces` ("" when it may). Another namespace — or `*`, every
    namespace — lets a rule read that team's plans and diffs, so it is for the platform team's rules (in
    the controller's own namespace) or a controller run with --allow-cross-namespace-refs. Pure."""
    others = [ns for ns in namespaces if ns != own]
    if not others or allowed or (controller_namespace and own == controller_namespace):
        return ""
    shown = ", ".join("* (every namespace)" if ns == ALL_NAMESPACES else ns for ns in others)
    where = f"the controller's namespace ({controller_namespace})" if controller_namespace else \
        "the controller's namespace"
    return (f"spec.selector.namespaces: {shown} {'is another namespace' if len(others) == 1 else 'are other namespaces'}; "
            f"a rule watches only its own namespace ({own}) unless it is in {where} or the controller runs with "
            f"--allow-cross-namespace-refs: remove it, or create the rule in {where} or in that namespace")


def rejected_why(message: str) -> str:
    """Why a rejected provider is not ready, the same text whether the rejection was answered in this run or
    read back from the provider's status (a Ready message that changes between runs is a new Event). Pure."""
    return f"rejected a notification ({message}); fix the provider or its Secret"


def provider_hold(result: DeliveryResult, base: dt.timedelta) -> dt.timedelta:
    """How long a provider that answered `result` (retryable, as the server said it: not `with_backoff`'s)
    gets no attempt from any rule: the server's Retry-After, else the first backoff step. Never an entry's
    own grown backoff — one message failing for the tenth time must not silence the provider for 30 min
    while the others would pass. Pure."""
    return result.retry_after if result.retry_after is not None else base


def too_many_objects(count: int) -> str:
    """The Stalled message of a rule selecting more objects than its status can remember. Pure."""
    return (f"spec.selector matches {count} objects; a rule observes at most {MAX_OBSERVED_OBJECTS} (what it "
            f"remembers of each must fit in its status): split it into several rules with narrower selectors, "
            f"or narrow spec.selector (kinds, names, matchLabels, namespaces)")


def object_key(target: Obj) -> ObjectKey:
    """The outbox's key of an observed object, with its creationTimestamp: an object created after the
    rule's first look keeps the rule's creation as its history floor (e.g. created and applied while the
    rule was suspended: its apply is still news on resume). Pure."""
    meta = target.get("metadata") or {}
    return ObjectKey(str(target.get("kind")), str(meta.get("namespace")), str(meta.get("name")),
                     str(meta.get("uid") or ""), parse_rfc3339(meta.get("creationTimestamp")))


def _unrecorded(ctx: RuleContext) -> TransientError:
    return TransientError(REASON_STATUS_WRITE_FAILED,
                          f"could not write the rule's status ({ctx.unrecorded}); deliveries stop until it can be "
                          f"written (what cannot be recorded would be sent again): retried with backoff")


def with_backoff(result: DeliveryResult, attempt: int, base: dt.timedelta) -> DeliveryResult:
    """A retryable result without the server's Retry-After carries the controller's backoff for this attempt
    (`next_attempt_delay` from the configured base, doubling to its cap), which the outbox then uses as
    the delay: the base is the controller's option (tests use a short one), the rule stays the outbox's.
    Pure."""
    if result.outcome != "retryable" or result.retry_after is not None:
        return result
    return replace(result, retry_after=next_attempt_delay(attempt, result, base=base))


def _write_outbox(obj: Obj, outbox: RuleOutbox) -> None:
    obj.setdefault("status", {}).update(outbox.to_status())


__all__ = ["RuleReconciler"]


def _scrub_unavailable(why: str) -> DeliveryResult:
    """Not sent: the message cannot be scrubbed now (object_secrets.py). Retryable with the entry's own
    backoff; the provider is not held (the fault is not the provider's)."""
    return DeliveryResult("retryable", SCRUB_UNAVAILABLE, why)
