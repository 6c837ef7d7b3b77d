"""Reproducible artifacts: a tar.gz of a commit's tree, and content digests of paths inside it.

Why reproducible: the artifact's sha256 is what tells dependants "the content changed". Entries are
sorted, owners are 0/"" and mtimes 0, modes are normalised (0644, 0755 for executables and
directories, 0777 for symlinks) and the gzip header carries no name or time, so two builds of the same
content, on any machine, give the same bytes. The tree is read from the mirror's object database (no
checkout, so no `.git` and no filesystem metadata can leak in); `ignore` uses gitignore syntax.

`module_inputs(artifact, path)` hashes what a Terraform run at `path` depends on (design.md §4.1, §4.9):
the files under `path`, the local modules (`source = "./…"` or `"../…"`) its code calls, transitively,
and every file those modules read that `module_reads` resolves statically (`file`, `templatefile`,
`fileset`…, paths built from `path.*`). A commit that only touches other files leaves it unchanged, so
the Terraform controller does not re-plan. When a read cannot be resolved statically the digest covers
the whole artifact instead, and `ModuleInputs.widened` says why (the controller reports it in status).
`digest_of` is its digest alone.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import posixpath
import re
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
import pathspec

from tfcontroller.api import artifact_bounds
from tfcontroller.api.refs import artifact_relative
from tfcontroller.source.digest import file_sha256
from tfcontroller.source.errors import ArtifactTooLargeError, InvalidSpecError, PathNotFoundError
from tfcontroller.source.module_reads import is_tfvars, module_reads, template_problems

_BLOB, _EXECUTABLE, _SYMLINK = 0o100644, 0o100755, 0o120000
_FULL_ID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


@dataclass(frozen=True)
class ArchiveInfo:
    """What `build_archive` wrote: `digest` is `sha256:<hex>` of the tar.gz bytes."""

    path: Path
    digest: str
    size: int
    entries: int

    @property
    def digest_hex(self) -> str:
        return self.digest.split(":", 1)[1]


def ignore_spec(ignore: str | Sequence[str] | None) -> pathspec.PathSpec[Any]:
    """A gitignore matcher from `spec.ignore` (one multi-line string, as in Flux, or a list)."""
    lines = ignore.splitlines() if isinstance(ignore, str) else list(ignore or [])
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except (ValueError, TypeError) as exc:
        raise InvalidSpecError(f"invalid ignore pattern: {exc}") from exc


def _tarinfo(name: str, kind: bytes, mode: int, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, linkname
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info


def _directories(paths: Iterable[str]) -> set[str]:
    """Every directory above `paths` (the root excluded): the archive's directory entries."""
    directories: set[str] = set()
    for path in paths:
        d = posixpath.dirname(path)
        while d and d not in directories:
            directories.add(d)
            d = posixpath.dirname(d)
    return directories


def check_artifact_bounds(commit: str, entries: int, size: int, max_entries: int | None = None,
                          max_bytes: int | None = None) -> None:
    """Refuse a tree above the artifact bounds (api/artifact_bounds.py: the process's, from
    `--artifact-max-entries`/`--artifact-max-bytes`, unless given) before any file of it is read: a push
    of a huge file or of a many-file tree must not fill the controller's memory or disk (issue 21). Every
    run would refuse such an artifact anyway (terraform/archive.py counts the same bounds)."""
    bounds = artifact_bounds.current()
    max_entries = bounds.max_entries if max_entries is None else max_entries
    max_bytes = bounds.max_bytes if max_bytes is None else max_bytes
    if entries > max_entries:
        raise ArtifactTooLargeError(f"commit {commit[:12]} has {entries} files and directories, more than "
                                    f"{max_entries}: exclude what the runs do not need with spec.ignore, or "
                                    "raise the controller's --artifact-max-entries")
    if size > max_bytes:
        raise ArtifactTooLargeError(f"commit {commit[:12]} holds {size} bytes of files, more than {max_bytes}: "
                                    "exclude large files with spec.ignore, or raise the controller's "
                                    "--artifact-max-bytes")


def build_archive(
    repo_path: Path | str, commit: str, dest: Path | str, ignore: str | Sequence[str] | None = None, *,
    max_entries: int | None = None, max_bytes: int | None = None,
) -> ArchiveInfo:
    """Write the tree of `commit` in the git repository at `repo_path` to `dest` (atomically); a tree
    above the bounds is refused before any file is read (`ArtifactTooLargeError`)."""
    spec = ignore_spec(ignore)
    dest = Path(dest)
    repo = git.Repo(str(repo_path))
    try:
        # A full object id is read as a commit directly: repo.commit() would first ask a second git
        # process (cat-file --batch-check) what the object is; reading it fails the same way if absent.
        target = git.Commit(repo, bytes.fromhex(commit)) if _FULL_ID.match(commit) else repo.commit(commit)
        blobs = [item for item in target.tree.traverse()  # trees are implied by their files; submodules
                 if isinstance(item, git.Blob) and not spec.match_file(item.path)]  # are not part of it
        directories = _directories(str(b.path) for b in blobs)
        check_artifact_bounds(commit, len(blobs) + len(directories), sum(b.size for b in blobs),
                              max_entries, max_bytes)
        files = [(str(b.path), b.mode, b.data_stream.read()) for b in blobs]  # read only once bounded
    finally:
        repo.close()
    entries: list[tuple[str, tarfile.TarInfo, bytes | None]] = [
        (d, _tarinfo(d, tarfile.DIRTYPE, 0o755), None) for d in directories
    ]
    for path, mode, data in files:
        if mode == _SYMLINK:
            entries.append(
                (path, _tarinfo(path, tarfile.SYMTYPE, 0o777, linkname=data.decode("utf-8")), None)
            )
        else:
            perm = 0o755 if mode == _EXECUTABLE else 0o644
            entries.append((path, _tarinfo(path, tarfile.REGTYPE, perm, size=len(data)), data))
    entries.sort(key=lambda e: e[0])

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".tar.gz", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    for _, info, content in entries:
                        tar.addfile(info, io.BytesIO(content) if content is not None else None)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        os.unlink(tmp)
        raise
    return ArchiveInfo(dest, "sha256:" + file_sha256(dest), dest.stat().st_size, len(entries))


# ---------------------------------------------------------------- per-path digests


def normalize_path(path: str) -> str:
    """`./infra/tf/` → `infra/tf`; "", "." or "/" → "" (the root). Refuse paths leaving the artifact."""
    cleaned = artifact_relative(path)
    if cleaned is None:
        raise InvalidSpecError(f"path {path!r} leaves the source")
    return cleaned


@dataclass(frozen=True)
class _Entry:
    kind: str
    mode: int
    content_sha: str
    link: str = ""  # a symlink's target, relative to its directory


def _under(path: str, directory: str) -> bool:
    return not directory or path == directory or path.startswith(directory + "/")


@dataclass(frozen=True)
class ModuleInputs:
    """The module digest and, when it had to cover the whole artifact, why (empty: the module only)."""

    digest: str
    widened: tuple[str, ...] = ()


def digest_of(artifact_path: Path | str, path: str = "") -> str:
    """`sha256:<hex>` over what the module at `path` depends on (see `module_inputs`)."""
    return module_inputs(artifact_path, path).digest


def module_inputs(artifact_path: Path | str, path: str = "", provided_vars: Iterable[str] = (),
                  known_vars: Mapping[str, str] | None = None, workspace: str | None = None) -> ModuleInputs:
    """The digest over the files under `path`, the local modules it calls (transitively) and the files
    they read; over the whole artifact when a read cannot be resolved statically. `provided_vars`: root
    variables set from outside the module (their defaults do not resolve paths); `known_vars`: the
    values among them that are public literals; `workspace`: `terraform.workspace` (see module_reads)."""
    root = normalize_path(path)
    entries, terraform_files, directories = _scan(artifact_path)
    if root not in directories and root not in entries:
        raise PathNotFoundError(f"path {path!r} not found in the artifact")

    # The module directories come from `module_reads`, the one module-call discovery: it follows every
    # local `module` call (literal or evaluated `source`), and anything it cannot follow widens the digest.
    reads = module_reads(terraform_files, root, set(provided_vars), known_vars, workspace)
    covered = {root} | {d for d in reads.modules if d in directories} | reads.paths
    widened = list(reads.unresolved)
    templates = sorted(n for n in entries if any(_under(n, t) for t in reads.templates))
    for name, text in _read_texts(artifact_path, templates).items():
        widened.extend(template_problems(name, text))
    covered = {""} if widened else _follow_links(entries, covered)
    digest = hashlib.sha256()
    if widened:
        digest.update(b"scope\0artifact\n")
    for name in sorted(entries):
        if any(_under(name, d) for d in covered) or name == root:
            entry = entries[name]
            digest.update(f"{entry.kind}\0{name}\0{entry.mode:o}\0{entry.content_sha}\n".encode())
    return ModuleInputs("sha256:" + digest.hexdigest(), tuple(widened))


def _follow_links(entries: dict[str, _Entry], covered: set[str]) -> set[str]:
    """Add the targets of covered symlinks (inside the artifact): reading the link reads them."""
    covered = set(covered)
    todo = [n for n, e in entries.items() if e.link and any(_under(n, d) for d in covered)]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), entries[name].link))
        if target.startswith("../") or target == ".." or entries[name].link.startswith("/"):
            continue  # extraction refuses links leaving the tree
        target = "" if target == "." else target
        covered.add(target)
        todo.extend(n for n, e in entries.items() if e.link and n not in seen and _under(n, target))
    return covered


def _scan(artifact_path: Path | str) -> tuple[dict[str, _Entry], dict[str, dict[str, str]], set[str]]:
    """Every entry's digest, the Terraform and tfvars files' texts by directory, and the directories."""
    entries: dict[str, _Entry] = {}
    terraform_files: dict[str, dict[str, str]] = {}  # directory → {filename: text}
    directories: set[str] = {""}
    with tarfile.open(artifact_path, "r:gz") as tar:
        for member in bounded_members(tar):
            name = posixpath.normpath(member.name).lstrip("/")
            if member.isdir():
                directories.add(name)
                continue
            if member.issym():
                entries[name] = _Entry("l", 0o777, hashlib.sha256(member.linkname.encode()).hexdigest(),
                                       member.linkname)
                continue
            if not member.isfile():
                continue
            directory, filename = posixpath.split(name)
            wanted = filename.endswith((".tf", ".tf.json")) or is_tfvars(filename)
            content_sha, data = _hash_member(tar, member, keep=wanted)
            entries[name] = _Entry("f", member.mode & 0o777, content_sha)
            if wanted:
                terraform_files.setdefault(directory, {})[filename] = data.decode("utf-8", "replace")
            parent = directory
            while parent:
                directories.add(parent)
                parent = posixpath.dirname(parent)
    return entries, terraform_files, directories


def bounded_members(tar: tarfile.TarFile, max_entries: int | None = None,
                    max_bytes: int | None = None) -> Iterator[tarfile.TarInfo]:
    """The members of `tar`, refused (`ArtifactTooLargeError`) as soon as there are more than
    `max_entries` or their sizes add up to more than `max_bytes`, before the member that crosses the bound
    is read: every reader of an artifact holds at most the bound in memory, whatever the archive claims
    further on (a tar bomb, a 2 GiB file: issue 21). A member's size is what `extractfile` will produce.
    The bounds are the process's (api/artifact_bounds.py) unless given."""
    bounds = artifact_bounds.current()
    max_entries = bounds.max_entries if max_entries is None else max_entries
    max_bytes = bounds.max_bytes if max_bytes is None else max_bytes
    size = 0
    for entries, member in enumerate(tar, start=1):
        size += member.size if member.isfile() else 0
        if entries > max_entries or size > max_bytes:
            raise ArtifactTooLargeError(
                f"the artifact has more than {max_entries} entries or {max_bytes} bytes of files (at "
                f"{member.name!r}): exclude what runs do not need with the GitRepository's spec.ignore, or "
                "raise the controller's --artifact-max-entries / --artifact-max-bytes")
        yield member


def _hash_member(tar: tarfile.TarFile, member: tarfile.TarInfo, keep: bool) -> tuple[str, bytes]:
    """sha256 of a file member, read in chunks; its bytes too when `keep` (Terraform files)."""
    handle = tar.extractfile(member)
    digest, kept = hashlib.sha256(), bytearray()
    if handle is not None:
        with handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                if keep:
                    kept += chunk
    return digest.hexdigest(), bytes(kept)


_MAX_LINKS = 8  # a chain of links longer than this is treated as missing (a loop)


def read_files(artifact_path: Path | str, names: Sequence[str]) -> dict[str, bytes]:
    """The contents of the named regular files (artifact-relative), following symlinks that stay inside
    the artifact, as the extraction does; a name that is missing, a directory or a link leaving the tree
    is absent from the result (the caller says what to fix). For spec.tfVarsFiles: read for the inputs
    digest and the variables they set before any run."""
    with tarfile.open(artifact_path, "r:gz") as tar:
        entries = {posixpath.normpath(m.name).lstrip("/"): m for m in bounded_members(tar)}
        targets: dict[str, str] = {}  # wanted → the regular file it reads
        for wanted in names:
            name = wanted
            for _ in range(_MAX_LINKS):
                member = entries.get(name)
                if member is None or not member.issym() or member.linkname.startswith("/"):
                    break
                name = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
            target = entries.get(name)
            if target is not None and target.isfile() and not (name == ".." or name.startswith("../")):
                targets[wanted] = name
        found: dict[str, bytes] = {}
        for wanted, name in targets.items():
            handle = tar.extractfile(entries[name])
            found[wanted] = handle.read() if handle else b""
    return found


def _read_texts(artifact_path: Path | str, names: Sequence[str]) -> dict[str, str]:
    """The texts of a few members (templates), read in a second pass only when there are any."""
    if not names:
        return {}
    wanted, found = set(names), {}
    with tarfile.open(artifact_path, "r:gz") as tar:
        for member in bounded_members(tar):
            name = posixpath.normpath(member.name).lstrip("/")
            if name in wanted and member.isfile():
                handle = tar.extractfile(member)
                found[name] = (handle.read() if handle else b"").decode("utf-8", "replace")
    return found
