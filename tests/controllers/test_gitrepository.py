"""GitRepository reconciler end to end: real git remotes (file://), the dev cluster and an in-process
manager. Covers the happy path (artifact stored, served over HTTP, status and Events), following new
commits within the interval while ignoring other branches, ignore patterns, cheap polling (no fetch or
repack when nothing moved, one ls-remote per URL and round), requested-at, failures with their reasons
(RefNotFound, InvalidSpec + Stalled, missing Secret, unreachable remote keeping the last artifact
served) and recovery, suspend, and deletion removing the artifacts."""

from __future__ import annotations

import io
import tarfile
import time

import requests

from tests.controllers.conftest import (
    gitrepo,
    revision_of,
    status_of,
    wait_for,
    wait_ready_reason,
)
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import FINALIZER
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import EVENTS, GITREPOSITORIES


def events_for(kube: KubeClient, name: str) -> list[dict]:
    items = kube.list(EVENTS, "default").get("items") or []
    return [e for e in items if (e.get("involvedObject") or {}).get("name") == name]


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
    time.sleep(2.5)  # more than two intervals: the poll ran and must not have moved
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
