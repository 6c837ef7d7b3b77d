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

import json
import os
import posixpath
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfcontroller.api.errors import StallingError
from tfcontroller.api.redact import MIN_SECRET_LENGTH, sensitive_texts
from tfcontroller.api.refs import KeyRef
from tfcontroller.api.run_files import FILE_MODE, HOME, CliConfigRef, FileMapping
from tfcontroller.terraform.cli_config import merge_cli_config, parse_fragment, secret_strings
from tfcontroller.terraform.file_secrets import secret_forms, structure_of
from tfcontroller.terraform.inputs import InputReader

FILE_MAPPING_FAILED = "FileMappingFailed"
GIT_SSH_COMMAND = "GIT_SSH_COMMAND"
TFVARS_SUFFIXES = (".tfvars", ".tfvars.json")


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
        """What the inputs digest (and the init key) hashes, keyed by the caller. The rule: what changes
        what a run fetches or what the module reads counts; what only proves who the run is does not, so that
        rotating a token (a `credentials` block's, a `.netrc` password, a key, an external-secrets refresh)
        neither re-plans nor discards a pending manual approval.
        - the fragment: every setting (a `host` block changes where modules come from), but of `credentials`
          and `credentials_helper` blocks only the labels (hosts) and the names of their keys;
        - a file under `workingDir`: its whole content (the module reads it: a `.auto.tfvars`, a CA file);
        - a file under `home` (git, ssh, .netrc: tool configuration): its location and path, and its content
          with every secret part replaced where it stands (terraform/file_secrets.structure_of: the files git,
          ssh and curl read are parsed, so a `.gitconfig` `insteadOf` target, an `.ssh/config` `Host` or
          `HostName`, a `.netrc` machine and login still count, URL paths included; passwords, tokens and
          keys do not).
        Empty when unused, so the digest of an object without these fields is what it was before them."""
        if self.cli_config is None and not self.files:
            return {}
        return {"cliConfig": _fragment_structure(self.cli_config),
                "files": [[f.location, f.path, structure_of(f.content, f.path) if f.location == HOME else f.content]
                          for f in self.files]}


def _fragment_structure(fragment: dict[str, Any] | None) -> dict[str, Any] | None:
    """The fragment with its credential blocks reduced to labels and key names (their values are secrets)."""
    if fragment is None:
        return None
    out = dict(fragment)
    for key in ("credentials", "credentials_helper"):
        blocks = fragment.get(key)
        if isinstance(blocks, dict):
            out[key] = {label: sorted(body) if isinstance(body, dict) else None for label, body in blocks.items()}
    return out


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
        reader.secrets.extend(file_secret_forms(value, m.path))
    return RunFiles(fragment, tuple(files))


def file_secret_forms(content: str, path: str = "") -> list[str]:
    """Every form of a mapped file's content the scrubber and the readable plan hide (design.md §4.7): the
    whole content (and stripped: `trimspace(file(…))`), and its secret parts on their own
    (terraform/file_secrets.py: a `.netrc` password, an `extraHeader` token, a key's lines — never a URL, a
    path or a host name); in a `.tfvars`/`.tfvars.json` file, every value (it is a varsFrom Secret by another
    name). Pure. Parts shorter than api/redact.MIN_SECRET_LENGTH are left to `scrub`'s rule."""
    forms = [content, content.strip(), *secret_forms(content, path)]
    if path.endswith(TFVARS_SUFFIXES):
        forms += _tfvars_values(content)
    return [f for f in dict.fromkeys(forms) if len(f) >= MIN_SECRET_LENGTH]


def _tfvars_values(content: str) -> list[str]:
    import hcl2.api  # here: a runner that maps no .tfvars file never pays for the parser (issue 21)

    try:
        document = json.loads(content) if content.lstrip().startswith("{") else hcl2.api.loads(content)
    except Exception:  # noqa: BLE001 - any parse failure: Terraform reports the file; the whole content is hidden
        return []
    values = document.values() if isinstance(document, dict) else ()
    return [text for value in values for text in sensitive_texts(value)]


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
