"""The notification controller's metrics (issue 19: "sent, failed, pending, by provider type"), on the
manager's own registry (runtime/metrics.py: several managers may share a process in tests).

- `tfcontroller_notifications_sent_total{provider_type}`: deliveries a provider accepted;
- `tfcontroller_notifications_failed_total{provider_type,outcome}`: attempts that failed, `retryable`
  (tried again later) or `permanent` (the provider is marked not Ready until fixed);
- `tfcontroller_notifications_pending{provider_type}`: (entry, provider) pairs not yet delivered, summed
  over every rule. Each rule's reconcile reports its own counts; a rule that is deleted reports none, so
  the gauge is the sum of what the rules last said, never a counter that drifts.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

RETRYABLE = "retryable"
PERMANENT = "permanent"


class NotificationMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter("tfcontroller_notifications_sent", "Notifications a provider accepted, by provider "
                            "type.", ["provider_type"], registry=registry)
        self.failed = Counter("tfcontroller_notifications_failed", "Notification attempts that failed, by "
                              "provider type and outcome (retryable, permanent).", ["provider_type", "outcome"],
                              registry=registry)
        self.pending = Gauge("tfcontroller_notifications_pending", "Notifications queued and not yet delivered "
                             "(one per entry and provider), by provider type.", ["provider_type"], registry=registry)
        self._lock = threading.Lock()
        self._by_rule: dict[str, dict[str, int]] = {}

    def delivered(self, provider_type: str) -> None:
        self.sent.labels(provider_type).inc()

    def failure(self, provider_type: str, outcome: str) -> None:
        self.failed.labels(provider_type, PERMANENT if outcome == PERMANENT else RETRYABLE).inc()

    def set_pending(self, rule_key: str, counts: Mapping[str, int]) -> None:
        """What rule `rule_key` has pending now, by provider type ({} when the rule is gone)."""
        with self._lock:
            before = self._by_rule.get(rule_key, {})
            if counts:
                self._by_rule[rule_key] = dict(counts)
            else:
                self._by_rule.pop(rule_key, None)
            types = set(before) | set(counts)
            for provider_type in types:
                total = sum(per.get(provider_type, 0) for per in self._by_rule.values())
                self.pending.labels(provider_type).set(total)
