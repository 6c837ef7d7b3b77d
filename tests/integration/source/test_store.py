"""ArtifactStore on disk and over HTTP: digest-named layout, reuse of an identical artifact, garbage
collection keeping the previous artifact (and protected ones), finding the artifact after a restart
without refetching, the read-only HTTP server (no listings, no in-progress files) and `fetch_artifact`
with digest verification."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tfcontroller.source.git import GitFetcher
from tfcontroller.source.refs import RefSpec
from tfcontroller.source.store import ArtifactDigestMismatchError, ArtifactStore, fetch_artifact


def _writer(content: bytes):
    return lambda dest: Path(dest).write_bytes(content)


def test_layout_reuse_and_gc(tmp_path):
    store = ArtifactStore(tmp_path / "store", base_url="http://artifacts.example:9090/")
    first = store.put("ns", "repo", _writer(b"one"), "main@sha1:" + "1" * 40)
    assert first.path == f"gitrepository/ns/repo/{first.digest_hex}.tar.gz"
    assert first.url == f"http://artifacts.example:9090/{first.path}"
    assert first.size == 3 and first.digest.startswith("sha256:")
    assert (store.root / first.path).read_bytes() == b"one"
    assert set(first.to_status()) == {"revision", "digest", "path", "url", "size", "lastUpdateTime"}

    again = store.put("ns", "repo", _writer(b"one"), "main@sha1:" + "2" * 40)
    assert again.path == first.path and again.revision == "main@sha1:" + "2" * 40
    assert len(store.list("ns", "repo")) == 1

    second = store.put("ns", "repo", _writer(b"two"), "r2")
    third = store.put("ns", "repo", _writer(b"three"), "r3")
    kept = [a.digest for a in store.list("ns", "repo")]
    assert kept == [third.digest, second.digest]  # current and previous; the oldest collected
    assert not (store.root / first.path).exists()
    assert store.latest("ns", "repo") == store.lookup("ns", "repo", third.digest)

    fourth = store.put("ns", "repo", _writer(b"four"), "r4", protect=[second.digest])
    assert {a.digest for a in store.list("ns", "repo")} == {fourth.digest, third.digest, second.digest}
    assert not list((store.root / "gitrepository/ns/repo").glob(".incoming-*"))

    store.delete("ns", "repo")
    assert store.list("ns", "repo") == []
    with pytest.raises(ValueError):
        store.dir_for("..", "x")


def test_restart_finds_artifact_without_refetch(git_file_remote, tmp_path):
    remote = git_file_remote()
    remote.commit({"main.tf": "# x\n"})
    spec = RefSpec(branch="main")
    fetcher = GitFetcher(tmp_path / "cache")
    store = ArtifactStore(tmp_path / "store")
    result = fetcher.fetch(remote.url, spec)
    artifact = store.put("ns", "repo", lambda p: fetcher.build_artifact(result, p), result.revision)
    status = artifact.to_status()

    # "Restart": new objects over the same directories; the caller compares the remote commit first.
    fetcher2, store2 = GitFetcher(tmp_path / "cache"), ArtifactStore(tmp_path / "store")
    resolved = fetcher2.resolve(remote.url, spec)
    assert resolved.revision == status["revision"]
    found = store2.lookup("ns", "repo", str(status["digest"]))
    assert found is not None and found.digest == artifact.digest and found.revision == result.revision
    assert fetcher2.stats.snapshot() == {"ls_remotes": 1, "fetches": 0, "repacks": 0}


def test_http_server_and_fetch_artifact(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    with store.serve("127.0.0.1:0") as server:
        artifact = store.put("ns", "repo", _writer(b"payload"), "r1")
        assert artifact.url.startswith(server.url)
        dest = fetch_artifact(artifact.url, tmp_path / "dl" / "a.tar.gz", artifact.digest)
        assert dest.read_bytes() == b"payload"

        with pytest.raises(ArtifactDigestMismatchError):
            fetch_artifact(artifact.url, tmp_path / "dl" / "b.tar.gz", "sha256:" + "0" * 64)
        assert not (tmp_path / "dl" / "b.tar.gz").exists()

        (store.root / "gitrepository/ns/repo/.incoming-x.tar.gz").write_bytes(b"partial")
        for path in ("/gitrepository/ns/repo/", "/gitrepository/ns/repo/.incoming-x.tar.gz"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(server.url + path, timeout=10)
            assert refused.value.code == 404
        request = urllib.request.Request(artifact.url, data=b"x", method="PUT")
        with pytest.raises(urllib.error.HTTPError) as write:
            urllib.request.urlopen(request, timeout=10)
        assert write.value.code == 501


def test_file_urls_without_base_url(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    artifact = store.put("ns", "repo", _writer(b"local"), "r1")
    assert artifact.url.startswith("file://")
    assert fetch_artifact(artifact.url, tmp_path / "copy", artifact.digest).read_bytes() == b"local"
