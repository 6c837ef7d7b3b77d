"""GitRepository credentials against real servers: HTTP basic auth through `git http-backend`
(right password → artifact; wrong password → AuthenticationFailed, and the password appears in no
status, Event, mirror config or log line) and SSH through a real sshd (the right known_hosts →
artifact; another host key → HostKeyVerificationFailed, refused rather than trusted)."""

from __future__ import annotations

import logging

from tests.support.controllers import (
    create_secret,
    gitrepo,
    revision_of,
    status_of,
    wait_for,
    wait_ready_reason,
)
from tfcontroller.api import conditions as c
from tfcontroller.kube.resources import EVENTS, GITREPOSITORIES


def test_http_basic_auth_and_wrong_password(crds_installed, start_manager, git_file_remote, git_http_server,
                                            caplog):
    kube = crds_installed
    caplog.set_level(logging.DEBUG)
    remote = git_file_remote("private")
    head = remote.commit({"main.tf": "# private\n"})
    url = git_http_server.url_for(remote)
    create_secret(kube, "good", {"username": git_http_server.username, "password": git_http_server.password})
    create_secret(kube, "bad", {"username": git_http_server.username, "password": "wrong-" + "x" * 12})
    mgr = start_manager()
    kube.create(GITREPOSITORIES, gitrepo("good", url, {"branch": "main"}, secretRef={"name": "good"}))
    kube.create(GITREPOSITORIES, gitrepo("bad", url, {"branch": "main"}, secretRef={"name": "bad"}))

    wait_ready_reason(kube, "good", c.TRUE, "Succeeded")
    assert revision_of(kube, "good") == f"main@sha1:{head}"
    cond = wait_ready_reason(kube, "bad", c.FALSE, "AuthenticationFailed")
    assert "127.0.0.1" in cond.message
    assert "Basic" in git_http_server.auth_seen

    # no credential anywhere we write
    events = kube.list(EVENTS, "default").get("items") or []
    written = repr(status_of(kube, "good")) + repr(status_of(kube, "bad")) + repr(events) + caplog.text
    for mirror_config in mgr.git_fetcher.cache_dir.glob("*/config"):
        written += mirror_config.read_text()
    assert git_http_server.password not in written
    assert "wrong-xxxxxxxxxxxx" not in written
    assert wait_for(lambda: any(e["reason"] == "AuthenticationFailed" for e in
                                kube.list(EVENTS, "default").get("items") or []), 5, "Warning Event")


def test_ssh_known_hosts_and_host_key_mismatch(crds_installed, start_manager, git_file_remote, git_ssh_server):
    kube = crds_installed
    remote = git_file_remote("viassh")
    head = remote.commit({"main.tf": "# ssh\n"})
    url = git_ssh_server.url_for(remote)
    create_secret(kube, "ssh-good", {"identity": git_ssh_server.identity, "known_hosts": git_ssh_server.known_hosts})
    create_secret(kube, "ssh-wrong-host", {"identity": git_ssh_server.identity,
                                           "known_hosts": git_ssh_server.wrong_known_hosts})
    start_manager()
    kube.create(GITREPOSITORIES, gitrepo("ssh-good", url, {"branch": "main"}, secretRef={"name": "ssh-good"}))
    kube.create(GITREPOSITORIES, gitrepo("ssh-bad", url, {"branch": "main"}, secretRef={"name": "ssh-wrong-host"}))

    wait_ready_reason(kube, "ssh-good", c.TRUE, "Succeeded", timeout=30)
    assert revision_of(kube, "ssh-good") == f"main@sha1:{head}"
    cond = wait_ready_reason(kube, "ssh-bad", c.FALSE, "HostKeyVerificationFailed", timeout=30)
    assert "host key" in cond.message
    assert "artifact" not in status_of(kube, "ssh-bad")
