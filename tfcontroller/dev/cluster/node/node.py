"""The dev cluster's node: the `dev-node` Node object, a scheduler that binds every Pod without a
`nodeName` to it, a kubelet that runs each bound Pod in a `PodWorker` thread (kubelet.py), the Job
controller (jobs.py), and the `pods/log` reads.

One thread follows the store's event log (as an informer would follow a watch) and dispatches Pod and
Job changes; each Pod gets its own worker thread. Writes go through the store directly (a binding
and status writes, as the kubelet's status manager does) or the Api (Pods, Events, deletions).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tfcontroller.dev.cluster.api import Api
from tfcontroller.dev.cluster.errors import ApiError
from tfcontroller.dev.cluster.meta import now
from tfcontroller.dev.cluster.node import logs as logs_mod
from tfcontroller.dev.cluster.node import status as st
from tfcontroller.dev.cluster.node.env import Lookup
from tfcontroller.dev.cluster.node.images import NodeImage, default_images
from tfcontroller.dev.cluster.node.jobs import JobController
from tfcontroller.dev.cluster.node.kubelet import PodWorker
from tfcontroller.dev.cluster.node.runtime import ContainerRun
from tfcontroller.dev.cluster.node.sandbox import missing_tools, private_paths
from tfcontroller.dev.cluster.node.serviceaccounts import Admission
from tfcontroller.dev.cluster.node.volumes import TokenSource

log = logging.getLogger(__name__)
Obj = dict[str, Any]
HEARTBEAT = 10.0
MIN_GRACE = 2.0  # the kubelet's minimum grace period, also for a forced deletion


@dataclass
class NodeConfig:
    """Knobs of the dev node. The back-offs default to the real kubelet's and Job controller's; tests
    shorten them."""

    name: str = "dev-node"
    backoff_base: float = 10.0  # container restart back-off (CrashLoopBackOff)
    backoff_cap: float = 300.0
    job_backoff_base: float = 10.0  # delay before a Job replaces a failed Pod
    job_backoff_cap: float = 360.0
    config_retry: float = 1.0  # CreateContainerConfigError retry interval
    shutdown_grace: float = 1.0  # SIGTERM → SIGKILL when the dev cluster stops
    # The images the node can run (images.py): name → host directories, env, ENTRYPOINT/CMD.
    images: Mapping[str, NodeImage] = field(default_factory=default_images)


def _meminfo_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def capacity() -> dict[str, str]:
    """The host's CPUs and memory, as a Node's capacity."""
    return {"cpu": str(os.cpu_count() or 1), "memory": f"{_meminfo_bytes() // 1024}Ki", "pods": "110",
            "ephemeral-storage": f"{shutil.disk_usage('/').total // 1024}Ki"}


def lost_status(pod: Obj, node_name: str) -> Obj:
    """The status of a Pod whose node vanished (the dev cluster restarted): Failed, reason NodeLost,
    running containers terminated as ContainerStatusUnknown. Pure."""
    status = dict(pod.get("status") or {})
    stamp = now()
    status["phase"] = "Failed"
    status["reason"] = "NodeLost"
    status["message"] = f"Node {node_name} which was running pod {pod['metadata']['name']} is unresponsive"
    for key in ("containerStatuses", "initContainerStatuses"):
        out = []
        for cs in status.get(key) or []:
            cs = dict(cs)
            if "terminated" not in (cs.get("state") or {}):
                cs["lastState"] = cs.get("state") or {}
                cs["state"] = {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                                              "message": "The container could not be located when the pod was terminated",
                                              "finishedAt": stamp}}
                cs["ready"] = False
            out.append(cs)
        if out:
            status[key] = out
    status["conditions"] = [
        {**c, "status": "False", "lastTransitionTime": stamp} if c.get("type") in ("Ready", "ContainersReady") else c
        for c in status.get("conditions") or []
    ]
    return status


class Node:
    def __init__(self, api: Api, state_dir: Path, config: NodeConfig | None = None,
                 hidden: Callable[[], list[str]] | None = None, tokens: TokenSource | None = None,
                 ca_pem: bytes | None = None) -> None:
        self.api = api
        self.store = api.store
        self.config = config or NodeConfig()
        self.name = self.config.name
        self.state_dir = state_dir
        self.pods_dir = state_dir / "pods"
        self.shm_dir = Path("/dev/shm") / f"devnode-{secrets.token_hex(4)}"
        self.host_ip = "127.0.0.1"
        self.capacity = capacity()
        self.allocatable = dict(self.capacity)
        self.tokens = tokens  # ServiceAccount tokens of projected volumes (the cluster's TokenIssuer)
        self.ca_pem = ca_pem  # the API server's CA: ca.crt of kube-api-access volumes
        self.server_port = 0
        self._hidden = hidden or (lambda: [])
        pods_info = api.registry.lookup("", "v1", "pods")
        events_info = api.registry.lookup("", "v1", "events")
        assert pods_info is not None and events_info is not None
        self.pods_info, self.events_info = pods_info, events_info
        self.jobs = JobController(self)
        self.workers: dict[str, PodWorker] = {}
        self._runs: weakref.WeakSet[ContainerRun] = weakref.WeakSet()  # every container run, for shutdown
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_heartbeat = 0.0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        missing = missing_tools()
        if missing:
            raise RuntimeError(f"the dev node needs {' and '.join(missing)} on PATH to sandbox containers "
                               "(Debian: apt-get install bubblewrap util-linux; make setup installs them), "
                               "or start the dev cluster without a node (--no-node)")
        for path in (self.state_dir, self.pods_dir):
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o711)
        self.shm_dir.mkdir(mode=0o711, exist_ok=True)
        self.api.graceful_delete = self._graceful_delete
        self.api.admission = Admission(self.api, self.ca_pem)
        self._register()
        self._mark_lost()
        self._thread = threading.Thread(target=self._run, name="devcluster-node", daemon=True)
        self._thread.start()
        # the host's private files, which every sandbox masks, found once per process before the first Pod
        threading.Thread(target=self._scan_private, name="devcluster-node-private", daemon=True).start()

    def _scan_private(self) -> None:
        """The private files of the allow-list, then of each image's directories (sandbox.private_paths)."""
        private_paths()
        for image in self.config.images.values():
            if image.paths:
                private_paths(image.paths)

    def stop(self) -> None:
        """Stop every container (SIGTERM, SIGKILL after `shutdown_grace`), then the loop."""
        self._stop.set()
        with self.store.changed:
            self.store.changed.notify_all()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            workers = list(self.workers.values())
        for w in workers:
            w.stop(self.config.shutdown_grace)
        for w in workers:
            w.join(self.config.shutdown_grace + 5)
        for run in list(self._runs):  # whatever a worker left behind (a bug, a worker still starting)
            if run.poll() is None:
                run.kill()
        shutil.rmtree(self.shm_dir, ignore_errors=True)
        self.api.graceful_delete = None
        self.api.admission = None

    def track(self, run: ContainerRun) -> None:
        self._runs.add(run)

    def hidden_paths(self) -> list[str]:
        return [str(self.state_dir), *self._hidden()]

    # ------------------------------------------------------------------ the Node object
    def _node_object(self, old: Obj | None) -> Obj:
        stamp = now()
        ready_since = stamp
        for c in ((old or {}).get("status") or {}).get("conditions") or []:
            if c.get("type") == "Ready" and c.get("status") == "True":
                ready_since = c.get("lastTransitionTime", stamp)
        conditions = [
            {"type": t, "status": "False", "reason": r, "message": m, "lastHeartbeatTime": stamp,
             "lastTransitionTime": ready_since}
            for t, r, m in (("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))
        ]
        conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                           "message": "kubelet is posting ready status", "lastHeartbeatTime": stamp,
                           "lastTransitionTime": ready_since})
        uname = os.uname()
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.name, "labels": {
                "kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(uname.machine, uname.machine),
                "node-role.kubernetes.io/control-plane": ""}},
            "spec": {},
            "status": {
                "capacity": self.capacity, "allocatable": self.allocatable, "conditions": conditions,
                "addresses": [{"type": "InternalIP", "address": self.host_ip}, {"type": "Hostname", "address": self.name}],
                "nodeInfo": {"architecture": uname.machine, "operatingSystem": "linux", "kernelVersion": uname.release,
                             "osImage": "tfcontroller dev node (bubblewrap sandboxes)",
                             "containerRuntimeVersion": "bwrap://dev", "kubeletVersion": "v1.32.0-dev",
                             "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            },
        }

    def _register(self) -> None:
        with self.store.lock:
            old = self.store.get("", "nodes", "", self.name)
            if old is None:
                info = self.api.registry.lookup("", "v1", "nodes")
                assert info is not None
                obj = self._node_object(None)
                status = obj.pop("status")
                created = self.api.create(info, None, obj)
                self.put_status("", "nodes", created, status)
            else:
                self.put_status("", "nodes", old, self._node_object(old)["status"])
        self._renew_lease()
        self._last_heartbeat = time.monotonic()

    def _heartbeat(self) -> None:
        if time.monotonic() - self._last_heartbeat < HEARTBEAT:
            return
        self._register()

    def _renew_lease(self) -> None:
        """The node's Lease in kube-node-lease, renewed with every heartbeat (as kubelets do every 10 s)."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        info = self.api.registry.lookup("coordination.k8s.io", "v1", "leases")
        if info is None:
            return
        with self.store.lock:
            lease = self.store.get("coordination.k8s.io", "leases", "kube-node-lease", self.name)
            if lease is None:
                try:
                    self.api.create(info, "kube-node-lease", {"metadata": {"name": self.name}, "spec": {
                        "holderIdentity": self.name, "leaseDurationSeconds": 40, "renewTime": stamp}})
                except ApiError as exc:
                    log.debug("node lease not created: %s", exc)
                return
            lease.setdefault("spec", {})["renewTime"] = stamp
            self.store.put("coordination.k8s.io", "leases", lease)

    def _mark_lost(self) -> None:
        """Pods this node ran before a restart of the dev cluster: their processes are gone."""
        for pod in self.store.list("", "pods"):
            if (pod.get("spec") or {}).get("nodeName") != self.name:
                continue
            if pod["metadata"].get("deletionTimestamp"):
                self.finalize(pod)
            elif (pod.get("status") or {}).get("phase") not in st.TERMINAL:
                self.put_status("", "pods", pod, lost_status(pod, self.name))
                self.event(pod, "Warning", "NodeLost", lost_status(pod, self.name)["message"], "node-controller")

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        rv = self.store.rv
        self._resync()
        while not self._stop.is_set():
            with self.store.changed:
                if self.store.rv == rv and not self._stop.is_set():
                    self.store.changed.wait(0.5)
            try:
                if rv < self.store.compacted_rv:
                    rv = self.store.rv
                    self._resync()
                else:
                    for ev in self.store.events_after(rv):
                        rv = ev.rv
                        self._dispatch(ev.group, ev.plural, ev.type, ev.obj)
                for ns, name in self.jobs.due():
                    self.jobs.sync(ns, name)
                self._heartbeat()
            except Exception:  # keep the node alive through a bug in one object's handling
                log.exception("dev node loop")

    def _resync(self) -> None:
        for pod in self.store.list("", "pods"):
            self._dispatch("", "pods", "ADDED", pod)
        for job in self.store.list("batch", "jobs"):
            self._dispatch("batch", "jobs", "ADDED", job)

    def _dispatch(self, group: str, plural: str, kind: str, obj: Obj) -> None:
        if (group, plural) == ("batch", "jobs"):
            if kind != "DELETED":
                self.jobs.sync(obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            return
        if (group, plural) != ("", "pods"):
            return
        self._on_pod(kind, obj)
        for ref in obj["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "Job" and ref.get("controller"):
                self.jobs.sync(obj["metadata"].get("namespace", ""), ref.get("name", ""))

    def _on_pod(self, kind: str, pod: Obj) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        uid = meta["uid"]
        if kind == "DELETED":
            with self._lock:
                worker = self.workers.pop(uid, None)
            if worker is not None:
                worker.gone = True
                grace = meta.get("deletionGracePeriodSeconds")
                if grace is None:
                    grace = spec.get("terminationGracePeriodSeconds", 30)
                worker.stop(max(float(grace), MIN_GRACE))
            return
        if not spec.get("nodeName"):
            if not meta.get("deletionTimestamp"):
                self._bind(pod)
            return
        if spec["nodeName"] != self.name:
            return
        with self._lock:
            worker = self.workers.get(uid)
            if worker is None:
                if (pod.get("status") or {}).get("phase") in st.TERMINAL:
                    return
                worker = PodWorker(self, pod)
                self.workers[uid] = worker
                worker.start()
                return
        worker.update(pod)

    # ------------------------------------------------------------------ scheduling
    def _bind(self, pod: Obj) -> None:
        """Bind the Pod to this node: spec.nodeName, PodScheduled=True, a `Scheduled` event (what the
        scheduler's binding subresource write does)."""
        meta = pod["metadata"]
        with self.store.lock:
            current = self.store.get("", "pods", meta.get("namespace", ""), meta["name"])
            if current is None or current["metadata"]["uid"] != meta["uid"] or (current.get("spec") or {}).get("nodeName"):
                return
            current.setdefault("spec", {})["nodeName"] = self.name
            status = current.setdefault("status", {})
            status.setdefault("phase", "Pending")
            status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"] + [
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now()}]
            status.setdefault("qosClass", "BestEffort")
            self.store.put("", "pods", current)
        self.event(pod, "Normal", "Scheduled",
                   f"Successfully assigned {meta.get('namespace')}/{meta['name']} to {self.name}", "default-scheduler")

    # ------------------------------------------------------------------ services for the workers
    def lookup(self, namespace: str) -> Lookup:
        def get(plural: str, name: str) -> Obj | None:
            return self.store.get("", plural, namespace, name)

        return get

    def service_env(self, pod: Obj) -> dict[str, str]:
        """The variables of the `kubernetes` Service every container gets (in-cluster config)."""
        if not self.server_port:
            return {}
        port = str(self.server_port)
        return {"KUBERNETES_SERVICE_HOST": self.host_ip, "KUBERNETES_SERVICE_PORT": port,
                "KUBERNETES_SERVICE_PORT_HTTPS": port, "KUBERNETES_PORT": f"tcp://{self.host_ip}:{port}",
                f"KUBERNETES_PORT_{port}_TCP": f"tcp://{self.host_ip}:{port}",
                f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp", f"KUBERNETES_PORT_{port}_TCP_PORT": port,
                f"KUBERNETES_PORT_{port}_TCP_ADDR": self.host_ip}

    def put_status(self, group: str, plural: str, obj: Obj, status: Obj) -> Obj | None:
        """Write an object's status if the object (same uid) still exists and the status changed."""
        meta = obj["metadata"]
        with self.store.lock:
            current = self.store.get(group, plural, meta.get("namespace", ""), meta["name"])
            if current is None or current["metadata"]["uid"] != meta["uid"]:
                return None
            if current.get("status") == status:
                return current
            current["status"] = status
            return self.store.put(group, plural, current)

    def write_status(self, pod: Obj, status: Obj) -> Obj | None:
        return self.put_status("", "pods", pod, status)

    def finalize(self, pod: Obj) -> None:
        """The kubelet's last step of a graceful deletion: delete with grace 0 (the Pod goes, unless
        finalizers hold it)."""
        meta = pod["metadata"]
        try:
            self.api.delete(self.pods_info, meta.get("namespace"), meta["name"],
                            {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})
        except ApiError:
            pass

    def event(self, obj: Obj, kind: str, reason: str, message: str, component: str = "kubelet") -> None:
        meta = obj["metadata"]
        stamp = now()
        namespace = meta.get("namespace") or "default"
        event: Obj = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": namespace},
            "involvedObject": {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj.get("kind", "Pod"),
                               "name": meta["name"], "namespace": meta.get("namespace", ""), "uid": meta.get("uid", "")},
            "reason": reason, "message": message, "type": kind,
            "source": {"component": component, "host": self.name},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "reportingComponent": component, "reportingInstance": self.name,
        }
        try:
            self.api.create(self.events_info, namespace, event)
        except ApiError as exc:
            log.debug("event %s not recorded: %s", reason, exc)

    def _graceful_delete(self, info: Any, obj: Obj, options: Obj) -> Obj | None:
        if (info.group, info.plural) != ("", "pods"):
            return None
        marked = st.graceful_deletion(obj, options, _now_plus)
        if marked is None:
            if st.forced_on_node(obj, options):  # the DELETED event then tells the kubelet: no grace
                obj["metadata"].update(deletionTimestamp=now(), deletionGracePeriodSeconds=0)
                self.store.put("", "pods", obj)
            return None
        return self.store.put("", "pods", marked)

    # ------------------------------------------------------------------ logs
    def log_stream(self, namespace: str, name: str, container: str | None, follow: bool, previous: bool,
                   tail: int | None, since: datetime | None, timestamps: bool) -> Iterator[bytes] | bytes:
        """The `pods/log` answer: bytes, or an iterator of chunks when following. ApiError 400/404 as
        the real server words them."""
        pod = self.store.get("", "pods", namespace, name)
        if pod is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
        spec = pod.get("spec") or {}
        names = [c.get("name") for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]
        if not container:
            if len(spec.get("containers") or []) != 1:
                raise ApiError(400, "BadRequest", f"a container name must be specified for pod {name}, choose one of: "
                               f"[{' '.join(c.get('name', '') for c in spec.get('containers') or [])}]")
            container = spec["containers"][0].get("name")
        if container not in names:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        with self._lock:
            worker = self.workers.get(pod["metadata"]["uid"])
        c = worker.container(container) if worker is not None else None
        if worker is None and _ran(pod, str(container)):
            # it ran under a dev cluster that has since stopped: its log went with the node's directory
            raise ApiError(400, "BadRequest", f'unable to retrieve container logs for container "{container}" in pod '
                           f'"{name}": the dev node keeps logs only while the dev cluster that ran it is running')
        if worker is None or c is None or (c.run is None and c.restart_count == 0 and "terminated" not in c.state):
            waiting = ((c.state.get("waiting") or {}).get("reason") if c else None) or "ContainerCreating"
            raise ApiError(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: {waiting}')
        count = c.restart_count
        if previous:
            if count == 0:
                raise ApiError(400, "BadRequest", f'previous terminated container "{container}" in pod "{name}" not found')
            count -= 1
        path = worker.dir / "logs" / str(container) / f"{count}.log"
        if not follow or previous:
            return logs_mod.read_log(path, tail, since, timestamps)

        def finished() -> bool:
            return c.restart_count != count or not c.running or worker.finished.is_set()

        return logs_mod.follow_log(path, finished, self._stop.is_set, tail, since, timestamps)


def _ran(pod: Obj, container: str) -> bool:
    """Whether the Pod's status says the container has run (running, terminated, or restarted)."""
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        if cs.get("name") == container:
            state = cs.get("state") or {}
            return "running" in state or "terminated" in state or bool(cs.get("restartCount"))
    return False


def _now_plus(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def serve_log(node: Node, namespace: str, name: str, query: dict[str, str]) -> Iterator[bytes] | bytes:
    """`GET .../pods/NAME/log` with its query parameters (container, follow, previous, tailLines,
    sinceSeconds, sinceTime, timestamps, limitBytes), as the router hands them over."""

    def flag(key: str) -> bool:
        return query.get(key, "").lower() in ("1", "true")

    def number(key: str) -> int | None:
        if not query.get(key):
            return None
        try:
            return int(query[key])
        except ValueError:
            raise ApiError(400, "BadRequest", f"invalid {key}: {query[key]!r}") from None

    since: datetime | None = None
    seconds = number("sinceSeconds")
    if seconds is not None:
        since = datetime.now(UTC) - timedelta(seconds=seconds)
    elif query.get("sinceTime"):
        try:
            since = datetime.strptime(query["sinceTime"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            raise ApiError(400, "BadRequest", f"invalid sinceTime: {query['sinceTime']!r}") from None
    body = node.log_stream(namespace, name, query.get("container") or None, flag("follow"), flag("previous"),
                           number("tailLines"), since, flag("timestamps"))
    limit = number("limitBytes")
    if limit is not None and isinstance(body, bytes):
        body = body[:limit]
    return body
