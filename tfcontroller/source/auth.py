"""Git credentials from a Secret, applied only through the environment of one git process.

Why the environment: a credential written into a URL ends up in `.git/config`, in GitPython's command
line logging and in git's own error text; one written into config persists on disk. Here HTTP
credentials travel as `http.extraHeader` through `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n`
(read by that one process, never stored), and SSH keys live in a private temporary directory that is
removed when the operation ends. SSH always checks host keys strictly against the given `known_hosts`:
an unknown or changed host key is refused, never trusted on first use.
"""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8").strip()
    return value.strip()


def _bytes(value: bytes | str | None) -> bytes | None:
    if value is None:
        return None
    return value.encode("utf-8") if isinstance(value, str) else value


@dataclass(frozen=True, repr=False)
class GitAuth:
    """Credentials for one remote; `repr` never shows a value."""

    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None
    identity: bytes | None = None
    known_hosts: bytes | None = None

    @classmethod
    def from_secret_data(cls, data: Mapping[str, bytes | str]) -> GitAuth:
        """Read the keys design.md §3 names from already base64-decoded Secret data."""
        return cls(
            username=_text(data.get("username")),
            password=_text(data.get("password")),
            bearer_token=_text(data.get("bearerToken")),
            identity=_bytes(data.get("identity")),
            known_hosts=_bytes(data.get("known_hosts")),
        )

    def __repr__(self) -> str:
        present = [
            k for k in ("username", "password", "bearer_token", "identity", "known_hosts") if getattr(self, k)
        ]
        return f"GitAuth(keys={present})"

    def authorization_header(self) -> str | None:
        """The HTTP Authorization header value, basic auth first, else a bearer token."""
        if self.username is not None or self.password is not None:
            raw = f"{self.username or ''}:{self.password or ''}".encode()
            return "Basic " + base64.b64encode(raw).decode("ascii")
        if self.bearer_token:
            return "Bearer " + self.bearer_token
        return None

    def secrets(self) -> list[str]:
        """Every string that must never appear in a message, longest first (so parts do not leak)."""
        found: list[str] = []
        for value in (self.password, self.bearer_token):
            if value:
                found.append(value)
        header = self.authorization_header()
        if header:
            found.append(header.split(" ", 1)[1])
        if self.identity:
            text = self.identity.decode("utf-8", "replace")
            found.append(text.strip())
            found.extend(line for line in text.splitlines() if len(line) >= 16 and "PRIVATE KEY" not in line)
        return sorted(set(found), key=len, reverse=True)


def is_http_url(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def is_ssh_url(url: str) -> bool:
    if url.startswith(("ssh://", "git+ssh://", "ssh+git://")):
        return True
    # scp-like syntax: [user@]host:path, with no scheme and the colon before any slash.
    if "://" in url:
        return False
    colon, slash = url.find(":"), url.find("/")
    return colon > 0 and (slash == -1 or colon < slash)


_BASE_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "",
    "SSH_ASKPASS": "",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_SSH_VARIANT": "ssh",
}


def _config_env(entries: list[tuple[str, str]]) -> dict[str, str]:
    env = {"GIT_CONFIG_COUNT": str(len(entries))}
    for i, (key, value) in enumerate(entries):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def _write_private(path: str, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content if content.endswith(b"\n") else content + b"\n")


@contextmanager
def git_env(url: str, auth: GitAuth | None, connect_timeout: float | None = None) -> Iterator[dict[str, str]]:
    """Environment for one git process talking to `url`; temporary key files vanish on exit.

    Always isolates git from system/global config (no credential helper can store what we pass) and
    disables prompts, so a missing or wrong credential fails fast instead of hanging.
    """
    auth = auth or GitAuth()
    env = dict(_BASE_ENV)
    # Reset any inherited values first: an empty value clears the multi-valued list.
    config: list[tuple[str, str]] = [("credential.helper", ""), ("http.extraHeader", ""), ("gc.auto", "0")]
    tmpdir: str | None = None
    try:
        if is_http_url(url):
            header = auth.authorization_header()
            if header:
                config.append(("http.extraHeader", f"Authorization: {header}"))
        elif is_ssh_url(url):
            tmpdir = tempfile.mkdtemp(prefix="tfc-ssh-")
            os.chmod(tmpdir, 0o700)
            known_hosts = os.path.join(tmpdir, "known_hosts")
            _write_private(known_hosts, auth.known_hosts or b"")
            options = [
                "-F", os.devnull,
                "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={known_hosts}",
                "-o", f"GlobalKnownHostsFile={os.devnull}",
                "-o", "IdentitiesOnly=yes",
                "-o", "IdentityAgent=none",
                "-o", "PasswordAuthentication=no",
                "-o", "KbdInteractiveAuthentication=no",
            ]  # fmt: skip
            if connect_timeout:
                options += ["-o", f"ConnectTimeout={max(1, int(connect_timeout))}"]
            if auth.identity:
                key = os.path.join(tmpdir, "identity")
                _write_private(key, auth.identity)
                options += ["-o", f"IdentityFile={key}"]
            else:
                options += ["-o", "IdentityFile=none"]
            env["GIT_SSH_COMMAND"] = shlex.join(["ssh", *options])
        env.update(_config_env(config))
        yield env
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
