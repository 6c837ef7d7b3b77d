"""The files a run gets from the team's Secrets (issue 20): `spec.fileMappings` and `spec.cliConfigSecretRef`.

One rule for both readers (the controller, for the inputs digest; the runner, with its own identity, for the
run): `read_run_files` selects the Secret keys through the shared `InputReader`, so a missing Secret or key is
`VarsGenerationFailed` naming the field, and every value joins the scrubber's list.

`write_run_files` puts them into the run directory, mode 0600 (directories 0700), refusing to follow a
link the artifact may have planted on the way (a mapped file never lands outside its location); they go
with the run directory. Why `GIT_SSH_COMMAND`: OpenSSH finds `~/.ssh` from the password database, not from
`$HOME`, so keys and `known_hosts` mapped into the run's `HOME` would be ignored; when any file is mapped
under `home/.ssh/`, the run's ssh is told where they are (`-F` its config when mapped, its identities, its
known hosts, host keys checked strictly, never a prompt) — unless the object sets `GIT_SSH_COMMAND` itself.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfcontroller.api.errors import StallingError
from tfcontroller.api.refs import KeyRef
from tfcontroller.api.run_files import FILE_MODE, HOME, CliConfigRef, FileMapping
from tfcontroller.terraform.cli_config import merge_cli_config, parse_fragment, secret_strings
from tfcontroller.terraform.inputs import InputReader

FILE_MAPPING_FAILED = "FileMappingFailed"
GIT_SSH_COMMAND = "GIT_SSH_COMMAND"
# the word after one of these in a mapped file is a secret of its own (`.netrc`: `password s3cr3t`;
# `.gitconfig`: `token = …`): a tool may echo it alone, without the rest of the file
MIN_LINE, MIN_WORD = 12, 6
_SECRET_KEYWORDS = re.compile(r"(?i)\b(?:password|passwd|token|secret)\b\s*[=:]?\s*(\S+)")


@dataclass(frozen=True)
class RunFile:
    location: str
    path: str
    content: str = field(repr=False)


@dataclass(frozen=True)
class RunFiles:
    """What the run writes from Secrets: the parsed CLI configuration fragment and the mapped files."""

    cli_config: dict[str, Any] | None = field(default=None, repr=False)
    files: tuple[RunFile, ...] = ()

    def digest_document(self) -> dict[str, Any]:
        """What the inputs digest hashes (keyed by the caller): a `.gitconfig` rewrite or a `host` block
        changes which module is fetched, so contents count, not only references. Empty when unused, so the
        digest of an object without these fields is what it was before them."""
        if self.cli_config is None and not self.files:
            return {}
        return {"cliConfig": self.cli_config, "files": [[f.location, f.path, f.content] for f in self.files]}


def read_run_files(reader: InputReader, cli_ref: CliConfigRef | None,
                   mappings: Sequence[FileMapping]) -> RunFiles:
    """Read (and parse) what the spec names; the fragment's tokens join `reader.secrets` (the Secret's value
    is there already), so they are scrubbed even when Terraform quotes a single one."""
    fragment = None
    if cli_ref is not None:
        where = "spec.cliConfigSecretRef"
        text = reader.one(KeyRef("Secret", cli_ref.name, cli_ref.key), where)
        assert text is not None  # not optional: a missing Secret or key raised
        fragment = parse_fragment(text, f"{where} (Secret {reader.namespace}/{cli_ref.name} key {cli_ref.key!r})")
        merge_cli_config({}, fragment, where)  # refuse early, before any run starts
        reader.secrets.extend(s for k in ("credentials", "credentials_helper") for s in secret_strings(fragment.get(k)))
    files = []
    for i, m in enumerate(mappings):
        value = reader.one(KeyRef("Secret", m.secret_name, m.key), f"spec.fileMappings[{i}].secretKeyRef")
        assert value is not None
        files.append(RunFile(m.location, m.path, value))
        reader.secrets.extend(file_secret_forms(value))
    return RunFiles(fragment, tuple(files))


def file_secret_forms(content: str) -> list[str]:
    """Parts of a mapped file a log line may show on their own (the whole file is scrubbed anyway): each
    line of at least MIN_LINE characters (a line of a private key) and the word of at least MIN_WORD after
    password/passwd/token/secret (a `.netrc` password). Shorter parts (`}`, `[http]`) would garble every
    message that happens to contain them."""
    lines = [line.strip() for line in content.splitlines() if len(line.strip()) >= MIN_LINE]
    words = [m.group(1) for m in _SECRET_KEYWORDS.finditer(content) if len(m.group(1)) >= MIN_WORD]
    return [*lines, *words] if content.strip() not in lines or words else []


def write_run_files(home: Path, working_dir: Path, files: Iterable[RunFile]) -> list[Path]:
    """Write each file (0600) under its location; returns what was written, for a kept failed workspace."""
    written = []
    for f in files:
        base = home if f.location == HOME else working_dir
        written.append(_write_inside(base, f.path, f.content, f"{f.location}/{f.path}"))
    return written


def _write_inside(base: Path, relative: str, content: str, what: str) -> Path:
    parent = base
    for part in posixpath.dirname(relative).split("/") if posixpath.dirname(relative) else ():
        parent = parent / part
        if parent.is_symlink() or (parent.exists() and not parent.is_dir()):
            raise StallingError(FILE_MAPPING_FAILED, f"spec.fileMappings: cannot write {what}: {parent.name} "
                                                     "in the artifact is a link or a file, not a directory")
        parent.mkdir(mode=0o700, exist_ok=True)
    target = parent / posixpath.basename(relative)
    if target.is_dir() and not target.is_symlink():
        raise StallingError(FILE_MAPPING_FAILED, f"spec.fileMappings: cannot write {what}: the artifact has a "
                                                 "directory there")
    target.unlink(missing_ok=True)  # never write through a file or link the artifact put there
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    with os.fdopen(fd, "w") as out:
        out.write(content)
    return target


def ssh_command(home: Path, files: Iterable[RunFile], env: Mapping[str, str]) -> str | None:
    """The run's GIT_SSH_COMMAND when files are mapped under home/.ssh/ (None: leave ssh as it is)."""
    ssh = [f.path for f in files if f.location == HOME and f.path.startswith(".ssh/")]
    if not ssh or GIT_SSH_COMMAND in env:
        return None
    directory = home / ".ssh"
    args = ["ssh"]
    if ".ssh/config" in ssh:
        args += ["-F", str(directory / "config")]
    known = directory / "known_hosts"
    args += ["-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]
    identities = sorted(p for p in ssh if posixpath.basename(p).startswith("id_") and not p.endswith(".pub"))
    for identity in identities:
        args += ["-i", str(home / identity)]
    if identities:
        args += ["-o", "IdentitiesOnly=yes"]
    return shlex.join(args)


def cli_config_with(ours: Mapping[str, Any], run_files: RunFiles) -> dict[str, Any]:
    """The run's CLI configuration: ours, plus the team's fragment when there is one."""
    if run_files.cli_config is None:
        return dict(ours)
    return merge_cli_config(ours, run_files.cli_config, "spec.cliConfigSecretRef")
