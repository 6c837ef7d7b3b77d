"""A controller killed with SIGKILL and started again (real `tfcontroller run` processes) finds the
artifact named in status on disk: same digest, no git fetch and no repack (read from the fetcher
counters on /metrics), and the artifact is served by the new process; SIGTERM then exits 0."""

from __future__ import annotations

import signal

import requests

from tests.support.controllers import gitrepo, status_of, wait_for, wait_ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.kube.resources import GITREPOSITORIES


def test_restart_after_sigkill_reuses_the_artifact_without_refetch(crds_installed, controller_process,
                                                                    git_file_remote):
    kube = crds_installed
    remote = git_file_remote("restart")
    head = remote.commit({"main.tf": "# restart\n"})
    first = controller_process()
    first.wait_ready()
    kube.create(GITREPOSITORIES, gitrepo("restart", remote.url, {"branch": "main"}))
    wait_ready_reason(kube, "restart", c.TRUE, "Succeeded", timeout=30)
    artifact = status_of(kube, "restart")["artifact"]
    assert artifact["revision"] == f"main@sha1:{head}"
    assert first.metric("tfcontroller_git_fetches_total") == 1
    assert first.metric("tfcontroller_artifact_builds_total") == 1
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    second = controller_process()
    second.wait_ready()
    # the new process serves on another port: status follows it, with the same artifact
    wait_for(lambda: f":{second.artifact_port}/" in status_of(kube, "restart")["artifact"]["url"], 20,
             "artifact URL of the new process")
    wait_for(lambda: (second.metric("tfcontroller_git_ls_remote_total") or 0) >= 2, 20, "two polls")
    after = status_of(kube, "restart")["artifact"]
    assert after["digest"] == artifact["digest"] and after["revision"] == artifact["revision"]
    assert after["lastUpdateTime"] == artifact["lastUpdateTime"]
    assert second.metric("tfcontroller_git_fetches_total") == 0
    assert second.metric("tfcontroller_artifact_builds_total") == 0
    body = requests.get(after["url"], timeout=5)
    assert body.status_code == 200 and len(body.content) == after["size"]
    assert second.stop(signal.SIGTERM) == 0
