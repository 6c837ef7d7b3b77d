"""What a LIST costs the development API server, against the size of the store and against the size of the
answer, side by side.

    .venv/bin/python benchmarks/dev_cluster_list.py                       # stores of 1000, 5000, 20000
    .venv/bin/python benchmarks/dev_cluster_list.py --sizes 1000,10000 --repeat 30

Starts a DevCluster (plain HTTP, so that TLS does not blur the server's own cost) and fills it, through the
Api in-process (the same create path as a request, minus HTTP), with ConfigMaps spread over 100 namespaces,
each labelled `app=a<i % 100>` and `bench=yes`. Then it times, per store size:

- lists whose answer stays 10 objects (namespace `fixed`, labelled `app=pinned`) however large the store:
  by namespace, by label across namespaces, by both, by a selector whose label equality matches the whole
  store (`bench=yes`) so the namespace must narrow it, and a GET: as the server's work (`Api.list` +
  serialisation, in-process) and over HTTP (urllib, one connection per request); CPU time, median and best;
- lists whose answers are 10, 100, 1000 … objects (`limit=`) from the largest store: the cost per object
  returned should stay flat.
- writes while four threads list the whole store (lock contention): creates per second with and without them.

The target (issue 21) is cost proportional to what a LIST returns: the first table's rows should not grow
with the store. Nothing is asserted; numbers are printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfcontroller.dev.cluster import DevCluster  # noqa: E402
from tfcontroller.dev.cluster.resources import ResourceInfo  # noqa: E402

SPACES = 100
FIXED = 10  # objects in the answer whose size does not grow with the store


def timed(fn: Callable[[], object], repeat: int, clock: Callable[[], float] = time.thread_time) -> str:
    """"median / best" CPU milliseconds of `repeat` calls. CPU time, not wall time: on the shared 2-core
    machine (load average ~25 while these numbers were taken) a call that takes 40 ms of CPU can take
    500 ms of wall time, and more so the longer it runs. The server's own work runs in this thread
    (`thread_time`); an HTTP request's in the server's thread, so those use the process' CPU time
    (client and server together, `process_time`)."""
    samples = []
    for _ in range(repeat):
        start = clock()
        fn()
        samples.append((clock() - start) * 1000)
    return f"{statistics.median(samples):.2f} / {min(samples):.2f}"


def configmaps(cluster: DevCluster) -> ResourceInfo:
    info = cluster.registry.lookup("", "v1", "configmaps")
    assert info is not None
    return info


def fill(cluster: DevCluster, start: int, stop: int) -> None:
    """ConfigMaps start..stop-1, over SPACES namespaces (created on first use); the first call also makes
    the FIXED objects of namespace `fixed`, labelled `app=pinned`: the answer that stays the same size."""
    info = configmaps(cluster)
    namespaces = cluster.registry.lookup("", "v1", "namespaces")
    assert namespaces is not None
    if start == 0:
        cluster.api.create(namespaces, None, {"metadata": {"name": "fixed"}})
        for i in range(FIXED):
            cluster.api.create(info, "fixed", {"metadata": {"name": f"pin{i}", "labels": {"app": "pinned", "bench": "yes"}},
                                               "data": {"k": "v" * 200}})
    for i in range(start, stop):
        ns = f"ns{i % SPACES}"
        if i < SPACES:
            cluster.api.create(namespaces, None, {"metadata": {"name": ns}})
        body = {"metadata": {"name": f"cm{i:06d}", "labels": {"app": f"a{i % SPACES}", "bench": "yes"}},
                "data": {"k": "v" * 200}}
        cluster.api.create(info, ns, body)


def server_list(cluster: DevCluster, namespace: str | None, label: str | None, limit: int = 0) -> int:
    """The server's work for one LIST (select, page, serialise): bytes of the answer."""
    info = configmaps(cluster)
    doc = cluster.api.list(info, namespace, label, None, limit)
    encode = getattr(cluster.api, "encode_list", None)  # absent before issue 21: to measure the old store too
    return len(encode(info, doc) if encode else json.dumps(doc, separators=(",", ":")).encode())


def http_get(cluster: DevCluster, path: str) -> int:
    req = urllib.request.Request(cluster.url + path, headers={"Authorization": f"Bearer {cluster.token}"})
    with urllib.request.urlopen(req) as resp:  # noqa: S310 - our own server on 127.0.0.1
        return len(resp.read())


def by_store_size(cluster: DevCluster, size: int, repeat: int) -> list[str]:
    cases: list[tuple[str, Callable[[], object], str]] = [
        ("namespace `fixed`", lambda: server_list(cluster, "fixed", None), "/api/v1/namespaces/fixed/configmaps"),
        ("label app=pinned, all namespaces", lambda: server_list(cluster, None, "app=pinned"),
         "/api/v1/configmaps?labelSelector=app%3Dpinned"),
        ("label + namespace", lambda: server_list(cluster, "fixed", "app=pinned"),
         "/api/v1/namespaces/fixed/configmaps?labelSelector=app%3Dpinned"),
        ("app!=a7,bench=yes in `fixed`", lambda: server_list(cluster, "fixed", "app!=a7,bench=yes"),
         "/api/v1/namespaces/fixed/configmaps?labelSelector=app!%3Da7,bench%3Dyes"),
    ]
    rows = []
    for label, fn, path in cases:
        rows.append(f"| {size} | {label} | {FIXED} | {timed(fn, repeat)} | "
                    f"{timed(lambda p=path: http_get(cluster, p), repeat, time.process_time)} |")
    get_path = "/api/v1/namespaces/ns7/configmaps/cm000007"
    info = configmaps(cluster)
    rows.append(f"| {size} | get one | 1 | {timed(lambda: cluster.api.get(info, 'ns7', 'cm000007'), repeat)} | "
                f"{timed(lambda: http_get(cluster, get_path), repeat, time.process_time)} |")
    return rows


def by_result_size(cluster: DevCluster, size: int, repeat: int) -> list[str]:
    rows = []
    limit = 10
    while limit <= size:
        n = max(3, repeat // (1 + limit // 1000))
        server_list(cluster, None, None, limit)  # the first answer of new objects fills the serialise-once cache
        rows.append(f"| {size} | {limit} | {timed(lambda k=limit: server_list(cluster, None, None, k), n)} | "
                    f"{timed(lambda k=limit: http_get(cluster, f'/api/v1/configmaps?limit={k}'), n, time.process_time)} |")
        limit *= 10
    return rows


def writes_under_lists(cluster: DevCluster, start: int, count: int) -> tuple[float, float]:
    """Creates per second (wall time) alone, and while four threads list the whole store over and over."""
    began = time.perf_counter()
    fill(cluster, start, start + count)
    alone = count / (time.perf_counter() - began)
    stop = threading.Event()

    def lister() -> None:
        while not stop.is_set():
            server_list(cluster, None, None)

    threads = [threading.Thread(target=lister, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    fill(cluster, start + count, start + 2 * count)
    contended = count / (time.perf_counter() - began)
    stop.set()
    for t in threads:
        t.join()
    return alone, contended


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,5000,20000", help="store sizes, comma-separated, ascending")
    parser.add_argument("--repeat", type=int, default=20, help="requests per measurement (median)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with DevCluster(tls=False, gc_interval=3600) as cluster:
        print(f"## LIST cost vs store size (the answer: {FIXED} objects whatever the store's size)\n")
        print("| store | list | items | server CPU ms (median / best) | HTTP CPU ms, client + server (median / best) |")
        print("|---|---|---|---|---|")
        filled = 0
        for size in sizes:
            fill(cluster, filled, size)
            filled = size
            for row in by_store_size(cluster, size, args.repeat):
                print(row, flush=True)
        print("\n## LIST cost vs answer size (largest store)\n")
        print("| store | items (limit=) | server CPU ms (median / best) | HTTP CPU ms, client + server (median / best) |")
        print("|---|---|---|---|")
        for row in by_result_size(cluster, filled, args.repeat):
            print(row, flush=True)
        alone, contended = writes_under_lists(cluster, filled, 500)
        print(f"\ncreates/s alone: {alone:.0f}; while 4 threads list all {filled} objects: {contended:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
