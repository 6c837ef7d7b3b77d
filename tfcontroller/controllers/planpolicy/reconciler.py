"""The PlanPolicy reconciler: check that a PlanPolicy's Rego can be loaded and compiles, and say so in its
status (issue 18). The Terraform controller's gate evaluates the policies itself, on every plan, through the
same `runtime/policies.py`; this controller is what a policy author looks at: Ready, the revision and files
loaded, and a `CompileFailed` naming `file:line:col`.

Shape (as the ManifestSet reconciler, after Flux): read → suspend → the ordered steps of steps.py through
`run_frame` (one status patch) → an Event on a Ready transition (`ready_transition`): a Warning when a
policy stops compiling, a Normal when it recovers or a new revision compiles. No finalizer: a PlanPolicy
owns nothing outside itself (its loaded modules are a cache keyed by artifact digest).
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable

from tfcontroller.api import conditions as c
from tfcontroller.controllers.planpolicy import steps
from tfcontroller.controllers.planpolicy.context import RETRY_SECONDS, Obj, RunContext
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import NotFound
from tfcontroller.kube.events import EventRecorder
from tfcontroller.kube.resources import PLANPOLICIES, split_key
from tfcontroller.runtime.policies import PolicyLoader
from tfcontroller.runtime.reconciler import StepResult, log_outcome, ready_transition, run_frame, with_notice
from tfcontroller.runtime.result import Result
from tfcontroller.runtime.status import patch_status_with_retry
from tfcontroller.runtime.suspend import report_suspended

log = logging.getLogger(__name__)


class PlanPolicyReconciler:
    """One instance per manager; `reconcile` is safe to call from several worker threads."""

    def __init__(self, kube: KubeClient, loader: PolicyLoader, controller_namespace: str,
                 events: EventRecorder | None = None) -> None:
        self.kube = kube
        self.events = events or EventRecorder(kube)
        self.deps = steps.Deps(loader, controller_namespace)

    def reconcile(self, key: str) -> Result:
        namespace, name = split_key(key)
        namespace = namespace or "default"
        obj = self.kube.get_or_none(PLANPOLICIES, name, namespace)
        if obj is None:
            return Result()
        if (obj.get("spec") or {}).get("suspend") is True:
            log.info("reconciliation is suspended", extra={"obj": key})
            report_suspended(self.kube, PLANPOLICIES, obj)
            return Result()
        ctx = RunContext(namespace, name)
        before = copy.deepcopy(obj.get("status") or {})
        outcome = run_frame(ctx, obj, self.steps(), self._patch_status)
        self._record_events(obj, before)
        log_outcome(log, outcome, key)
        return outcome.result(retry_base=RETRY_SECONDS)

    def steps(self) -> list[Callable[[RunContext, Obj], StepResult | None]]:
        """The ordered steps of steps.py, bound to this controller's shared parts."""
        return [functools.partial(step, self.deps) for step in steps.STEPS]

    def _patch_status(self, before: Obj, after: Obj) -> object:
        try:
            return patch_status_with_retry(self.kube, PLANPOLICIES, before, after)
        except NotFound:
            return None

    def _record_events(self, obj: Obj, before: Obj) -> None:
        """A Normal `PolicyCompiled` when another digest compiled (its Ready message), plus the Ready
        transition's Event (a recovery quotes the failure it ends, in place of the plain one)."""
        after = obj.get("status") or {}
        ready_now = c.find(after.get("conditions") or [], c.READY)
        own: list[tuple[str, str, str]] = []
        if ready_now is not None and ready_now.status == c.TRUE and after.get("digest") != before.get("digest"):
            own.append(("Normal", ready_now.reason, ready_now.message))
        notice = ready_transition(before.get("conditions") or [], after.get("conditions") or [])
        events = with_notice(own, notice) if notice is not None and notice.wanted(quiet_success=bool(own)) else own
        for type_, reason, message in events:
            self.events.event(obj, type_, reason, message)
