"""Authentication against real servers: smart HTTP (`git http-backend`) with basic auth and a bearer
token, and Debian's sshd with a user key and strict known_hosts. Covers success, wrong password,
missing credentials, host key mismatch, and that no credential reaches `.git/config`, the mirror's files
or any error message."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tfcontroller.source.auth import GitAuth
from tfcontroller.source.errors import AuthenticationFailedError, HostKeyVerificationError
from tfcontroller.source.git import GitFetcher
from tfcontroller.source.refs import RefSpec


@pytest.fixture
def fetcher(tmp_path: Path) -> GitFetcher:
    return GitFetcher(tmp_path / "cache")


def _mirror_text(fetcher: GitFetcher) -> str:
    """Everything readable as text in the cache, config first."""
    chunks = []
    for path in sorted(fetcher.cache_dir.rglob("*")):
        if path.is_file() and "objects" not in path.parts:
            chunks.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


def test_http_basic_auth_fetches_and_stores_nothing_secret(git_file_remote, git_http_server, fetcher):
    remote = git_file_remote()
    head = remote.commit({"main.tf": "# x\n"})
    url = git_http_server.url_for(remote)
    auth = GitAuth.from_secret_data({"username": b"git-user", "password": git_http_server.password.encode()})

    result = fetcher.fetch(url, RefSpec(branch="main"), auth)
    assert result.commit == head
    assert "Basic" in git_http_server.auth_seen
    stored = _mirror_text(fetcher)
    assert (result.mirror_path / "config").is_file()
    assert git_http_server.password not in stored
    assert auth.authorization_header().split(" ", 1)[1] not in stored
    assert "git-user" not in stored and "127.0.0.1" not in (result.mirror_path / "config").read_text()


def test_http_wrong_password_is_authentication_failed_without_leaking(
    git_file_remote, git_http_server, fetcher
):
    remote = git_file_remote()
    remote.commit({"a": "1"})
    url = git_http_server.url_for(remote).replace("http://", "http://git-user:inline-secret@")
    auth = GitAuth(username="git-user", password="wrong-password-123")
    with pytest.raises(AuthenticationFailedError) as failure:
        fetcher.resolve(url, RefSpec(branch="main"), auth)
    message = str(failure.value)
    assert failure.value.reason == "AuthenticationFailed"
    assert "wrong-password-123" not in message
    assert "inline-secret" not in message
    assert auth.authorization_header().split(" ", 1)[1] not in message


def test_http_without_credentials_is_authentication_failed(git_file_remote, git_http_server, fetcher):
    remote = git_file_remote()
    remote.commit({"a": "1"})
    with pytest.raises(AuthenticationFailedError):
        fetcher.resolve(git_http_server.url_for(remote), RefSpec(branch="main"), None, timeout=20)


def test_http_bearer_token_is_sent(git_file_remote, git_http_server, fetcher):
    remote = git_file_remote()
    head = remote.commit({"a": "1"})
    auth = GitAuth.from_secret_data({"bearerToken": git_http_server.token})
    assert fetcher.fetch(git_http_server.url_for(remote), RefSpec(branch="main"), auth).commit == head
    assert set(git_http_server.auth_seen) == {"Bearer"}
    assert git_http_server.token not in _mirror_text(fetcher)

    with pytest.raises(AuthenticationFailedError) as failure:
        fetcher.resolve(
            git_http_server.url_for(remote), RefSpec(branch="main"), GitAuth(bearer_token="nope-token")
        )
    assert "nope-token" not in str(failure.value)


def test_ssh_with_known_host_key(git_file_remote, git_ssh_server, fetcher):
    remote = git_file_remote()
    head = remote.commit({"a": "1"})
    remote.tag("v1.0.0")
    url = git_ssh_server.url_for(remote)
    auth = GitAuth.from_secret_data(
        {"identity": git_ssh_server.identity, "known_hosts": git_ssh_server.known_hosts}
    )
    assert fetcher.fetch(url, RefSpec(branch="main"), auth).commit == head
    assert fetcher.resolve(url, RefSpec(semver="^1"), auth).commit == head
    stored = _mirror_text(fetcher)
    assert "PRIVATE KEY" not in stored
    assert not list(Path(tempfile.gettempdir()).glob("tfc-ssh-*/identity"))  # temporary key files are removed


def test_ssh_changed_host_key_is_refused(git_file_remote, git_ssh_server, fetcher):
    remote = git_file_remote()
    remote.commit({"a": "1"})
    url = git_ssh_server.url_for(remote)
    changed = GitAuth(identity=git_ssh_server.identity, known_hosts=git_ssh_server.wrong_known_hosts)
    with pytest.raises(HostKeyVerificationError) as failure:
        fetcher.resolve(url, RefSpec(branch="main"), changed, timeout=20)
    assert failure.value.reason == "HostKeyVerificationFailed"
    assert "PRIVATE KEY" not in str(failure.value)

    unknown = GitAuth(identity=git_ssh_server.identity)
    with pytest.raises(HostKeyVerificationError):
        fetcher.resolve(url, RefSpec(branch="main"), unknown, timeout=20)


def test_ssh_without_authorised_key_is_authentication_failed(
    git_file_remote, git_ssh_server, fetcher, tmp_path
):
    remote = git_file_remote()
    remote.commit({"a": "1"})
    stranger = GitAuth(known_hosts=git_ssh_server.known_hosts)
    with pytest.raises(AuthenticationFailedError) as failure:
        fetcher.resolve(git_ssh_server.url_for(remote), RefSpec(branch="main"), stranger, timeout=20)
    assert not isinstance(failure.value, HostKeyVerificationError)
