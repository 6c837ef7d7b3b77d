"""The Terraform controller: `register(manager, kube, options)`, its typed options and the flags of
`tfcontroller run`.

Layout (docs/architecture.md): reconciler.py the frame; steps.py one function per step, deletion.py the
deletion's step list; context.py the RunContext parts and reasons; runs.py the run directory, init cache,
locks and recovery of dead runs; modules.py the module inspection and digest caches; policy.py the pure
decisions of design.md §4; drift/ the schedule, hooks and mail; artifacts, initcache, inputs, locks,
outputs, ownership the pieces they use. Library code (plan store, state reader, keys) lives in its domain
package (terraform/, crypto/).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfcontroller.api.healthchecks import (
    ALLOW_CIDRS_FLAG,
    DEFAULT_DENY_CIDRS,
    DENY_CIDRS_FLAG,
    IPNetwork,
    parse_deny_cidrs,
)
from tfcontroller.api.history import DEFAULT_HISTORY_LIMIT
from tfcontroller.controllers.terraform.context import TerraformControllerOptions
from tfcontroller.controllers.terraform.reconciler import TerraformReconciler
from tfcontroller.kube.client import KubeClient
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.health import ProbePolicy, controller_policy

if TYPE_CHECKING:
    from tfcontroller.controllers.setup import ControllerManager

__all__ = ["DEFAULT_WORK_DIR", "DriftMailOptions", "TerraformControllerOptions", "TerraformOptions",
           "TerraformReconciler", "add_run_arguments", "controller_namespace", "options_from_args", "register"]

# The values of --runner (issue 15). `inprocess` (Terraform a child of the controller, able to read the
# controller's environment, files and token) was removed.
RUNNER_CHOICES = ("local", "pod")
REMOVED_RUNNERS = {"inprocess": "Terraform no longer runs as a child of the controller (issue 15)"}
DEFAULT_WORK_DIR = os.path.join(tempfile.gettempdir(), "tfcontroller", "terraform")
POD_NAMESPACE_ENV = "POD_NAMESPACE"  # the pod's namespace, from the downward API (fieldRef metadata.namespace)


@dataclass(frozen=True)
class DriftMailOptions:
    """The drift e-mail flags of `tfcontroller run` (drift/mail.add_run_arguments), typed; the field names
    are the flags' dests (drift/mail.FLAG_DESTS)."""

    email_transport: str = "smtp"
    smtp_secret: str | None = None  # NAMESPACE/NAME
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_username: str = ""
    smtp_password_file: str | None = None
    smtp_from: str | None = None
    smtp_tls: str = "starttls"
    smtp_ca_file: str | None = None
    drift_email_default_to: tuple[str, ...] = ()
    ses_region: str | None = None
    ses_endpoint_url: str | None = None
    ses_from: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DriftMailOptions:
        values = vars(args)
        given = {f.name: values[f.name] for f in dataclasses.fields(cls) if values.get(f.name) is not None}
        given["drift_email_default_to"] = tuple(given.get("drift_email_default_to") or ())
        return cls(**given)

    def as_mapping(self) -> dict[str, Any]:
        """The flag values by dest, as `drift/mail.notifier_from_options` reads them."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TerraformOptions:
    """What `tfcontroller run` (or a test) configures for the Terraform controller. The manager's own
    options (kubeconfig, leader election, lease namespace) come from `manager.controller_options`."""

    work_dir: str = DEFAULT_WORK_DIR  # run directories and the artifact cache
    binary: str | None = None  # default: $TFCONTROLLER_TERRAFORM_BINARY or PATH
    plugin_mirror_dir: str | None = None
    plugin_cache_dir: str | None = None
    keep_failed_workspaces: bool = False
    controller_namespace: str | None = None  # None: $POD_NAMESPACE, else the lease namespace, else default
    state_lock_retry: float = 30.0
    reuse_init: bool = True  # programmatic only (benchmarks): skip init while the data dir is valid
    runner: str = "local"  # issue 15: how Terraform runs, one of RUNNER_CHOICES
    runner_image: str = "tfcontroller:dev"  # pod: the runner Pods' image (the controller's own)
    max_runners: int = 0  # pod: cap on concurrent runner Pods (0: none)
    keep_failed_runners: bool = False  # pod: keep a failed run's Pod (its per-run Secret is deleted anyway)
    run_api_listen: str = "0.0.0.0:0"  # pod: where the run API listens
    run_api_url: str | None = None  # pod: the URL runner Pods reach it at (a Service's)
    runner_sandbox: str = "auto"  # local: "auto" (bubblewrap where it works), "required", "off"
    history_limit: int = DEFAULT_HISTORY_LIMIT  # issue 17: entries kept in status.history
    # networks health checks may not reach besides DEFAULT_DENY and the controller's own and API server's
    # addresses (`--health-check-deny-cidrs`), and the exceptions carved out of all of them (`...-allow-cidrs`)
    health_check_deny: tuple[IPNetwork, ...] = ()
    health_check_allow: tuple[IPNetwork, ...] = ()
    drift_mail: DriftMailOptions = field(default_factory=DriftMailOptions)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
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
    g.add_argument("--runner", type=runner_choice, default="local", metavar="|".join(RUNNER_CHOICES),
                   help="how Terraform runs: local (default: each command by 'tfcontroller runner run' through the "
                        "run protocol, in a sandbox; module authors are as trusted as the controller) or pod (each "
                        "command in a runner Pod in the object's namespace, under its ServiceAccount)")
    g.add_argument("--runner-image", default="tfcontroller:dev",
                   help="--runner=pod: the runner Pods' image (the controller's own image; spec.runnerPod.image "
                        "overrides it per object)")
    g.add_argument("--max-runners", type=int, default=0,
                   help="--runner=pod: at most this many runner Pods at once, cluster-wide (0: no cap); waiting runs "
                        "say so in Ready's message")
    g.add_argument("--keep-failed-runners", action="store_true",
                   help="--runner=pod: keep the Pod of a failed run for debugging (its per-run Secret, with the "
                        "variables, is deleted anyway)")
    g.add_argument("--run-api-listen", default="0.0.0.0:0",
                   help="--runner=pod: HOST:PORT of the run API runner Pods deliver results to (port 0 picks one)")
    g.add_argument("--run-api-url",
                   help="--runner=pod: the https URL runner Pods reach the run API at (e.g. the Service "
                        "tfcontroller-runs); default https://127.0.0.1:<port>")
    g.add_argument("--runner-sandbox", choices=["auto", "required", "off"], default="auto",
                   help="--runner=local: run in bubblewrap where it works (auto), refuse to start without it "
                        "(required), or never (off)")
    g.add_argument("--history-limit", type=history_limit, default=DEFAULT_HISTORY_LIMIT, metavar="N",
                   help=f"keep the last N runs (plans, applies, drift checks, destroys) in status.history "
                        f"(default {DEFAULT_HISTORY_LIMIT})")
    g.add_argument(DENY_CIDRS_FLAG, type=deny_cidrs, default=(), metavar="CIDR[,CIDR...]",
                   help="more networks spec.healthChecks may not connect to (e.g. Pod and Service networks), added "
                        f"to the defaults: {','.join(DEFAULT_DENY_CIDRS)} (loopback, link-local, cloud metadata), "
                        "the controller's own addresses and the API server's; checked on every address a target "
                        "resolves to")
    g.add_argument(ALLOW_CIDRS_FLAG, type=deny_cidrs, default=(), metavar="CIDR[,CIDR...]",
                   help="exceptions: networks spec.healthChecks may connect to even though a default or "
                        f"{DENY_CIDRS_FLAG} denies them (e.g. 127.0.0.0/8,::1 where the checked services listen "
                        "on loopback)")
    drift_mail.add_run_arguments(parser)


def deny_cidrs(value: str) -> tuple[IPNetwork, ...]:
    """`--health-check-deny-cidrs`' and `--health-check-allow-cidrs`' type: comma-separated CIDRs or
    addresses (api/healthchecks)."""
    try:
        return parse_deny_cidrs(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def history_limit(value: str) -> int:
    """`--history-limit`'s type: a whole number of at least 1 (status.history keeps the last N runs)."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: the number of runs status.history keeps must be a whole "
                                         "number of at least 1")
    return number


def runner_choice(value: str) -> str:
    """`--runner`'s type: a usage error that says what to use instead of a removed or unknown mode."""
    if value in RUNNER_CHOICES:
        return value
    why = REMOVED_RUNNERS.get(value, "unknown runner mode")
    raise argparse.ArgumentTypeError(f"{value!r}: {why}; use --runner=local (a sandboxed runner process of the "
                                     f"controller) or --runner=pod (a runner Pod per run)")


def options_from_args(args: argparse.Namespace) -> TerraformOptions:
    """The options from the parsed flags of `tfcontroller run` (add_run_arguments)."""
    return TerraformOptions(
        work_dir=args.terraform_work_dir or DEFAULT_WORK_DIR, binary=args.terraform_binary,
        plugin_mirror_dir=args.plugin_mirror_dir, plugin_cache_dir=args.plugin_cache_dir,
        keep_failed_workspaces=bool(args.keep_failed_workspaces), controller_namespace=args.controller_namespace,
        state_lock_retry=float(args.state_lock_retry or 30.0), drift_mail=DriftMailOptions.from_args(args),
        runner=args.runner or "local", runner_sandbox=args.runner_sandbox or "auto",
        runner_image=args.runner_image or "tfcontroller:dev", max_runners=max(0, int(args.max_runners or 0)),
        keep_failed_runners=bool(args.keep_failed_runners), run_api_listen=args.run_api_listen or "0.0.0.0:0",
        run_api_url=args.run_api_url, history_limit=int(getattr(args, "history_limit", DEFAULT_HISTORY_LIMIT)),
        health_check_deny=tuple(getattr(args, "health_check_deny_cidrs", ())),
        health_check_allow=tuple(getattr(args, "health_check_allow_cidrs", ())),
    )


def controller_namespace(flag: str | None, environ: dict[str, str] | Any, lease_namespace: str | None) -> str:
    """Where the keys Secret lives: `--controller-namespace`, else the pod's own namespace (env
    POD_NAMESPACE), else the leader-election Lease's namespace, else `default`."""
    return flag or environ.get(POD_NAMESPACE_ENV) or lease_namespace or "default"


def _backend_kubeconfig(kubeconfig: str | None) -> str | None:
    """The kubeconfig path Terraform's backend uses: the controller's own; None means in-cluster."""
    if kubeconfig:
        return os.path.abspath(kubeconfig)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    default = os.path.expanduser("~/.kube/config")
    return os.path.abspath(env) if env else (default if os.path.exists(default) else None)


def _sandbox_usable(options: TerraformOptions) -> bool:
    """`--runner-sandbox`: off, or whether bubblewrap works here; `required` without it is an error at
    start (a clear one, not a crash loop of failed runs), `auto` says once that runs are not sandboxed."""
    import logging

    from tfcontroller.terraform.sandbox import probe

    if options.runner_sandbox == "off":
        return False
    why = probe()
    if why is None:
        return True
    if options.runner_sandbox == "required":
        raise SystemExit(f"--runner-sandbox=required: {why}")
    logging.getLogger(__name__).warning("runs are not sandboxed: %s (--runner-sandbox=auto)", why)
    return False


def probe_policy(options: TerraformOptions, environ: Any, api_server_url: str | None) -> ProbePolicy:
    """What health checks may reach (review s19, finding 3): the static defaults, the controller's own and the
    API server's addresses and `--health-check-deny-cidrs` are all denied — the flag adds, so widening the
    list never drops the defaults — less the exceptions of `--health-check-allow-cidrs`."""
    return controller_policy(environ, api_server_url, options.health_check_deny, options.health_check_allow)


def register(manager: ControllerManager, kube: KubeClient, options: TerraformOptions) -> TerraformReconciler:
    """Add the Terraform controller to a `ControllerManager` built by `setup.build_manager`."""
    from tfcontroller.controllers.terraform.drift.mail import notifier_from_options

    opts = manager.controller_options
    config = TerraformConfig.from_env(
        binary=options.binary, plugin_mirror_dir=options.plugin_mirror_dir,
        plugin_cache_dir=options.plugin_cache_dir, keep_failed_workspaces=options.keep_failed_workspaces,
    )
    controller_options = TerraformControllerOptions(
        # absolute (a relative --terraform-work-dir): the backend's kubeconfig path and the run directories
        # are given to Terraform, which runs in the module's directory
        work_dir=Path(os.path.abspath(options.work_dir or DEFAULT_WORK_DIR)),
        terraform=config,
        kubeconfig=_backend_kubeconfig(opts.kubeconfig),
        controller_namespace=controller_namespace(options.controller_namespace, os.environ, opts.lease_namespace),
        leader_elected=opts.leader_elect,
        lock_retry=float(options.state_lock_retry or 30.0),
        reuse_init=options.reuse_init,
        drift_notifier=notifier_from_options(options.drift_mail.as_mapping(), kube),
        runner_mode=options.runner,
        runner_sandbox=_sandbox_usable(options) if options.runner == "local" else False,
        runner_image=options.runner_image, max_runners=options.max_runners,
        keep_failed_runners=options.keep_failed_runners, run_api_listen=options.run_api_listen,
        run_api_url=options.run_api_url, history_limit=options.history_limit,
        allow_cross_namespace_refs=opts.allow_cross_namespace_refs,
        health_probes=probe_policy(options, os.environ, kube.host),
    )
    reconciler = TerraformReconciler(kube, controller_options, recorder=manager.events)
    reconciler.register(manager)
    return reconciler
