"""An object moved from one ManifestSet to another is handed over, never deleted and re-created,
whatever the order in which the two reconcile. The reconcilers are called directly
(a manager runs only the GitRepository controller) so that each order is exact:

- the old owner first, in the very reconcile that creates the new ManifestSet: the moved ConfigMap,
  PersistentVolumeClaim and Namespace stay (declared by the new set's render; the Event says so) and
  stay in the old inventory until the new owner applied them; an object removed from Git for real is
  still pruned;
- the new owner first: it takes the objects over (labels), the old owner lets them go;
- sibling ManifestSets, the old owner deleted before the new one reconciled: its finalizer keeps them.
The uid of every moved object never changes. Last, the field report as users run it, with the manager
reconciling both ManifestSets in its own order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.devcluster import install_crds
from tests.support.manifestset_support import (
    Env,
    create_source,
    events_for,
    manifestset,
    ms_status,
    wait_ms,
    wait_revision,
)
from tests.support.polling import wait_for
from tfcontroller.controllers import gitrepository
from tfcontroller.controllers.gitrepository import GitRepositoryOptions
from tfcontroller.controllers.manifestset import ManifestSetReconciler
from tfcontroller.controllers.setup import ControllerManager, ControllerOptions
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import CONFIGMAPS, GITREPOSITORIES, MANIFESTSETS, NAMESPACES, Resource

PVCS = Resource("v1", "PersistentVolumeClaim", "persistentvolumeclaims")

MOVED = {
    "shared-config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared-config\ndata:\n  k: v\n",
    "data.yaml": ("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n"
                  "  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n"),
    "team-a.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n",
}
GONE = {"gone.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone\n"}
INNER = yaml.safe_dump(manifestset("inner", "apps", interval="1h", prune=True))


@dataclass
class Handover:
    kube: KubeClient
    reconciler: ManifestSetReconciler
    remote: Any

    def commit(self, files: dict[str, str | None]) -> str:
        commit = self.remote.commit(files)
        wait_for(lambda: commit in (((self.kube.get(GITREPOSITORIES, "repo", "default").get("status") or {})
                                     .get("artifact") or {}).get("revision") or ""), 20, f"artifact of {commit[:8]}")
        return commit

    def reconcile(self, name: str) -> None:
        self.reconciler.reconcile(f"default/{name}")
        status = ms_status(self.kube, name)
        ready = [cond for cond in status.get("conditions") or [] if cond["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", f"{name}: {ready}"

    def uids(self) -> dict[str, str]:
        objs = {"cm": self.kube.get_or_none(CONFIGMAPS, "shared-config", "default"),
                "pvc": self.kube.get_or_none(PVCS, "data", "default"),
                "ns": self.kube.get_or_none(NAMESPACES, "team-a")}
        return {k: (o or {}).get("metadata", {}).get("uid", "missing") for k, o in objs.items()}

    def owners(self) -> set[str]:
        objs = (self.kube.get(CONFIGMAPS, "shared-config", "default"), self.kube.get(PVCS, "data", "default"),
                self.kube.get(NAMESPACES, "team-a"))
        return {o["metadata"]["labels"]["tfcontroller.io/manifestset-name"] for o in objs}

    def inventory(self, name: str) -> set[str]:
        return {i["id"] for i in ms_status(self.kube, name).get("inventory") or []}


MOVED_IDS = {"default_shared-config__ConfigMap", "default_data__PersistentVolumeClaim", "_team-a__Namespace"}


@pytest.fixture
def handover(dev_cluster: DevCluster, tmp_path: Path, git_file_remote: Callable) -> Iterator[Handover]:
    kube = KubeClient.load(dev_cluster.kubeconfig)
    install_crds(kube)
    opts = ControllerOptions(namespace=None, concurrent=1, artifact_dir=str(tmp_path / "artifacts"),
                             retry_base=0.2, retry_cap=2.0, shutdown_grace=10.0,
                             gitrepository=GitRepositoryOptions(ls_remote_ttl=0.2))
    manager = ControllerManager(kube, opts)  # only the GitRepository controller: ManifestSets by hand
    gitrepository.register(manager, kube, opts.gitrepository)
    manager.start()
    try:
        assert manager.wait_synced(10)
        remote = git_file_remote()
        remote.commit({f"clusters/{k}": v for k, v in {**MOVED, **GONE}.items()})
        create_source(kube, remote.url)
        env = Handover(kube, ManifestSetReconciler(kube, workdir=tmp_path / "work"), remote)
        wait_for(lambda: (kube.get(GITREPOSITORIES, "repo", "default").get("status") or {}).get("artifact"), 20,
                 "the first artifact")
        yield env
    finally:
        manager.stop(grace=5)
        kube.close()


def move_commit(env: Handover, with_inner: bool = True) -> None:
    files: dict[str, str | None] = {f"clusters/{k}": None for k in {**MOVED, **GONE}}
    files.update({f"apps/{k}": v for k, v in MOVED.items()})
    if with_inner:
        files["clusters/inner.yaml"] = INNER
    else:
        files["clusters/README.md"] = "nothing to apply here any more\n"  # keeps the directory
    env.commit(files)


def test_old_owner_reconciles_first(handover: Handover) -> None:
    env, kube = handover, handover.kube
    kube.create(MANIFESTSETS, manifestset("outer", "clusters", interval="1h", prune=True))
    env.reconcile("outer")
    before = env.uids()
    assert "missing" not in before.values() and env.owners() == {"outer"}

    move_commit(env)
    env.reconcile("outer")  # creates `inner`, whose render now declares the moved objects
    assert kube.get_or_none(MANIFESTSETS, "inner", "default") is not None
    assert env.uids() == before
    assert kube.get_or_none(CONFIGMAPS, "gone", "default") is None  # removed from Git: still pruned
    assert env.inventory("outer") == MOVED_IDS | {"default_inner_tfcontroller.io_ManifestSet"}
    messages = " ".join(e["message"] for e in events_for(kube, "outer", "ReconciliationSucceeded"))
    assert "PersistentVolumeClaim/default/data: declared by ManifestSet default/inner (not pruned)" in messages

    env.reconcile("inner")
    assert env.uids() == before and env.owners() == {"inner"}
    assert env.inventory("inner") == MOVED_IDS
    env.reconcile("outer")
    assert env.inventory("outer") == {"default_inner_tfcontroller.io_ManifestSet"}
    assert env.uids() == before and env.owners() == {"inner"}


def test_new_owner_reconciles_first(handover: Handover) -> None:
    env, kube = handover, handover.kube
    kube.create(MANIFESTSETS, manifestset("outer", "clusters", interval="1h", prune=True))
    env.reconcile("outer")
    before = env.uids()

    move_commit(env)
    kube.create(MANIFESTSETS, yaml.safe_load(INNER))  # e.g. applied by another ManifestSet
    env.reconcile("inner")
    assert env.uids() == before and env.owners() == {"inner"}
    env.reconcile("outer")
    assert env.uids() == before and env.owners() == {"inner"}
    assert env.inventory("outer") == {"default_inner_tfcontroller.io_ManifestSet"}
    assert kube.get_or_none(CONFIGMAPS, "gone", "default") is None


def test_old_owner_deleted_before_the_new_one_reconciled(handover: Handover) -> None:
    env, kube = handover, handover.kube
    kube.create(MANIFESTSETS, manifestset("outer", "clusters", interval="1h", prune=True))
    kube.create(MANIFESTSETS, yaml.safe_load(INNER))  # a sibling; apps/ does not exist yet
    env.reconcile("outer")
    before = env.uids()

    move_commit(env, with_inner=False)
    kube.delete(MANIFESTSETS, "outer", "default")
    env.reconciler.reconcile("default/outer")  # the finalizer prunes what nobody declares
    wait_for(lambda: kube.get_or_none(MANIFESTSETS, "outer", "default") is None, 10, "outer to be deleted")
    assert env.uids() == before
    assert kube.get_or_none(CONFIGMAPS, "gone", "default") is None
    env.reconcile("inner")
    assert env.uids() == before and env.owners() == {"inner"}


def test_field_report_with_the_real_manager(ms_env: Env, git_file_remote: Callable) -> None:
    """The reported case as users run it: both ManifestSets reconciled by the manager, in its order."""
    kube = ms_env.kube
    remote = git_file_remote()
    remote.commit({"clusters/shared-config.yaml": MOVED["shared-config.yaml"]})
    ms_env.start()
    create_source(kube, remote.url)
    kube.create(MANIFESTSETS, manifestset("outer", "clusters", prune=True))
    wait_ms(kube, "outer", "True")
    uid = wait_for(lambda: (kube.get_or_none(CONFIGMAPS, "shared-config", "default") or {}).get("metadata"), 10,
                   "the ConfigMap")["uid"]
    commit = remote.commit({"clusters/shared-config.yaml": None, "apps/shared-config.yaml": MOVED["shared-config.yaml"],
                            "clusters/inner.yaml": yaml.safe_dump(manifestset("inner", "apps", prune=True))})
    wait_revision(kube, "outer", commit)
    wait_revision(kube, "inner", commit)
    wait_for(lambda: "default_shared-config__ConfigMap" not in {i["id"] for i in ms_status(kube, "outer")["inventory"]},
             10, "outer to let the ConfigMap go")
    live = kube.get(CONFIGMAPS, "shared-config", "default")
    assert live["metadata"]["uid"] == uid
    assert live["metadata"]["labels"]["tfcontroller.io/manifestset-name"] == "inner"
    # which of the two the Event says depends on whether `inner` applied before `outer` pruned
    said = ("ConfigMap/default/shared-config: declared by ManifestSet default/inner (not pruned)",
            "ConfigMap/default/shared-config: no longer ours (not pruned)")
    wait_for(lambda: any(text in e["message"] for e in events_for(kube, "outer", "ReconciliationSucceeded")
                         for text in said), 10, "the Event saying why the ConfigMap was not pruned")


def test_new_owner_on_another_source_with_kustomize(handover: Handover, git_file_remote: Callable) -> None:
    """The declaring ManifestSet reads another GitRepository through kustomize, into a targetNamespace:
    its render is fetched and built for the check, and the ids match the old owner's inventory."""
    env, kube = handover, handover.kube
    kube.create(MANIFESTSETS, manifestset("outer", "clusters", interval="1h", prune=True))
    env.reconcile("outer")
    before = env.uids()
    other = git_file_remote("other")
    kustomization = "resources:\n" + "".join(f"- {k}\n" for k in MOVED)
    commit = other.commit({"team/kustomization.yaml": kustomization, **{f"team/{k}": v for k, v in MOVED.items()}})
    create_source(kube, other.url, name="other")
    wait_for(lambda: commit in (((kube.get(GITREPOSITORIES, "other", "default").get("status") or {})
                                 .get("artifact") or {}).get("revision") or ""), 20, "the other artifact")
    kube.create(MANIFESTSETS, manifestset("team", "team", source="other", interval="1h", prune=True,
                                          targetNamespace="default"))
    move_commit(env, with_inner=False)  # the objects leave outer's path; only `team` declares them now
    env.reconcile("outer")
    assert env.uids() == before
    assert kube.get_or_none(CONFIGMAPS, "gone", "default") is None
    env.reconcile("team")
    assert env.uids() == before and env.owners() == {"team"}
    env.reconcile("outer")
    assert env.inventory("outer") == set()
