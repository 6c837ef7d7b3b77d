"""tfcontroller.dev.cluster.defaults: a new Job's selector, template labels and JobSpec scalars."""

from __future__ import annotations

from tfcontroller.dev.cluster.defaults import default_job, default_pod, pod_qos_class


def _job(**spec: object) -> dict:
    return {"metadata": {"name": "j", "uid": "u-1"}, "spec": {"template": {"spec": {}}, **spec}}


def test_a_job_gets_its_selector_labels_and_scalars() -> None:
    job = _job()
    default_job(job)
    spec = job["spec"]
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    assert spec["template"]["metadata"]["labels"] == {"batch.kubernetes.io/controller-uid": "u-1",
                                                      "batch.kubernetes.io/job-name": "j",
                                                      "controller-uid": "u-1", "job-name": "j"}
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert (spec["completionMode"], spec["suspend"]) == ("NonIndexed", False)


def test_given_values_and_a_manual_selector_are_kept() -> None:
    job = _job(manualSelector=True, selector={"matchLabels": {"a": "b"}}, parallelism=3, backoffLimit=0)
    default_job(job)
    spec = job["spec"]
    assert spec["selector"] == {"matchLabels": {"a": "b"}} and "metadata" not in spec["template"]
    assert "completions" not in spec and spec["parallelism"] == 3 and spec["backoffLimit"] == 0  # a work queue
    work_queue = _job(completions=4)
    default_job(work_queue)
    assert (work_queue["spec"]["completions"], work_queue["spec"]["parallelism"]) == (4, 1)


def _pod(*resources: dict, init: dict | None = None) -> dict:
    spec: dict = {"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(resources)]}
    if init is not None:
        spec["initContainers"] = [{"name": "i", "resources": init}]
    return {"metadata": {"name": "p"}, "spec": spec}


def test_a_new_pod_is_pending_with_its_qos_class() -> None:
    both = {"cpu": "1", "memory": "1Gi"}
    cases = [
        (_pod({}), "BestEffort"),
        (_pod({"limits": both}), "Guaranteed"),  # requests default to the limits
        (_pod({"limits": both, "requests": both}), "Guaranteed"),
        (_pod({"limits": {"memory": "1Gi"}}), "Burstable"),
        (_pod({"requests": {"cpu": "1"}}), "Burstable"),
        (_pod({"limits": both}, {}), "Burstable"),  # one container without limits
        (_pod({}, init={"limits": both}), "Burstable"),  # init containers count
    ]
    for pod, want in cases:
        assert pod_qos_class(pod) == want, pod
        default_pod(pod)
        assert pod["status"] == {"phase": "Pending", "qosClass": want}
