"""The PolicyException reconciler (issue 18): tell an exception's author whether it still has a plan to
waive. Ready=True `Accepted` while its plan id is its Terraform's pending plan; Ready=False `Expired`
otherwise (the plan was applied or replaced, the Terraform is gone) — informational, neither Reconciling
nor Stalled (the frame's *held* row): an expired exception is not a failure, and the gate decides by
`PolicyException.waives` on the plan it evaluates, never by this condition. A bad spec is Stalled
`SpecValidationFailed` naming the field. Terraforms are watched through an index of exceptions by their
`terraformRef`, so a new pending plan or an apply updates the exceptions naming it at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.errors import HeldError
from tfcontroller.api.policyexception import REASON_ACCEPTED, REASON_EXPIRED, PolicyException, standing
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import NotFound
from tfcontroller.kube.resources import POLICYEXCEPTIONS, TERRAFORMS, split_key
from tfcontroller.runtime.manager import Controller, Watch
from tfcontroller.runtime.reconciler import StepResult, log_outcome, ready, run_frame
from tfcontroller.runtime.requested import mark_handled
from tfcontroller.runtime.result import Result
from tfcontroller.runtime.status import patch_status_with_retry

log = logging.getLogger(__name__)

CONTROLLER_NAME = "policyexception"
INDEX_TERRAFORM = "terraformRef"
RECHECK_SECONDS = 3600.0  # the Terraform watch brings changes; this is a backstop only

Obj = dict[str, Any]


@dataclass
class ExceptionContext:
    namespace: str
    name: str
    exception: PolicyException | None = None


class PolicyExceptionReconciler:
    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube

    def reconcile(self, key: str) -> Result:
        namespace, name = split_key(key)
        namespace = namespace or "default"
        obj = self.kube.get_or_none(POLICYEXCEPTIONS, name, namespace)
        if obj is None:
            return Result()
        ctx = ExceptionContext(namespace, name)
        outcome = run_frame(ctx, obj, [self.validate, self.judge], self._patch_status)
        log_outcome(log, outcome, key)
        return outcome.result()

    def validate(self, ctx: ExceptionContext, obj: Obj) -> None:
        mark_handled(obj)
        ctx.exception = PolicyException.from_dict(obj)  # SpecError: Stalled until the spec changes

    def judge(self, ctx: ExceptionContext, obj: Obj) -> StepResult:
        assert ctx.exception is not None
        terraform = self.kube.get_or_none(TERRAFORMS, ctx.exception.spec.terraform, ctx.namespace)
        accepted, message = standing(ctx.exception, terraform)
        if not accepted:
            raise HeldError(REASON_EXPIRED, message, RECHECK_SECONDS)
        return ready(REASON_ACCEPTED, message)

    def _patch_status(self, before: Obj, after: Obj) -> object:
        try:
            return patch_status_with_retry(self.kube, POLICYEXCEPTIONS, before, after)
        except NotFound:
            return None


def index_terraform_ref(obj: Obj) -> list[str]:
    """`<namespace>/<terraform>` of the exception's terraformRef."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    ref = (spec or {}).get("terraformRef")
    if not isinstance(ref, dict) or not ref.get("name"):
        return []
    return [f"{(obj.get('metadata') or {}).get('namespace') or 'default'}/{ref['name']}"]


def _terraform_key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"


def new_exception_controller(reconciler: PolicyExceptionReconciler) -> Controller:
    return Controller(
        name=CONTROLLER_NAME,
        resource=POLICYEXCEPTIONS,
        reconcile=reconciler.reconcile,
        indexes={INDEX_TERRAFORM: index_terraform_ref},
        watches=[Watch(TERRAFORMS, index=INDEX_TERRAFORM, value_fn=_terraform_key)],
    )
