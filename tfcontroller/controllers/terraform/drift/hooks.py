"""The calls the Terraform reconciler makes for drift detection and drift e-mail, in one object.

Why a separate object: the reconciler's plan/apply flow stays the Terraform controller's, and each
drift concern enters it through one call at a named point, so neither side has to know the other's
internals:

    step_plan:   due = hooks.due(tf, status)                          (instead of a fixed-interval check)
                 decision = hooks.recheck(decision, tf, status, due)  (a pending drift plan is re-checked)
    _plan:       hooks.on_check(obj, tf, show_json, events)           (after a drift check's `show -json`)
    step_apply:  hooks.on_applied(obj, tf, events)                    (after a successful apply)
    _finish:     hooks.on_finish(obj, tf, events)                     (before the final status patch)
    reconcile:   result = hooks.requeue(result, obj)                  (next check / mail retry time)

`events` is the reconciler's list of (type, reason, message) tuples, recorded after the status patch.
Mail goes out in `on_applied` (the drift report of an auto-remediated drift, before the apply clears it)
and in `on_finish` (reports with the pending plan id, "resolved" mails, retries); failures only leave a
pendingNotification in status and a requeue, never an error of the reconcile.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from tfcontroller.api.terraform import Terraform
from tfcontroller.api.terraform_status import TerraformStatus
from tfcontroller.api.times import parse_rfc3339
from tfcontroller.controllers.terraform.drift import schedule as td
from tfcontroller.controllers.terraform.drift.mail import DriftNotifier
from tfcontroller.controllers.terraform.policy import PlanDecision
from tfcontroller.runtime.reconciler import Notice
from tfcontroller.runtime.result import Result
from tfcontroller.terraform.drift import DriftReport, analyze

log = logging.getLogger(__name__)

Events = list[tuple[str, str, str]]


class DriftHooks:
    def __init__(self, notifier: DriftNotifier | None = None,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.notifier = notifier or DriftNotifier(None)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def due(self, tf: Terraform, status: Mapping[str, Any]) -> bool:
        """Is a drift check due (enabled, applied, interval ± jitter since the last check)?"""
        if tf.spec.destroy:
            return False
        return td.drift_due(_with(tf, status), self.clock())

    def recheck(self, decision: PlanDecision, tf: Terraform, status: Mapping[str, Any], due: bool) -> PlanDecision:
        """A pending remediation plan (manual mode) is itself drift: when a check is due and the inputs
        are unchanged, plan again, so drift reverted by hand clears (and a changed drift is seen)
        instead of waiting for an approval forever. Any other decision stands."""
        last = TerraformStatus.of(status)
        if (due and not decision.plan and last.pending and last.pending.is_drift
                and last.inputs_digest == last.last_applied_inputs_digest):
            return PlanDecision(True, "drift re-check of the pending remediation plan", is_drift_check=True)
        return decision

    def on_check(self, obj: dict[str, Any], tf: Terraform, show_json: Mapping[str, Any],
                 events: Events) -> DriftReport:
        """Record the result of a drift-check plan (status.drift, Drifted, DriftDetected Event)."""
        report = analyze(show_json)
        outcome = td.record_check(obj, tf, report, self.clock())
        _add(events, outcome.notices)
        if report.drifted:
            self.notifier.remember(obj, report)
            log.info("drift detected resources=%d fingerprint=%s", len(report.resources), report.fingerprint,
                     extra={"obj": _ref(obj)})
        return report

    def on_applied(self, obj: dict[str, Any], tf: Terraform, events: Events) -> None:
        """After a successful apply: report drift not mailed yet (auto remediation), then mark it remediated."""
        if (obj.get("status") or {}).get("drift", {}).get("fingerprint"):
            self._mail(obj, tf, events)
        _add(events, td.record_applied(obj, self.clock()).notices)

    def on_finish(self, obj: dict[str, Any], tf: Terraform | None, events: Events) -> None:
        """Before the final status patch: the next check time, due mail (report, resolved, retries); tidy
        when drift detection is disabled."""
        if tf is None:
            return
        td.clear_when_disabled(obj, tf)
        td.refresh_schedule(obj, tf, self.clock())
        self._mail(obj, tf, events)

    def requeue(self, result: Result, obj: Mapping[str, Any], tf: Terraform | None) -> Result:
        """`result` with requeue_after shortened to the next drift check or mail retry, when sooner.
        Failures (backoff) and stalls (no requeue) are left alone."""
        if tf is None or result.error is not None or result.requeue_after is None:
            return result
        now = self.clock()
        status = obj.get("status") or {}
        hints = []
        until = td.seconds_until_due(_with(tf, status), now) if not tf.spec.destroy else None
        if until:  # 0 means due but not done (something else is pending): keep the caller's interval
            hints.append(until)
        pending = (status.get("drift") or {}).get("pendingNotification") or {}
        retry_at = parse_rfc3339(pending.get("nextAttemptAt"))
        if retry_at is not None and self.notifier.mailer is not None:
            hints.append(max(1.0, (retry_at - now).total_seconds()))
        soonest = min(hints, default=None)
        if soonest is not None and soonest < result.requeue_after:
            return replace(result, requeue_after=soonest)
        return result

    def _mail(self, obj: dict[str, Any], tf: Terraform, events: Events) -> None:
        try:
            outcome = self.notifier.process(obj, tf, None, self.clock())
        except Exception:  # noqa: BLE001 - mail must never fail a reconcile; process records its own failures
            log.exception("drift notification failed unexpectedly", extra={"obj": _ref(obj)})
            return
        _add(events, outcome.notices)


def _add(events: Events, notices: list[Notice]) -> None:
    events.extend((n.type, n.reason, n.message) for n in notices)


def _with(tf: Terraform, status: Mapping[str, Any]) -> Terraform:
    return Terraform(tf.meta, tf.spec, dict(status))


def _ref(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"
