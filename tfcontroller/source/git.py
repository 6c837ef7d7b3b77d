"""Fetch git sources into shared local bare mirrors, cheaply and safely.

Why the shape:
- One bare mirror per URL (directory named by a hash of the URL, never the URL itself, so neither a
  path nor `.git/config` ever holds it): many GitRepositories on one remote share objects and fetches.
- Remotes are fetched by URL with explicit refspecs, never configured as a named remote, and every
  credential comes from `auth.git_env` (environment of that one process), so nothing secret is stored.
- `resolve` needs only `git ls-remote`; a caller whose artifact already has the resolved commit stops
  there. `fetch` skips the network when the mirror already holds the commit, fetches `--depth 1` for
  branches, tags and names, and fetches a bare commit by id (falling back to full history).
- A lock per mirror (a thread lock plus `flock`, so two processes are safe too) serialises writers.
- Every git process has a deadline (GitPython's `kill_after_timeout` kills it and its children).
- Failures are classified once, here, into the types in `errors.py`, with scrubbed messages.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import git

from tfcontroller.api.redact import redact_url, scrub
from tfcontroller.source.artifact import ArchiveInfo, build_archive
from tfcontroller.source.auth import GitAuth, git_env
from tfcontroller.source.errors import (
    AuthenticationFailedError,
    GitOperationFailedError,
    HostKeyVerificationError,
    RefNotFoundError,
    SourceError,
)
from tfcontroller.source.refs import RefSpec, ResolvedRef, format_revision, parse_revision, resolve_ref

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
LOCAL_PREFIX = "refs/tfc/"
_OBJECT_ID = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
MAX_REFS_SCANNED = 256  # beyond this many refs in a mirror, `git cat-file` answers faster

_AUTH_MARKERS = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "returned error: 401",
    "returned error: 403",
    "permission denied (publickey",
    "permission denied, please try again",
    "too many authentication failures",
    "no supported authentication methods",
)
_HOST_KEY_MARKERS = (
    "host key verification failed",
    "remote host identification has changed",
    "no matching host key type",
    "host key for",
)
_REF_MARKERS = (
    "couldn't find remote ref",
    "not our ref",
    "no such remote ref",
    "unadvertised object",
    "upload-pack: not our ref",
)


@dataclass
class FetchStats:
    """Counters for benchmarks and metrics: network round trips and artifact builds."""

    ls_remotes: int = 0
    fetches: int = 0
    repacks: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def bump(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"ls_remotes": self.ls_remotes, "fetches": self.fetches, "repacks": self.repacks}


class RemoteRefs(dict[str, str]):
    """`git ls-remote` output (refname → sha, peeled tags as `refs/tags/x^{}`) plus HEAD's target."""

    head_target: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """A commit present in the local mirror at `mirror_path`, and the revision it stands for."""

    commit: str
    revision: str
    refname: str
    mirror_path: Path


def classify_failure(
    operation: str, url: str, stderr: str, timed_out: bool, secrets: Sequence[str]
) -> SourceError:
    """Map git's stderr to one error type, with a message free of credentials and command lines."""
    where = f"{operation} {redact_url(url)}"
    if timed_out:
        return GitOperationFailedError(f"{where}: timed out")
    lines = [
        ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("Timeout: the command")
    ]
    important = [
        ln
        for ln in lines
        if ln.lower().startswith(("fatal:", "error:", "ssh:", "remote:")) or "permission denied" in ln.lower()
    ]
    detail = scrub("; ".join((important or lines)[-3:]) or "git failed", secrets)
    lowered = stderr.lower()
    if any(m in lowered for m in _HOST_KEY_MARKERS):
        return HostKeyVerificationError(
            f"{where}: host key verification failed (unknown or changed host key)"
        )
    if any(m in lowered for m in _AUTH_MARKERS):
        return AuthenticationFailedError(f"{where}: authentication failed: {detail}")
    if any(m in lowered for m in _REF_MARKERS):
        return RefNotFoundError(f"{where}: {detail}")
    return GitOperationFailedError(f"{where}: {detail}")


class GitFetcher:
    """Resolves and fetches refs of remote repositories into mirrors under `cache_dir`."""

    def __init__(self, cache_dir: Path | str) -> None:
        self.cache_dir = Path(cache_dir).absolute()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.stats = FetchStats()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # ------------------------------------------------------------ process plumbing

    def _run(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        operation: str,
        url: str,
        auth: GitAuth | None = None,
        timeout: float | None = None,
        remote: bool = False,
    ) -> str:
        """Run git with a deadline; raise a classified SourceError on failure."""
        started = time.monotonic()
        secrets = auth.secrets() if auth else []
        with git_env(url if remote else "", auth if remote else None, timeout) as env:
            env["GIT_CEILING_DIRECTORIES"] = str(self.cache_dir.parent)
            status, stdout, stderr = git.Git(str(cwd)).execute(
                ["git", *args],
                env=env,
                kill_after_timeout=timeout,
                with_extended_output=True,
                with_exceptions=False,
            )
        if status != 0:
            timed_out = timeout is not None and time.monotonic() - started >= timeout
            raise classify_failure(operation, url, str(stderr), timed_out, secrets)
        return str(stdout)

    def mirror_path(self, url: str) -> Path:
        return self.cache_dir / hashlib.sha256(url.strip().encode()).hexdigest()[:24]

    @contextmanager
    def _locked_mirror(self, url: str) -> Iterator[Path]:
        path = self.mirror_path(url)
        with self._locks_guard:
            lock = self._locks.setdefault(path.name, threading.Lock())
        with lock, open(path.with_suffix(".lock"), "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                if not (path / "HEAD").exists():
                    tmp = path.with_name(path.name + f".init-{os.getpid()}")
                    self._run(
                        ["init", "--bare", "--quiet", str(tmp)], cwd=self.cache_dir, operation="init", url=url
                    )
                    self._run(["config", "gc.auto", "0"], cwd=tmp, operation="init", url=url)
                    os.replace(tmp, path)
                yield path
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _loose_ref(path: Path, ref: str) -> str | None:
        """The object id in the mirror's loose ref file `ref`, read without a git process; None when it is
        not a loose file (never fetched, packed, another ref storage) or holds something else."""
        if ".." in ref.split("/") or not ref.startswith(LOCAL_PREFIX):
            return None
        try:
            text = (path / ref).read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            return None
        return text if _OBJECT_ID.match(text) else None

    def _known_commit(self, path: Path, local: str, commit: str) -> bool | None:
        """Whether one of our refs names `commit`, when that is cheap to tell: the branch's loose ref, then
        (when it names another commit) the few other loose refs we keep. Refs are set only by a completed
        fetch, so a ref naming a commit means its objects are here. None: ask `git cat-file`."""
        if not local.startswith(LOCAL_PREFIX + "refs/heads/"):  # a branch names a commit, a tag may not
            return None
        current = self._loose_ref(path, local)
        if current is None:
            return None
        if current == commit:
            return True
        seen = 0
        for folder, _dirs, files in os.walk(path / LOCAL_PREFIX.rstrip("/")):
            for filename in files:
                seen += 1
                if seen > MAX_REFS_SCANNED:
                    return None
                if self._loose_ref(path, Path(folder, filename).relative_to(path).as_posix()) == commit:
                    return True
        return False  # a new commit of a branch we fetched before (a push): fetch it

    def _has_commit(self, path: Path, commit: str) -> bool:
        try:
            self._run(["cat-file", "-e", f"{commit}^{{commit}}"], cwd=path, operation="inspect", url="")
        except SourceError:
            return False
        return True

    # ------------------------------------------------------------ public API

    def ls_remote(
        self, url: str, auth: GitAuth | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> RemoteRefs:
        """The remote's refs, without touching any mirror."""
        self.stats.bump("ls_remotes")
        out = self._run(
            ["ls-remote", "--symref", url],
            cwd=self.cache_dir,
            operation="ls-remote",
            url=url,
            auth=auth,
            timeout=timeout,
            remote=True,
        )
        refs = RemoteRefs()
        for line in out.splitlines():
            target, _, name = line.partition("\t")
            if target.startswith("ref: "):
                if name == "HEAD":
                    refs.head_target = target[5:]
                continue
            if name:
                refs[name] = target
        return refs

    def resolve(
        self, url: str, ref_spec: RefSpec, auth: GitAuth | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> ResolvedRef:
        """The commit `ref_spec` means now; one `ls-remote` (none for a bare commit)."""
        ref_spec.validate()
        if ref_spec.kind == "commit":
            return resolve_ref({}, ref_spec)
        refs = self.ls_remote(url, auth, timeout)
        return resolve_ref(refs, ref_spec, refs.head_target)

    def fetch(
        self,
        url: str,
        ref_spec: RefSpec,
        auth: GitAuth | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        resolved: ResolvedRef | None = None,
    ) -> FetchResult:
        """Make the commit `ref_spec` means present in the mirror; pass `resolved` to skip `ls-remote`."""
        resolved = resolved or self.resolve(url, ref_spec, auth, timeout)
        name, _ = parse_revision(resolved.revision)
        local = LOCAL_PREFIX + resolved.refname
        with self._locked_mirror(url) as path:
            known = None if ref_spec.kind == "commit" else self._known_commit(path, local, resolved.commit)
            if known or (known is None and self._has_commit(path, resolved.commit)):
                return FetchResult(resolved.commit, resolved.revision, resolved.refname, path)
            if ref_spec.kind == "commit":
                self._fetch_commit(path, url, ref_spec, resolved, auth, timeout)
                return FetchResult(resolved.commit, resolved.revision, resolved.refname, path)
            self.stats.bump("fetches")
            self._run(
                ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--depth", "1", url,
                 f"+{resolved.refname}:{local}"],
                cwd=path, operation="fetch", url=url, auth=auth, timeout=timeout, remote=True,
            )  # fmt: skip
            commit = self._loose_ref(path, local) if local.startswith(LOCAL_PREFIX + "refs/heads/") else None
            commit = commit or self._run(
                ["rev-parse", f"{local}^{{commit}}"], cwd=path, operation="fetch", url=url
            ).strip()
            # The ref may have moved since ls-remote: report what was actually fetched.
            return FetchResult(commit, format_revision(name, commit), resolved.refname, path)

    def _fetch_commit(
        self,
        path: Path,
        url: str,
        ref_spec: RefSpec,
        resolved: ResolvedRef,
        auth: GitAuth | None,
        timeout: float,
    ) -> None:
        """Fetch a commit by id when the server allows it, else the history that should contain it."""
        common = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"]
        self.stats.bump("fetches")
        try:
            self._run(
                [*common, "--depth", "1", url, f"+{resolved.commit}:{LOCAL_PREFIX}commits/{resolved.commit}"],
                cwd=path, operation="fetch", url=url, auth=auth, timeout=timeout, remote=True,
            )  # fmt: skip
        except RefNotFoundError:
            shallow = self._run(
                ["rev-parse", "--is-shallow-repository"], cwd=path, operation="fetch", url=url
            )
            extra = ["--unshallow"] if shallow.strip() == "true" else []
            if ref_spec.branch:
                refspecs = [f"+refs/heads/{ref_spec.branch}:{LOCAL_PREFIX}refs/heads/{ref_spec.branch}"]
            else:
                refspecs = [
                    f"+refs/heads/*:{LOCAL_PREFIX}refs/heads/*",
                    f"+refs/tags/*:{LOCAL_PREFIX}refs/tags/*",
                ]
            self.stats.bump("fetches")
            self._run(
                [*common, *extra, url, *refspecs],
                cwd=path, operation="fetch", url=url, auth=auth, timeout=timeout, remote=True,
            )  # fmt: skip
        if not self._has_commit(path, resolved.commit):
            raise RefNotFoundError(f"commit {resolved.commit} not found in {redact_url(url)}")
        self._run(
            ["update-ref", f"{LOCAL_PREFIX}commits/{resolved.commit}", resolved.commit],
            cwd=path, operation="fetch", url=url,
        )  # fmt: skip

    def has_commit(self, url: str, commit: str) -> bool:
        """Whether the mirror of `url` already holds `commit` (no network)."""
        path = self.mirror_path(url)
        return (path / "HEAD").exists() and self._has_commit(path, commit)

    def build_artifact(self, result: FetchResult, dest: Path, ignore: Sequence[str] = ()) -> ArchiveInfo:
        """Pack the tree of a fetched commit into a reproducible tar.gz at `dest` (counted as a repack)."""
        self.stats.bump("repacks")
        return build_archive(result.mirror_path, result.commit, dest, ignore)
