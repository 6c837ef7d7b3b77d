"""What authentication and RBAC cost per request on the development API server.

    .venv/bin/python benchmarks/rbac_requests.py                 # 1000 ConfigMaps, 300 RoleBindings
    .venv/bin/python benchmarks/rbac_requests.py --objects 2000 --bindings 1000 --requests 300

Starts a DevCluster (TLS, as by default), fills one namespace with --objects ConfigMaps and spreads
--bindings RoleBindings (each to its own ServiceAccount) over 50 namespaces, binds a reader Role to the
ServiceAccount `bench/reader`, and then times, for the admin token and for the ServiceAccount's token:
`get` of one ConfigMap, `list` of all of them, and a watch that receives every object (ADDED events from
resourceVersion 0). It also times the first request after an RBAC change (the grant index is rebuilt).
Prints milliseconds per request; no targets are asserted — compare admin and ServiceAccount rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import kubernetes  # noqa: E402

from tfcontroller.dev.cluster import DevCluster  # noqa: E402
from tfcontroller.dev.cluster.kubeconfig import write_kubeconfig  # noqa: E402

NS = "bench"
RBAC = "rbac.authorization.k8s.io"


def timed(fn: object, n: int) -> float:
    """Median milliseconds of `n` calls."""
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def setup(cluster: DevCluster, objects: int, bindings: int) -> str:
    admin = kubernetes.config.new_client_from_config(config_file=cluster.kubeconfig)
    core, rbac = kubernetes.client.CoreV1Api(admin), kubernetes.client.RbacAuthorizationV1Api(admin)
    for i in range(50):
        core.create_namespace({"metadata": {"name": f"ns{i}"}})
    core.create_namespace({"metadata": {"name": NS}})
    for i in range(objects):
        core.create_namespaced_config_map(NS, {"metadata": {"name": f"cm{i}"}, "data": {"k": "v" * 64}})
    for i in range(bindings):
        ns = f"ns{i % 50}"
        rbac.create_namespaced_role_binding(ns, {
            "metadata": {"name": f"b{i}"}, "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": f"sa{i}", "namespace": ns}]})
    core.create_namespaced_service_account(NS, {"metadata": {"name": "reader"}})
    rbac.create_namespaced_role(NS, {"metadata": {"name": "reader"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]})
    rbac.create_namespaced_role_binding(NS, {
        "metadata": {"name": "reader"}, "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": NS}]})
    token: str = core.create_namespaced_service_account_token("reader", NS, {"spec": {}}).status.token
    admin.close()
    return token


def measure(client: kubernetes.client.ApiClient, objects: int, requests: int) -> dict[str, float]:
    core = kubernetes.client.CoreV1Api(client)

    def watch_all() -> None:
        events = kubernetes.watch.Watch().stream(core.list_namespaced_config_map, NS, resource_version="0",
                                                 timeout_seconds=30)
        for seen, _ in enumerate(events, start=1):
            if seen == objects:
                return

    return {
        "get": timed(lambda: core.read_namespaced_config_map("cm0", NS), requests),
        "list": timed(lambda: core.list_namespaced_config_map(NS), max(3, requests // 20)),
        "watch": timed(watch_all, max(3, requests // 20)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--bindings", type=int, default=300)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with DevCluster() as cluster:
        start = time.perf_counter()
        token = setup(cluster, args.objects, args.bindings)
        print(f"{args.objects} ConfigMaps, {args.bindings} RoleBindings in {time.perf_counter() - start:.1f}s")
        sa_kubeconfig = Path(cluster.kubeconfig).with_name("reader.kubeconfig")
        write_kubeconfig(sa_kubeconfig, cluster.url, token, cluster.ca_pem)
        rows = {}
        for who, path in (("admin", cluster.kubeconfig), ("serviceaccount", str(sa_kubeconfig))):
            with kubernetes.config.new_client_from_config(config_file=path) as client:
                rows[who] = measure(client, args.objects, args.requests)
        print(f"{'caller':<16}{'get ms':>10}{'list ms':>10}{'watch ms':>10}")
        for who, row in rows.items():
            print(f"{who:<16}{row['get']:>10.2f}{row['list']:>10.1f}{row['watch']:>10.1f}")
        with kubernetes.config.new_client_from_config(config_file=str(sa_kubeconfig)) as client:
            core = kubernetes.client.CoreV1Api(client)
            store = cluster.store
            samples = []
            for i in range(10):  # an RBAC change, then the first request rebuilds the index
                store.put(RBAC, "clusterroles", {"metadata": {"name": f"touch{i}", "uid": f"u{i}"}, "rules": []})
                t = time.perf_counter()
                core.read_namespaced_config_map("cm0", NS)
                samples.append((time.perf_counter() - t) * 1000)
            print(f"first get after an RBAC change (index rebuild): {statistics.median(samples):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
