"""The ServiceAccount admission of Pods, on dicts: the kube-api-access volume and its mounts."""

from __future__ import annotations

from tfcontroller.dev.cluster.node import serviceaccounts as sa


def _pod(**spec: object) -> dict:
    return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}], "initContainers": [{"name": "i"}],
                                                **spec}}


def test_inject_adds_the_projected_volume_and_a_read_only_mount_everywhere() -> None:
    pod = _pod()
    sa.inject_api_access(pod, "kube-api-access-abcde")
    volume = pod["spec"]["volumes"][0]
    assert volume["name"] == "kube-api-access-abcde"
    sources = volume["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert sources[1]["configMap"] == {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    assert sources[2]["downwardAPI"]["items"][0]["path"] == "namespace"
    for key in ("containers", "initContainers"):
        assert pod["spec"][key][0]["volumeMounts"] == [
            {"name": "kube-api-access-abcde", "mountPath": sa.MOUNT_PATH, "readOnly": True}]


def test_inject_is_idempotent_and_respects_an_existing_mount() -> None:
    pod = _pod()
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "own", "mountPath": sa.MOUNT_PATH}]
    sa.inject_api_access(pod, "kube-api-access-1")
    sa.inject_api_access(pod, "kube-api-access-2")
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["kube-api-access-1"]
    assert pod["spec"]["containers"][0]["volumeMounts"] == [{"name": "own", "mountPath": sa.MOUNT_PATH}]


def test_automount_pod_setting_wins_over_the_service_account() -> None:
    assert sa.wants_token(_pod(), None)
    assert not sa.wants_token(_pod(), {"automountServiceAccountToken": False})
    assert sa.wants_token(_pod(automountServiceAccountToken=True), {"automountServiceAccountToken": False})
    assert not sa.wants_token(_pod(automountServiceAccountToken=False), {})
