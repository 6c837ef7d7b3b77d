"""The one safe extraction of a source artifact, for every consumer (Terraform runs, ManifestSets).

An artifact comes from a Git repository anyone with push access controls, so a member is refused (the whole
extraction fails, naming it) when its path is absolute or contains `..`, when it is a link whose target
resolves outside the tree, when it is a hardlink to anything but a file extracted earlier, when it is a
device, FIFO or other special file, or when it would overwrite a path already extracted (a classic way to
swap a directory for a link mid-archive). Links are checked with `realpath` against the files on disk,
once when created and again after the last member, because a later member can change where an earlier
relative link points. Files are written without setuid/setgid bits and without group/world access.

Size is bounded too (a few kilobytes of gzip can unpack to gigabytes): more members or more bytes of file
content than the process's artifact bounds (api/artifact_bounds.py: by default 5,000 entries, 256 MiB, the
bound on what one run directory can hold; `--artifact-max-entries`/`--artifact-max-bytes` change both) is refused (`ArtifactTooLarge`, Stalled: the same commit can only
fail again; the fix is to exclude large files with the GitRepository's `ignore`). Bytes are counted as
written, not trusted from the member headers.

It lives in `terraform/` because `terraform/workspace.py` extracts into a run directory and `source` and
`terraform` are sibling layers; the ManifestSet controller imports it from here.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
from pathlib import Path

from tfcontroller.api import artifact_bounds
from tfcontroller.api.refs import artifact_relative
from tfcontroller.terraform.errors import ArtifactError, MaliciousArtifactError

_CHUNK = 1 << 20


class _Budget:
    """What an extraction may still write: members and bytes (`ArtifactTooLarge` once exceeded)."""

    def __init__(self, max_members: int, max_bytes: int) -> None:
        self.members, self.bytes = max_members, max_bytes
        self.max_members, self.max_bytes = max_members, max_bytes

    def member(self) -> None:
        self.members -= 1
        if self.members < 0:
            raise ArtifactError("ArtifactTooLarge", f"the artifact has more than {self.max_members} entries; "
                                "exclude what the run does not need with the GitRepository's spec.ignore, or "
                                "raise the controller's --artifact-max-entries")

    def spend(self, size: int) -> None:
        self.bytes -= size
        if self.bytes < 0:
            raise ArtifactError("ArtifactTooLarge", f"the artifact unpacks to more than {self.max_bytes} "
                                "bytes; exclude large files with the GitRepository's spec.ignore, or raise the "
                                "controller's --artifact-max-bytes")


def safe_member_path(name: str) -> str:
    """The member's normalised relative path; raises MaliciousArtifactError if it could escape."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise MaliciousArtifactError(name, "absolute path")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise MaliciousArtifactError(name, "path contains '..'")
    return "/".join(parts)


def _inside(root: Path, path: str | Path) -> bool:
    real = os.path.realpath(path)
    return real == str(root) or real.startswith(str(root) + os.sep)


def extract_artifact(tar_path: str | os.PathLike[str], dest: str | os.PathLike[str], *,
                     max_members: int | None = None, max_bytes: int | None = None) -> None:
    """Extract the tarball (any compression tarfile knows) into `dest`, which must be empty or absent,
    within the process's artifact bounds unless others are given."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    bounds = artifact_bounds.current()
    budget = _Budget(bounds.max_entries if max_members is None else max_members,
                     bounds.max_bytes if max_bytes is None else max_bytes)
    root = Path(os.path.realpath(dest))
    links: list[tuple[str, Path]] = []
    try:
        archive = tarfile.open(tar_path, "r:*")  # noqa: SIM115 - closed in finally below
    except (tarfile.TarError, OSError) as exc:
        raise ArtifactError("ArtifactFailed", f"cannot open artifact: {exc}") from None
    try:
        for member in archive:
            budget.member()
            rel = safe_member_path(member.name)
            if not rel:
                continue
            target = root / rel
            if not _inside(root, target.parent):
                raise MaliciousArtifactError(member.name, "parent directory resolves outside the tree")
            if member.isdir():
                if target.is_symlink() or (os.path.lexists(target) and not target.is_dir()):
                    raise MaliciousArtifactError(member.name, "overwrites an existing path")
                _make_dirs(member, target)
                continue
            if os.path.lexists(target):
                raise MaliciousArtifactError(member.name, "overwrites an existing path")
            _make_dirs(member, target.parent)
            if member.issym():
                if member.linkname.startswith("/"):
                    raise MaliciousArtifactError(member.name, f"symlink to absolute path {member.linkname!r}")
                os.symlink(member.linkname, target)
                if not _inside(root, target):
                    target.unlink()
                    raise MaliciousArtifactError(member.name, f"symlink target {member.linkname!r} leaves the tree")
                links.append((member.name, target))
            elif member.islnk():
                try:
                    source = root / safe_member_path(member.linkname)
                except MaliciousArtifactError:
                    raise MaliciousArtifactError(member.name, f"hardlink to {member.linkname!r}") from None
                if not _inside(root, source) or not source.is_file():
                    raise MaliciousArtifactError(member.name, f"hardlink target {member.linkname!r} is not a "
                                                              "file extracted earlier")
                budget.spend(source.stat().st_size)
                shutil.copyfile(source, target, follow_symlinks=True)
            elif member.isreg():
                _write_file(archive, member, target, budget)
            else:
                raise MaliciousArtifactError(member.name, "device, FIFO or other special file")
    except tarfile.TarError as exc:
        raise ArtifactError("ArtifactFailed", f"corrupt artifact: {exc}") from None
    finally:
        archive.close()
    for name, link in links:
        if not _inside(root, link):
            raise MaliciousArtifactError(name, "symlink resolves outside the tree")


def _make_dirs(member: tarfile.TarInfo, directory: Path) -> None:
    """Create `directory` and its parents; a file already standing where one must go refuses the member."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise MaliciousArtifactError(member.name, "a parent directory is an existing file") from None


def _write_file(archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path, budget: _Budget) -> None:
    src = archive.extractfile(member)
    if src is None:
        raise MaliciousArtifactError(member.name, "unreadable file")
    mode = 0o700 if member.mode & 0o111 else 0o600  # never setuid/setgid, never group/world access
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with src, os.fdopen(fd, "wb") as out:
        while chunk := src.read(_CHUNK):
            budget.spend(len(chunk))
            out.write(chunk)


# what inspecting a module reads of its directory: its Terraform files and the variables files Terraform
# loads by itself (terraform.tfvars[.json], *.auto.tfvars[.json]: inspect.AUTO_VAR_FILES)
MODULE_FILE_SUFFIXES = (".tf", ".tf.json", ".tfvars", ".tfvars.json")


def read_module_files(tar_path: str | os.PathLike[str], subpath: str) -> dict[str, bytes] | None:
    """The Terraform files (`*.tf`, `*.tf.json`) and variables files directly in directory `subpath` of the artifact, read
    without extracting it, for inspecting a module. None when the archive holds anything that
    `extract_artifact` would have to judge (a link, a special file, a name that is absolute, has `..` or
    repeats, more entries or bytes than the bounds) or `subpath` is not a directory in it: the caller
    then extracts, with every check."""
    root = artifact_relative(subpath)
    if root is None:
        return None
    files: dict[str, bytes] = {}
    seen: set[str] = set()
    directories = {""}
    size = 0
    bounds = artifact_bounds.current()
    try:
        with tarfile.open(tar_path, "r:*") as archive:
            for member in archive:
                size += member.size if member.isreg() else 0
                if len(seen) >= bounds.max_entries or size > bounds.max_bytes:
                    return None  # above the bounds: the extraction refuses it (ArtifactTooLarge)
                try:
                    name = safe_member_path(member.name)
                except MaliciousArtifactError:
                    return None
                if not name:
                    continue
                if name in seen or not (member.isreg() or member.isdir()):
                    return None
                seen.add(name)
                parent = posixpath.dirname(name)
                if member.isdir():
                    directories.add(name)
                elif parent == root and name.endswith(MODULE_FILE_SUFFIXES):
                    handle = archive.extractfile(member)
                    if handle is None:
                        return None
                    with handle:
                        files[posixpath.basename(name)] = handle.read()
                while parent:
                    directories.add(parent)
                    parent = posixpath.dirname(parent)
    except (tarfile.TarError, OSError):
        return None
    return files if root in directories and root not in (seen - directories) else None


def resolve_subpath(root: Path, subpath: str) -> Path:
    """`root/subpath` as a directory inside root; a missing or escaping path is a StallingError."""
    rel = artifact_relative(subpath)
    if rel is None:
        raise ArtifactError("PathNotFound", f"path {subpath!r} leaves the artifact")
    path = root / rel if rel else root
    if not _inside(Path(os.path.realpath(root)), path) or not path.is_dir():
        raise ArtifactError("PathNotFound", f"path {subpath!r} not found in the artifact")
    return path
