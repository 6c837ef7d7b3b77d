"""Volumes and environment as a kubelet provides them: secret and configMap volumes (items, defaultMode,
optional), downwardAPI, projected, emptyDir (on disk and medium Memory, shared between containers),
readOnly and subPath mounts; env from values, $(VAR) references, secretKeyRef, configMapKeyRef,
fieldRef and resourceFieldRef, envFrom with a prefix."""

from __future__ import annotations

import kubernetes

from tests.integration.dev.node.conftest import logs, pod, wait_phase


def _objects(core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_secret("default", {"metadata": {"name": "creds"},
                                              "stringData": {"user": "admin", "password": "s3cret"}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "settings"},
                                                  "data": {"mode": "fast", "level": "3"}})


def test_secret_configmap_downward_projected_and_empty_dir_volumes(core: kubernetes.client.CoreV1Api) -> None:
    _objects(core)
    script = "; ".join([
        "cat /s/user; echo",
        "stat -c %a /s/..data 2>/dev/null || stat -c %a /s/user",
        "ls /only",
        "cat /only/renamed; echo",
        "stat -c %a /only/renamed",
        "ls /missing | wc -l",
        "cat /info/name; echo",
        "cat /info/labels; echo",
        "cat /proj/cm/mode; echo",
        "cat /proj/pw; echo",
        "cat /proj/ns; echo",
        "echo shared > /scratch/file && cat /scratch/file",
        "echo mem > /mem/file && cat /mem/file && df /mem | tail -1 | grep -c -E '^(tmpfs|shm)'",
        "touch /s/new 2>/dev/null || echo secret-ro",
        "touch /ro/x 2>/dev/null || echo mount-ro",
        "cat /sub/inside 2>/dev/null || echo sub-empty",
    ])
    spec = pod("volumes", script, volumes=[
        {"name": "secret", "secret": {"secretName": "creds"}},
        {"name": "only", "secret": {"secretName": "creds", "defaultMode": 0o400,
                                    "items": [{"key": "password", "path": "renamed"}]}},
        {"name": "missing", "configMap": {"name": "nope", "optional": True}},
        {"name": "info", "downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                                                   {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
        {"name": "proj", "projected": {"sources": [
            {"configMap": {"name": "settings", "items": [{"key": "mode", "path": "cm/mode"}]}},
            {"secret": {"name": "creds", "items": [{"key": "password", "path": "pw"}]}},
            {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
        ]}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "mem", "emptyDir": {"medium": "Memory"}},
    ], container={"volumeMounts": [
        {"name": "secret", "mountPath": "/s"}, {"name": "only", "mountPath": "/only"},
        {"name": "missing", "mountPath": "/missing"}, {"name": "info", "mountPath": "/info"},
        {"name": "proj", "mountPath": "/proj"}, {"name": "scratch", "mountPath": "/scratch"},
        {"name": "mem", "mountPath": "/mem"}, {"name": "scratch", "mountPath": "/ro", "readOnly": True},
        {"name": "scratch", "mountPath": "/sub", "subPath": "nested/dir"},
    ]})
    spec["metadata"]["labels"] = {"app": "demo"}
    core.create_namespaced_pod("default", spec)
    p = wait_phase(core, "volumes", ("Succeeded", "Failed"))
    out = logs(core, "volumes").split("\n")
    assert p.status.phase == "Succeeded", out
    assert out[0] == "admin"
    assert out[1] == "644"
    assert out[2:5] == ["renamed", "s3cret", "400"]
    assert out[5] == "0"
    assert out[6:8] == ["volumes", 'app="demo"']
    assert out[8:11] == ["fast", "s3cret", "default"]
    assert out[11:14] == ["shared", "mem", "1"]
    assert out[14:17] == ["secret-ro", "mount-ro", "sub-empty"]


def test_a_missing_secret_volume_keeps_the_pod_pending_with_failed_mount(core: kubernetes.client.CoreV1Api) -> None:
    spec = pod("mountless", "cat /s/user", volumes=[{"name": "s", "secret": {"secretName": "later"}}],
               container={"volumeMounts": [{"name": "s", "mountPath": "/s"}]})
    core.create_namespaced_pod("default", spec)
    from tests.support.polling import wait_for

    def failed_mount() -> str:
        events = core.list_namespaced_event("default").items
        return next((e.message for e in events if e.reason == "FailedMount" and e.involved_object.name == "mountless"), "")

    assert 'secret "later" not found' in wait_for(failed_mount, 10, "FailedMount")
    assert core.read_namespaced_pod("mountless", "default").status.phase == "Pending"
    core.create_namespaced_secret("default", {"metadata": {"name": "later"}, "stringData": {"user": "u1"}})
    wait_phase(core, "mountless", ("Succeeded",))
    assert logs(core, "mountless") == "u1"


def test_environment_values_references_and_sources(core: kubernetes.client.CoreV1Api) -> None:
    _objects(core)
    env = [
        {"name": "PLAIN", "value": "plain"},
        {"name": "REF", "value": "$(PLAIN)-x-$(UNDEFINED)-$$(PLAIN)"},
        {"name": "USER", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
        {"name": "NOPE", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k", "optional": True}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
    ]
    env_from = [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}, {"secretRef": {"name": "creds"}},
                {"secretRef": {"name": "absent", "optional": True}}]
    script = ('echo "$PLAIN|$REF|$USER|$MODE|${NOPE-unset}|$POD|$NS|$NODE|$MEM|$CFG_mode|$CFG_level|$password|'
              '$KUBERNETES_SERVICE_HOST|$HOSTNAME"')
    spec = pod("env", script, container={"env": env, "envFrom": env_from,
                                         "resources": {"limits": {"memory": "256Mi"}}})
    core.create_namespaced_pod("default", spec)
    wait_phase(core, "env", ("Succeeded",))
    assert logs(core, "env").strip().split("|") == [
        "plain", "plain-x-$(UNDEFINED)-$(PLAIN)", "admin", "fast", "unset", "env", "default", "dev-node", "256",
        "fast", "3", "s3cret", "127.0.0.1", "env"]


def test_a_sub_path_never_leaves_its_volume(core: kubernetes.client.CoreV1Api) -> None:
    """A container can plant symlinks in a shared volume (CVE-2017-1002101): a subPath resolving outside
    the volume, absolute or with `..` is refused as the kubelet refuses it (CreateContainerConfigError);
    a symlink inside the volume is followed; the bound descriptor is not inherited by the container."""
    from tests.support.polling import wait_for

    plant = "mkdir -p /data/inner && echo in > /data/inner/f && ln -s / /data/root && ln -s inner /data/inlink"
    sub = [("root", "root"), ("dots", "../neighbour"), ("absolute", "/etc")]
    containers = [{"name": name, "image": "x", "command": ["sh", "-c", "ls /m"],
                   "volumeMounts": [{"name": "data", "mountPath": "/m", "subPath": path}]} for name, path in sub]
    containers.append({"name": "ok", "image": "x", "command": ["sh", "-c", "cat /m/f; for fd in /proc/1/fd/*; do"
                                                                           " echo fd $(readlink $fd); done"],
                       "volumeMounts": [{"name": "data", "mountPath": "/m", "subPath": "inlink"}]})
    spec = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "subpaths"},
            "spec": {"restartPolicy": "Never", "securityContext": {"runAsUser": 0},
                     "volumes": [{"name": "data", "emptyDir": {}}, {"name": "neighbour", "emptyDir": {}}],
                     "initContainers": [{"name": "plant", "image": "x", "command": ["sh", "-c", plant],
                                         "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                     "containers": containers}}
    core.create_namespaced_pod("default", spec)

    def waiting() -> dict[str, str]:
        statuses = core.read_namespaced_pod("subpaths", "default").status.container_statuses or []
        found = {s.name: s.state.waiting.message for s in statuses
                 if s.state.waiting and s.state.waiting.reason == "CreateContainerConfigError"}
        return found if len(found) == 3 else {}

    messages = wait_for(waiting, 30, "three subPath refusals")
    assert messages["root"] == 'failed to prepare subPath for volumeMount "data" of container "root"'
    assert messages["dots"] == "unable to provision SubPath `../neighbour`: must not contain '..'"
    assert messages["absolute"] == "error SubPath `/etc` must not be an absolute path"
    out = wait_for(lambda: "fd" in (text := _log_or_empty(core, "subpaths", "ok")) and text, 30, "the ok container")
    assert out.splitlines()[0] == "in"
    targets = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("fd ")]
    assert all(t == "/dev/null" or t.startswith("pipe:[") for t in targets), out


def _log_or_empty(core: kubernetes.client.CoreV1Api, name: str, container: str) -> str:
    try:
        return str(core.read_namespaced_pod_log(name, "default", container=container))
    except kubernetes.client.ApiException:
        return ""
