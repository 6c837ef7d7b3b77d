"""Wire every controller into one manager: `build_manager(ControllerOptions) -> ControllerManager`.

The controllers are registered by explicit import, each through the same shape (a package per
controller, or for now the Terraform module):
- `register(manager: ControllerManager, kube: KubeClient, options: <Kind>Options) -> <Kind>Reconciler`
  adds the controller with `manager.add_controller(...)`. It may use `manager.artifact_store` (local
  artifacts, the same `ArtifactStore` the GitRepository controller writes), `manager.git_fetcher`,
  `manager.events` and `manager.controller_options` (the manager's own options: kubeconfig, leases...).
- `<Kind>Options`: a frozen dataclass of that controller's settings, a field of `ControllerOptions`
  (`gitrepository`, `manifestset`, `terraform`) with defaults fit for programs and tests.
- `add_run_arguments(parser)` adds the controller's flags to `tfcontroller run` and
  `options_from_args(args)` builds its options from them (cli/run_cmd.py calls both).

Artifacts: stored under `artifact_dir`, served read-only at `artifact_addr` (for runners on other
machines), and advertised in `status.artifact.url` with `artifact_base_url`, or the server's address
(the host name when it listens on every interface), or `file://` URLs when nothing serves them.
Consumers should download by that URL with `tfcontroller.source.store.fetch_artifact(url, dest, digest)`.
Git mirrors live in `git_cache_dir` (default `<artifact_dir>/.git-mirrors`: one volume keeps both, and
the artifact server never serves dot-paths).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from tfcontroller.api import artifact_bounds
from tfcontroller.api.artifact_bounds import ArtifactBounds
from tfcontroller.controllers import gitrepository, manifestset, notification, planpolicy, terraform
from tfcontroller.controllers.gitrepository import GitRepositoryOptions, GitRepositoryReconciler
from tfcontroller.controllers.manifestset import ManifestSetOptions
from tfcontroller.controllers.notification import MailDefaults, NotificationOptions
from tfcontroller.controllers.planpolicy import PlanPolicyOptions
from tfcontroller.controllers.terraform import TerraformOptions
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.events import EventRecorder
from tfcontroller.notify.errors import ConfigError
from tfcontroller.runtime.httpserve import parse_addr
from tfcontroller.runtime.manager import Manager, ManagerOptions
from tfcontroller.source.git import FetchStats, GitFetcher
from tfcontroller.source.store import ArtifactServer, ArtifactStore

log = logging.getLogger(__name__)

DEFAULT_ARTIFACT_DIR = os.path.join(tempfile.gettempdir(), "tfcontroller", "artifacts")


@dataclass
class ControllerOptions:
    """Everything `tfcontroller run` configures. Programmatic users (tests) get quiet defaults: no
    servers unless an address is given."""

    kubeconfig: str | None = None  # None: in-cluster config (else the default kubeconfig)
    context: str | None = None
    namespace: str | None = None  # None: all namespaces
    concurrent: int = 4
    watch_label_selector: str | None = None
    artifact_dir: str = DEFAULT_ARTIFACT_DIR
    artifact_addr: str | None = None  # HOST:PORT to serve artifacts at; port 0 picks one
    artifact_base_url: str | None = None  # advertised URL prefix (e.g. a Service's); default: the server's
    artifact_keep: int = 2  # artifacts kept per object: the current and the previous one
    # issue 21: entries and bytes an artifact may hold, packed and read (`--artifact-max-entries/-bytes`)
    artifact_bounds: ArtifactBounds = field(default_factory=ArtifactBounds)
    git_cache_dir: str | None = None  # default: <artifact_dir>/.git-mirrors
    metrics_addr: str | None = None
    health_addr: str | None = None
    leader_elect: bool = False
    lease_name: str = "tfcontroller-leader"
    lease_namespace: str = "default"
    retry_base: float = 1.0
    retry_cap: float = 300.0
    shutdown_grace: float = 30.0
    log_level: str = "info"
    # issue 16: sourceRef/dependsOn into another namespace are refused unless a GitRepository's accessFrom
    # selects the referring namespace; True (`--allow-cross-namespace-refs`): single-team, all allowed
    allow_cross_namespace_refs: bool = False
    # each controller's own options (its package's frozen dataclass)
    gitrepository: GitRepositoryOptions = field(default_factory=GitRepositoryOptions)
    manifestset: ManifestSetOptions = field(default_factory=ManifestSetOptions)
    terraform: TerraformOptions = field(default_factory=TerraformOptions)
    planpolicy: PlanPolicyOptions = field(default_factory=PlanPolicyOptions)
    notification: NotificationOptions = field(default_factory=NotificationOptions)

    def manager_options(self) -> ManagerOptions:
        return ManagerOptions(
            namespace=self.namespace, concurrent=self.concurrent, watch_label_selector=self.watch_label_selector,
            leader_elect=self.leader_elect, lease_name=self.lease_name, lease_namespace=self.lease_namespace,
            metrics_addr=self.metrics_addr, health_addr=self.health_addr, shutdown_grace=self.shutdown_grace,
            retry_base=self.retry_base, retry_cap=self.retry_cap,
        )

    @property
    def mirrors_dir(self) -> str:
        return self.git_cache_dir or os.path.join(self.artifact_dir, ".git-mirrors")


class FetcherCollector(Collector):
    """The fetcher's counters on /metrics: proof of cheap polling (no fetch, no repack when idle)."""

    def __init__(self, stats: FetchStats) -> None:
        self.stats = stats

    def collect(self) -> Any:
        snap = self.stats.snapshot()
        for key, name, doc in (
            ("ls_remotes", "tfcontroller_git_ls_remote", "git ls-remote calls (polls of a remote)."),
            ("fetches", "tfcontroller_git_fetches", "git fetch calls (objects downloaded into a mirror)."),
            ("repacks", "tfcontroller_artifact_builds", "Artifacts packed from a mirror."),
        ):
            family = CounterMetricFamily(name, doc)
            family.add_metric([], snap[key])
            yield family


def advertised_base_url(server_host: str, server_port: int) -> str:
    """The URL others reach the artifact server at; a wildcard bind advertises this host's name."""
    host = server_host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{server_port}"


class ControllerManager(Manager):
    """The runtime's Manager plus what every controller shares: the artifact store and its HTTP
    server (started before the workers so artifact URLs are right from the first reconcile, stopped
    after them), the git fetcher and the Event recorder."""

    def __init__(self, kube: KubeClient, opts: ControllerOptions) -> None:
        super().__init__(kube, opts.manager_options())
        self.controller_options = opts
        self.artifact_store = ArtifactStore(opts.artifact_dir, opts.artifact_base_url, keep=opts.artifact_keep)
        self.git_fetcher = GitFetcher(opts.mirrors_dir)
        self.events = EventRecorder(kube)
        self.artifact_server: ArtifactServer | None = None
        self.gitrepository: GitRepositoryReconciler | None = None
        self.metrics.registry.register(FetcherCollector(self.git_fetcher.stats))
        self._stop_hooks: list[Callable[[], None]] = []

    def on_stop(self, hook: Callable[[], None]) -> None:
        """Run `hook` after the workers stopped (controllers close their resources here)."""
        self._stop_hooks.append(hook)

    def start(self) -> None:
        addr = self.controller_options.artifact_addr
        if addr and self.artifact_server is None and not self.stopping.is_set():
            host, port = parse_addr(addr)
            self.artifact_server = ArtifactServer(self.artifact_store.root, f"{host}:{port}")
            if not self.controller_options.artifact_base_url:
                self.artifact_store.base_url = advertised_base_url(str(self.artifact_server.host),
                                                                   int(self.artifact_server.port))
            log.info("serving artifacts from %s at %s", self.artifact_store.root, self.artifact_store.base_url)
        super().start()

    def stop(self, grace: float | None = None, release_lease: bool = True) -> bool:
        finished = super().stop(grace, release_lease)
        hooks, self._stop_hooks = self._stop_hooks, []
        for hook in hooks:
            try:
                hook()
            except Exception:  # noqa: BLE001 - one failing hook must not keep others from running
                log.exception("stop hook failed")
        if self.artifact_server is not None:
            self.artifact_server.stop()
            self.artifact_server = None
        return finished

    def artifact_url(self) -> str | None:
        """Base URL artifacts are advertised at (None: file:// URLs)."""
        return self.artifact_store.base_url


def add_controller_arguments(parser: argparse.ArgumentParser) -> None:
    """Each controller's flags of `tfcontroller run`, in registration order (the CLI reaches the controller
    packages only through this module)."""
    g = parser.add_argument_group("tenancy")
    g.add_argument("--allow-cross-namespace-refs", action="store_true",
                   help="let Terraform and ManifestSet objects use sources and dependencies of other namespaces "
                        "(single-team installs); default: refused unless the GitRepository's "
                        "spec.accessFrom selects the referring namespace")
    gitrepository.add_run_arguments(parser)
    terraform.add_run_arguments(parser)
    manifestset.add_run_arguments(parser)
    planpolicy.add_run_arguments(parser)
    notification.add_run_arguments(parser)


def controller_options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Each controller's typed options from the parsed flags, as `ControllerOptions` keyword arguments."""
    return {"gitrepository": gitrepository.options_from_args(args),
            "terraform": terraform.options_from_args(args),
            "manifestset": manifestset.options_from_args(args),
            "planpolicy": planpolicy.options_from_args(args),
            "notification": notification.options_from_args(args),
            "allow_cross_namespace_refs": bool(getattr(args, "allow_cross_namespace_refs", False))}


def build_manager(opts: ControllerOptions, kube: KubeClient | None = None) -> ControllerManager:
    """A manager with the controllers registered; call `run()` (or `start()`/`stop()`)."""
    Path(opts.artifact_dir).mkdir(parents=True, exist_ok=True)
    artifact_bounds.configure(opts.artifact_bounds)  # the packer and every reader of this process
    kube = kube or KubeClient.load(opts.kubeconfig, opts.context)
    manager = ControllerManager(kube, opts)
    gitrepository.register(manager, kube, opts.gitrepository)
    terraform.register(manager, kube, opts.terraform)
    manifestset.register(manager, kube, opts.manifestset)
    planpolicy.register(manager, kube, planpolicy_options(opts))
    notification.register(manager, kube, notification_options(opts, kube))
    return manager


def notification_options(opts: ControllerOptions, kube: KubeClient) -> NotificationOptions:
    """The notification controllers' options with the mail settings smtp/ses providers fall back on: the
    drift e-mail's `--smtp-*`/`--ses-*` flags, parsed once by the drift e-mail's own code (an smtp provider
    uses the SMTP server whatever --email-transport says; an ses provider the --ses-* settings); and the
    controller's namespace by the Terraform controller's one rule (rules there — the platform team's — may
    select other namespaces, as PlanPolicies there are the cluster-wide defaults)."""
    from tfcontroller.controllers.terraform.drift.mail import mailer_from_options

    options = opts.notification
    if not options.controller_namespace:
        namespace = terraform.controller_namespace(opts.terraform.controller_namespace, os.environ,
                                                   opts.lease_namespace)
        options = dataclasses.replace(options, controller_namespace=namespace)
    if options.mail != MailDefaults():
        return options
    flags = opts.terraform.drift_mail.as_mapping()
    try:
        smtp = mailer_from_options({**flags, "email_transport": "smtp"}, kube)
    except ConfigError as exc:  # the Terraform controller reports the same flags at its registration
        log.warning("notifications: the --smtp-* flags are not usable (%s); smtp providers need a secretRef", exc)
        smtp = None
    mail = MailDefaults(smtp=smtp, ses_region=flags.get("ses_region"), ses_endpoint_url=flags.get("ses_endpoint_url"),
                        ses_from=flags.get("ses_from"))
    return dataclasses.replace(options, mail=mail)


def planpolicy_options(opts: ControllerOptions) -> PlanPolicyOptions:
    """The PlanPolicy controller's options with the controller's namespace resolved by the Terraform
    controller's one rule: PlanPolicies there are the cluster-wide defaults the gate applies."""
    if opts.planpolicy.controller_namespace:
        return opts.planpolicy
    namespace = terraform.controller_namespace(opts.terraform.controller_namespace, os.environ, opts.lease_namespace)
    return dataclasses.replace(opts.planpolicy, controller_namespace=namespace)
