"""Leader election on the dev cluster with two managers sharing a Lease (short durations): only the
leader reconciles; when the leader dies without releasing, the standby takes over after the lease
duration; a clean stop releases the Lease; a leader whose Lease is taken stops working."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from tests.support.polling import poll
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import CONFIGMAPS, LEASES
from tfcontroller.runtime.manager import Controller, Manager, ManagerOptions
from tfcontroller.runtime.result import Result

LEASE = {"lease_name": "toy-leader", "lease_namespace": "default",
         "lease_duration": 2.0, "renew_deadline": 1.5, "retry_period": 0.25}


def cm(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}}


def elected_manager(kube: KubeClient, identity: str) -> tuple[Manager, list[str]]:
    seen: list[str] = []
    lock = threading.Lock()

    def reconcile(key: str) -> Result:
        with lock:
            seen.append(key)
        return Result()

    mgr = Manager(kube, ManagerOptions(namespace="default", leader_elect=True, identity=identity,
                                       shutdown_grace=2, **LEASE))  # type: ignore[arg-type]
    mgr.add_controller(Controller(name="toy", resource=CONFIGMAPS, reconcile=reconcile))
    return mgr, seen


def holder(kube: KubeClient) -> str:
    lease = kube.get_or_none(LEASES, "toy-leader", "default")
    return "" if lease is None else str(lease["spec"].get("holderIdentity") or "")


def test_standby_takes_over_when_leader_dies(kube: KubeClient) -> None:
    a, seen_a = elected_manager(kube, "replica-a")
    b, seen_b = elected_manager(kube, "replica-b")
    a.start()
    try:
        assert poll(lambda: a.is_leader)
        b.start()
        kube.create(CONFIGMAPS, cm("one"))
        assert poll(lambda: "default/one" in seen_a)
        assert b.wait_synced(10)
        assert not b.is_leader and seen_b == [], "the standby must not reconcile"
        assert holder(kube) == "replica-a"

        a.stop(release_lease=False)  # like a crash: the Lease is left as it was
        died = time.monotonic()
        assert poll(lambda: b.is_leader, timeout=10)
        assert time.monotonic() - died >= 1.0, "took over before the lease could have expired"
        assert holder(kube) == "replica-b"
        assert poll(lambda: "default/one" in seen_b)  # the new leader reconciles everything
        kube.create(CONFIGMAPS, cm("two"))
        assert poll(lambda: "default/two" in seen_b)
        assert "default/two" not in seen_a
        lease = kube.get(LEASES, "toy-leader", "default")
        assert lease["spec"]["leaseTransitions"] >= 1
    finally:
        a.stop()
        b.stop()


def test_clean_stop_releases_the_lease(kube: KubeClient) -> None:
    a, _ = elected_manager(kube, "replica-a")
    b, _ = elected_manager(kube, "replica-b")
    a.start()
    try:
        assert poll(lambda: a.is_leader)
        b.start()
        a.stop()
        assert holder(kube) in ("", "replica-b")
        assert poll(lambda: b.is_leader, timeout=5)
    finally:
        a.stop()
        b.stop()


def test_leader_that_loses_its_lease_stops_working(kube: KubeClient) -> None:
    a, seen_a = elected_manager(kube, "replica-a")
    a.start()
    try:
        assert poll(lambda: a.is_leader)
        lease = kube.get(LEASES, "toy-leader", "default")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lease["spec"].update({"holderIdentity": "intruder", "renewTime": now, "leaseDurationSeconds": 60})
        kube.replace(LEASES, lease)
        assert poll(a.lost_leadership.is_set, timeout=10)
        assert poll(a.stopped.is_set, timeout=10)
        assert not a.is_leader
        # `stopped` is set only after the workers were joined and the informers stopped, so no window
        # is left in which "after" could still be processed: the check needs no wait.
        kube.create(CONFIGMAPS, cm("after"))
        assert kube.get(CONFIGMAPS, "after", "default")
        assert "default/after" not in seen_a
        assert holder(kube) == "intruder"  # the loser does not release someone else's Lease
    finally:
        a.stop()
