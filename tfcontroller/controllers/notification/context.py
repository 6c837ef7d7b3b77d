"""What the steps of one NotificationRule reconcile hand to each other, and the controller's constants."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.notification import NotificationRule
from tfcontroller.controllers.notification.provider_secrets import ResolvedProvider
from tfcontroller.notify.rule_outbox import RuleOutbox

RULE_CONTROLLER_NAME = "notificationrule"
INDEX_NAMESPACES = "observedNamespaces"  # rule -> the namespaces whose Terraforms/ManifestSets it watches
INDEX_PROVIDERS = "providerRefs"  # rule -> `<namespace>/<provider>` of each providerRef
REASON_NOTIFICATION_FAILED = "NotificationFailed"
REASON_NOTIFICATION_UNDELIVERABLE = "NotificationUndeliverable"  # an entry parked after two content refusals
REASON_SELECTION_TOO_LARGE = "SelectionTooLarge"  # Stalled: more objects than the rule's status can remember
REASON_STATUS_WRITE_FAILED = "StatusWriteFailed"  # the outbox could not be recorded: no delivery, backoff
NOT_READY_RECHECK = 300.0  # a provider that is not Ready: the provider watch brings the rule back first
MIN_REQUEUE = 0.2
DELIVERY_BUDGET = 30.0  # seconds one reconcile of a rule may spend delivering; the rest is requeued at once
CACHE_WAIT = 0.5  # the Terraform/ManifestSet caches are not filled yet (start, leader change): look again

Obj = dict[str, Any]


@dataclass
class RuleContext:
    """One reconcile's state. `providers`: the usable providers by name; `not_ready`: why each other one is
    not usable; `objects`: the selected Terraform/ManifestSet objects by uid; `waits`: per provider that
    was rate-limited or held in this run, the seconds until it may send."""

    namespace: str
    name: str
    now: dt.datetime
    rule: NotificationRule | None = None
    providers: dict[str, ResolvedProvider] = field(default_factory=dict)
    not_ready: dict[str, str] = field(default_factory=dict)
    objects: dict[str, Obj] = field(default_factory=dict)
    outbox: RuleOutbox | None = None
    waits: dict[str, float] = field(default_factory=dict)  # provider -> seconds until its token or hold's end
    failures: list[tuple[str, str]] = field(default_factory=list)  # (provider, scrubbed message) new streaks
    parked: list[tuple[str, str]] = field(default_factory=list)  # (provider, message) entries given up on
    read: Obj = field(default_factory=dict)  # the rule as this reconcile read it
    written: Obj | None = None  # the rule as the last status patch of this reconcile left it (None: as read)
    more: bool = False  # the delivery budget ran out with deliveries still due: look again at once
    unrecorded: str = ""  # why the outbox could not be written (an error type): deliveries stopped

    @property
    def ready_names(self) -> set[str]:
        return set(self.providers)
