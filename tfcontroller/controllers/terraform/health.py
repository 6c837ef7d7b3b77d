"""The health-check step of a Terraform reconcile (issue 20: `spec.healthChecks`).

It runs last, after the outputs step, on every reconcile of an object that has applied (a fresh apply,
a plan with no changes, or an interval on which nothing changed), so the checks are repeated each
`interval`. It reads the outputs from the state (the outputs step's read when it made one), probes
(terraform/health.py) and decides:
- all pass: condition `Healthy=True` (`HealthChecksPassed`), Ready as the earlier steps left it;
- one fails: `Healthy=False` and Ready=False `HealthCheckFailed` naming each failing check and why, tried
  again after `retryInterval` (a WaitingError: nothing in the spec is wrong, the service is not up);
- one is invalid (the module has no such output, the rendered address is not host:port): Stalled
  `HealthCheckInvalid` naming the field and what to fix; a new commit or spec change runs it again.
A destroyed stack (`spec.destroy`) and a deletion are not checked. Dependants wait on Ready, so a
`dependsOn` this object waits for its health checks too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.api.errors import StallingError, WaitingError
from tfcontroller.api.terraform_status import TerraformStatus
from tfcontroller.controllers.terraform.context import RunContext, status_of
from tfcontroller.runtime.reconciler import CONTINUE, StepResult
from tfcontroller.terraform.health import FAILED, INVALID, CheckResult, run_checks
from tfcontroller.terraform.state import read_state

HEALTH_CHECK_FAILED = "HealthCheckFailed"
HEALTH_CHECK_INVALID = "HealthCheckInvalid"
HEALTH_CHECKS_PASSED = "HealthChecksPassed"


def health_verdict(results: Sequence[CheckResult]) -> tuple[str, str]:
    """(reason, message) of a set of results, pure: invalid checks first (no retry helps them), then
    failed ones, each named with its masked target and why; all passed otherwise."""
    invalid = [r for r in results if r.outcome == INVALID]
    failed = [r for r in results if r.outcome == FAILED]
    if invalid:
        return HEALTH_CHECK_INVALID, "health check " + "; ".join(r.describe() for r in invalid) + \
            ": fix the check in spec.healthChecks or add the output to the module"
    if failed:
        return HEALTH_CHECK_FAILED, f"{len(failed)} of {len(results)} health checks failed: " + \
            "; ".join(r.describe() for r in failed)
    names = ", ".join(r.name for r in results)
    return HEALTH_CHECKS_PASSED, f"{len(results)} health check{'s' if len(results) != 1 else ''} passed: {names}"


def step_health(ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
    tf = ctx.tf
    status = status_of(obj)
    conds = status.setdefault("conditions", [])
    if not tf.spec.health_checks or ctx.deleting or tf.spec.destroy:
        c.remove_condition(conds, c.HEALTHY)
        return CONTINUE
    if not TerraformStatus.of(status).last_applied_revision:
        return CONTINUE  # nothing applied yet: nothing to check
    outputs = ctx.done.outputs
    if outputs is None:  # a custom backend's state is not ours to read (its checks name no output: api)
        outputs = {} if tf.spec.custom_backend else \
            read_state(ctx.ctl.kube, ctx.namespace, tf.state_secret_name).outputs or {}
    reason, message = health_verdict(run_checks(tf.spec.health_checks, outputs, ctx.ctl.stopping,
                                                ctx.ctl.options.health_probes))
    healthy = reason == HEALTH_CHECKS_PASSED
    c.set_condition(conds, c.HEALTHY, c.TRUE if healthy else c.FALSE, reason, message, tf.meta.generation)
    if reason == HEALTH_CHECK_INVALID:
        raise StallingError(reason, message)
    if not healthy:
        raise WaitingError(reason, message, tf.spec.retry_interval)
    return CONTINUE
