"""The real `kubectl create <subcommand>` (v1.32; its typed clients POST protobuf) against the dev cluster.

The oracle for every subcommand: what the server makes of kubectl's protobuf body equals what it makes of
the same object sent as JSON. kubectl prints that JSON with `--dry-run=client -o json`; `kubectl create -f`
of it sends JSON; both go through `--dry-run=server -o json`, which answers the object as it would be
stored. Then behaviour: a protobuf Role and RoleBinding grant what they say; `create job --from=cronjob`
copies a rich job template field for field; a field the decoder does not map, and a kind the dev cluster
does not serve, are refused in words kubectl shows.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.polling import wait_for
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.cluster.node import NodeConfig
from tfcontroller.dev.cluster.protobuf import supported_kinds
from tfcontroller.dev.cluster.resources import BUILTIN_RESOURCES

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
NS = "proto"
NS_JSON = "proto-json"  # where the JSON twin of each object is created

# One row per kind of `kubectl create` subcommand and the options a platform engineer uses with it.
CASES: list[list[str]] = [
    ["role", "r1", "--verb=get,list,watch", "--resource=secrets,pods/log,deployments.apps,jobs.batch",
     "--resource-name=a", "--resource-name=b"],
    ["role", "r2", "--verb=*", "--resource=configmaps"],
    ["clusterrole", "agg", "--aggregation-rule=rbac.example.com/aggregate-to-x=true,tier=a"],
    ["clusterrole", "nonres", "--verb=get", "--non-resource-url=/logs/*", "--non-resource-url=/healthz"],
    ["clusterrole", "nodes", "--verb=get,list", "--resource=nodes,namespaces", "--resource-name=n1"],
    ["rolebinding", "rb", "--role=r1", "--user=alice", "--group=devs", "--serviceaccount=proto:runner",
     "--serviceaccount=default:default"],
    ["rolebinding", "rbc", "--clusterrole=view", "--group=system:serviceaccounts:proto"],
    ["clusterrolebinding", "crb", "--clusterrole=nodes", "--user=bob", "--group=ops", "--serviceaccount=proto:runner"],
    ["job", "j1", "--image=busybox", "--", "sh", "-c", "echo hi && exit 0"],
    ["job", "j2", "--image=registry.example.com/tools:1.2"],
    ["cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *", "--restart=OnFailure", "--", "date"],
    ["deployment", "d1", "--image=nginx", "--replicas=0", "--port=8080"],
    ["deployment", "d2", "--image=nginx", "--image=busybox"],
    ["deployment", "d3", "--image=busybox", "--replicas=3", "--", "sleep", "3600"],
    ["quota", "q", "--hard=pods=2,requests.cpu=500m,requests.memory=1Gi,count/jobs.batch=3",
     "--scopes=NotBestEffort"],
    ["service", "clusterip", "s1", "--tcp=80:8080", "--tcp=443:8443"],
    ["service", "clusterip", "headless", "--clusterip=None"],
    ["service", "nodeport", "s2", "--tcp=80:http", "--node-port=30080"],
    ["service", "loadbalancer", "s3", "--tcp=5678:8080"],
    ["service", "externalname", "s4", "--external-name=db.example.com", "--tcp=5432"],
    ["ingress", "ing", "--rule=foo.com/bar*=svc1:8080,tls=sec", "--rule=/path=svc2:http", "--class=nginx",
     "--default-backend=svc:80", "--annotation=a=b"],
    ["poddisruptionbudget", "pdb1", "--selector=app=x", "--min-available=1"],
    ["poddisruptionbudget", "pdb2", "--selector=app=y,tier in (a,b)", "--max-unavailable=50%"],
    ["configmap", "cm", "--from-literal=a=b", "--from-literal=c="],
    ["secret", "generic", "sec", "--from-literal=p=q", "--type=example.com/thing"],
    ["secret", "docker-registry", "pull", "--docker-server=r.example.com", "--docker-username=u",
     "--docker-password=p"],
    ["serviceaccount", "runner"],
    ["namespace", "other"],
]


# Every subcommand of `kubectl create` and the kind it POSTs as protobuf.
SUBCOMMAND_KINDS = {
    "clusterrole": ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    "clusterrolebinding": ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    "configmap": ("v1", "ConfigMap"),
    "cronjob": ("batch/v1", "CronJob"),
    "deployment": ("apps/v1", "Deployment"),
    "ingress": ("networking.k8s.io/v1", "Ingress"),
    "job": ("batch/v1", "Job"),
    "namespace": ("v1", "Namespace"),
    "poddisruptionbudget": ("policy/v1", "PodDisruptionBudget"),
    "priorityclass": ("scheduling.k8s.io/v1", "PriorityClass"),
    "quota": ("v1", "ResourceQuota"),
    "role": ("rbac.authorization.k8s.io/v1", "Role"),
    "rolebinding": ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    "secret": ("v1", "Secret"),
    "service": ("v1", "Service"),
    "serviceaccount": ("v1", "ServiceAccount"),
    "token": ("authentication.k8s.io/v1", "TokenRequest"),
}


def test_every_kubectl_create_subcommand_of_a_served_kind_is_decoded() -> None:
    """The kind of fault, guarded: kubectl's own list of subcommands (a newer kubectl adding one fails
    here), and each one's kind either decoded or not served at all (then 404, see below)."""
    help_text = subprocess.run(["kubectl", "create", "--help"], capture_output=True, text=True, check=True).stdout
    listed = help_text.split("Available Commands:")[1].split("\n\n")[0]
    assert sorted(line.split()[0] for line in listed.strip().splitlines()) == sorted(SUBCOMMAND_KINDS)
    served = {(info.api_version, info.kind) for info in BUILTIN_RESOURCES}
    served.add(("authentication.k8s.io/v1", "TokenRequest"))  # the serviceaccounts/token subresource
    decoded = set(supported_kinds())
    assert {sub for sub, kind in SUBCOMMAND_KINDS.items() if kind in served and kind not in decoded} == set()
    assert {sub for sub, kind in SUBCOMMAND_KINDS.items() if kind not in served} == {"priorityclass"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[DevCluster]:
    with DevCluster(tls=True) as dev:  # kubectl sends its bearer token only over TLS
        yield dev


@pytest.fixture(scope="module")
def kubectl(cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    home = tmp_path_factory.mktemp("kubectl-home")
    env = {**os.environ, "KUBECACHEDIR": str(home / "cache"), "HOME": str(home)}
    env.pop("KUBECONFIG", None)

    def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, *args], input=stdin,
                              capture_output=True, text=True, env=env, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    run("create", "namespace", NS)
    run("create", "namespace", NS_JSON)
    return run


def _create(args: list[str]) -> list[str]:
    """`create <args>` with the namespace and the arguments after `--` kept last."""
    if "--" in args:
        cut = args.index("--")
        return ["create", *args[:cut], "-n", NS, *args[cut:]]
    return ["create", *args, "-n", NS]


CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "Namespace"}


def _as_stored(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without what differs between two creates of it (identity, place and times)."""
    meta = dict(obj["metadata"])
    for key in ("uid", "creationTimestamp", "resourceVersion", "name", "namespace"):
        meta.pop(key, None)
    if obj["kind"] == "Namespace":  # the server labels a namespace with its name
        meta["labels"] = {k: v for k, v in meta["labels"].items() if k != "kubernetes.io/metadata.name"}
    meta["managedFields"] = [{k: v for k, v in entry.items() if k != "time"} for entry in meta.get("managedFields", [])]
    stored = {**obj, "metadata": meta}
    if obj["kind"] == "Job":  # its status is the node running it, not what was created
        stored.pop("status", None)
    # a Job's defaulted selector and template labels carry its own uid (`controller-uid`), as the real
    # API server writes them: the same object, identified by a different uid
    uid = str(obj["metadata"].get("uid") or "")
    return json.loads(json.dumps(stored).replace(uid, "<uid>")) if uid else stored


def _get(kubectl: Kubectl, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    group = obj["apiVersion"].rpartition("/")[0]
    resource = f"{obj['kind'].lower()}.{group}" if group else obj["kind"].lower()
    stored: dict[str, Any] = json.loads(kubectl("get", resource, obj["metadata"]["name"], "-n", namespace, "-o", "json").stdout)
    return stored


def _with_options(args: list[str], *options: str) -> list[str]:
    command = _create(args)
    if "--" in command:
        cut = command.index("--")
        return [*command[:cut], *options, *command[cut:]]
    return [*command, *options]


def _protobuf_and_json_twin(kubectl: Kubectl, args: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create with kubectl's protobuf, create the JSON form of the same object (`--dry-run=client -o json`)
    with `kubectl create -f` elsewhere, and read both back with `get -o json`.

    `--dry-run=server -o json` would not do as the oracle: kubectl's typed client re-encodes the server's
    answer through its Go types (adding `status: {}`), so it shows what kubectl decoded, not what is stored.
    """
    client = json.loads(kubectl(*_with_options(args, "--dry-run=client", "-o", "json")).stdout)
    kubectl(*_create(args))  # protobuf
    via_protobuf = _get(kubectl, client, NS)
    if client["kind"] in CLUSTER_SCOPED:
        client["metadata"]["name"] += "-json"
    else:
        client["metadata"]["namespace"] = NS_JSON
    kubectl("create", "-n", NS_JSON, "-f", "-", stdin=json.dumps(client))  # JSON
    return via_protobuf, _get(kubectl, client, NS_JSON)


@pytest.mark.parametrize("args", CASES, ids=lambda a: "-".join(a[:3]) if a[0] in ("service", "secret") else "-".join(a[:2]))
def test_protobuf_create_stores_what_the_json_form_stores(kubectl: Kubectl, args: list[str]) -> None:
    via_protobuf, via_json = _protobuf_and_json_twin(kubectl, args)
    assert _as_stored(via_protobuf) == _as_stored(via_json)


def test_binary_files_in_configmaps_and_secrets(kubectl: Kubectl, tmp_path: Path) -> None:
    """Bytes that are not UTF-8 travel as binaryData (ConfigMap) and data (Secret), base64 in JSON."""
    blob = tmp_path / "blob"
    blob.write_bytes(bytes(range(256)))
    (tmp_path / "text").write_text("plain\n")
    for args in (["configmap", "files", f"--from-file=blob={blob}", f"--from-file={tmp_path / 'text'}"],
                 ["secret", "generic", "files", f"--from-file=blob={blob}"]):
        via_protobuf, via_json = _protobuf_and_json_twin(kubectl, args)
        assert _as_stored(via_protobuf) == _as_stored(via_json)
    configmap = _get(kubectl, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "files"}}, NS)
    assert base64.b64decode(configmap["binaryData"]["blob"]) == bytes(range(256))
    assert configmap["data"] == {"text": "plain\n"}


def test_protobuf_role_and_binding_grant_what_they_say(kubectl: Kubectl) -> None:
    kubectl("create", "serviceaccount", "reader", "-n", NS)
    who = f"--as=system:serviceaccount:{NS}:reader"
    assert kubectl("auth", "can-i", "get", "secrets", "-n", NS, who, check=False).stdout.strip() == "no"
    kubectl("create", "role", "secret-reader", "-n", NS, "--verb=get,list", "--resource=secrets")
    kubectl("create", "rolebinding", "secret-reader", "-n", NS, "--role=secret-reader", f"--serviceaccount={NS}:reader")
    assert kubectl("auth", "can-i", "get", "secrets", "-n", NS, who).stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "delete", "secrets", "-n", NS, who, check=False).stdout.strip() == "no"
    assert kubectl("auth", "can-i", "get", "secrets", "-n", "default", who, check=False).stdout.strip() == "no"

    kubectl("create", "clusterrole", "ns-lister", "--verb=list", "--resource=namespaces")
    kubectl("create", "clusterrolebinding", "ns-lister", "--clusterrole=ns-lister", f"--serviceaccount={NS}:reader")
    assert kubectl("auth", "can-i", "list", "namespaces", who).stdout.strip() == "yes"


RICH_CRONJOB = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": {"name": "rich"},
    "spec": {
        "schedule": "0 3 * * *",
        "concurrencyPolicy": "Forbid",
        "jobTemplate": {
            "metadata": {"labels": {"team": "a"}},
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": 600,
                "ttlSecondsAfterFinished": 60,
                "template": {
                    "metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "serviceAccountName": "runner",
                        "automountServiceAccountToken": False,
                        "terminationGracePeriodSeconds": 5,
                        "nodeSelector": {"disk": "ssd"},
                        "imagePullSecrets": [{"name": "pull"}],
                        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "runners",
                                         "effect": "NoSchedule"},
                                        {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}],
                        "securityContext": {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True,
                                            "fsGroup": 2000, "supplementalGroups": [3000, 3001]},
                        "volumes": [
                            {"name": "work", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                            {"name": "creds", "secret": {"secretName": "sec", "defaultMode": 256, "optional": True,
                                                         "items": [{"key": "p", "path": "p.txt", "mode": 384}]}},
                            {"name": "conf", "configMap": {"name": "cm", "items": [{"key": "a", "path": "a"}]}},
                            {"name": "info", "downwardAPI": {"defaultMode": 420, "items": [
                                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                                {"path": "mem", "resourceFieldRef": {"containerName": "main",
                                                                     "resource": "limits.memory"}, "mode": 256}]}},
                            {"name": "token", "projected": {"defaultMode": 292, "sources": [
                                {"serviceAccountToken": {"audience": "vault", "expirationSeconds": 600,
                                                         "path": "token"}},
                                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                                {"secret": {"name": "sec", "optional": True}},
                                {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
                            ]}},
                        ],
                        "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
                        "containers": [{
                            "name": "main",
                            "image": "busybox:1.36",
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c"],
                            "args": ["echo $(GREETING) && sleep 1"],
                            "workingDir": "/work",
                            "env": [
                                {"name": "GREETING", "value": "hi"},
                                {"name": "EMPTY"},
                                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "p"}}},
                                {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a", "optional": True}}},
                                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                            ],
                            "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}, {"secretRef": {"name": "sec", "optional": False}}],
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            "resources": {"limits": {"memory": "128Mi", "cpu": "500m"}, "requests": {"cpu": "100m"}},
                            "volumeMounts": [{"name": "work", "mountPath": "/work"},
                                             {"name": "creds", "mountPath": "/creds", "readOnly": True, "subPath": "p.txt"}],
                            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                "runAsUser": 1001, "capabilities": {"drop": ["ALL"]}},
                            "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5},
                            "readinessProbe": {"httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP",
                                                           "httpHeaders": [{"name": "X", "value": "y"}]},
                                               "initialDelaySeconds": 1, "failureThreshold": 3},
                            "startupProbe": {"tcpSocket": {"port": 8080}, "timeoutSeconds": 2},
                            "stdin": True,
                            "tty": True,
                        }],
                    },
                },
            },
        },
    },
}


def _without_go_zeros(value: Any) -> Any:
    """What kubectl's Go types add when they re-encode an object (as a real server's would): the zero
    values of fields without omitempty or of struct type — `creationTimestamp: null`, `resources: {}`,
    `divisor: "0"`."""
    zeros = {"creationTimestamp": None, "resources": {}, "divisor": "0"}
    if isinstance(value, dict):
        return {k: _without_go_zeros(v) for k, v in value.items() if not (k in zeros and v == zeros[k])}
    if isinstance(value, list):
        return [_without_go_zeros(v) for v in value]
    return value


def _holds(stored: Any, sent: Any) -> bool:
    """Every field of `sent` is in `stored` with the same value (lists item by item); `stored` may have more."""
    if isinstance(sent, dict):
        return isinstance(stored, dict) and all(k in stored and _holds(stored[k], v) for k, v in sent.items())
    if isinstance(sent, list):
        return isinstance(stored, list) and len(stored) == len(sent) and all(map(_holds, stored, sent))
    return bool(stored == sent)


def test_create_job_from_cronjob_copies_the_job_template(kubectl: Kubectl) -> None:
    """`create job --from` sends the CronJob's whole job template: every PodSpec field mapped."""
    for namespace in (NS, NS_JSON):
        kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps({**RICH_CRONJOB, "metadata": {"name": "rich"}}))
    via_protobuf, via_json = _protobuf_and_json_twin(kubectl, ["job", "rich-now", "--from=cronjob/rich"])
    stored = {**via_protobuf, "metadata": {**via_protobuf["metadata"], "ownerReferences": []}}
    twin = {**via_json, "metadata": {**via_json["metadata"], "ownerReferences": []}}
    assert _as_stored(stored) == _as_stored(twin)

    cronjob = json.loads(kubectl("get", "cronjob", "rich", "-n", NS, "-o", "json").stdout)
    # the Job holds the template whole; the API server adds its defaults (selector, controller labels,
    # completions, parallelism, completionMode, …) beside it, as a real one does
    assert _holds(_without_go_zeros(via_protobuf["spec"]), cronjob["spec"]["jobTemplate"]["spec"])
    assert via_protobuf["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    assert via_protobuf["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "CronJob", "name": "rich", "uid": cronjob["metadata"]["uid"], "controller": True}
    ]


def test_a_field_the_decoder_does_not_map_is_refused_by_name(kubectl: Kubectl) -> None:
    """Affinity (not mapped) in a CronJob's template: the Job from it is refused, naming where, not stored
    without it."""
    probed = json.loads(json.dumps(RICH_CRONJOB))
    probed["metadata"]["name"] = "probed"
    pod_spec = probed["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    pod_spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}
    kubectl("apply", "-n", NS, "-f", "-", stdin=json.dumps(probed))
    refused = kubectl("create", "job", "probed-now", "--from=cronjob/probed", "-n", NS, check=False)
    assert refused.returncode != 0
    assert "field 18 of PodSpec (at spec.template.spec)" in refused.stderr
    assert "send the object as JSON" in refused.stderr
    assert kubectl("get", "job", "probed-now", "-n", NS, check=False).returncode != 0


def test_kinds_the_dev_cluster_does_not_serve_are_not_found(kubectl: Kubectl) -> None:
    refused = kubectl("create", "priorityclass", "high", "--value=1000", check=False)
    assert refused.returncode != 0
    assert "the server could not find the requested resource" in refused.stderr


def test_kubectl_run_sends_json_and_works(kubectl: Kubectl) -> None:
    kubectl("run", "p1", "-n", NS, "--image=busybox", "--restart=Never", "--env=A=b", "--labels=app=p1",
            "--", "sh", "-c", "true")
    pod = json.loads(kubectl("get", "pod", "p1", "-n", NS, "-o", "json").stdout)
    assert pod["spec"]["containers"][0]["args"] == ["sh", "-c", "true"]
    assert pod["spec"]["containers"][0]["env"] == [{"name": "A", "value": "b"}]



def test_a_protobuf_job_runs_on_the_dev_node(tmp_path: Path) -> None:
    """The Job kubectl sends as protobuf is one the node runs: its Pod completes and its log is read."""
    env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    env.pop("KUBECONFIG", None)
    with DevCluster(node=NodeConfig(job_backoff_base=0.1, job_backoff_cap=0.5)) as dev:

        def kubectl(*args: str) -> str:
            proc = subprocess.run(["kubectl", "--kubeconfig", dev.kubeconfig, *args], capture_output=True,
                                  text=True, env=env, timeout=60)
            assert proc.returncode == 0, proc.stderr
            return proc.stdout

        kubectl("create", "job", "hello", "--image=busybox", "--", "sh", "-c", "echo hello from $HOSTNAME")
        wait_for(lambda: kubectl("get", "job", "hello", "-o", "jsonpath={.status.succeeded}") == "1",
                 timeout=60, what="job hello to succeed")
        assert kubectl("logs", "job/hello").startswith("hello from hello-")
