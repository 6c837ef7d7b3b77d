"""Pure pieces of the GitRepository controller, without git or a cluster: the ls-remote TTL cache
(expiry, single flight under concurrency, cached failures, invalidation, credential-keyed entries),
the "artifact is current" decision behind cheap polling, ref conversion, and the run-command options."""

from __future__ import annotations

import argparse
import threading

import pytest

from tests.support.polling import wait_for
from tests.support.threads import blocked_in
from tfcontroller.api.gitrepository import GitRepository
from tfcontroller.cli.run_cmd import add_run_arguments, options_from_args
from tfcontroller.controllers.gitrepository.lscache import TTLCache, auth_fingerprint
from tfcontroller.controllers.gitrepository.policy import (
    MIN_POLL_FRACTION,
    artifact_is_current,
    next_poll_delay,
    ref_spec_of,
)
from tfcontroller.controllers.setup import advertised_base_url
from tfcontroller.source.auth import GitAuth
from tfcontroller.source.errors import GitOperationFailedError, InvalidSpecError


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_ttl_cache_serves_within_ttl_and_reloads_after() -> None:
    clock = FakeClock()
    cache: TTLCache[int] = TTLCache(clock)
    calls = []
    load = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert cache.get("k", 5, load) == 1
    clock.now += 4.9
    assert cache.get("k", 5, load) == 1
    clock.now += 0.2
    assert cache.get("k", 5, load) == 2
    assert cache.get("other", 5, load) == 3
    cache.invalidate("k")
    assert cache.get("k", 5, load) == 4
    assert cache.loads == 4


def test_ttl_cache_single_flight_under_concurrency() -> None:
    cache: TTLCache[str] = TTLCache()
    started, release = threading.Event(), threading.Event()
    loads = []

    def slow() -> str:
        loads.append(1)
        started.set()
        release.wait(5)
        return "refs"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("url", 10, slow))) for _ in range(8)]
    for t in threads:
        t.start()
    assert started.wait(5)
    wait_for(lambda: sum(blocked_in(t, "get", "gitrepository/lscache.py", not_in="_load") for t in threads) == 7,
             5, "the seven other callers waiting on the one load")
    release.set()
    for t in threads:
        t.join(5)
    assert results == ["refs"] * 8 and len(loads) == 1


def test_ttl_cache_caches_failures_for_the_ttl() -> None:
    clock = FakeClock()
    cache: TTLCache[str] = TTLCache(clock)
    calls = []

    def failing() -> str:
        calls.append(1)
        raise GitOperationFailedError("ls-remote x: unreachable")

    for _ in range(3):
        with pytest.raises(GitOperationFailedError):
            cache.get("k", 2, failing)
    assert len(calls) == 1
    clock.now += 3
    with pytest.raises(GitOperationFailedError):
        cache.get("k", 2, failing)
    assert len(calls) == 2


def test_ttl_cache_evicts_oldest_finished_entries() -> None:
    clock = FakeClock()
    cache: TTLCache[int] = TTLCache(clock, max_entries=2)
    for i in range(4):
        clock.now += 1
        cache.get(f"k{i}", 100, lambda i=i: i)
    loads = cache.loads
    assert cache.get("k3", 100, lambda: -1) == 3 and cache.loads == loads
    assert cache.get("k0", 100, lambda: -1) == -1  # evicted


def test_auth_fingerprint_separates_credentials_and_hides_them() -> None:
    a = auth_fingerprint(GitAuth(username="u", password="secret-one"))
    b = auth_fingerprint(GitAuth(username="u", password="secret-two"))
    assert a != b and auth_fingerprint(None) != a
    assert "secret-one" not in a
    # field boundaries count: ("ab", "") differs from ("a", "b")
    assert auth_fingerprint(GitAuth(username="ab", password="")) != auth_fingerprint(GitAuth(username="a", password="b"))


def test_artifact_is_current() -> None:
    rev = "main@sha1:" + "a" * 40
    status = {"observedGeneration": 2, "artifact": {"revision": rev, "digest": "sha256:" + "b" * 64}}
    assert artifact_is_current(status, 2, rev)
    assert not artifact_is_current(status, 3, rev)  # spec changed (e.g. ignore): rebuild
    assert not artifact_is_current(status, 2, "main@sha1:" + "c" * 40)  # the remote moved
    assert not artifact_is_current({"observedGeneration": 2}, 2, rev)  # no artifact yet


def obj(ref: dict | None) -> dict:
    spec = {"url": "https://example.com/r.git", "interval": "1m"}
    if ref is not None:
        spec["ref"] = ref
    return {"kind": "GitRepository", "metadata": {"name": "r", "namespace": "default"}, "spec": spec}


def test_ref_spec_of() -> None:
    assert ref_spec_of(GitRepository.from_dict(obj(None))).kind == "head"
    assert ref_spec_of(GitRepository.from_dict(obj({"tag": "v1"}))).tag == "v1"
    assert ref_spec_of(GitRepository.from_dict(obj({"semver": "^1.2"}))).semver == "^1.2"
    with pytest.raises(InvalidSpecError):
        ref_spec_of(GitRepository.from_dict(obj({"semver": "1.x.banana"})))


def test_advertised_base_url() -> None:
    assert advertised_base_url("127.0.0.1", 9090) == "http://127.0.0.1:9090"
    assert advertised_base_url("0.0.0.0", 9090).endswith(":9090")
    assert "0.0.0.0" not in advertised_base_url("0.0.0.0", 9090)
    assert advertised_base_url("::1", 80) == "http://[::1]:80"


def test_run_options_from_flags() -> None:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    opts = options_from_args(parser.parse_args([
        "--namespace", "team-a", "--concurrent", "8", "--artifact-dir", "/data", "--artifact-addr", "0",
        "--metrics-addr", ":8081", "--leader-elect", "--watch-label-selector", "shard=1",
    ]))
    assert (opts.namespace, opts.concurrent, opts.artifact_dir) == ("team-a", 8, "/data")
    assert opts.artifact_addr is None and opts.metrics_addr == ":8081" and opts.health_addr == ":9440"
    assert opts.leader_elect and opts.lease_namespace == "team-a"
    assert opts.watch_label_selector == "shard=1"
    assert opts.mirrors_dir == "/data/.git-mirrors"
    assert opts.kubeconfig is None  # in-cluster config


def test_next_poll_delay_aligns_one_url_and_spreads_urls() -> None:
    interval = 10.0
    url = "https://git.example.com/infra.git"
    # objects finishing at different times after one tick poll again together at the next one
    tick = 1000.0 + next_poll_delay(1000.0, interval, url)
    finished = [tick + 0.01, tick + 1.3, tick + 3.9, tick + 7.9]
    assert {round(now + next_poll_delay(now, interval, url), 6) for now in finished} == {round(tick + interval, 6)}
    for now in (1000.0, 1001.3, 1009.99, 1234.5):
        delay = next_poll_delay(now, interval, url)
        assert MIN_POLL_FRACTION * interval <= delay < (1 + MIN_POLL_FRACTION) * interval
    phases = {round(next_poll_delay(0.0, interval, f"https://git.example.com/r{i}.git"), 3) for i in range(20)}
    assert len(phases) > 10  # different remotes do not all poll at once
