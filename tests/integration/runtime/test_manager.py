"""Manager end to end on the dev cluster with a toy ConfigMap controller: reconciles run, a secondary
watch enqueues dependants through an index, requeue-after and retry-with-backoff happen, /healthz,
/readyz and /metrics answer; graceful shutdown (stop() and SIGTERM) lets an in-flight reconcile finish
and takes no new work."""

from __future__ import annotations

import os
import signal
import threading

import requests

from tests.support.polling import poll
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import NotFound
from tfcontroller.kube.resources import CONFIGMAPS, split_key
from tfcontroller.runtime.manager import Controller, Manager, ManagerOptions, Watch
from tfcontroller.runtime.result import Result


def cm(name: str, data: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "labels": labels or {}}, "data": data or {}}


def out_of(kube: KubeClient, name: str) -> str | None:
    obj = kube.get_or_none(CONFIGMAPS, name, "default")
    return None if obj is None else (obj.get("data") or {}).get("out")


def toy_manager(kube: KubeClient, **opts: object) -> tuple[Manager, list[str]]:
    """Toy ConfigMaps (role=toy) copy `value` of the source ConfigMap (role=source) named in
    `data.source` into `data.out`. A change to a source enqueues its dependants via the index."""
    options = ManagerOptions(namespace="default", watch_label_selector="role=toy", concurrent=2,
                             metrics_addr="127.0.0.1:0", health_addr="127.0.0.1:0", **opts)  # type: ignore[arg-type]
    mgr = Manager(kube, options)
    reconciled: list[str] = []

    def reconcile(key: str) -> Result:
        reconciled.append(key)
        ns, name = split_key(key)
        try:
            obj = kube.get(CONFIGMAPS, name, ns)
        except NotFound:
            return Result()
        source = (obj.get("data") or {}).get("source", "")
        src = mgr.informer(CONFIGMAPS, label_selector="role=source").get(source, ns)
        if src is None:
            return Result(requeue_after=0.2)
        value = (src.get("data") or {}).get("value", "")
        if value == "fail":
            raise RuntimeError("source says fail")
        if (obj.get("data") or {}).get("out") != value:
            kube.patch(CONFIGMAPS, name, {"data": {"out": value}}, ns)
        return Result()

    mgr.add_controller(Controller(
        name="toy",
        resource=CONFIGMAPS,
        reconcile=reconcile,
        indexes={"source": lambda o: [f"{o['metadata']['namespace']}/{(o.get('data') or {}).get('source', '')}"]},
        watches=[Watch(CONFIGMAPS, index="source", label_selector="role=source")],
        retry_base=0.05,
    ))
    return mgr, reconciled


def test_toy_controller_end_to_end_with_endpoints(kube: KubeClient) -> None:
    kube.create(CONFIGMAPS, cm("src", {"value": "one"}, {"role": "source"}))
    kube.create(CONFIGMAPS, cm("a", {"source": "src"}, {"role": "toy"}))
    kube.create(CONFIGMAPS, cm("ignored", {"source": "src"}, {"role": "other"}))
    mgr, reconciled = toy_manager(kube)
    mgr.start()
    try:
        assert mgr.wait_synced(10)
        assert poll(lambda: out_of(kube, "a") == "one")
        kube.create(CONFIGMAPS, cm("b", {"source": "src"}, {"role": "toy"}))
        assert poll(lambda: out_of(kube, "b") == "one")
        # a change to the source enqueues both dependants through the index
        kube.patch(CONFIGMAPS, "src", {"data": {"value": "two"}}, "default")
        assert poll(lambda: out_of(kube, "a") == "two" and out_of(kube, "b") == "two")
        assert "default/ignored" not in reconciled  # outside the watch label selector
        assert out_of(kube, "ignored") is None

        health = requests.get(mgr.endpoint("/healthz") + "/healthz", timeout=5)
        ready = requests.get(mgr.endpoint("/readyz") + "/readyz", timeout=5)
        assert (health.status_code, ready.status_code) == (200, 200)
        metrics = requests.get(mgr.endpoint("/metrics") + "/metrics", timeout=5).text
        assert 'tfcontroller_reconcile_total{controller="toy",result="success"}' in metrics
        assert "tfcontroller_reconcile_duration_seconds_bucket" in metrics
        assert 'tfcontroller_workqueue_depth{controller="toy"}' in metrics
        assert 'tfcontroller_reconcile_in_flight{controller="toy"}' in metrics

        # a failing reconcile is retried with backoff and counted as an error
        kube.patch(CONFIGMAPS, "src", {"data": {"value": "fail"}}, "default")
        assert poll(lambda: mgr.queue("toy").num_requeues("default/a") >= 2)
        metrics = requests.get(mgr.endpoint("/metrics") + "/metrics", timeout=5).text
        assert 'tfcontroller_reconcile_errors_total{controller="toy"}' in metrics
        kube.patch(CONFIGMAPS, "src", {"data": {"value": "three"}}, "default")
        assert poll(lambda: out_of(kube, "a") == "three")
        assert poll(lambda: mgr.queue("toy").num_requeues("default/a") == 0)
    finally:
        assert mgr.stop(grace=5)
    try:  # endpoints are closed after stop
        requests.get(mgr.endpoint("/healthz") + "/healthz", timeout=1)
        raise AssertionError("health endpoint still answers after stop")
    except requests.ConnectionError:
        pass


def test_two_managers_have_separate_metrics(kube: KubeClient) -> None:
    m1, _ = toy_manager(kube)
    m2, _ = toy_manager(kube)
    assert m1.metrics.registry is not m2.metrics.registry


def blocking_manager(kube: KubeClient) -> tuple[Manager, threading.Event, threading.Event, list[str]]:
    """A controller whose reconcile of `slow` blocks until released, then writes data.done."""
    mgr = Manager(kube, ManagerOptions(namespace="default", concurrent=1, shutdown_grace=10))
    entered, release = threading.Event(), threading.Event()
    started: list[str] = []

    def reconcile(key: str) -> Result:
        started.append(key)
        ns, name = split_key(key)
        if name == "slow":
            entered.set()
            release.wait(20)
            kube.patch(CONFIGMAPS, name, {"data": {"done": "yes"}}, ns)
        return Result()

    mgr.add_controller(Controller(name="blocking", resource=CONFIGMAPS, reconcile=reconcile))
    return mgr, entered, release, started


def test_stop_lets_in_flight_reconcile_finish_and_takes_no_new_work(kube: KubeClient) -> None:
    mgr, entered, release, started = blocking_manager(kube)
    kube.create(CONFIGMAPS, cm("slow"))
    mgr.start()
    assert entered.wait(10)
    result: list[bool] = []
    stopper = threading.Thread(target=lambda: result.append(mgr.stop()))
    stopper.start()
    assert poll(mgr.stopping.is_set)
    kube.create(CONFIGMAPS, cm("late"))  # arrives during shutdown
    assert poll(lambda: mgr.informer(CONFIGMAPS).get("late", "default") is not None), "the informer never saw it"
    release.set()
    stopper.join(15)
    assert result == [True]
    assert kube.get(CONFIGMAPS, "slow", "default")["data"]["done"] == "yes"
    assert "default/late" not in started


def test_sigterm_shuts_down_gracefully(kube: KubeClient) -> None:
    mgr, entered, release, _ = blocking_manager(kube)
    kube.create(CONFIGMAPS, cm("slow"))

    def driver() -> None:
        if entered.wait(10):
            os.kill(os.getpid(), signal.SIGTERM)
            poll(mgr.stopping.is_set)
        release.set()

    before = signal.getsignal(signal.SIGTERM)
    t = threading.Thread(target=driver)
    t.start()
    code = mgr.run()  # blocks in the main thread until SIGTERM
    t.join(5)
    assert code == 0
    assert mgr.stopped.is_set()
    assert kube.get(CONFIGMAPS, "slow", "default")["data"]["done"] == "yes"
    assert signal.getsignal(signal.SIGTERM) is before  # the previous handler is restored
