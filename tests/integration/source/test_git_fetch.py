"""GitFetcher against real `file://` remotes: ref resolution (branch, tag, semver, commit, name, HEAD),
revisions that follow new commits and ignore other branches, the shared mirror, cheap polling counters,
unknown refs, bad specs, an unreachable server, and no credential ever stored in the mirror."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from tfcontroller.source.errors import GitOperationFailedError, InvalidSpecError, RefNotFoundError
from tfcontroller.source.git import GitFetcher
from tfcontroller.source.refs import RefSpec


@pytest.fixture
def fetcher(tmp_path: Path) -> GitFetcher:
    return GitFetcher(tmp_path / "cache")


def test_branch_resolution_follows_new_commits_and_ignores_other_branches(git_file_remote, fetcher):
    remote = git_file_remote()
    first = remote.commit({"main.tf": "# one\n"})
    spec = RefSpec(branch="main")
    resolved = fetcher.resolve(remote.url, spec)
    assert resolved.commit == first
    assert resolved.revision == f"main@sha1:{first}"
    assert resolved.refname == "refs/heads/main"

    remote.commit({"other.txt": "x"}, branch="feature")
    assert fetcher.resolve(remote.url, spec).revision == f"main@sha1:{first}"

    second = remote.commit({"main.tf": "# two\n"})
    assert second != first
    result = fetcher.fetch(remote.url, spec)
    assert result.commit == second
    assert result.revision == f"main@sha1:{second}"


def test_tags_semver_commit_name_and_head(git_file_remote, fetcher):
    remote = git_file_remote()
    c1 = remote.commit({"a": "1"})
    remote.tag("v1.2.0", annotated=True)
    c2 = remote.commit({"a": "2"})
    remote.tag("1.4.1", annotated=False)
    c3 = remote.commit({"a": "3"})
    remote.tag("v2.0.0")
    remote.tag("v1.5.0-rc.1")

    tag = fetcher.resolve(remote.url, RefSpec(tag="v1.2.0"))
    assert (tag.commit, tag.revision) == (c1, f"v1.2.0@sha1:{c1}")  # annotated tag peeled to its commit

    ranged = fetcher.resolve(remote.url, RefSpec(semver=">=1.2.0 <2.0.0"))
    assert ranged.revision == f"1.4.1@sha1:{c2}"
    assert fetcher.resolve(remote.url, RefSpec(semver="^1.0")).commit == c2
    assert fetcher.resolve(remote.url, RefSpec(semver="~1.2")).commit == c1
    assert fetcher.resolve(remote.url, RefSpec(semver="*")).commit == c3

    commit = fetcher.fetch(remote.url, RefSpec(commit=c2))
    assert (commit.commit, commit.revision) == (c2, f"sha1:{c2}")

    named = fetcher.resolve(remote.url, RefSpec(name="refs/tags/v2.0.0"))
    assert named.revision == f"refs/tags/v2.0.0@sha1:{c3}"

    head = fetcher.resolve(remote.url, RefSpec())
    assert head.revision == f"main@sha1:{c3}"

    fetched = fetcher.fetch(remote.url, RefSpec(semver=">=1.2.0 <2.0.0"))
    assert fetched.commit == c2


def test_commit_not_on_remote_and_unknown_refs(git_file_remote, fetcher):
    remote = git_file_remote()
    remote.commit({"a": "1"})
    with pytest.raises(RefNotFoundError):
        fetcher.resolve(remote.url, RefSpec(branch="nope"))
    with pytest.raises(RefNotFoundError):
        fetcher.resolve(remote.url, RefSpec(tag="v9"))
    with pytest.raises(RefNotFoundError):
        fetcher.resolve(remote.url, RefSpec(semver=">=5.0.0"))
    with pytest.raises(RefNotFoundError):
        fetcher.fetch(remote.url, RefSpec(commit="0123456789abcdef0123456789abcdef01234567"))


def test_invalid_specs_are_stalling(git_file_remote, fetcher):
    remote = git_file_remote()
    remote.commit({"a": "1"})
    with pytest.raises(InvalidSpecError) as bad_range:
        fetcher.resolve(remote.url, RefSpec(semver=">=one.two"))
    assert bad_range.value.stalling and bad_range.value.reason == "InvalidSpec"
    with pytest.raises(InvalidSpecError):
        RefSpec.from_dict({"commit": "abc"})


def test_unreachable_server_is_a_git_operation_failure(fetcher, tmp_path):
    with pytest.raises(GitOperationFailedError) as missing:
        fetcher.resolve((tmp_path / "absent.git").as_uri(), RefSpec(branch="main"))
    assert missing.value.reason == "GitOperationFailed"
    with pytest.raises(GitOperationFailedError):
        fetcher.resolve("http://127.0.0.1:9/repo.git", RefSpec(branch="main"), timeout=10)


def test_shared_mirror_and_no_fetch_when_commit_unchanged(git_file_remote, fetcher):
    remote = git_file_remote()
    remote.commit({"a": "1"})
    spec = RefSpec(branch="main")
    one = fetcher.fetch(remote.url, spec)
    two = fetcher.fetch(remote.url, RefSpec(name="refs/heads/main"))
    assert one.mirror_path == two.mirror_path
    assert fetcher.stats.fetches == 1  # the second found the commit in the shared mirror
    assert len([p for p in fetcher.cache_dir.iterdir() if p.is_dir()]) == 1

    # Polling: resolve only; the commit equals the artifact's, so the caller stops.
    before = fetcher.stats.snapshot()
    assert fetcher.resolve(remote.url, spec).commit == one.commit
    after = fetcher.stats.snapshot()
    assert after["ls_remotes"] == before["ls_remotes"] + 1
    assert (after["fetches"], after["repacks"]) == (before["fetches"], before["repacks"])


def test_concurrent_fetches_of_one_url_are_safe(git_file_remote, fetcher):
    remote = git_file_remote()
    heads = {b: remote.commit({f"{b}.txt": b}, branch=b) for b in ("main", "b1", "b2", "b3")}
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def work(branch: str) -> None:
        try:
            results[branch] = fetcher.fetch(remote.url, RefSpec(branch=branch)).commit
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(b,)) for b in heads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert results == heads


def test_timeout_kills_git_and_reports_it(fetcher):
    with socket.socket() as silent:  # accepts TCP connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/repo.git"
        started = time.monotonic()
        with pytest.raises(GitOperationFailedError) as failure:
            fetcher.resolve(url, RefSpec(branch="main"), timeout=2)
        assert "timed out" in str(failure.value)
        assert time.monotonic() - started < 30


def test_commit_fetch_falls_back_to_history_when_server_refuses_unadvertised_ids(
    git_file_remote, fetcher, monkeypatch
):
    remote = git_file_remote()
    old = remote.commit({"a": "1"})
    remote.commit({"a": "2"})
    fetcher.fetch(remote.url, RefSpec(branch="main"))  # the mirror is now shallow (depth 1)
    assert not fetcher.has_commit(remote.url, old)
    # Protocol v0 servers refuse wants of commits they did not advertise ("not our ref").
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'protocol.version'='0'")
    before = fetcher.stats.fetches
    result = fetcher.fetch(remote.url, RefSpec(commit=old, branch="main"))
    assert (result.commit, result.revision) == (old, f"main@sha1:{old}")
    assert fetcher.stats.fetches == before + 2  # by id (refused), then the branch's full history
    assert fetcher.has_commit(remote.url, old)
