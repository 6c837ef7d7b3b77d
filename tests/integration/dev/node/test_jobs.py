"""The batch/v1 Job controller of the dev node: a Job that keeps failing retries up to backoffLimit
and ends Failed (BackoffLimitExceeded), one that succeeds ends Complete (completions, parallelism),
activeDeadlineSeconds ends it DeadlineExceeded, ttlSecondsAfterFinished deletes it, and deleting a Job
deletes its Pods (owner references with controller and blockOwnerDeletion)."""

from __future__ import annotations

from typing import Any

import kubernetes

from tests.integration.dev.node.conftest import Kubectl
from tests.support.polling import wait_for

JOB_NAME = "batch.kubernetes.io/job-name"


def job(name: str, script: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"metadata": {"labels": {"app": name}}, "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", script]}]}}, **spec}}


def condition(batch: kubernetes.client.BatchV1Api, name: str) -> tuple[str, str] | None:
    status = batch.read_namespaced_job_status(name, "default").status
    for c in (status.conditions if status else None) or []:
        if c.status == "True" and c.type in ("Complete", "Failed"):
            return c.type, c.reason or ""
    return None


def pods_of(core: kubernetes.client.CoreV1Api, name: str) -> list[kubernetes.client.V1Pod]:
    return list(core.list_namespaced_pod("default", label_selector=f"{JOB_NAME}={name}").items)


def test_a_failing_job_retries_to_its_backoff_limit_and_fails(
    batch: kubernetes.client.BatchV1Api, core: kubernetes.client.CoreV1Api
) -> None:
    batch.create_namespaced_job("default", job("flaky", "echo try; exit 1", backoffLimit=2))
    assert wait_for(lambda: condition(batch, "flaky"), 30, "the Job to finish") == ("Failed", "BackoffLimitExceeded")
    status = batch.read_namespaced_job_status("flaky", "default").status
    assert status.failed == 3 and not status.active and status.start_time is not None
    pods = pods_of(core, "flaky")
    assert len(pods) == 3 and all(p.status.phase == "Failed" for p in pods)


def test_a_succeeding_job_completes_with_its_completions(
    batch: kubernetes.client.BatchV1Api, core: kubernetes.client.CoreV1Api, kubectl: Kubectl
) -> None:
    batch.create_namespaced_job("default", job("works", "echo done", completions=3, parallelism=2))
    assert wait_for(lambda: condition(batch, "works"), 30, "the Job to finish") == ("Complete", "")
    status = batch.read_namespaced_job_status("works", "default").status
    assert status.succeeded == 3 and status.completion_time is not None and not status.failed
    pods = pods_of(core, "works")
    assert len(pods) == 3
    ref = pods[0].metadata.owner_references[0]
    assert (ref.kind, ref.name, ref.controller, ref.block_owner_deletion) == ("Job", "works", True, True)
    uid = batch.read_namespaced_job("works", "default").metadata.uid
    assert pods[0].metadata.labels["batch.kubernetes.io/controller-uid"] == uid and pods[0].metadata.labels["app"] == "works"
    waited = kubectl("wait", "--for=condition=complete", "job/works", "--timeout=10s")
    assert waited.returncode == 0, waited.stderr
    assert kubectl("logs", "job/works").stdout == "done\n"
    assert "Complete" in kubectl("get", "job", "works").stdout


def test_a_job_past_its_deadline_fails_and_its_pods_stop(
    batch: kubernetes.client.BatchV1Api, core: kubernetes.client.CoreV1Api
) -> None:
    spec = job("slowjob", "exec sleep 300", activeDeadlineSeconds=1)
    spec["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 1
    batch.create_namespaced_job("default", spec)
    assert wait_for(lambda: condition(batch, "slowjob"), 20, "the deadline") == ("Failed", "DeadlineExceeded")
    wait_for(lambda: not pods_of(core, "slowjob"), 15, "its Pod to be deleted")


def test_deleting_a_job_deletes_its_pods_and_ttl_deletes_a_finished_job(
    batch: kubernetes.client.BatchV1Api, core: kubernetes.client.CoreV1Api, kubectl: Kubectl
) -> None:
    spec = job("longrun", "exec sleep 300")
    spec["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 1
    batch.create_namespaced_job("default", spec)
    wait_for(lambda: [p for p in pods_of(core, "longrun") if p.status.phase == "Running"], 15, "a running Pod")
    deleted = kubectl("delete", "job", "longrun", "--timeout=30s")
    assert deleted.returncode == 0, deleted.stderr
    wait_for(lambda: not pods_of(core, "longrun"), 15, "the Job's Pods to be deleted")

    batch.create_namespaced_job("default", job("shortlived", "true", ttlSecondsAfterFinished=2))
    wait_for(lambda: condition(batch, "shortlived"), 20, "the Job to complete")

    def gone() -> bool:
        return not [j for j in batch.list_namespaced_job("default").items if j.metadata.name == "shortlived"]

    wait_for(gone, 15, "ttlSecondsAfterFinished to delete the Job")
    wait_for(lambda: not pods_of(core, "shortlived"), 15, "and its Pods")


def test_an_on_failure_job_counts_container_restarts_against_the_backoff_limit(
    batch: kubernetes.client.BatchV1Api,
) -> None:
    spec = job("restarts", "exit 1", backoffLimit=1)
    spec["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    batch.create_namespaced_job("default", spec)
    assert wait_for(lambda: condition(batch, "restarts"), 30, "the Job to fail") == ("Failed", "BackoffLimitExceeded")


def test_kubectl_create_job_and_logs_of_the_job(kubectl: Kubectl, core: kubernetes.client.CoreV1Api) -> None:
    """`kubectl create job` posts protobuf; the Job gets the API server's selector, so `kubectl logs
    job/NAME` and `kubectl wait` find its Pod among others (without a selector kubectl takes any Pod)."""
    core.create_namespaced_pod("default", {"metadata": {"name": "aaa-other"}, "spec": {"restartPolicy": "Never",
        "containers": [{"name": "c", "image": "x", "command": ["sh", "-c", "echo not the job"]}]}})
    created = kubectl("create", "job", "hello", "--image=busybox", "--", "sh", "-c", "echo from the job")
    assert created.returncode == 0, created.stderr
    done = kubectl("wait", "--for=condition=complete", "job/hello", "--timeout=30s")
    assert done.returncode == 0, done.stderr
    selector = kubectl("get", "job", "hello", "-o", "jsonpath={.spec.selector.matchLabels}").stdout
    uid = kubectl("get", "job", "hello", "-o", "jsonpath={.metadata.uid}").stdout
    assert uid and uid in selector
    out = kubectl("logs", "job/hello")
    assert out.stdout.strip() == "from the job", (out.stdout, out.stderr)
