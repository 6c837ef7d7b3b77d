"""Typed view of a GitRepository (design.md §3): what to fetch, how often, with which credentials."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tfcontroller.api.access import LabelSelector, parse_access_from
from tfcontroller.api.constants import GITREPOSITORY_KIND
from tfcontroller.api.errors import SpecError
from tfcontroller.api.fields import Fields
from tfcontroller.api.meta import ObjectMeta

REF_KINDS = ("branch", "tag", "semver", "commit", "name")
DEFAULT_TIMEOUT = 60.0
_SCHEME_URL = re.compile(r"^(https?|ssh|file)://.+$")
_SCP_URL = re.compile(r"^[A-Za-z0-9._~-]+@[A-Za-z0-9.-]+:.+$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class GitRef:
    """The one ref to track; None on the spec means the remote's default branch (HEAD)."""

    kind: str  # one of REF_KINDS
    value: str


@dataclass(frozen=True)
class GitRepositorySpec:
    url: str
    interval: float
    ref: GitRef | None = None
    timeout: float = DEFAULT_TIMEOUT
    secret_ref: str | None = None
    ignore: str | None = None
    suspend: bool = False
    # issue 16: namespaces whose objects may use this source (None: its own namespace only)
    access_from: tuple[LabelSelector, ...] | None = None

    @property
    def transport(self) -> str:
        """`https`, `http`, `ssh` (also for scp-like `git@host:path`) or `file`."""
        return self.url.split("://", 1)[0] if "://" in self.url else "ssh"

    @property
    def ignore_patterns(self) -> list[str]:
        """Gitignore lines without blanks and comments."""
        lines = (self.ignore or "").splitlines()
        return [ln for ln in (x.strip() for x in lines) if ln and not ln.startswith("#")]


@dataclass(frozen=True)
class GitRepository:
    meta: ObjectMeta
    spec: GitRepositorySpec
    status: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> GitRepository:
        if obj.get("kind", GITREPOSITORY_KIND) != GITREPOSITORY_KIND:
            raise SpecError("kind", f"expected {GITREPOSITORY_KIND}, got {obj.get('kind')!r}")
        meta = ObjectMeta.from_dict(obj)
        return cls(meta, parse_spec(Fields.at(obj.get("spec"), "spec")), dict(obj.get("status") or {}))

    @property
    def artifact(self) -> dict[str, Any] | None:
        art = self.status.get("artifact")
        return art if isinstance(art, dict) else None


def url_problem(url: str) -> str | None:
    """Why `url` can never name a git remote (None when it might): whitespace or control characters, a
    network URL without a host or with a port that is not a number, an ssh:// or file:// URL without a
    path. Such a URL is a spec error (Stalled) rather than a fetch retried for ever (found by the schema
    fuzz, issue 21: git answered "URL using bad/illegal format" and "no path specified" on every retry)."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return "it contains whitespace or control characters"
    if not _SCHEME_URL.match(url):
        return None  # scp-like user@host:path: its pattern already requires a host and a path
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError as exc:
        return f"{exc}"
    if parts.scheme != "file" and not host:
        return "it names no host"
    if parts.scheme in ("ssh", "file") and parts.path.strip("/") == "":
        return "it names no repository path"
    return None


def parse_spec(f: Fields) -> GitRepositorySpec:
    url = f.req_str("url")
    if not (_SCHEME_URL.match(url) or _SCP_URL.match(url)):
        raise SpecError(f.field("url"), f"unsupported URL {url!r}: use https://, http://, ssh://, file:// "
                                        "or user@host:path")
    if problem := url_problem(url):
        raise SpecError(f.field("url"), f"invalid URL {url!r}: {problem}")
    interval = f.duration("interval", required=True)
    assert interval is not None
    return GitRepositorySpec(
        url=url,
        interval=interval,
        ref=parse_ref(f),
        timeout=f.duration("timeout", default=DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT,
        secret_ref=(sr.req_str("name", non_empty=True) if (sr := f.obj("secretRef")) else None),
        ignore=f.str("ignore"),
        suspend=f.bool("suspend"),
        access_from=parse_access_from(f),
    )


def parse_ref(f: Fields) -> GitRef | None:
    ref = f.obj("ref")
    if ref is None:
        return None
    kind = ref.exactly_one(*REF_KINDS)
    value = ref.req_str(kind, non_empty=True)
    if kind == "commit" and not _COMMIT.match(value):
        raise SpecError(ref.field(kind), "must be a full 40-character lower-case SHA-1")
    if kind == "name" and not value.startswith("refs/"):
        raise SpecError(ref.field(kind), "must be a full reference name such as refs/pull/1/head")
    return GitRef(kind, value)
