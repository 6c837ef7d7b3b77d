"""The manager: informers, work queues and worker threads for each controller, leader election,
graceful shutdown, and the health/metrics endpoints — controller-runtime's Manager, in threads.

Flow: informers (shared per resource/namespace/selector) turn API changes into keys on each
controller's queue (primary objects by their own key, secondary objects through mapping functions,
often an index lookup: GitRepository X → the Terraforms whose sourceRef is X). Worker threads take
keys and call the controller's `reconcile(key) -> Result`; the Result decides requeue-after, backoff
or nothing. With leader election only the Lease holder runs workers (informers run everywhere so a
standby is warm); a leader that loses the Lease stops. `stop()` takes no new work and lets running
reconciles finish until the grace deadline; `stopping` is an Event long reconciles may check.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import Resource, object_key
from tfcontroller.runtime.backoff import Backoff
from tfcontroller.runtime.httpserve import HttpEndpoints, Route
from tfcontroller.runtime.informer import IndexFn, Informer, Transform
from tfcontroller.runtime.leader import LeaderConfig, LeaderElector
from tfcontroller.runtime.metrics import ManagerMetrics
from tfcontroller.runtime.result import Result
from tfcontroller.runtime.workqueue import WorkQueue

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Mapper = Callable[[Obj], Iterable[str]]
UpdatePredicate = Callable[[Obj, Obj], bool]
_DEFAULT = object()

_VOLATILE_META = ("resourceVersion", "managedFields", "generation")


def ignore_status_only_changes(old: Obj, new: Obj) -> bool:
    """Default update filter for primary objects: reconcile unless only status (or bookkeeping such
    as resourceVersion/managedFields) changed — our own status patches must not retrigger us — or
    finalizers were only added: a reconcile adds ours and goes on in the same pass, so that write
    retriggering it cost every new object a second, empty reconcile (issue 21: at N=1,000 those ran after
    the last object was Ready and were counted as idle). Annotation changes (requested-at), a removed
    finalizer and deletionTimestamp pass."""
    if (old.get("metadata") or {}).get("generation") != (new.get("metadata") or {}).get("generation"):
        return True
    before, after = _stripped(old), _stripped(new)
    if before == after:
        return False
    added_only = set(_finalizers(old)) < set(_finalizers(new))
    return not (added_only and _stripped(old, finalizers=False) == _stripped(new, finalizers=False))


def _finalizers(o: Obj) -> list[str]:
    return list((o.get("metadata") or {}).get("finalizers") or [])


def _stripped(o: Obj, finalizers: bool = True) -> Obj:
    """The object without status and bookkeeping metadata (and without finalizers when asked)."""
    drop = _VOLATILE_META if finalizers else (*_VOLATILE_META, "finalizers")
    meta = {k: v for k, v in (o.get("metadata") or {}).items() if k not in drop}
    rest = {k: v for k, v in o.items() if k not in ("status", "metadata")}
    return {"metadata": meta, **rest}


@dataclass
class Watch:
    """A secondary resource whose changes enqueue keys of the controller's primary objects: those
    `map_fn(obj)` returns, or — with `index` — those whose index entry contains `value_fn(obj)`
    (e.g. index "sourceRef", GitRepository X → every Terraform whose sourceRef is X)."""

    resource: Resource
    map_fn: Mapper | None = None
    index: str | None = None
    value_fn: Callable[[Obj], str] = object_key
    namespace: Any = _DEFAULT  # default: the manager's namespace
    label_selector: str | None = None
    transform: Transform | None = None  # e.g. informer.metadata_only: cache less (its own informer)

    def __post_init__(self) -> None:
        if (self.map_fn is None) == (self.index is None):
            raise ValueError("a Watch needs exactly one of map_fn or index")


@dataclass
class Controller:
    name: str
    resource: Resource
    reconcile: Callable[[str], Result | None]
    concurrency: int | None = None  # default: ManagerOptions.concurrent
    watches: list[Watch] = field(default_factory=list)
    indexes: dict[str, IndexFn] = field(default_factory=dict)  # on the primary informer
    update_predicate: UpdatePredicate | None = ignore_status_only_changes
    retry_base: float | None = None  # default: ManagerOptions.retry_base


@dataclass
class ManagerOptions:
    namespace: str | None = None  # None: all namespaces
    concurrent: int = 4
    watch_label_selector: str | None = None  # sharding, applies to primary resources
    leader_elect: bool = False
    lease_name: str = "tfcontroller-leader"
    lease_namespace: str = "default"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}")
    metrics_addr: str | None = None  # HOST:PORT, port 0 picks a free one
    health_addr: str | None = None
    shutdown_grace: float = 30.0
    retry_base: float = 1.0
    retry_cap: float = 300.0
    retry_jitter: float = 0.1
    watch_timeout: int = 60
    on_lost_leadership: Callable[[], None] | None = None  # default: the manager stops


class Manager:
    def __init__(self, kube: KubeClient, options: ManagerOptions | None = None) -> None:
        self.kube = kube
        self.options = options or ManagerOptions()
        self.metrics = ManagerMetrics()
        self.stopping = threading.Event()
        self.stopped = threading.Event()
        self.lost_leadership = threading.Event()
        self._controllers: list[Controller] = []
        self._queues: dict[str, WorkQueue] = {}
        self._informers: dict[tuple[Resource, str | None, str | None, Transform | None], Informer] = {}
        self._primary: dict[str, Informer] = {}
        self._workers: list[threading.Thread] = []
        self._workers_started = False
        self._lock = threading.Lock()
        self._http: list[HttpEndpoints] = []
        self._elector: LeaderElector | None = None
        self._started = False

    # ---- wiring ----------------------------------------------------------------------------
    def informer(self, resource: Resource, namespace: Any = _DEFAULT, label_selector: str | None = None,
                 transform: Transform | None = None) -> Informer:
        """The shared informer for (resource, namespace, selector, transform), created on first use."""
        ns = self.options.namespace if namespace is _DEFAULT else namespace
        key = (resource, ns, label_selector or None, transform)
        with self._lock:
            inf = self._informers.get(key)
            if inf is None:
                inf = Informer(self.kube, resource, namespace=ns, label_selector=label_selector or None,
                               watch_timeout=self.options.watch_timeout, transform=transform)
                self._informers[key] = inf
                if self._started:
                    inf.start()
            return inf

    def primary_informer(self, controller_name: str) -> Informer:
        return self._primary[controller_name]

    def queue(self, controller_name: str) -> WorkQueue:
        return self._queues[controller_name]

    def add_controller(self, ctrl: Controller) -> None:
        if any(c.name == ctrl.name for c in self._controllers):
            raise ValueError(f"controller {ctrl.name!r} added twice")
        opts = self.options
        backoff = Backoff(base=opts.retry_base, cap=opts.retry_cap, jitter=opts.retry_jitter)
        q = WorkQueue(backoff=backoff, hooks=self.metrics.queue_hooks(ctrl.name))
        self._queues[ctrl.name] = q
        self._controllers.append(ctrl)

        primary = self.informer(ctrl.resource, label_selector=opts.watch_label_selector)
        self._primary[ctrl.name] = primary
        for name, fn in ctrl.indexes.items():
            primary.add_index(name, fn)
        pred = ctrl.update_predicate

        def on_update(old: Obj, new: Obj) -> None:
            if pred is None or pred(old, new):
                q.add(object_key(new))

        primary.add_handler(
            on_add=lambda o: q.add(object_key(o)),
            on_update=on_update,
            on_delete=lambda o: q.add(object_key(o)),
        )
        for w in ctrl.watches:
            inf = self.informer(w.resource, w.namespace, w.label_selector, w.transform)
            mapper = w.map_fn
            if w.index is not None:
                if w.index not in ctrl.indexes:
                    raise ValueError(f"watch of {w.resource} uses index {w.index!r} the controller does not define")
                mapper = self._index_mapper(primary, w.index, w.value_fn)
            assert mapper is not None
            inf.add_handler(*self._mapped_handlers(q, mapper, ctrl.name))

    @staticmethod
    def _index_mapper(primary: Informer, index: str, value_fn: Callable[[Obj], str]) -> Mapper:
        def mapper(obj: Obj) -> list[str]:
            return primary.keys_by_index(index, value_fn(obj))

        return mapper

    @staticmethod
    def _mapped_handlers(q: WorkQueue, map_fn: Mapper, name: str) -> tuple[Any, Any, Any]:
        def enqueue(*objs: Obj) -> None:
            keys: set[str] = set()
            for o in objs:
                try:
                    keys.update(map_fn(o))
                except Exception:  # noqa: BLE001
                    log.exception("watch mapping of controller %s failed", name)
            for k in sorted(keys):
                q.add(k)

        return (lambda o: enqueue(o)), (lambda old, new: enqueue(old, new)), (lambda o: enqueue(o))

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start informers, endpoints and (at once, or on winning the Lease) the workers. Non-blocking."""
        if self._started:
            return
        self._started = True
        self._start_http()
        with self._lock:
            informers = list(self._informers.values())
        for inf in informers:
            inf.start()
        if self.options.leader_elect:
            opts = self.options
            self._elector = LeaderElector(
                self.kube,
                LeaderConfig(opts.lease_name, opts.lease_namespace, opts.identity, opts.lease_duration,
                             opts.renew_deadline, opts.retry_period),
                on_started_leading=self._on_started_leading,
                on_stopped_leading=self._on_lost_leadership,
            )
            self._elector.start()
        else:
            self._start_workers()

    @property
    def is_leader(self) -> bool:
        return self._elector.is_leader if self._elector else not self.stopping.is_set()

    def _on_started_leading(self) -> None:
        self.metrics.is_leader.set(1)
        self._start_workers()

    def _on_lost_leadership(self) -> None:
        self.metrics.is_leader.set(0)
        self.lost_leadership.set()
        if self.options.on_lost_leadership is not None:
            self.options.on_lost_leadership()
        # stop from another thread: stop() joins the elector's thread, which is the caller here
        threading.Thread(target=self.stop, kwargs={"release_lease": False}, name="stop-after-lost-lease",
                         daemon=True).start()

    def _start_workers(self) -> None:
        with self._lock:
            if self._workers_started or self.stopping.is_set():
                return
            self._workers_started = True
            for ctrl in self._controllers:
                n = ctrl.concurrency or self.options.concurrent
                for i in range(n):
                    t = threading.Thread(target=self._worker, args=(ctrl,), name=f"worker-{ctrl.name}-{i}", daemon=True)
                    self._workers.append(t)
                    t.start()

    def wait_synced(self, timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        with self._lock:
            informers = list(self._informers.values())
        return all(inf.wait_synced(max(0.0, end - time.monotonic())) for inf in informers)

    def stop(self, grace: float | None = None, release_lease: bool = True) -> bool:
        """Take no new work; wait up to `grace` seconds for running reconciles; stop everything.
        Returns True when every worker finished in time."""
        with self._lock:
            if self.stopping.is_set():
                first = False
            else:
                self.stopping.set()
                first = True
        if not first:
            self.stopped.wait(grace if grace is not None else self.options.shutdown_grace)
            return True
        grace = self.options.shutdown_grace if grace is None else grace
        for q in self._queues.values():
            q.shut_down()
        deadline = time.monotonic() + grace
        for t in self._workers:
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        unfinished = [t.name for t in self._workers if t.is_alive()]
        if unfinished:
            log.warning("shutdown grace of %.0fs ran out with reconciles still running: %s", grace, unfinished)
        if self._elector is not None:
            self._elector.stop(release=release_lease)
            self.metrics.is_leader.set(0)
        with self._lock:
            informers = list(self._informers.values())
        for inf in informers:
            inf.stop()
        for server in self._http:
            server.stop()
        self.stopped.set()
        return not unfinished

    def run(self) -> int:
        """Start, block until SIGTERM/SIGINT (or lost leadership), then shut down gracefully.
        Returns an exit code: 0, or 1 when leadership was lost."""
        wake = threading.Event()
        previous = {}

        def handler(signum: int, frame: object) -> None:
            log.info("received signal %d; shutting down", signum)
            wake.set()

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, handler)
        try:
            self.start()
            while not wake.is_set() and not self.stopping.is_set():
                wake.wait(0.2)
            self.stop()
        finally:
            for sig, prev in previous.items():
                signal.signal(sig, prev)
        return 1 if self.lost_leadership.is_set() else 0

    # ---- workers ---------------------------------------------------------------------------
    def _worker(self, ctrl: Controller) -> None:
        q = self._queues[ctrl.name]
        while True:
            key = q.get()
            if key is None:
                return
            try:
                self._process(ctrl, q, str(key))
            finally:
                q.done(key)

    def _process(self, ctrl: Controller, q: WorkQueue, key: str) -> None:
        m = self.metrics
        start = time.monotonic()
        try:
            result = ctrl.reconcile(key) or Result()
        except Exception as exc:  # noqa: BLE001 - a failed reconcile is retried, never fatal
            # a reconciler that raises instead of returning a Result has a bug: keep its traceback, but at
            # debug, so a retry loop does not flood the log (the warning below names the error each time)
            log.debug("reconcile raised", exc_info=exc, extra={"obj": key})
            result = Result(error=exc)
        m.reconcile_duration.labels(ctrl.name).observe(time.monotonic() - start)
        m.reconcile_total.labels(ctrl.name, result.label).inc()
        if result.error is not None:
            m.reconcile_errors.labels(ctrl.name).inc()
            base = result.retry_base if result.retry_base is not None else ctrl.retry_base
            delay = q.add_rate_limited(key, base)
            log.warning("reconcile failed (%s: %s); retry in %.1fs", type(result.error).__name__, result.error,
                        delay, extra={"obj": key})
        elif result.requeue_after is not None:
            q.forget(key)
            q.add_after(key, result.requeue_after)
        else:
            q.forget(key)

    # ---- endpoints -------------------------------------------------------------------------
    def _healthz(self) -> tuple[int, str, bytes]:
        if self.stopped.is_set():
            return 503, "text/plain", b"stopped\n"
        return 200, "text/plain", b"ok\n"

    def _readyz(self) -> tuple[int, str, bytes]:
        with self._lock:
            informers = list(self._informers.values())
        if self.stopping.is_set():
            return 503, "text/plain", b"shutting down\n"
        pending = [str(i.resource) for i in informers if not i.has_synced]
        if pending:
            return 503, "text/plain", ("caches not synced: " + ", ".join(pending) + "\n").encode()
        return 200, "text/plain", b"ok\n"

    def _metrics(self) -> tuple[int, str, bytes]:
        return 200, "text/plain; version=0.0.4; charset=utf-8", self.metrics.exposition()

    def _start_http(self) -> None:
        opts = self.options
        health: dict[str, Route] = {"/healthz": self._healthz, "/readyz": self._readyz}
        metrics: dict[str, Route] = {"/metrics": self._metrics}
        if opts.health_addr and opts.metrics_addr and opts.health_addr == opts.metrics_addr \
                and not opts.health_addr.endswith(":0"):
            self._http.append(HttpEndpoints(opts.health_addr, {**health, **metrics}))
        else:
            if opts.health_addr:
                self._http.append(HttpEndpoints(opts.health_addr, health))
            if opts.metrics_addr:
                self._http.append(HttpEndpoints(opts.metrics_addr, metrics))
        for server in self._http:
            server.start()

    def endpoint(self, path: str) -> str:
        """Base URL of the server answering `path` (for tests and log lines)."""
        for server in self._http:
            if path in server.routes:
                return f"http://{server.host}:{server.port}"
        raise KeyError(path)
