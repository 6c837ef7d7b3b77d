"""The kubelet's work for one Pod, in its own thread (`PodWorker`): volumes, init containers in order,
then the containers, restarts with back-off, `activeDeadlineSeconds`, graceful deletion, and the Pod's
status written through the API after every change.

Decisions (restart? phase? conditions?) are the pure functions of status.py; this module only does
the sequencing and the I/O.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfcontroller.dev.cluster.defaults import pod_qos_class
from tfcontroller.dev.cluster.meta import now
from tfcontroller.dev.cluster.node import env as env_mod
from tfcontroller.dev.cluster.node import status as st
from tfcontroller.dev.cluster.node import termination as tm
from tfcontroller.dev.cluster.node.images import NodeImage, container_argv, image_environment, image_id
from tfcontroller.dev.cluster.node.logs import log_path, read_log
from tfcontroller.dev.cluster.node.runtime import ContainerRun, Exit
from tfcontroller.dev.cluster.node.sandbox import (
    DEFAULT_PATH,
    HOST_ALLOW_LIST,
    Mount,
    SandboxSpec,
    private_paths_for,
    resolve_command,
)
from tfcontroller.dev.cluster.node.volumes import VolumeError, VolumeSet, close_mounts

if TYPE_CHECKING:
    from tfcontroller.dev.cluster.node.node import Node

log = logging.getLogger(__name__)
Obj = dict[str, Any]
DEFAULT_UID = 65534  # nobody: a container without runAsUser never runs as root
TICK = 0.05
NO_COMMAND = ("no command specified: the dev node pulls no images, so the ENTRYPOINT of image {image!r} is "
              "unknown; set the container's command (resolved on the host's PATH), or use an image the node "
              "maps ({known}; dev-cluster --image NAME=DIR)")


@dataclass
class Container:
    """What the kubelet tracks of one container between runs."""

    spec: Obj
    init: bool = False
    restart_count: int = 0
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Obj | None = None
    run: ContainerRun | None = None
    restart_at: float | None = None  # monotonic time of the next start (back-off)
    container_id: str = ""
    done: bool = False  # terminated for good (no restart will follow)
    message_file: Path | None = None  # the host file bound at terminationMessagePath for the current run

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def running(self) -> bool:
        return "running" in self.state


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def identity(pod: Obj, container: Obj) -> tuple[int, int, list[int]]:
    """(uid, gid, supplemental groups) from the container's securityContext over the Pod's; a non-root
    default, as the dev node never runs a container as root unless asked."""
    pod_sc = (pod.get("spec") or {}).get("securityContext") or {}
    sc = container.get("securityContext") or {}
    uid = _int(sc.get("runAsUser", pod_sc.get("runAsUser")), DEFAULT_UID)
    gid = _int(sc.get("runAsGroup", pod_sc.get("runAsGroup")), uid if uid != DEFAULT_UID else DEFAULT_UID)
    groups = [_int(g, 0) for g in pod_sc.get("supplementalGroups") or []]
    if pod_sc.get("fsGroup") is not None:
        groups.append(_int(pod_sc["fsGroup"], 0))
    return uid, gid, groups


def non_root_problem(pod: Obj, container: Obj) -> str:
    """The kubelet's refusal of `runAsNonRoot: true` with user 0 (the image's user is unknown here, so
    only an explicit `runAsUser: 0` can break it; the default user is 65534)."""
    pod_sc = (pod.get("spec") or {}).get("securityContext") or {}
    sc = container.get("securityContext") or {}
    if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
        return ""
    uid, _, _ = identity(pod, container)
    return "container's runAsUser breaks non-root policy" if uid == 0 else ""


def unsupported_security(pod: Obj, container: Obj) -> str:
    """Why the dev node cannot run this container with the privileges its spec asks for ("" when it
    can). Running it with less than asked would make a test pass here that fails on a real node, so
    it is refused instead, never silently weakened."""
    spec = pod.get("spec") or {}
    sc = container.get("securityContext") or {}
    asked = [f"spec.{key}" for key in ("hostPID", "hostIPC") if spec.get(key)]
    if sc.get("privileged"):
        asked.append("securityContext.privileged")
    if (sc.get("capabilities") or {}).get("add"):
        asked.append("securityContext.capabilities.add")
    if sc.get("procMount") == "Unmasked":
        asked.append("securityContext.procMount: Unmasked")
    if not asked:
        return ""
    return (f"the dev node cannot grant {', '.join(asked)}: its containers run without capabilities, in their "
            "own PID and IPC namespaces (docs/dev-cluster.md)")


def _home(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_dir
    except KeyError:
        return "/"


class PodWorker:
    def __init__(self, node: Node, pod: Obj) -> None:
        self.node = node
        meta = pod["metadata"]
        self.namespace, self.name, self.uid = meta.get("namespace", ""), meta["name"], meta["uid"]
        self.pod = pod
        spec = pod.get("spec") or {}
        self.policy = spec.get("restartPolicy") or "Always"
        self.init = [Container(c, init=True) for c in spec.get("initContainers") or []]
        self.main = [Container(c) for c in spec.get("containers") or []]
        if self.init:  # what a kubelet shows until the init containers are done
            for c in self.init + self.main:
                c.state = {"waiting": {"reason": "PodInitializing"}}
        self.dir = node.pods_dir / self.uid
        uid, gid, _ = identity(pod, {})
        pod_sc = spec.get("securityContext") or {}
        self.volumes = VolumeSet(self.dir, node.shm_dir / self.uid, uid, _int(pod_sc.get("fsGroup"), gid))
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.stop_grace: float | None = None
        self.started_at = ""
        self.start_monotonic = 0.0
        self.init_failed = False
        self.reason = ""
        self.message = ""
        self.phase = "Pending"
        self.finished = threading.Event()
        self.gone = False  # the Pod was removed from the API: its files go when the worker ends
        self._thread = threading.Thread(target=self._run, name=f"pod-{self.namespace}-{self.name}", daemon=True)
        self._last_status: Obj | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        self._thread.start()

    def update(self, pod: Obj) -> None:
        self.pod = pod
        self.wake.set()

    def stop(self, grace: float | None) -> None:
        """Stop every container (the Pod is gone, or the node shuts down)."""
        self.stop_grace = grace
        self.stopping.set()
        self.wake.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def container(self, name: str | None) -> Container | None:
        everything = self.main + self.init
        if not name:
            return self.main[0] if self.main else None
        return next((c for c in everything if c.name == name), None)

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        try:
            self._lifecycle()
        except Exception:  # a bug must not leave processes behind
            log.exception("pod worker %s/%s failed", self.namespace, self.name)
            self._kill_all(0)
        finally:
            self.finished.set()
            if self.gone:
                self.cleanup()

    def _lifecycle(self) -> None:
        self.started_at = now()
        self.start_monotonic = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o711)  # a container reaches its own bind mounts only, never this directory
        self._write_status()
        if not self._setup_volumes():
            return self._finish_stop()
        for c in self.init:
            if not self._run_init(c):
                if self.init_failed:
                    self.phase = "Failed"
                    self._write_status()
                    return
                return self._finish_stop()
        for c in self.main:
            self._start(c)
        self._write_status()
        while True:
            if self._terminating():
                return self._finish_stop()
            if self._deadline_exceeded():
                self._fail_deadline()
                self._write_status()
                return
            changed = self._tick(self.main)
            phase = self._phase()
            if changed or phase != self.phase:
                self.phase = phase
                self._write_status()
            if phase in st.TERMINAL:
                return
            self.wake.wait(TICK)
            self.wake.clear()

    def _setup_volumes(self) -> bool:
        reported = ""
        while not self._terminating():
            try:
                self.volumes.setup(self.pod, self.node.lookup(self.namespace), self.node.allocatable, self.node.tokens)
                return True
            except VolumeError as exc:
                message = f"MountVolume.SetUp failed: {exc}"
                if message != reported:
                    self.node.event(self.pod, "Warning", "FailedMount", message)
                    reported = message
            self.wake.wait(1.0)
            self.wake.clear()
        return False

    def _run_init(self, c: Container) -> bool:
        """Run one init container to success (restarting it unless restartPolicy is Never)."""
        self._start(c)
        self._write_status()
        while True:
            if self._terminating():
                return False
            if self._deadline_exceeded():
                self._fail_deadline()
                self.init_failed = True
                return False
            if self._tick([c]):
                self._write_status()
            if c.done:
                if c.state.get("terminated", {}).get("exitCode") == 0:
                    return True
                self.init_failed = True
                return False
            self.wake.wait(TICK)
            self.wake.clear()

    def _tick(self, containers: list[Container]) -> bool:
        """Notice exits, start back-off restarts and config retries; True when a status changed."""
        changed = False
        for c in containers:
            if c.run is not None and c.running:
                result = c.run.poll()
                if result is not None:
                    self._exited(c, result)
                    changed = True
            elif c.restart_at is not None and time.monotonic() >= c.restart_at:
                c.restart_at = None
                self._start(c)
                changed = True
        return changed

    def _exited(self, c: Container, result: Exit) -> None:
        started = (c.state.get("running") or {}).get("startedAt", now())
        terminated = self._terminated(c, result, started)
        if result.reason == "OOMKilled":
            self.node.event(self.pod, "Warning", "OOMKilling",
                            f"Memory cgroup out of memory: Killed process of container {c.name}")
        c.state = {"terminated": terminated}
        c.run = None
        policy = "OnFailure" if c.init and self.policy == "Always" else self.policy
        if not st.should_restart(policy, result.exit_code):
            c.done = True
            return
        delay = st.backoff_delay(c.restart_count, self.node.config.backoff_base, self.node.config.backoff_cap)
        c.last_state = {"terminated": terminated}
        if delay <= 0:
            c.restart_count += 1
            self._start(c, restarting=True)
            return
        c.restart_count += 1
        c.restart_at = time.monotonic() + delay
        message = f"back-off {delay:g}s restarting failed container={c.name} pod={self.name}_{self.namespace}({self.uid})"
        c.state = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
        self.node.event(self.pod, "Warning", "BackOff", "Back-off restarting failed container "
                        f"{c.name} in pod {self.name}_{self.namespace}({self.uid})")

    def _start(self, c: Container, restarting: bool = False) -> None:
        if restarting and c.state.get("terminated"):
            c.last_state = {"terminated": c.state["terminated"]}
        image = self._image(c)
        command = container_argv(image, list(c.spec.get("command") or []), list(c.spec.get("args") or []))
        if not command:
            known = ", ".join(sorted(self.node.config.images)) or "none"
            message = NO_COMMAND.format(image=str(c.spec.get("image") or ""), known=known)
            c.state = {"waiting": {"reason": "CreateContainerError", "message": message}}
            self.node.event(self.pod, "Warning", "Failed", f"Error: {message}")
            return
        try:
            environment = self._environment(c, image)
        except env_mod.ConfigError as exc:
            c.state = {"waiting": {"reason": env_mod.CONFIG_ERROR, "message": str(exc)}}
            self.node.event(self.pod, "Warning", "Failed", f"Error: {exc}")
            c.restart_at = time.monotonic() + self.node.config.config_retry
            return
        problem = non_root_problem(self.pod, c.spec) or unsupported_security(self.pod, c.spec)
        if problem:
            c.state = {"waiting": {"reason": env_mod.CONFIG_ERROR, "message": problem}}
            self.node.event(self.pod, "Warning", "Failed", f"Error: {problem}")
            return  # the spec cannot change: not retried
        argv = [env_mod.expand(str(a), environment) for a in command]
        image_paths = image.paths if image is not None else ()
        if resolve_command(argv[0], environment.get("PATH", DEFAULT_PATH), HOST_ALLOW_LIST + image_paths) is None:
            where = ", ".join(("/usr, /bin, /sbin, /lib*, /etc, /opt", *image_paths))
            message = (f'exec: "{argv[0]}": executable file not found in $PATH (the dev node resolves commands '
                       f"on the host, in {where})")
            c.state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": message,
                                      "startedAt": now(), "finishedAt": now()}}
            self.node.event(self.pod, "Warning", "Failed", f"Error: {message}")
            self._exited_start_error(c)
            return
        try:
            mounts = self.volumes.mounts(c.spec)
        except VolumeError as exc:  # the kubelet's makeMounts errors: a config error, retried
            c.state = {"waiting": {"reason": env_mod.CONFIG_ERROR, "message": str(exc)}}
            self.node.event(self.pod, "Warning", "Failed", f"Error: {exc}")
            c.restart_at = time.monotonic() + self.node.config.config_retry
            return
        uid, gid, groups = identity(self.pod, c.spec)
        c.message_file = self._message_file(c, uid, gid)
        mounts = [*mounts, Mount(str(c.message_file), tm.message_path(c.spec), read_only=False)]
        read_only_root = bool((c.spec.get("securityContext") or {}).get("readOnlyRootFilesystem"))
        working_dir = str(c.spec.get("workingDir") or (image.working_dir if image is not None else ""))
        sandbox = SandboxSpec(argv=argv, env=environment, uid=uid, gid=gid, supplemental_groups=groups,
                              read_only_root=read_only_root, working_dir=working_dir, hostname=self.name,
                              mounts=mounts, hidden=self.node.hidden_paths(), image_paths=image_paths,
                              private=private_paths_for(uid, gid, groups, image_paths))
        limit = self._memory_limit(c)
        run = ContainerRun(sandbox, log_path(self.dir, c.name, c.restart_count), limit,
                           f"{self.uid}-{c.name}-{c.restart_count}")
        self.node.event(self.pod, "Normal", "Created", f"Created container {c.name}")
        self.node.track(run)
        try:
            run.start()
        finally:
            close_mounts(mounts)  # bwrap holds its own (the subPath descriptors)
        c.run = run
        c.container_id = f"devnode://{self.uid}-{c.name}-{c.restart_count}"
        c.state = {"running": {"startedAt": now()}}
        self.node.event(self.pod, "Normal", "Started", f"Started container {c.name}")

    def _exited_start_error(self, c: Container) -> None:
        policy = "OnFailure" if c.init and self.policy == "Always" else self.policy
        if not st.should_restart(policy, 128):
            c.done = True
            return
        delay = st.backoff_delay(c.restart_count + 1, self.node.config.backoff_base, self.node.config.backoff_cap)
        c.last_state = dict(c.state)
        c.restart_count += 1
        c.restart_at = time.monotonic() + delay

    def _memory_limit(self, c: Container) -> int | None:
        raw = ((c.spec.get("resources") or {}).get("limits") or {}).get("memory")
        if raw is None:
            return None
        try:
            return int(env_mod.parse_quantity(raw))
        except ValueError:
            return None

    def _image(self, c: Container) -> NodeImage | None:
        """The node's image of this container (images.py), None for an image the node does not map."""
        return self.node.config.images.get(str(c.spec.get("image") or ""))

    def _message_file(self, c: Container, uid: int, gid: int) -> Path:
        """A fresh, empty file for this run's termination message, owned by the container's user and
        writable by it (mode 0666, as the kubelet makes it), in the Pod's directory (never shared)."""
        directory: Path = self.dir / "termination"
        directory.mkdir(mode=0o711, exist_ok=True)
        path = directory / f"{c.name}-{c.restart_count}{'-init' if c.init else ''}"
        path.unlink(missing_ok=True)
        path.touch(mode=0o666)
        os.chmod(path, 0o666)
        try:
            os.chown(path, uid, gid)
        except PermissionError:  # a node not running as root: the mode is enough
            pass
        return path

    def _terminated(self, c: Container, result: Exit, started: str) -> Obj:
        """The `terminated` state of a run that ended, with its termination message (termination.py)."""
        terminated: Obj = {"exitCode": result.exit_code, "reason": result.reason, "startedAt": started,
                           "finishedAt": now(), "containerID": c.container_id}
        policy = str(c.spec.get("terminationMessagePolicy") or tm.FILE)
        data = tm.read_message_file(c.message_file) if c.message_file is not None else b""
        logs = b""
        if not data and policy == tm.FALLBACK_TO_LOGS and result.exit_code != 0 and c.run is not None:
            logs = tm.log_tail(read_log(c.run.log_file, tail=tm.MAX_LOG_LINES))
        message = tm.termination_message(data, policy, result.exit_code, logs)
        if message:
            terminated["message"] = message
        return terminated

    def _environment(self, c: Container, image: NodeImage | None) -> dict[str, str]:
        uid, _, _ = identity(self.pod, c.spec)
        base = image_environment(image, {"PATH": DEFAULT_PATH, "HOSTNAME": self.name, "HOME": _home(uid)})
        base.update(self.node.service_env(self.pod))
        return env_mod.container_env(self.pod, c.spec, self.node.lookup(self.namespace), base, self.node.allocatable)

    # ------------------------------------------------------------------ ending
    def _terminating(self) -> bool:
        return self.stopping.is_set() or bool(self.pod["metadata"].get("deletionTimestamp"))

    def _grace(self) -> float:
        if self.stop_grace is not None:
            return self.stop_grace
        meta = self.pod["metadata"]
        if meta.get("deletionGracePeriodSeconds") is not None:
            return float(meta["deletionGracePeriodSeconds"])
        return float((self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))

    def _deadline_exceeded(self) -> bool:
        deadline = (self.pod.get("spec") or {}).get("activeDeadlineSeconds")
        return deadline is not None and time.monotonic() - self.start_monotonic >= float(deadline)

    def _fail_deadline(self) -> None:
        """activeDeadlineSeconds has passed: stop everything, the Pod fails with DeadlineExceeded."""
        self._kill_all(self._grace())
        self.phase, self.reason = "Failed", "DeadlineExceeded"
        self.message = "Pod was active on the node longer than the specified deadline"
        self.node.event(self.pod, "Normal", "DeadlineExceeded", self.message)

    def _kill_all(self, grace: float) -> None:
        """SIGTERM every running container at once, SIGKILL what is left after the grace period."""
        running = [c for c in self.init + self.main if c.run is not None and c.running]
        for c in running:
            self.node.event(self.pod, "Normal", "Killing", f"Stopping container {c.name}")
        threads = [threading.Thread(target=self._stop_one, args=(c, grace), daemon=True) for c in running]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in self.init + self.main:
            c.restart_at = None

    def _stop_one(self, c: Container, grace: float) -> None:
        assert c.run is not None
        result = c.run.terminate(grace)
        started = (c.state.get("running") or {}).get("startedAt", now())
        c.state = {"terminated": self._terminated(c, result, started)}
        c.run = None
        c.done = True

    def _finish_stop(self) -> None:
        """The Pod is being deleted (or the node stops): stop the containers, then let the API
        server remove the Pod (a deleted Pod) — the kubelet's side of graceful deletion."""
        self._kill_all(self._grace())
        if self.stopping.is_set() and not self.pod["metadata"].get("deletionTimestamp"):
            return  # node shutdown or a Pod removed outright: nothing left to write
        self.phase = self._phase() if self._phase() in st.TERMINAL else self.phase
        self._write_status()
        self.node.finalize(self.pod)

    def cleanup(self) -> None:
        """Remove the Pod's files (volumes, logs): the Pod is gone from the API."""
        self.volumes.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------------ status
    def _phase(self) -> str:
        if self.phase in st.TERMINAL:
            return self.phase
        initialized = all(c.done and c.state.get("terminated", {}).get("exitCode") == 0 for c in self.init)
        restarting = any(c.restart_at is not None or (c.run is not None and c.running) for c in self.main)
        return st.pod_phase(self.policy, self.init_failed, initialized, [c.state for c in self.main], restarting)

    def _write_status(self) -> None:
        previous = (self.pod.get("status") or {}).get("conditions") or []
        stamp = now()
        initialized = all(c.done and c.state.get("terminated", {}).get("exitCode") == 0 for c in self.init)
        ready = initialized and bool(self.main) and all(c.running for c in self.main) \
            and self.phase not in st.TERMINAL
        not_ready = [c.name for c in self.main if not c.running]
        status: Obj = {
            "phase": self.phase,
            "conditions": st.pod_conditions(previous, stamp, initialized, ready, not_ready, self.phase),
            "hostIP": self.node.host_ip,
            "hostIPs": [{"ip": self.node.host_ip}],
            "podIP": self.node.host_ip,
            "podIPs": [{"ip": self.node.host_ip}],
            "startTime": self.started_at,
            "qosClass": pod_qos_class(self.pod),
            "containerStatuses": [self._container_status(c) for c in self.main],
        }
        if self.init:
            status["initContainerStatuses"] = [self._container_status(c) for c in self.init]
        if self.reason:
            status["reason"] = self.reason
        if self.message:
            status["message"] = self.message
        status = tm.cap_pod_messages(status, len(self.main) + len(self.init))
        if status == self._last_status:
            return
        self._last_status = status
        pod = self.node.write_status(self.pod, status)
        if pod is not None:
            self.pod = pod

    def _container_status(self, c: Container) -> Obj:
        ready = c.running and not c.init
        image = str(c.spec.get("image") or "")
        mapped = image_id(image) if image in self.node.config.images else ""
        return st.container_status(c.name, image, c.state, c.last_state, c.restart_count, ready, c.running,
                                   c.container_id, mapped)

