"""`--runner=pod`: each Terraform command of a reconcile is a run in its own Pod (issue 15;
docs/architecture.md "Runner pods"). `PodRunner` has `TerraformRunner`'s interface, like `ProtocolRunner`
(local mode), so the controller's steps, their pure policy, lock handling and run records do not change:
only "run a Terraform command" does.

Per command: the plan is offered on the run API (apply), the per-run Secret then the Pod are created
(terraform/runner_pod.py; deterministic names: an AlreadyExists Pod of the same run is adopted, never a
second one), and the runner's result is awaited on the run API while the Pod is watched by polling. A Pod
that ends without a result is a `TransientError` (retried with the controller's backoff; its lock is then
released by the dead-run rule, locks.py): `RunnerOOMKilled` when the kernel killed it for memory,
`RunnerFailed` otherwise (evicted, deleted, past its deadline, crashed), with the Pod's termination message.
Pod creation refused is a condition naming what to fix (`RunnerPodRejected`): Stalled for RBAC, admission
and a missing ServiceAccount (it cannot succeed as is), waiting for a quota. Success deletes Pod and
Secret; failure deletes the Secret (so a kept Pod holds no variables) and the Pod unless
`keep_failed`. `cancel()` deletes the Pod gracefully: the kubelet's SIGTERM makes the runner interrupt
Terraform, which saves its state and releases its lock within the Pod's grace period.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tfcontroller.api import run_protocol as rp
from tfcontroller.api.errors import StallingError, TransientError, WaitingError
from tfcontroller.api.terraform import PlanOptions
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import AlreadyExists, ApiError, Conflict, Forbidden, NotFound
from tfcontroller.kube.resources import PODS, SECRETS
from tfcontroller.terraform import runner_pod as manifests
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.delegated import RUNNER_FAILED, DelegatingRunner
from tfcontroller.terraform.errors import CancelledError
from tfcontroller.terraform.run_results import error_of
from tfcontroller.terraform.runner import NO_OPTIONS, CommandResult, PlanResult

log = logging.getLogger(__name__)

RUNNER_OOM_KILLED = "RunnerOOMKilled"
RUNNER_POD_REJECTED = "RunnerPodRejected"
QUOTA_RETRY = 60.0
_POLL = 1.0
_MESSAGE_MAX = 1024
_REASON = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,127}$")


class RunApiLike(Protocol):
    """What PodRunner uses of the controller's run API (terraform/run_api.py, `RunApi`)."""

    url: str
    ca_pem: str

    def offer_plan(self, run_id: str, plan: bytes) -> None: ...
    def offer_artifact(self, run_id: str, path: Path) -> None: ...
    def delivered(self, run_id: str) -> Any: ...
    def wait(self, run_id: str, timeout: float) -> Any: ...
    def forget(self, run_id: str) -> None: ...


# ---- pure: what a Pod's state means -------------------------------------------------------------------


@dataclass(frozen=True)
class PodState:
    alive: bool  # Pending or Running: the run may still hold or take the state lock
    reason: str = ""  # when not alive: RunnerOOMKilled or RunnerFailed
    message: str = ""


def pod_state(pod: dict[str, Any] | None, uid: str = "") -> PodState:
    """Pure: is this runner Pod alive, and if not, why did it end? A Pod of another uid than the one
    recorded is not the run's Pod (deleted and replaced): the run's Pod is gone."""
    if pod is None:
        return PodState(False, RUNNER_FAILED, "its runner Pod is gone (deleted or evicted and removed)")
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    if uid and meta.get("uid") and meta.get("uid") != uid:
        return PodState(False, RUNNER_FAILED, f"its runner Pod {meta.get('name')} was replaced (uid {uid} is gone)")
    phase = status.get("phase") or "Pending"
    if meta.get("deletionTimestamp") is None and phase in ("Pending", "Running"):
        return PodState(True)
    terminated = _terminated(status)
    termination = (terminated.get("message") or "").strip()
    if terminated.get("reason") == "OOMKilled":
        return PodState(False, RUNNER_OOM_KILLED, _clip(
            "its runner Pod was killed for exceeding its memory limit (OOMKilled): raise "
            f"spec.runnerPod.resources.limits.memory{'; ' + termination if termination else ''}"))
    if meta.get("deletionTimestamp") is not None and phase in ("Pending", "Running"):
        return PodState(False, RUNNER_FAILED, "its runner Pod is being deleted")
    why = status.get("reason") or phase
    detail = status.get("message") or ""
    code, container = terminated.get("exitCode"), terminated.get("reason")
    how = ", ".join(x for x in (f"container {container}" if container else "",
                                f"exit code {code}" if code is not None else "") if x)
    parts = [f"its runner Pod ended {why}" + (f" ({how})" if how else "")]
    if detail:
        parts.append(str(detail))
    if termination:
        parts.append(termination)
    return PodState(False, RUNNER_FAILED, _clip(": ".join(parts)))


@dataclass(frozen=True)
class TerminationSummary:
    """What a runner wrote to its termination message (runner/pod.py `summary`): the outcome of a run whose
    result may have been delivered to nobody. Never a value: outcome, reason, counts, ids."""

    run_id: str
    operation: str
    outcome: str
    reason: str
    plan_id: str = ""
    delivered: bool = False
    terraform_killed: bool = False

    @property
    def succeeded(self) -> bool:
        return self.outcome == rp.SUCCEEDED


def parse_summary(text: str) -> TerminationSummary | None:
    """Pure: the runner's summary (`key=value` words) from a termination message, or None when the message
    is something else (a crash's last log lines, under FallbackToLogsOnError) or lacks what adoption needs."""
    words = dict(w.split("=", 1) for w in (text or "").split() if "=" in w)
    if not all(words.get(k) for k in ("run", "operation", "outcome", "reason")):
        return None
    if words["outcome"] not in (rp.SUCCEEDED, rp.FAILED) or words["operation"] not in rp.OPERATIONS:
        return None
    if not _REASON.match(words["reason"]):  # it becomes a condition's reason: CamelCase only
        words["reason"] = RUNNER_FAILED
    return TerminationSummary(words["run"], words["operation"], words["outcome"], words["reason"],
                              words.get("plan", ""), words.get("delivered") == "true",
                              words.get("terraform_killed") == "true")


def termination_summary(pods: list[dict[str, Any]], run_id: str, operation: str, *, pod_name: str = "",
                        pod_uid: str = "") -> TerminationSummary | None:
    """Pure: the summary of the run's last ended Pod for `operation` (a run record's Pods: one per command,
    `tfrun-<run id>-<n>`), when its runner wrote one for this run and operation. Only the Pod the run record
    names (`pod_name`, and its `pod_uid` once recorded) is believed: anyone who may create Pods in the
    namespace can label one with the run id and write any termination message. A Pod that is not the
    run's, or still running, says nothing."""
    found: list[tuple[int, TerminationSummary]] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if (meta.get("labels") or {}).get(manifests.LABEL_RUN_ID) != run_id or pod_state(pod).alive:
            continue
        if (pod_name and meta.get("name") != pod_name) or (pod_uid and meta.get("uid") != pod_uid):
            continue
        summary = parse_summary(str(_terminated(pod.get("status") or {}).get("message") or ""))
        if summary is None or summary.run_id != run_id or summary.operation != operation:
            continue
        number = str(meta.get("name") or "").rsplit("-", 1)[-1]
        found.append((int(number) if number.isdigit() else 0, summary))
    return max(found, key=lambda item: item[0])[1] if found else None


RUNNER_PODS_SELECTOR = f"{manifests.LABEL_MANAGED_BY}={manifests.MANAGED_BY},{manifests.LABEL_TERRAFORM}"


def ended_pod_owner(pod: dict[str, Any], waited_for: Callable[[str], bool],
                    recorded: Callable[[str, str, str], bool]) -> list[str]:
    """Pure: the Terraform object (`NS/NAME`) to reconcile because its runner Pod ended (Succeeded, Failed,
    OOMKilled, evicted, being deleted), no worker of this controller waits for that run (`waited_for(run
    id)`: a waiting worker reads the Pod itself) and the object still records the run (`recorded(ns, name,
    run id)`: a run already taken — the Pod removed after its result — asks for nothing). That is an adopted
    run's Pod, or one whose controller died: the event, not a poll, brings its object back. A Pod still
    Pending or Running asks for nothing."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    name, run_id = labels.get(manifests.LABEL_TERRAFORM), labels.get(manifests.LABEL_RUN_ID, "")
    if not name or not meta.get("namespace") or pod_state(pod).alive or waited_for(run_id):
        return []
    if not recorded(str(meta["namespace"]), str(name), str(run_id)):
        return []
    return [f"{meta['namespace']}/{name}"]


def foreign_pod(pod: dict[str, Any], ours: dict[str, Any]) -> str:
    """Pure: why an existing Pod of the runner's name is not the Pod the controller would create (`ours`,
    from `runner_pod.run_pod`), or "" when it is. Pod names are predictable and anyone who may create Pods
    in the namespace could create one first, labelled with the run id: it is adopted (a lost create
    response, retried) only when it runs exactly our runner — image, command, arguments, environment, the
    ServiceAccount, our owner and no extra container — so whatever it reports is what our runner reports."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    want_meta, want_spec = ours["metadata"], ours["spec"]
    if (meta.get("labels") or {}).get(manifests.LABEL_RUN_ID) != want_meta["labels"][manifests.LABEL_RUN_ID]:
        return "another run id label"
    owner = want_meta["ownerReferences"][0]["uid"]
    if not any(ref.get("uid") == owner and ref.get("controller") for ref in meta.get("ownerReferences") or []):
        return "not owned by the Terraform object"
    if (spec.get("serviceAccountName") or "default") != want_spec.get("serviceAccountName"):
        return "another ServiceAccount"
    if spec.get("initContainers") or spec.get("ephemeralContainers") or len(spec.get("containers") or []) != 1:
        return "other containers"
    container, want = spec["containers"][0], want_spec["containers"][0]
    for key in ("name", "image", "command", "args", "env"):
        if container.get(key) != want.get(key):
            return f"another container {key}"
    return ""


def rejection(exc: ApiError, service_account: str, namespace: str) -> StallingError | WaitingError:
    """Pure: the condition for a Pod the API server refused to create."""
    text = exc.message
    if "exceeded quota" in text or "quota" in text.lower() and "forbidden" in text.lower():
        return WaitingError(RUNNER_POD_REJECTED, _clip(
            f"the runner Pod was refused by a ResourceQuota of namespace {namespace}: {text}; waiting for "
            "room (or raise the quota, or lower spec.runnerPod.resources)"), QUOTA_RETRY)
    if "serviceaccount" in text.lower().replace(" ", "") and "not found" in text:
        return StallingError(RUNNER_POD_REJECTED, _clip(
            f"the runner's ServiceAccount {namespace}/{service_account} does not exist: create it with "
            f"`tfcontroller tenant add {namespace} --apply`, or set spec.runnerPod.serviceAccountName ({text})"))
    if isinstance(exc, Forbidden):
        return StallingError(RUNNER_POD_REJECTED, _clip(
            f"creating the runner Pod in namespace {namespace} was refused: {text}; the controller needs "
            "`create` on pods and secrets there (deploy/rbac.yaml), and admission must allow the Pod "
            "(spec.runnerPod)"))
    return StallingError(RUNNER_POD_REJECTED, _clip(
        f"the runner Pod was refused by the API server ({exc.status}): {text}; check spec.runnerPod"))


def _terminated(status: dict[str, Any]) -> dict[str, Any]:
    for item in status.get("containerStatuses") or []:
        if item.get("name") == manifests.CONTAINER:
            state = (item.get("state") or {}).get("terminated") or (item.get("lastState") or {}).get("terminated")
            return dict(state or {})
    return {}


def _clip(text: str) -> str:
    return text if len(text) <= _MESSAGE_MAX else text[:_MESSAGE_MAX - 1] + "…"


# ---- the cluster-wide cap ---------------------------------------------------------------------------------


class RunnerSlots:
    """`--max-runners`: at most `limit` runner Pods of this controller at once (0: no cap)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._sem = threading.BoundedSemaphore(limit) if limit > 0 else None

    def acquire(self, waiting: Callable[[str], None], cancelled: Callable[[], bool]) -> bool:
        if self._sem is None:
            return False
        if self._sem.acquire(blocking=False):
            return True
        waiting(f"waiting for a runner slot: all {self.limit} are in use (--max-runners {self.limit})")
        while not self._sem.acquire(timeout=_POLL):
            if cancelled():
                raise CancelledError("waiting for a runner slot")
        return True

    def release(self, held: bool) -> None:
        if held and self._sem is not None:
            self._sem.release()


# ---- the runner -------------------------------------------------------------------------------------------


@dataclass
class PodRunOptions:
    """What the controller configures once for pod mode."""

    image: str
    keep_failed: bool = False
    runner_command: tuple[str, ...] = ("tfcontroller",)


class PodRunner(DelegatingRunner):
    """One reconcile's Terraform commands as runner Pods. `template` holds what every run shares;
    `params` the Pod's (its command number and operation are set per command); `on_pod(name, uid)`
    records the Pod in the run record before (uid "") and after it is created; `waiting(message)` says
    why a run waits (a runner slot)."""

    EMPTY_ARGS = ("tfcontroller", "runner", "pod")

    def __init__(self, template: rp.RunRequest, params: manifests.RunPodParams, kube: KubeClient, api: RunApiLike,
                 config: TerraformConfig, options: PodRunOptions, slots: RunnerSlots, *, object_key: str = "",
                 plan_id: Callable[[], str] = lambda: "", on_pod: Callable[[str, str], None] = lambda n, u: None,
                 waiting: Callable[[str], None] = lambda m: None,
                 stopping: Callable[[], bool] = lambda: False, artifact: Path | None = None) -> None:
        # no local working directory: every command runs in its Pod (the base class keeps cancel/killed state)
        super().__init__(Path("/nonexistent"), {}, config, object_key=object_key)
        self.template = template
        self.params = params
        self.kube = kube
        self.api = api
        self.options = options
        self.slots = slots
        self.plan_id = plan_id
        self.on_pod = on_pod
        self.waiting = waiting
        self.artifact = artifact  # served on the run API (the source's artifact server no longer has it)
        self.stopping = stopping  # the controller is shutting down: its runs go on in their Pods (adoption)
        self._count = 0
        self._pod: tuple[str, str] | None = None  # the Pod of the command in flight (cancel deletes it)

    # the commands the controller's steps use ----------------------------------------------------

    def plan(self, out: Any, destroy: bool = False, refresh: bool = True, refresh_only: bool = False,
             lock_timeout: float = 0, options: PlanOptions = NO_OPTIONS) -> PlanResult:
        delivered = self._launch(rp.PLAN, destroy=destroy, **rp.plan_option_fields(options))
        if delivered.plan is None:
            raise TransientError(RUNNER_FAILED, "the runner reported a plan but delivered no plan file")


        Path(out).write_bytes(delivered.plan)
        return self._planned(delivered.result)

    def apply(self, planfile: Any, lock_timeout: float = 0, parallelism: int = 0) -> CommandResult:


        delivered = self._launch(rp.APPLY, plan=Path(planfile).read_bytes(), plan_id=self.plan_id() or "pending",
                                 parallelism=parallelism)
        return self._applied(delivered.result)

    def force_unlock(self, lock_id: str) -> CommandResult:
        self._launch(rp.FORCE_UNLOCK, lock_id=lock_id)
        return self._empty("force-unlock")

    def cancel(self) -> None:
        """Stop this reconcile's run: its Pod is deleted gracefully (the runner interrupts Terraform) —
        except when the controller itself is stopping: then the run goes on in its Pod and the next
        controller adopts its result (a restart neither stops nor repeats a run)."""
        super().cancel()
        pod = self._pod
        if pod is not None and not self.stopping():
            _delete(self.kube, PODS, pod[0], self.params.namespace)  # graceful: the Pod's grace period

    # one run ---------------------------------------------------------------------------------------

    def _launch(self, operation: str, *, plan: bytes | None = None, **fields: Any) -> Any:
        if self.cancelled:
            raise CancelledError(operation)
        held = self.slots.acquire(self.waiting, lambda: self.cancelled)
        try:
            return self._run_pod(operation, plan, fields)
        finally:
            self.slots.release(held)

    def _run_pod(self, operation: str, plan: bytes | None, fields: dict[str, Any]) -> Any:
        self._count += 1
        run_id = self.template.run_id
        request = dataclasses.replace(self.template, operation=operation, **fields)
        params = dataclasses.replace(self.params, command=self._count, operation=operation,
                                     plan_id=request.plan_id, run_api_url=self.api.url)
        name = manifests.run_object_name(run_id, self._count)
        ns = params.namespace
        self.api.forget(run_id)  # the previous command's result, consumed
        if plan is not None:
            self.api.offer_plan(run_id, plan)
        if self.artifact is not None:
            self.api.offer_artifact(run_id, self.artifact)
        started = time.monotonic()
        self.on_pod(name, "")  # recorded before it exists: a crash from here on finds it by name
        _expect(self.api, run_id, ns, name)  # only this Pod may fetch the plan and deliver (run API)
        uid = self._create(params, request)
        self._pod = (name, uid)
        _expect(self.api, run_id, ns, name, uid)
        self.on_pod(name, uid)
        ok = abandoned = False
        try:
            try:
                delivered = self._await(name, uid, params)
            except CancelledError:  # (a TransientError too)
                abandoned = self.stopping()
                self.killed = True  # the record stays: its lock may be left, or the next controller adopts it
                raise
            except TransientError:
                self.killed = True  # its Terraform ended with the Pod: it may have left the state lock
                raise
            log.info("runner pod=%s operation=%s outcome=%s seconds=%.2f", name, operation,
                     delivered.result.outcome, time.monotonic() - started, extra=self.log_extra)
            self.killed = self.killed or delivered.result.terraform_killed
            error = error_of(delivered.result)
            if error is not None:
                raise error
            ok = True
            return delivered
        finally:
            self._pod = None
            if not abandoned:  # an abandoned run keeps its Pod, its Secret and its offered plan
                self.api.forget(run_id)
                delete_run_objects(self.kube, ns, name, keep_pod=not ok and self.options.keep_failed)

    def _create(self, params: manifests.RunPodParams, request: rp.RunRequest) -> str:
        name = manifests.run_object_name(params.run_id, params.command)
        try:
            self.kube.create(SECRETS, manifests.run_secret(params, request.to_dict(), self.api.ca_pem), params.namespace)
        except AlreadyExists:
            pass  # a controller that crashed after creating it: same run, same request
        except ApiError as exc:
            raise rejection(exc, params.spec.service_account_name, params.namespace) from None
        try:
            pod = self.kube.create(PODS, manifests.run_pod(params), params.namespace)
        except AlreadyExists:
            pod = self.kube.get(PODS, name, params.namespace)
            differs = foreign_pod(pod, manifests.run_pod(params))
            if differs:
                raise TransientError(RUNNER_FAILED, f"Pod {params.namespace}/{name} exists and is not this "
                                                    f"run's runner Pod ({differs}): delete it") from None
            log.info("adopting runner pod=%s (already created)", name, extra=self.log_extra)
        except ApiError as exc:
            _delete(self.kube, SECRETS, name, params.namespace)
            raise rejection(exc, params.spec.service_account_name, params.namespace) from None
        return str((pod.get("metadata") or {}).get("uid") or "")

    def _await(self, name: str, uid: str, params: manifests.RunPodParams) -> Any:
        return await_result(self.kube, self.api, params.namespace, name, uid, params.run_id,
                            cancelled=lambda: self.cancelled, abandon=lambda: self.cancelled and self.stopping())


def await_result(kube: KubeClient, api: RunApiLike, namespace: str, name: str, uid: str, run_id: str, *,
                 cancelled: Callable[[], bool] = lambda: False, abandon: Callable[[], bool] = lambda: False) -> Any:
    """The result the runner of Pod `name` delivers; raises RunnerOOMKilled/RunnerFailed when the Pod
    ends without one, CancelledError when cancelled and the Pod is gone, or at once when `abandon()`
    (the controller stops: the Pod runs on, for the next controller to adopt)."""
    while True:
        delivered = api.wait(run_id, _POLL)
        if delivered is not None:
            return delivered
        if abandon():
            raise CancelledError("runner (the controller is stopping; the run goes on in its Pod)")
        try:
            pod = kube.get_or_none(PODS, name, namespace)
        except ApiError as exc:
            log.warning("cannot read runner pod %s/%s: %s", namespace, name, exc)
            continue
        state = pod_state(pod, uid)
        if state.alive:
            continue
        delivered = api.delivered(run_id)  # delivered just before it ended
        if delivered is not None:
            return delivered
        if cancelled():
            raise CancelledError("runner")
        raise TransientError(state.reason, f"the run of {namespace}/{name} did not finish: {state.message}")


def _expect(api: RunApiLike, run_id: str, namespace: str, pod: str | None, uid: str | None = None) -> None:
    """Bind the run to its namespace and Pod on the run API: any other Pod is refused (403)."""
    expect = getattr(api, "expect", None)
    if expect is not None:
        expect(run_id, namespace=namespace, pod_name=pod, pod_uid=uid or None)


def delete_run_objects(kube: KubeClient, namespace: str, name: str, *, keep_pod: bool) -> None:
    """Remove a finished run's Secret (its request) and, unless `keep_pod` (a failed run kept for
    inspection), its Pod: what this runner does after a run and the controller after an adopted one."""
    _delete(kube, SECRETS, name, namespace)
    if not keep_pod:
        _delete(kube, PODS, name, namespace)


def _delete(kube: KubeClient, resource: Any, name: str, namespace: str) -> None:
    try:
        kube.delete(resource, name, namespace)
    except (NotFound, Conflict):
        pass
    except ApiError as exc:
        log.warning("cannot delete %s %s/%s: %s", resource.kind, namespace, name, exc)
