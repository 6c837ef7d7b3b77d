"""The runner Pod and its per-run Secret: names, labels, owner, deadline, token, mounts, merges."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from tfcontroller.api.runner_pod import RunnerPodSpec
from tfcontroller.terraform import runner_pod as rp
from tfcontroller.terraform.config import Timeouts

BASE = rp.RunPodParams(run_id="0123abcd", command=2, operation="apply", plan_id="main@sha1:0123456789abcdef",
                       namespace="team-a", terraform_name="app", terraform_uid="uid-1", image="tfcontroller:dev",
                       run_api_url="https://10.0.0.1:9443", timeouts=Timeouts().bounded_by(600),
                       spec=RunnerPodSpec())


def _container(pod: dict) -> dict:
    [container] = pod["spec"]["containers"]
    return container


def test_names_labels_owner() -> None:
    pod = rp.run_pod(BASE)
    assert pod["metadata"]["name"] == "tfrun-0123abcd-2" and pod["metadata"]["namespace"] == "team-a"
    labels = pod["metadata"]["labels"]
    assert labels[rp.LABEL_RUN_ID] == "0123abcd" and labels[rp.LABEL_TERRAFORM] == "app"
    assert labels[rp.LABEL_OPERATION] == "apply" and labels[rp.LABEL_MANAGED_BY] == "tfcontroller"
    assert labels[rp.LABEL_PLAN_ID] == "main-sha1-0123456789abcdef"  # a valid label value; the id is in the request
    [owner] = pod["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Terraform", "app", "uid-1")
    assert pod["spec"]["restartPolicy"] == "Never"
    assert _container(pod)["name"] == "runner" and _container(pod)["args"] == ["runner", "pod"]


@pytest.mark.parametrize("plan_id", ["", "x" * 100, "refs/heads/main@sha1:abc", "-leading"])
def test_plan_id_label_always_valid(plan_id: str) -> None:
    value = rp.labels(replace(BASE, plan_id=plan_id))[rp.LABEL_PLAN_ID]
    assert len(value) <= 63 and (value == "" or (value[0].isalnum() and value[-1].isalnum()))


def test_deadline_bounds_every_command_plus_margin() -> None:
    pod = rp.run_pod(BASE)
    t = BASE.timeouts
    assert pod["spec"]["activeDeadlineSeconds"] == int(t.init + t.apply + t.short + 3 * t.grace + rp.DEADLINE_MARGIN)
    longer = rp.run_pod(replace(BASE, timeouts=Timeouts().bounded_by(3600)))
    assert longer["spec"]["activeDeadlineSeconds"] > pod["spec"]["activeDeadlineSeconds"]
    env = {e["name"]: e.get("value") for e in _container(pod)["env"]}
    assert env[rp.ENV_DEADLINE] == str(pod["spec"]["activeDeadlineSeconds"])
    assert env[rp.ENV_RUN_API] == "https://10.0.0.1:9443"


def test_token_request_secret_and_defaults() -> None:
    pod = rp.run_pod(BASE)
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    [source] = volumes["tfcontroller-token"]["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == "tfcontroller.io/runner"
    assert source["serviceAccountToken"]["expirationSeconds"] == 600
    assert volumes["tfcontroller-run"]["secret"]["secretName"] == "tfrun-0123abcd-2"
    mounts = {m["name"]: m for m in _container(pod)["volumeMounts"]}
    assert mounts["tfcontroller-run"]["mountPath"] == rp.RUN_DIR and mounts["tfcontroller-run"]["readOnly"]
    assert mounts["tfcontroller-token"]["mountPath"] == rp.TOKEN_DIR
    assert pod["spec"]["serviceAccountName"] == "tfcontroller-runner"
    assert pod["spec"]["automountServiceAccountToken"] is True  # in-cluster access as the tenant's runner
    assert _container(pod)["terminationMessagePolicy"] == "FallbackToLogsOnError"
    security = _container(pod)["securityContext"]
    assert security["runAsNonRoot"] is True and security["allowPrivilegeEscalation"] is False


def test_user_fields_merged_ours_win() -> None:
    spec = RunnerPodSpec(
        service_account_name="team-a", image="registry/tf:2", resources={"limits": {"memory": "1Gi"}},
        node_selector={"pool": "runners"}, tolerations=({"key": "k", "operator": "Exists"},),
        affinity={"nodeAffinity": {}}, labels={"team": "a"}, annotations={"a": "b"},
        security_context={"runAsUser": 1000, "runAsNonRoot": False}, volumes=({"name": "ca", "configMap": {"name": "c"}},),
        volume_mounts=({"name": "ca", "mountPath": "/etc/ca"},),
        env=({"name": "AWS_KEY", "valueFrom": {"secretKeyRef": {"name": "aws", "key": "k"}}},
             {"name": rp.ENV_RUN_API, "value": "https://evil"}),
        env_from=({"secretRef": {"name": "aws"}},), termination_grace_period_seconds=90)
    pod = rp.run_pod(replace(BASE, spec=spec))
    c = _container(pod)
    assert c["image"] == "registry/tf:2" and c["resources"] == {"limits": {"memory": "1Gi"}}
    assert pod["spec"]["serviceAccountName"] == "team-a" and pod["spec"]["nodeSelector"] == {"pool": "runners"}
    assert pod["spec"]["tolerations"] == [{"key": "k", "operator": "Exists"}] and pod["spec"]["affinity"]
    assert pod["spec"]["terminationGracePeriodSeconds"] == 90
    assert pod["metadata"]["labels"]["team"] == "a" and pod["metadata"]["annotations"] == {"a": "b"}
    assert c["securityContext"]["runAsUser"] == 1000 and c["securityContext"]["runAsNonRoot"] is False
    assert c["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "aws", "key": "k"}  # a reference, no value
    assert [e["value"] for e in c["env"] if e["name"] == rp.ENV_RUN_API][-1] == "https://10.0.0.1:9443"
    assert c["envFrom"] == [{"secretRef": {"name": "aws"}}]
    assert {v["name"] for v in pod["spec"]["volumes"]} >= {"ca", "tfcontroller-run", "tfcontroller-token"}


def test_run_secret_holds_request_and_ca_only() -> None:
    secret = rp.run_secret(BASE, {"run_id": "0123abcd", "sealed_variables": {"pw": "s3cret"}}, "PEM")
    assert secret["metadata"]["name"] == "tfrun-0123abcd-2"
    assert secret["metadata"]["labels"][rp.LABEL_RUN_ID] == "0123abcd"
    assert set(secret["data"]) == {"request.json", "ca.crt"}
    assert json.loads(base64.b64decode(secret["data"]["request.json"]))["sealed_variables"] == {"pw": "s3cret"}
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_selector() -> None:
    assert rp.selector("app") == "app.kubernetes.io/managed-by=tfcontroller,tfcontroller.io/terraform=app"
    assert rp.selector("app", "r1").endswith(",tfcontroller.io/run-id=r1")


def test_only_a_pod_running_exactly_our_runner_is_adopted_on_already_exists() -> None:
    """A Pod created first under the runner's predictable name is adopted only when it is what the
    controller would have created; anything else (a tenant's Pod labelled with the run id) is refused."""
    import copy

    from tfcontroller.terraform.pod_runner import foreign_pod

    ours = rp.run_pod(BASE)
    assert foreign_pod(copy.deepcopy(ours), ours) == ""
    server_side = copy.deepcopy(ours)  # what the API server adds does not matter
    server_side["metadata"]["uid"] = "u1"
    server_side["spec"]["nodeName"] = "dev-node"
    assert foreign_pod(server_side, ours) == ""

    def changed(edit: object) -> str:
        pod = copy.deepcopy(ours)
        edit(pod)  # type: ignore[operator]
        return foreign_pod(pod, ours)

    assert changed(lambda p: p["metadata"]["labels"].update({rp.LABEL_RUN_ID: "other"})) == "another run id label"
    assert changed(lambda p: p["metadata"].pop("ownerReferences")) == "not owned by the Terraform object"
    assert changed(lambda p: p["spec"].update(serviceAccountName="admin")) == "another ServiceAccount"
    assert changed(lambda p: p["spec"].update(initContainers=[{"name": "x", "image": "evil"}])) == "other containers"
    assert changed(lambda p: p["spec"]["containers"].append({"name": "side", "image": "evil"})) == "other containers"
    assert changed(lambda p: p["spec"]["containers"][0].update(image="evil")) == "another container image"
    assert changed(lambda p: p["spec"]["containers"][0].update(command=["sh", "-c", "forge"])) == \
        "another container command"
    assert changed(lambda p: p["spec"]["containers"][0]["env"].append({"name": "PYTHONPATH", "value": "/x"})) == \
        "another container env"
