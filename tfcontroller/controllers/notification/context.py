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
NOT_READY_RECHECK = 300.0  # a provider that is not Ready: the provider watch brings the rule back first
MIN_REQUEUE = 0.2
CACHE_WAIT = 0.5  # the Terraform/ManifestSet caches are not filled yet (start, leader change): look again

Obj = dict[str, Any]


@dataclass
class RuleContext:
    """One reconcile's state. `providers`: the usable providers by name; `not_ready`: why each other one is
    not usable; `objects`: the selected Terraform/ManifestSet objects by uid; `wait`: the earliest a
    rate-limited delivery may be tried (seconds from now)."""

    namespace: str
    name: str
    now: dt.datetime
    rule: NotificationRule | None = None
    providers: dict[str, ResolvedProvider] = field(default_factory=dict)
    not_ready: dict[str, str] = field(default_factory=dict)
    objects: dict[str, Obj] = field(default_factory=dict)
    outbox: RuleOutbox | None = None
    throttled: float | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)  # (provider, scrubbed message) new streaks

    @property
    def ready_names(self) -> set[str]:
        return set(self.providers)
