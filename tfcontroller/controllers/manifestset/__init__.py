"""The ManifestSet controller: render manifests from a GitRepository artifact, substitute Terraform
outputs into them, and keep the cluster equal to them (design.md §1).

Layout (one file per seam, as every controller package):
- `__init__.py`  `register(manager, kube, options)`, its typed options and `tfcontroller run` flags, and
                 the Controller's indexes and watches (`new_controller`)
- reconciler.py  the frame: fetch, deletion/finalizer/suspend, the ordered steps through `run_frame`, Events
- steps.py       one function per step; steps never call steps
- context.py     the RunContext the steps share; reason constants
- policy.py      pure decisions: the desired-set digest (drift vs new render), the impersonated user
- deps.py        pure relations: dependency usability and the index values of the watches
- claims.py      which other ManifestSet declares an object, asked before pruning it
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tfcontroller.api.constants import MANIFESTSET_KIND, TERRAFORM_KIND
from tfcontroller.controllers.manifestset.context import CONTROLLER_NAME, RunContext
from tfcontroller.controllers.manifestset.deps import (
    INDEX_DEPENDS_ON,
    INDEX_SOURCE,
    INDEX_SUBSTITUTE_FROM,
    index_depends_on,
    index_source_ref,
    index_substitute_from,
    key_of,
)
from tfcontroller.controllers.manifestset.reconciler import ManifestSetReconciler
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, MANIFESTSETS, NAMESPACES, SECRETS, TERRAFORMS
from tfcontroller.runtime.access import INDEX_CROSS_NAMESPACE, cross_namespace_index, namespace_name
from tfcontroller.runtime.manager import Controller, Watch

if TYPE_CHECKING:
    from tfcontroller.controllers.setup import ControllerManager


@dataclass(frozen=True)
class ManifestSetOptions:
    """What `tfcontroller run` (or a test) configures for this controller."""

    work_dir: str | None = None  # extracted artifacts, deleted after each run; None: the system temp dir
    # issue 16: apply every ManifestSet without spec.serviceAccountName as this ServiceAccount of its own
    # namespace (impersonation: RBAC decides what a tenant's manifests may create); None: as the controller
    default_service_account: str | None = None


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """This controller's flags of `tfcontroller run`."""
    g = parser.add_argument_group("manifestset")
    g.add_argument("--default-service-account", default=None, metavar="NAME",
                   help="apply every ManifestSet without spec.serviceAccountName as ServiceAccount NAME of its own "
                        "namespace (many teams); default: as the controller itself (one team)")


def options_from_args(args: argparse.Namespace) -> ManifestSetOptions:
    """The options from the parsed flags of `tfcontroller run`."""
    return ManifestSetOptions(default_service_account=getattr(args, "default_service_account", None) or None)


def new_controller(reconciler: ManifestSetReconciler, concurrency: int | None = None) -> Controller:
    """The Controller with its indexes and watches: a new artifact, a Terraform or ManifestSet
    dependency changing (a new apply), or an outputs Secret changing re-reconciles dependants at once."""
    return Controller(
        name=CONTROLLER_NAME,
        resource=MANIFESTSETS,
        reconcile=reconciler.reconcile,
        concurrency=concurrency,
        indexes={
            INDEX_SOURCE: index_source_ref,
            INDEX_DEPENDS_ON: index_depends_on,
            INDEX_SUBSTITUTE_FROM: index_substitute_from,
            INDEX_CROSS_NAMESPACE: cross_namespace_index,
        },
        watches=[
            Watch(GITREPOSITORIES, index=INDEX_SOURCE, value_fn=lambda o: key_of("GitRepository", o)),
            Watch(TERRAFORMS, index=INDEX_DEPENDS_ON, value_fn=lambda o: key_of(TERRAFORM_KIND, o)),
            Watch(MANIFESTSETS, index=INDEX_DEPENDS_ON, value_fn=lambda o: key_of(MANIFESTSET_KIND, o)),
            # outputs Secrets carry the tfcontroller.io/terraform label; other Secrets wait for the interval
            Watch(SECRETS, index=INDEX_SUBSTITUTE_FROM, value_fn=lambda o: key_of("Secret", o),
                  label_selector="tfcontroller.io/terraform"),
            # issue 16: a Namespace's labels decide a source's accessFrom: re-check the referrers
            Watch(NAMESPACES, index=INDEX_CROSS_NAMESPACE, value_fn=namespace_name, namespace=None),
        ],
    )


def register(manager: ControllerManager, kube: KubeClient, options: ManifestSetOptions) -> ManifestSetReconciler:
    """Add the ManifestSet controller to `manager` (its Event recorder; health waits end on its stop)."""
    reconciler = ManifestSetReconciler(
        kube, manager.events, workdir=Path(options.work_dir) if options.work_dir else None, stopping=manager.stopping,
        default_service_account=options.default_service_account,
        allow_cross_namespace_refs=manager.controller_options.allow_cross_namespace_refs)
    manager.add_controller(new_controller(reconciler))
    return reconciler


__all__ = ["CONTROLLER_NAME", "ManifestSetOptions", "ManifestSetReconciler", "RunContext", "add_run_arguments",
           "new_controller", "options_from_args", "register"]
