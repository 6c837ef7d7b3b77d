"""The PlanPolicy controller (issue 18): load a PlanPolicy's Rego (inline, or `*.rego` below `path` of a
GitRepository artifact), compile it, and publish Ready, revision, digest and files in its status.

Layout (one file per seam, as every controller package):
- `__init__.py`  `register(manager, kube, options)`, its typed options, and the Controller's indexes and
                 watches (`new_controller`): a new artifact of the GitRepository a PlanPolicy reads, and a
                 change to the labels of a Namespace that a cross-namespace reference depends on
- reconciler.py  the frame: read, suspend, the ordered steps through `run_frame`, Events
- steps.py       one function per step; steps never call steps
- context.py     the RunContext the steps share; constants
- exceptions.py  the PolicyException reconciler: Ready Accepted while its plan id is pending, else Expired
The loading and compile rules are `runtime/policies.py`, shared with the Terraform controller's gate.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfcontroller.api.constants import GITREPOSITORY_KIND
from tfcontroller.controllers.planpolicy.context import CONTROLLER_NAME, RunContext
from tfcontroller.controllers.planpolicy.exceptions import PolicyExceptionReconciler, new_exception_controller
from tfcontroller.controllers.planpolicy.reconciler import PlanPolicyReconciler
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, NAMESPACES, PLANPOLICIES
from tfcontroller.runtime.access import INDEX_CROSS_NAMESPACE, cross_namespace_index, namespace_name
from tfcontroller.runtime.manager import Controller, Watch
from tfcontroller.runtime.policies import PolicyLoader

if TYPE_CHECKING:
    from tfcontroller.controllers.setup import ControllerManager

INDEX_SOURCE = "sourceRef"


@dataclass(frozen=True)
class PlanPolicyOptions:
    """What `tfcontroller run` (or a test) configures for this controller."""

    # where PlanPolicies are cluster-wide defaults; None: the manager fills in the Terraform controller's
    # (--controller-namespace, else $POD_NAMESPACE, else the lease namespace) — one namespace for both
    controller_namespace: str | None = None
    work_dir: str | None = None  # artifact downloads, deleted after each load; None: the system temp dir


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """This controller's flags of `tfcontroller run`: none (it shares --controller-namespace and
    --allow-cross-namespace-refs); here so every controller has the same shape."""


def options_from_args(args: argparse.Namespace) -> PlanPolicyOptions:
    return PlanPolicyOptions()


def _ref_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


def index_source_ref(obj: dict[str, Any]) -> list[str]:
    """`GitRepository/<ns>/<name>` of the PlanPolicy's sourceRef (none for inline rego)."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    ref = (spec or {}).get("sourceRef")
    if not isinstance(ref, dict) or not ref.get("name"):
        return []
    own = (obj.get("metadata") or {}).get("namespace") or "default"
    return [_ref_key(ref.get("kind") or GITREPOSITORY_KIND, ref.get("namespace") or own, ref["name"])]


def _repo_key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return _ref_key(GITREPOSITORY_KIND, meta.get("namespace") or "default", meta.get("name", ""))


def new_controller(reconciler: PlanPolicyReconciler, concurrency: int | None = None) -> Controller:
    """The Controller with its indexes and watches: a GitRepository's new artifact (or accessFrom change)
    re-checks the PlanPolicies that read it; a Namespace's labels re-check cross-namespace references."""
    return Controller(
        name=CONTROLLER_NAME,
        resource=PLANPOLICIES,
        reconcile=reconciler.reconcile,
        concurrency=concurrency,
        indexes={INDEX_SOURCE: index_source_ref, INDEX_CROSS_NAMESPACE: cross_namespace_index},
        watches=[
            Watch(GITREPOSITORIES, index=INDEX_SOURCE, value_fn=_repo_key),
            Watch(NAMESPACES, index=INDEX_CROSS_NAMESPACE, value_fn=namespace_name, namespace=None),
        ],
    )


def register(manager: ControllerManager, kube: KubeClient, options: PlanPolicyOptions) -> PlanPolicyReconciler:
    """Add the PlanPolicy controller and the PolicyException status controller to `manager`."""
    loader = PolicyLoader(kube, Path(options.work_dir) if options.work_dir else None,
                          allow_cross_namespace_refs=manager.controller_options.allow_cross_namespace_refs)
    reconciler = PlanPolicyReconciler(kube, loader, options.controller_namespace or "default", manager.events)
    manager.add_controller(new_controller(reconciler))
    manager.add_controller(new_exception_controller(PolicyExceptionReconciler(kube)))
    return reconciler


__all__ = ["CONTROLLER_NAME", "PlanPolicyOptions", "PlanPolicyReconciler", "RunContext", "add_run_arguments",
           "index_source_ref", "new_controller", "options_from_args", "register"]
