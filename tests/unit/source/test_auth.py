"""Pure credential handling: Secret data parsing, the per-process git environment (HTTP header only in
GIT_CONFIG_* variables, strict SSH options, 0600 key files removed afterwards), URL kinds, scrubbing of
secrets from messages, and classification of git's stderr into error types."""

from __future__ import annotations

import base64
import os
import shlex
import stat
from pathlib import Path

from tfcontroller.api.redact import scrub
from tfcontroller.source.auth import GitAuth, git_env, is_http_url, is_ssh_url
from tfcontroller.source.errors import (
    AuthenticationFailedError,
    GitOperationFailedError,
    HostKeyVerificationError,
    RefNotFoundError,
)
from tfcontroller.source.git import classify_failure

KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----"


def _config(env: dict[str, str]) -> list[tuple[str, str]]:
    return [
        (env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"])
        for i in range(int(env["GIT_CONFIG_COUNT"]))
    ]


def test_secret_data_and_repr():
    auth = GitAuth.from_secret_data({"username": b"me\n", "password": b"s3cret", "bearerToken": "tok"})
    assert (auth.username, auth.password, auth.bearer_token) == ("me", "s3cret", "tok")
    assert "s3cret" not in repr(auth) and "tok'" not in repr(auth)
    assert auth.authorization_header() == "Basic " + base64.b64encode(b"me:s3cret").decode()
    assert GitAuth(bearer_token="tok").authorization_header() == "Bearer tok"
    assert GitAuth().authorization_header() is None


def test_http_env_carries_header_only_in_config_variables():
    auth = GitAuth(username="me", password="s3cret")
    with git_env("https://git.example/repo.git", auth) as env:
        config = _config(env)
    assert ("http.extraHeader", "") in config  # inherited headers reset first
    assert ("http.extraHeader", "Authorization: " + auth.authorization_header()) in config
    assert ("credential.helper", "") in config
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert "GIT_SSH_COMMAND" not in env
    with git_env("https://git.example/repo.git", None) as env:
        assert not any(k == "http.extraHeader" and v for k, v in _config(env))


def test_ssh_env_uses_strict_host_keys_and_private_files():
    auth = GitAuth(identity=KEY, known_hosts=b"[h]:22 ssh-ed25519 AAAA")
    with git_env("ssh://git@h:22/repo.git", auth, connect_timeout=7) as env:
        args = shlex.split(env["GIT_SSH_COMMAND"])
        options = dict(a.split("=", 1) for a in args if "=" in a)
        key, known = options["IdentityFile"], options["UserKnownHostsFile"]
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(key)).st_mode) == 0o700
        assert Path(known).read_bytes() == b"[h]:22 ssh-ed25519 AAAA\n"
        assert options["StrictHostKeyChecking"] == "yes" and options["IdentitiesOnly"] == "yes"
        assert options["BatchMode"] == "yes" and options["ConnectTimeout"] == "7"
        assert KEY.decode() not in env["GIT_SSH_COMMAND"]
    assert not os.path.exists(key) and not os.path.exists(os.path.dirname(key))


def test_url_kinds():
    assert is_http_url("https://h/r") and not is_http_url("ssh://h/r")
    for url in ("ssh://git@h/r", "git@github.com:org/repo.git", "h:repo"):
        assert is_ssh_url(url)
    for url in ("https://h/r", "file:///tmp/r", "/tmp/r", "./r:x"):
        assert not is_ssh_url(url)


def test_scrub():
    assert scrub("fatal: https://user:pw@h/r failed") == "fatal: https://***@h/r failed"
    assert scrub("https://TOKEN@h/r") == "https://***@h/r"
    assert scrub("ssh://git@h/r") == "ssh://git@h/r"
    assert scrub("ssh://git:pw@h/r") == "ssh://git:***@h/r"
    assert scrub("header s3cret here", ["s3cret"]) == "header *** here"
    auth = GitAuth(username="me", password="pw-123", identity=KEY)
    text = f"{auth.authorization_header()} {KEY.decode()} pw-123"
    scrubbed = scrub(text, auth.secrets())
    assert "pw-123" not in scrubbed and "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ" not in scrubbed
    assert base64.b64encode(b"me:pw-123").decode() not in scrubbed


def test_classification():
    url = "https://u:pw@h/r.git"
    cases = [
        ("fatal: Authentication failed for 'https://h/r.git/'", AuthenticationFailedError),
        ("fatal: could not read Username for 'https://h': terminal prompts disabled", AuthenticationFailedError),
        ("fatal: unable to access 'x': The requested URL returned error: 403", AuthenticationFailedError),
        ("git@h: Permission denied (publickey).\nfatal: Could not read from remote repository.",
         AuthenticationFailedError),
        ("Host key verification failed.\nfatal: Could not read from remote repository.", HostKeyVerificationError),
        ("fatal: couldn't find remote ref refs/heads/x", RefNotFoundError),
        ("fatal: unable to access 'x': Could not resolve host: h", GitOperationFailedError),
    ]  # fmt: skip
    for stderr, kind in cases:
        error = classify_failure("fetch", url, stderr, False, ["pw"])
        assert type(error) is kind, stderr
        assert "pw" not in str(error) and "https://***@h/r.git" in str(error)
    timeout = classify_failure("fetch", url, "Authentication failed", True, [])
    assert type(timeout) is GitOperationFailedError and "timed out" in str(timeout)
