"""The ordered steps of a PlanPolicy reconcile, one function each (`step(deps, ctx, obj)`):

    handle_request → validate → load → publish

Steps never call steps; they hand results on through the RunContext. What a step may fail with, and
how the frame reports it (runtime/reconciler.py): a bad spec is Stalled `SpecValidationFailed`; a source
in another namespace that does not allow it Stalled `AccessDenied`; a GitRepository without an artifact
Ready=False `SourceNotReady` (waiting); a download that failed `ArtifactFailed` (retried with backoff);
a `path` missing from the artifact (or without `.rego` files) Stalled `ArtifactFailed`; modules that do not
compile Stalled `CompileFailed` naming `file:line:col` (both wait for a push: the GitRepository watch brings
the object back).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tfcontroller.api.planpolicy import REASON_COMPILED, PlanPolicy
from tfcontroller.controllers.planpolicy.context import Obj, RunContext
from tfcontroller.runtime.policies import PolicyLoader
from tfcontroller.runtime.reconciler import StepResult, ready
from tfcontroller.runtime.requested import mark_handled


@dataclass(frozen=True)
class Deps:
    """The controller's shared parts the steps use."""

    loader: PolicyLoader
    controller_namespace: str  # a PlanPolicy here is a cluster-wide default (namespaceSelector allowed)


Step = Callable[[Deps, RunContext, Obj], "StepResult | None"]


def handle_request(deps: Deps, ctx: RunContext, obj: Obj) -> None:
    mark_handled(obj)


def validate(deps: Deps, ctx: RunContext, obj: Obj) -> None:
    ctx.policy = PlanPolicy.from_dict(obj, deps.controller_namespace)  # SpecError: Stalled until the spec changes


def load(deps: Deps, ctx: RunContext, obj: Obj) -> None:
    """Resolve the source (or take the inline module), read the `.rego` files and compile them."""
    assert ctx.policy is not None
    ctx.loaded = deps.loader.load(ctx.policy)


def publish(deps: Deps, ctx: RunContext, obj: Obj) -> StepResult:
    """status.revision, digest and files of what compiled; Ready=True PolicyCompiled."""
    assert ctx.loaded is not None
    loaded = ctx.loaded
    status = obj.setdefault("status", {})
    status.update(revision=loaded.revision, digest=loaded.digest, files=list(loaded.files))
    count = f"{len(loaded.files)} file{'s' if len(loaded.files) != 1 else ''}"
    return ready(REASON_COMPILED, f"{count} compiled at revision {loaded.revision}")


STEPS: tuple[Step, ...] = (handle_request, validate, load, publish)
