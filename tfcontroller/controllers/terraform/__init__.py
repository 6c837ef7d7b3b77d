"""The Terraform controller: `register(manager, kube, opts)` and the flags of `tfcontroller run`.

Layout (docs/architecture.md): reconciler.py the frame; steps.py one function per step, deletion.py the
deletion's step list; context.py the RunContext parts and reasons; runs.py the run directory, init cache,
locks and recovery of dead runs; modules.py the module inspection and digest caches; policy.py the pure
decisions of design.md §4; drift/ the schedule, hooks and mail; artifacts, initcache, inputs, locks,
outputs, ownership the pieces they use. Library code (plan store, state reader, keys) lives in its domain
package (terraform/, crypto/).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from tfcontroller.controllers.terraform.context import TerraformControllerOptions
from tfcontroller.controllers.terraform.reconciler import TerraformReconciler
from tfcontroller.kube.client import KubeClient
from tfcontroller.terraform.config import TerraformConfig

__all__ = ["DEFAULT_WORK_DIR", "TerraformControllerOptions", "TerraformReconciler", "add_run_arguments",
           "controller_namespace", "register"]

DEFAULT_WORK_DIR = os.path.join(tempfile.gettempdir(), "tfcontroller", "terraform")


def add_run_arguments(parser: Any) -> None:
    """Flags of `tfcontroller run` for the Terraform controller (and its drift e-mail)."""
    from tfcontroller.controllers.terraform.drift import mail as drift_mail

    g = parser.add_argument_group("terraform")
    g.add_argument("--terraform-work-dir", default=DEFAULT_WORK_DIR,
                   help="run directories and the artifact cache of Terraform runs")
    g.add_argument("--terraform-binary", help="terraform executable (default: $TFCONTROLLER_TERRAFORM_BINARY or PATH)")
    g.add_argument("--plugin-mirror-dir", help="provider filesystem mirror (default: /opt/tf-plugins when present)")
    g.add_argument("--plugin-cache-dir", help="shared provider plugin cache (linked into runs, never copied)")
    g.add_argument("--keep-failed-workspaces", action="store_true", help="keep run directories of failed runs")
    g.add_argument("--controller-namespace",
                   help="namespace of the controller's key Secret and sealing certificate "
                        f"(default: ${POD_NAMESPACE_ENV}, else the lease namespace, else default)")
    g.add_argument("--state-lock-retry", type=float, default=30.0, help="seconds between tries of a locked state")
    drift_mail.add_run_arguments(parser)


POD_NAMESPACE_ENV = "POD_NAMESPACE"  # the pod's namespace, from the downward API (fieldRef metadata.namespace)


def controller_namespace(flag: str | None, environ: dict[str, str] | Any, lease_namespace: str | None) -> str:
    """Where the keys Secret lives: `--controller-namespace`, else the pod's own namespace (env
    POD_NAMESPACE), else the leader-election Lease's namespace, else `default`."""
    return flag or environ.get("POD_NAMESPACE") or lease_namespace or "default"


def _backend_kubeconfig(kubeconfig: str | None) -> str | None:
    """The kubeconfig path Terraform's backend uses: the controller's own; None means in-cluster."""
    if kubeconfig:
        return os.path.abspath(kubeconfig)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    default = os.path.expanduser("~/.kube/config")
    return os.path.abspath(env) if env else (default if os.path.exists(default) else None)


def register(manager: Any, kube: KubeClient, opts: Any) -> TerraformReconciler:
    """Add the Terraform controller to a `ControllerManager` built by `setup.build_manager`."""
    from tfcontroller.controllers.terraform.drift.mail import notifier_from_options

    extra = dict(getattr(opts, "extra", {}) or {})
    config = TerraformConfig.from_env(
        binary=extra.get("terraform_binary"), plugin_mirror_dir=extra.get("plugin_mirror_dir"),
        plugin_cache_dir=extra.get("plugin_cache_dir"), keep_failed_workspaces=bool(extra.get("keep_failed_workspaces")),
    )
    options = TerraformControllerOptions(
        work_dir=Path(extra.get("terraform_work_dir") or DEFAULT_WORK_DIR),
        terraform=config,
        kubeconfig=_backend_kubeconfig(getattr(opts, "kubeconfig", None)),
        controller_namespace=controller_namespace(extra.get("controller_namespace"), os.environ,
                                                  getattr(opts, "lease_namespace", None)),
        leader_elected=bool(getattr(opts, "leader_elect", False)),
        lock_retry=float(extra.get("state_lock_retry") or 30.0),
        reuse_init=bool(extra.get("terraform_reuse_init", True)),  # programmatic only (benchmarks)
        drift_notifier=notifier_from_options(extra, kube),
    )
    reconciler = TerraformReconciler(kube, options, recorder=getattr(manager, "events", None))
    reconciler.register(manager)
    return reconciler
