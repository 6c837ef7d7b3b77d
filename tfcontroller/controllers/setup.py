"""Wire every controller into one manager: `build_manager(ControllerOptions) -> ControllerManager`.

The GitRepository controller is always registered. The Terraform and ManifestSet controllers plug in
by name, so they can be added without editing this file:

Contract for `tfcontroller.controllers.terraform` and `tfcontroller.controllers.manifestset`
(see OPTIONAL_CONTROLLER_MODULES):
- `register(manager: ControllerManager, kube: KubeClient, opts: ControllerOptions) -> None` adds the
  module's Controller(s) with `manager.add_controller(...)`. It may use `manager.artifact_store`
  (local artifacts, the same `ArtifactStore` the GitRepository controller writes),
  `manager.git_fetcher`, `manager.events` and its own entries of `opts.extra`.
- Optionally `add_run_arguments(parser: argparse.ArgumentParser) -> None` adds flags to
  `tfcontroller run`; their parsed values arrive in `opts.extra[<dest>]` (cli/run_cmd.py).
A missing module is skipped; a module that exists but fails to import is an error (never silently
running without a controller that was meant to be there).

Artifacts: stored under `artifact_dir`, served read-only at `artifact_addr` (for runners on other
machines), and advertised in `status.artifact.url` with `artifact_base_url`, or the server's address
(the host name when it listens on every interface), or `file://` URLs when nothing serves them.
Consumers should download by that URL with `tfcontroller.source.store.fetch_artifact(url, dest, digest)`.
Git mirrors live in `git_cache_dir` (default `<artifact_dir>/.git-mirrors`: one volume keeps both, and
the artifact server never serves dot-paths).
"""

from __future__ import annotations

import importlib
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

from tfcontroller.controllers.gitrepository import CONTROLLER_NAME as GITREPOSITORY_CONTROLLER
from tfcontroller.controllers.gitrepository import DEFAULT_LS_REMOTE_TTL, GitRepositoryReconciler
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.events import EventRecorder
from tfcontroller.kube.resources import GITREPOSITORIES
from tfcontroller.runtime.httpserve import parse_addr
from tfcontroller.runtime.manager import Controller, Manager, ManagerOptions
from tfcontroller.source.git import FetchStats, GitFetcher
from tfcontroller.source.store import ArtifactServer, ArtifactStore

log = logging.getLogger(__name__)

OPTIONAL_CONTROLLER_MODULES: tuple[str, ...] = (
    "tfcontroller.controllers.terraform",
    "tfcontroller.controllers.manifestset",
)
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
    git_cache_dir: str | None = None  # default: <artifact_dir>/.git-mirrors
    ls_remote_ttl: float = DEFAULT_LS_REMOTE_TTL  # how long one ls-remote answer serves a URL
    metrics_addr: str | None = None
    health_addr: str | None = None
    leader_elect: bool = False
    lease_name: str = "tfcontroller-leader"
    lease_namespace: str = "default"
    retry_base: float = 1.0
    retry_cap: float = 300.0
    shutdown_grace: float = 30.0
    log_level: str = "info"
    extra: dict[str, Any] = field(default_factory=dict)  # options of the plug-in controllers

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
        """Run `hook` after the workers stopped (plug-in controllers close their resources here)."""
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


def register_gitrepository(manager: ControllerManager, kube: KubeClient, opts: ControllerOptions) -> None:
    reconciler = GitRepositoryReconciler(
        kube, manager.git_fetcher, manager.artifact_store, manager.events, ls_remote_ttl=opts.ls_remote_ttl,
    )
    manager.add_controller(Controller(name=GITREPOSITORY_CONTROLLER, resource=GITREPOSITORIES,
                                      reconcile=reconciler.reconcile))
    informer = manager.primary_informer(GITREPOSITORY_CONTROLLER)
    reconciler.cache_get = informer.get
    manager.gitrepository = reconciler


def optional_modules() -> list[Any]:
    """The plug-in controller modules present in this installation (import errors propagate)."""
    found = []
    for name in OPTIONAL_CONTROLLER_MODULES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return found


def build_manager(opts: ControllerOptions, kube: KubeClient | None = None) -> ControllerManager:
    """A manager with every available controller registered; call `run()` (or `start()`/`stop()`)."""
    Path(opts.artifact_dir).mkdir(parents=True, exist_ok=True)
    kube = kube or KubeClient.load(opts.kubeconfig, opts.context)
    manager = ControllerManager(kube, opts)
    register_gitrepository(manager, kube, opts)
    for module in optional_modules():
        register = getattr(module, "register", None)
        if register is None:
            log.debug("%s has no register(manager, kube, opts); not started", module.__name__)
            continue
        register(manager, kube, opts)
        log.info("registered controllers of %s", module.__name__)
    return manager
