"""GitRepository reconciler end to end: real git remotes (file://), the dev cluster and an in-process
manager. Covers the happy path (artifact stored, served over HTTP, status and Events), following new
commits within the interval while ignoring other branches, ignore patterns, cheap polling (no fetch or
repack when nothing moved, one ls-remote per URL and round), requested-at, failures with their reasons
(RefNotFound, InvalidSpec + Stalled, missing Secret, unreachable remote keeping the last artifact
served) and recovery, suspend, and deletion removing the artifacts."""

from __future__ import annotations

import io
import tarfile

import requests

from tests.support.controllers import (
    gitrepo,
    revision_of,
    status_of,
    wait_for,
    wait_ready_reason,
)
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import ANNOTATION_REQUESTED_AT, FINALIZER
from tfcontroller.controllers.gitrepository import GitRepositoryOptions
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import EVENTS, GITREPOSITORIES, TERRAFORMS


def events_for(kube: KubeClient, name: str) -> list[dict]:
    items = kube.list(EVENTS, "default").get("items") or []
    return [e for e in items if (e.get("involvedObject") or {}).get("name") == name]


def finished_reconciles(mgr) -> float:
    """How many GitRepository reconciles the manager has finished (any result), from its metrics."""
    registry = mgr.metrics.registry
    return sum(registry.get_sample_value("tfcontroller_reconcile_total",
                                         {"controller": "gitrepository", "result": result}) or 0.0
               for result in ("success", "requeue", "error"))


def wait_polled_after_now(mgr) -> None:
    """Wait until a poll that started after this call has finished: a fresh ls-remote, then a reconcile
    that finished after it (the one that used its answer, or a later one)."""
    stats = mgr.git_fetcher.stats
    asked = stats.snapshot()["ls_remotes"]
    wait_for(lambda: stats.snapshot()["ls_remotes"] > asked, 20, "a fresh ls-remote")
    done = finished_reconciles(mgr)
    wait_for(lambda: finished_reconciles(mgr) > done, 20, "the reconcile that used it")


def artifact_members(url: str) -> dict[str, bytes]:
    body = requests.get(url, timeout=10)
    body.raise_for_status()
    with tarfile.open(fileobj=io.BytesIO(body.content), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_happy_path_new_commits_other_branches_and_ignore(crds_installed, start_manager, git_file_remote):
    kube = crds_installed
    remote = git_file_remote("infra")
    first = remote.commit({"main.tf": "# one\n", "docs/readme.md": "skip me\n"})
    mgr = start_manager()
    kube.create(GITREPOSITORIES, gitrepo("infra", remote.url, {"branch": "main"}, ignore="docs/\n"))

    cond = wait_ready_reason(kube, "infra", c.TRUE, "Succeeded")
    status = status_of(kube, "infra")
    art = status["artifact"]
    assert art["revision"] == f"main@sha1:{first}"
    assert cond.message == f"stored artifact for revision 'main@sha1:{first}'"
    assert art["digest"].startswith("sha256:") and art["size"] > 0 and art["lastUpdateTime"]
    assert art["url"].startswith(mgr.artifact_url() + "/") and art["path"] in art["url"]
    assert status["observedGeneration"] == kube.get(GITREPOSITORIES, "infra", "default")["metadata"]["generation"]
    assert FINALIZER in kube.get(GITREPOSITORIES, "infra", "default")["metadata"]["finalizers"]
    members = artifact_members(art["url"])
    assert members == {"main.tf": b"# one\n"}  # docs/ ignored, no .git
    assert wait_for(lambda: [e for e in events_for(kube, "infra") if e["reason"] == "NewArtifact"], 5, "event")

    # a commit on another branch changes nothing
    remote.commit({"main.tf": "# feature\n"}, branch="feature")
    wait_polled_after_now(mgr)  # a poll that saw the feature commit ran, and must not have moved
    assert revision_of(kube, "infra") == f"main@sha1:{first}"

    # a new commit on the tracked branch is picked up within the interval
    second = remote.commit({"main.tf": "# two\n"}, branch="main")
    wait_for(lambda: revision_of(kube, "infra") == f"main@sha1:{second}", 10, "new revision")
    art2 = status_of(kube, "infra")["artifact"]
    assert art2["digest"] != art["digest"]
    assert artifact_members(art2["url"]) == {"main.tf": b"# two\n"}
    assert requests.get(art["url"], timeout=5).status_code == 200  # the previous artifact is kept
    new_artifact_events = [e for e in events_for(kube, "infra") if e["reason"] == "NewArtifact"]
    assert len(new_artifact_events) == 2


def test_cheap_polling_shares_one_ls_remote_and_never_refetches(crds_installed, start_manager, git_file_remote):
    """Six objects on one URL: one ls-remote serves them all (long cache TTL here so the count is exact);
    while nothing moves, reconciles keep running but fetch and repack nothing."""
    kube = crds_installed
    remote = git_file_remote("shared")
    remote.commit({"main.tf": "# shared\n"})
    mgr = start_manager(gitrepository=GitRepositoryOptions(ls_remote_ttl=60.0))
    stats = mgr.git_fetcher.stats
    names = [f"shared-{i}" for i in range(6)]
    for name in names:
        kube.create(GITREPOSITORIES, gitrepo(name, remote.url, {"branch": "main"}))
    for name in names:
        wait_ready_reason(kube, name, c.TRUE, "Succeeded")
    first = stats.snapshot()
    assert first["ls_remotes"] == 1
    assert first["fetches"] == 1  # one shared mirror
    digests = {status_of(kube, n)["artifact"]["digest"] for n in names}
    assert len(digests) == 1

    reconciles = mgr.metrics.reconcile_total.labels("gitrepository", "requeue")
    before = reconciles._value.get()
    wait_for(lambda: reconciles._value.get() >= before + 2 * len(names), 10, "more polling rounds")
    assert stats.snapshot() == first
    metrics = requests.get(mgr.endpoint("/metrics") + "/metrics", timeout=5).text
    assert "tfcontroller_git_fetches_total 1.0" in metrics
    assert "tfcontroller_artifact_builds_total" in metrics


def test_a_poll_that_finds_the_same_revision_writes_nothing_and_wakes_no_terraform(
        crds_installed, start_manager, git_file_remote):
    """Issue 21 (idle cost at N objects): a poll of an unchanged remote must not write the GitRepository —
    every write is an update event, and the Terraform controller maps each one to every Terraform whose
    sourceRef names it, so a write per poll would reconcile all N dependents every interval. Counted: the
    GitRepository's resourceVersion and the Terraform queue's adds over several polls (suspended
    Terraforms: they are queued like any other, and run nothing)."""
    kube = crds_installed
    remote = git_file_remote("quiet")
    remote.commit({"main.tf": "# quiet\n"})
    mgr = start_manager()  # ls-remote TTL shorter than the 1 s interval: every poll asks the remote
    kube.create(GITREPOSITORIES, gitrepo("quiet", remote.url, {"branch": "main"}, interval="1s"))
    wait_ready_reason(kube, "quiet", c.TRUE, "Succeeded")
    names = [f"dependent-{i}" for i in range(5)]
    for name in names:
        kube.create(TERRAFORMS, {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
                                 "metadata": {"name": name, "namespace": "default"},
                                 "spec": {"sourceRef": {"kind": "GitRepository", "name": "quiet"}, "path": "./",
                                          "interval": "1h", "suspend": True}})
    terraform_done = mgr.metrics.reconcile_total.labels("terraform", "success")
    wait_for(lambda: terraform_done._value.get() >= len(names), 20, "each Terraform reconciled once (suspended)")
    wait_polled_after_now(mgr)  # the writes of the first round are behind us
    adds = mgr.metrics.registry.get_sample_value("tfcontroller_workqueue_adds_total", {"controller": "terraform"})
    rv = kube.get(GITREPOSITORIES, "quiet", "default")["metadata"]["resourceVersion"]
    for _ in range(3):
        wait_polled_after_now(mgr)
    assert kube.get(GITREPOSITORIES, "quiet", "default")["metadata"]["resourceVersion"] == rv
    assert mgr.metrics.registry.get_sample_value(
        "tfcontroller_workqueue_adds_total", {"controller": "terraform"}) == adds


def test_a_new_object_is_reconciled_once_not_again_for_its_own_finalizer(
        crds_installed, start_manager, git_file_remote):
    """Issue 21: the reconcile that adds our finalizer goes on in the same pass; that write's update event
    must not queue the object again (it cost every new object a second, empty reconcile, which at N=1,000
    ran after the last object was Ready). Counted once the cache has every write and the queue is idle."""
    kube = crds_installed
    remote = git_file_remote("once")
    remote.commit({"main.tf": "# once\n"})
    mgr = start_manager()
    names = [f"once-{i}" for i in range(4)]
    for name in names:
        kube.create(GITREPOSITORIES, gitrepo(name, remote.url, {"branch": "main"}, interval="1h"))
    for name in names:
        wait_ready_reason(kube, name, c.TRUE, "Succeeded")
    informer, queue = mgr.primary_informer("gitrepository"), mgr.queue("gitrepository")

    def settled() -> bool:  # every write seen by the informer (its events dispatched), nothing queued or running
        fresh = {n: kube.get(GITREPOSITORIES, n, "default")["metadata"]["resourceVersion"] for n in names}
        cached = {n: ((informer.get(n, "default") or {}).get("metadata") or {}).get("resourceVersion") for n in names}
        return cached == fresh and len(queue) == 0 and queue.in_flight() == 0

    wait_for(settled, 20, "the informer caught up and the queue idle")
    assert finished_reconciles(mgr) == len(names)
    assert all(FINALIZER in kube.get(GITREPOSITORIES, n, "default")["metadata"]["finalizers"] for n in names)


def test_requested_at_reconciles_now_and_is_echoed(crds_installed, start_manager, git_file_remote):
    kube = crds_installed
    remote = git_file_remote("req")
    first = remote.commit({"a.txt": "1"})
    start_manager(gitrepository=GitRepositoryOptions(ls_remote_ttl=600.0))
    kube.create(GITREPOSITORIES, gitrepo("req", remote.url, interval="1h"))
    wait_for(lambda: revision_of(kube, "req") == f"main@sha1:{first}", 15, "first artifact")
    second = remote.commit({"a.txt": "2"})
    kube.patch(GITREPOSITORIES, "req", {"metadata": {"annotations": {
        "tfcontroller.io/requested-at": "2024-05-01T10:00:00Z"}}}, "default")
    wait_for(lambda: status_of(kube, "req").get("lastHandledRequestedAt") == "2024-05-01T10:00:00Z", 10,
             "request echoed")
    # the request bypasses the ls-remote cache (TTL 600s here) and the 1h interval
    assert revision_of(kube, "req") == f"main@sha1:{second}"


def test_unknown_ref_and_missing_secret_then_recovery(crds_installed, start_manager, git_file_remote):
    kube = crds_installed
    remote = git_file_remote("refs")
    head = remote.commit({"x": "1"})
    start_manager()
    kube.create(GITREPOSITORIES, gitrepo("noref", remote.url, {"branch": "nope"}))
    kube.create(GITREPOSITORIES, gitrepo("nosecret", remote.url, secretRef={"name": "missing"}))
    cond = wait_ready_reason(kube, "noref", c.FALSE, "RefNotFound")
    assert "nope" in cond.message
    reconciling = c.find(status_of(kube, "noref")["conditions"], c.RECONCILING)
    assert reconciling is not None and reconciling.status == c.TRUE
    assert c.find(status_of(kube, "noref")["conditions"], c.STALLED) is None
    cond = wait_ready_reason(kube, "nosecret", c.FALSE, "AuthenticationFailed")
    assert "default/missing" in cond.message and "not found" in cond.message
    warnings = wait_for(lambda: [e for e in events_for(kube, "noref") if e["type"] == "Warning"], 5, "Warning")
    assert len(warnings) == 1 and warnings[0]["reason"] == "RefNotFound"

    # pushing the branch recovers it (retried with backoff): a Normal Event for the new artifact and one
    # saying it recovered and from what
    remote.commit({"x": "2"}, branch="nope")
    wait_ready_reason(kube, "noref", c.TRUE, "Succeeded")
    assert c.find(status_of(kube, "noref")["conditions"], c.RECONCILING) is None
    normal = wait_for(lambda: (lambda n: n if len(n) == 2 else None)(
        {e["reason"]: e["message"] for e in events_for(kube, "noref") if e["type"] == "Normal"}), 5, "Events")
    assert set(normal) == {"NewArtifact", "Succeeded"}
    assert normal["Succeeded"].startswith("Recovered from RefNotFound (") and "nope" in normal["Succeeded"]
    # creating the Secret recovers the other
    from tests.support.controllers import create_secret

    create_secret(kube, "missing", {"username": "u", "password": "p"})  # unused by file://, but present
    wait_ready_reason(kube, "nosecret", c.TRUE, "Succeeded")
    assert revision_of(kube, "nosecret") == f"main@sha1:{head}"


def test_bad_semver_stalls_until_the_spec_is_fixed(crds_installed, start_manager, git_file_remote):
    kube = crds_installed
    remote = git_file_remote("semver")
    remote.commit({"v": "1"})
    remote.tag("v1.2.0")
    newer = remote.commit({"v": "2"})
    remote.tag("v1.3.0")
    remote.commit({"v": "3"})
    remote.tag("v2.0.0")
    mgr = start_manager()
    kube.create(GITREPOSITORIES, gitrepo("semver", remote.url, {"semver": ">=1.0.0 <<2.0"}))
    cond = wait_ready_reason(kube, "semver", c.FALSE, "InvalidSpec")
    assert ">=1.0.0 <<2.0" in cond.message
    conds = status_of(kube, "semver")["conditions"]
    stalled = c.find(conds, c.STALLED)
    assert stalled is not None and stalled.status == c.TRUE and stalled.reason == "InvalidSpec"
    assert c.find(conds, c.RECONCILING) is None
    generation = kube.get(GITREPOSITORIES, "semver", "default")["metadata"]["generation"]
    assert status_of(kube, "semver")["observedGeneration"] == generation
    # stalled: no retries
    queue = mgr.queue("gitrepository")
    assert queue.num_requeues("default/semver") == 0

    kube.patch(GITREPOSITORIES, "semver", {"spec": {"ref": {"semver": ">=1.0.0 <2.0.0"}}}, "default")
    wait_ready_reason(kube, "semver", c.TRUE, "Succeeded")
    assert revision_of(kube, "semver") == f"v1.3.0@sha1:{newer}"
    assert c.find(status_of(kube, "semver")["conditions"], c.STALLED) is None


def test_unreachable_remote_keeps_serving_the_last_artifact(crds_installed, start_manager, git_file_remote):
    kube = crds_installed
    remote = git_file_remote("gone")
    head = remote.commit({"main.tf": "# kept\n"})
    start_manager()
    kube.create(GITREPOSITORIES, gitrepo("gone", remote.url))
    wait_for(lambda: revision_of(kube, "gone") == f"main@sha1:{head}", 15, "first artifact")
    artifact = status_of(kube, "gone")["artifact"]

    hidden = remote.bare.with_name("hidden.git")
    remote.bare.rename(hidden)
    cond = wait_ready_reason(kube, "gone", c.FALSE, "GitOperationFailed")
    assert remote.bare.name in cond.message or "ls-remote" in cond.message
    assert status_of(kube, "gone")["artifact"] == artifact  # status still names the last artifact
    assert artifact_members(artifact["url"]) == {"main.tf": b"# kept\n"}  # and it is still served

    hidden.rename(remote.bare)
    wait_ready_reason(kube, "gone", c.TRUE, "Succeeded")
    recovered = wait_for(lambda: [e for e in events_for(kube, "gone")
                                  if e["type"] == "Normal" and e["reason"] == "Succeeded"], 5, "recovery Event")
    assert len(recovered) == 1
    assert recovered[0]["message"].startswith("Recovered from GitOperationFailed (")
    assert recovered[0]["message"].endswith(f"): stored artifact for revision 'main@sha1:{head}'")


def test_suspend_and_deletion(crds_installed, start_manager, git_file_remote):
    kube = crds_installed
    remote = git_file_remote("susp")
    first = remote.commit({"a": "1"})
    mgr = start_manager()
    kube.create(GITREPOSITORIES, gitrepo("susp", remote.url))
    wait_for(lambda: revision_of(kube, "susp") == f"main@sha1:{first}", 15, "first artifact")
    done = finished_reconciles(mgr)
    kube.patch(GITREPOSITORIES, "susp", {"spec": {"suspend": True}}, "default")
    wait_for(lambda: finished_reconciles(mgr) > done, 20, "the reconcile that sees the suspend")
    remote.commit({"a": "2"})
    done = finished_reconciles(mgr)  # a suspended object is not polled: ask for a reconcile explicitly
    kube.patch(GITREPOSITORIES, "susp", {"metadata": {"annotations": {ANNOTATION_REQUESTED_AT: "after-commit"}}}, "default")
    wait_for(lambda: finished_reconciles(mgr) > done, 20, "the requested reconcile")
    assert revision_of(kube, "susp") == f"main@sha1:{first}"

    directory = mgr.artifact_store.dir_for("default", "susp")
    assert any(directory.iterdir())
    kube.delete(GITREPOSITORIES, "susp", "default")
    wait_for(lambda: kube.get_or_none(GITREPOSITORIES, "susp", "default") is None, 10, "object deleted")
    assert not directory.exists()


def test_lost_or_edited_artifact_is_rebuilt(crds_installed, start_manager, git_file_remote):
    """Cheap polling trusts status only together with the store: a missing file or a hand-edited
    digest makes the next poll rebuild the same content (same digest); rebuilding a lost file is not
    a new artifact (no second Event)."""
    kube = crds_installed
    remote = git_file_remote("rebuild")
    remote.commit({"main.tf": "# rebuild\n"})
    mgr = start_manager()
    kube.create(GITREPOSITORIES, gitrepo("rebuild", remote.url))
    wait_ready_reason(kube, "rebuild", c.TRUE, "Succeeded")
    artifact = status_of(kube, "rebuild")["artifact"]
    builds = mgr.git_fetcher.stats.snapshot()["repacks"]

    (mgr.artifact_store.root / artifact["path"]).unlink()
    wait_for(lambda: mgr.git_fetcher.stats.snapshot()["repacks"] > builds, 10, "rebuild after loss")
    wait_for(lambda: (mgr.artifact_store.root / artifact["path"]).is_file(), 10, "file back")
    assert status_of(kube, "rebuild")["artifact"]["digest"] == artifact["digest"]
    # Events are recorded at the end of a reconcile: once two more have finished, the rebuild's is in.
    done = finished_reconciles(mgr)
    wait_for(lambda: finished_reconciles(mgr) >= done + 2, 20, "two more reconciles")
    [event] = [e for e in events_for(kube, "rebuild") if e["reason"] == "NewArtifact"]
    assert event.get("count", 1) == 1

    kube.patch_status(GITREPOSITORIES, "rebuild", "default", {"artifact": {"digest": "sha256:bogus"}})
    wait_for(lambda: status_of(kube, "rebuild")["artifact"]["digest"] == artifact["digest"], 10, "digest fixed")
    assert requests.get(status_of(kube, "rebuild")["artifact"]["url"], timeout=5).status_code == 200


def test_a_lagging_cache_never_repeats_the_new_artifact(crds_installed, git_file_remote, tmp_path):
    """The kind behind a flaky `NewArtifact` count of 2: a reconcile that reads an object older than our
    own last write (the watch lags on a busy machine). The reconciler reads through a cache frozen at
    the version before its first status write — the worst lag possible — and must neither fetch again
    nor announce the same artifact twice."""
    from tfcontroller.controllers.gitrepository import GitRepositoryReconciler
    from tfcontroller.source.git import GitFetcher
    from tfcontroller.source.store import ArtifactStore

    kube = crds_installed
    remote = git_file_remote("lagging")
    remote.commit({"main.tf": "# lag\n"})
    kube.create(GITREPOSITORIES, gitrepo("lagging", remote.url))
    # the version a lagging watch still shows: our finalizer is on it, our status write is not
    created = kube.patch(GITREPOSITORIES, "lagging", {"metadata": {"finalizers": [FINALIZER]}}, "default")
    fetcher = GitFetcher(tmp_path / "git")
    reconciler = GitRepositoryReconciler(kube, fetcher, ArtifactStore(tmp_path / "artifacts"),
                                         cache_get=lambda name, namespace: created)
    for _ in range(3):
        reconciler.reconcile("default/lagging")
    assert fetcher.stats.snapshot()["repacks"] == 1
    new = [e for e in events_for(kube, "lagging") if e["reason"] == "NewArtifact"]
    assert len(new) == 1 and new[0].get("count", 1) == 1
    assert status_of(kube, "lagging")["artifact"]["revision"].startswith("main@sha1:")


def test_older_than_compares_resource_versions_as_numbers():
    from tfcontroller.controllers.gitrepository.policy import older_than

    def obj(rv):
        return {"metadata": {"resourceVersion": rv}}

    assert older_than(obj("9"), "10")  # numeric, not lexical
    assert not older_than(obj("10"), "9")
    assert not older_than(obj("10"), "10")
    assert not older_than(obj("10"), None)  # nothing written yet
    assert not older_than(obj(""), "10")  # unknown: never bypass the cache on a guess
    assert not older_than(obj("abc"), "10")
