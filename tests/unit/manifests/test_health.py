"""kstatus-style health rules for the kinds a ManifestSet applies."""

from tfcontroller.manifests.health import Health, HealthResult, assess, summarize


def deployment(want: int, **status: object) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "generation": 2},
        "spec": {"replicas": want},
        "status": status,
    }


def test_deployment_rollout_states() -> None:
    assert assess(deployment(3)).status == Health.IN_PROGRESS
    assert assess(deployment(3, observedGeneration=1)).status == Health.IN_PROGRESS
    partial = deployment(3, observedGeneration=2, updatedReplicas=3, readyReplicas=2, availableReplicas=2, replicas=3)
    assert assess(partial).status == Health.IN_PROGRESS
    assert "readyReplicas 2/3" in assess(partial).message
    done = deployment(3, observedGeneration=2, updatedReplicas=3, readyReplicas=3, availableReplicas=3, replicas=3)
    assert assess(done).status == Health.CURRENT
    stuck = deployment(
        3, observedGeneration=2, conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    )
    assert assess(stuck).status == Health.FAILED


def test_job_and_ready_condition() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "status": {}}
    assert assess(job).status == Health.IN_PROGRESS
    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    assert assess(job).status == Health.CURRENT
    job["status"] = {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}
    assert assess(job).status == Health.FAILED
    custom = {"apiVersion": "x/v1", "kind": "Thing", "metadata": {"name": "t"}, "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Waiting"}]}}
    assert assess(custom).status == Health.IN_PROGRESS
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert assess(cm).status == Health.CURRENT


def test_summarize_prefers_failures() -> None:
    results = [
        HealthResult(Health.CURRENT, "a ok"),
        HealthResult(Health.IN_PROGRESS, "b waiting"),
        HealthResult(Health.FAILED, "c failed"),
    ]
    assert summarize(results).status == Health.FAILED
    assert summarize(results[:2]).message == "b waiting"
    assert summarize(results[:1]).status == Health.CURRENT
