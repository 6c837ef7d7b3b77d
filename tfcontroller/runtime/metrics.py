"""Prometheus metrics of one manager, on a registry of its own (several managers may share a process
in tests, and a global registry would refuse the second set of names)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tfcontroller.runtime.workqueue import QueueHooks


class ManagerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.reconcile_total = Counter(
            "tfcontroller_reconcile", "Reconciles by controller and result (success, requeue, error).",
            ["controller", "result"], registry=r)
        self.reconcile_errors = Counter(
            "tfcontroller_reconcile_errors", "Reconciles that failed, by controller.", ["controller"], registry=r)
        self.reconcile_duration = Histogram(
            "tfcontroller_reconcile_duration_seconds", "Time spent in one reconcile, by controller.",
            ["controller"], buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800),
            registry=r)
        self.queue_depth = Gauge("tfcontroller_workqueue_depth", "Keys waiting to be processed.", ["controller"], registry=r)
        self.queue_adds = Counter("tfcontroller_workqueue_adds", "Keys added to the work queue.", ["controller"], registry=r)
        self.queue_retries = Counter("tfcontroller_workqueue_retries", "Rate-limited requeues.", ["controller"], registry=r)
        self.in_flight = Gauge("tfcontroller_reconcile_in_flight", "Reconciles running now.", ["controller"], registry=r)
        self.is_leader = Gauge("tfcontroller_leader", "1 while this replica holds the leader lease.", registry=r)
        # policy as code (issue 18, tfcontroller/policy/): one evaluation = all policies selected for one plan
        self.policy_evaluations = Counter(
            "tfcontroller_policy_evaluations", "Policy evaluations of plans, by result (passed, warned, denied, "
            "error).", ["result"], registry=r)
        self.policy_denials = Counter(
            "tfcontroller_policy_denials", "Plans denied by a policy (exceptions taken into account).", registry=r)
        self.policy_evaluation_seconds = Histogram(
            "tfcontroller_policy_evaluation_seconds", "Time to evaluate the policies of one plan, child process "
            "included.", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=r)

    def queue_hooks(self, controller: str) -> QueueHooks:
        return QueueHooks(
            on_add=self.queue_adds.labels(controller).inc,
            on_depth=self.queue_depth.labels(controller).set,
            on_retry=self.queue_retries.labels(controller).inc,
            on_in_flight=self.in_flight.labels(controller).set,
        )

    def record_policy_evaluation(self, result: str, seconds: float) -> None:
        """Count one evaluation (policy.PolicyReport.result, .seconds); a denial also in its own counter."""
        self.policy_evaluations.labels(result).inc()
        if result == "denied":
            self.policy_denials.inc()
        self.policy_evaluation_seconds.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
