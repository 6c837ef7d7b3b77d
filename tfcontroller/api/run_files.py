"""Private modules, registries and providers (issue 20): `spec.cliConfigSecretRef` and `spec.fileMappings`.

A team's root module calls modules from private Git repositories (`git::https://…`, `git::ssh://…`) and
private registries. Terraform (and the `git` it runs for module sources) finds credentials in files: a CLI
configuration's `credentials` blocks, `~/.netrc`, `~/.gitconfig`, `~/.ssh/…`. These two fields let the team
put its own credentials there, from its own Secrets, for one run only:

- `cliConfigSecretRef` {name, key (default `terraform.tfrc`)}: a CLI configuration fragment merged into the
  run's generated one (terraform/cli_config.py decides what a fragment may set);
- `fileMappings[]` {location `home` | `workingDir`, path, secretKeyRef {name, key}}: one Secret key written as
  a file (mode 0600) into the run's `HOME` or the module's directory, removed with the run.

Pure: the typed view and the path rules the CRD schema cannot express. A path stays inside its location
(relative, normalised, no `..`), and may not take a place the controller decides: the CLI configuration's
(`.terraform.d/`, `.terraformrc`, `terraform.rc` in `home`: Terraform ignores them under our
`TF_CLI_CONFIG_FILE`, so they are refused rather than silently ignored; use `cliConfigSecretRef`), the
generated backend and variables files, Terraform override files (they could replace the generated
backend) and the `.terraform` data directory (in `workingDir`).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from tfcontroller.api.errors import SpecError
from tfcontroller.api.fields import Fields

DEFAULT_CLI_CONFIG_KEY = "terraform.tfrc"
HOME, WORKING_DIR = "home", "workingDir"
LOCATIONS = (HOME, WORKING_DIR)
FILE_MODE = 0o600
PATH_MAX = 255
_HOME_REFUSED = {".terraform.d": "the CLI configuration directory", ".terraformrc": "a CLI configuration file",
                 "terraform.rc": "a CLI configuration file"}
# The run's variables files (the object's vars and the spec.tfVarsFiles copies) live outside the working
# directory (terraform/workspace.VARS_DIR, given as -var-file), so no mapped name can replace them.
_WORKDIR_REFUSED = {"backend_override.tf": "the generated backend", ".terraform": "Terraform's data directory"}


@dataclass(frozen=True)
class CliConfigRef:
    """One key of a Secret in the object's namespace holding a CLI configuration fragment (HCL or JSON)."""

    name: str
    key: str = DEFAULT_CLI_CONFIG_KEY


@dataclass(frozen=True)
class FileMapping:
    """Secret `secret_name`'s key `key`, written to `path` under `location` (home or workingDir), 0600."""

    location: str
    path: str
    secret_name: str
    key: str

    @property
    def target(self) -> str:
        """`home/.netrc`, `workingDir/creds.json`: how messages name the file."""
        return f"{self.location}/{self.path}"


def parse_cli_config_ref(f: Fields) -> CliConfigRef | None:
    ref = f.obj("cliConfigSecretRef")
    if ref is None:
        return None
    name = ref.name("name")
    assert name is not None
    return CliConfigRef(name, ref.str("key", default=DEFAULT_CLI_CONFIG_KEY, non_empty=True)
                        or DEFAULT_CLI_CONFIG_KEY)


def parse_file_mappings(f: Fields) -> tuple[FileMapping, ...]:
    out: list[FileMapping] = []
    for item in f.objects("fileMappings"):
        location = item.req_str("location", enum=LOCATIONS)
        path = item.req_str("path", non_empty=True)
        problem = path_problem(location, path)
        if problem:
            raise SpecError(item.field("path"), problem)
        ref = item.obj("secretKeyRef", required=True)
        assert ref is not None
        name = ref.name("name")
        assert name is not None
        out.append(FileMapping(location, path, name, ref.req_str("key", non_empty=True)))
    clash = mapping_clash(out)
    if clash:
        raise SpecError(f.field("fileMappings"), clash)
    return tuple(out)


def path_problem(location: str, path: str) -> str | None:
    """Why `path` cannot be written under `location` (None: it can). The path is written as given, so it
    must already be in normal form: a different spelling of the same file would slip past the refusals."""
    if len(path) > PATH_MAX or "\0" in path or "\\" in path:
        return f"invalid path {path!r}: at most {PATH_MAX} characters, no NUL or backslash"
    if path.startswith("/") or posixpath.normpath(path) != path or path in (".", "..") or path.startswith("../"):
        return (f"invalid path {path!r}: must be relative to {location} and normalised "
                f"(no leading '/', no '.' or '..' segments, no trailing '/'), e.g. .ssh/id_ed25519")
    first, name = path.split("/", 1)[0], posixpath.basename(path)
    if location == HOME and first in _HOME_REFUSED:
        return (f"path {path!r} would replace {_HOME_REFUSED[first]}, which the controller generates; "
                f"put CLI settings (e.g. credentials blocks) in spec.cliConfigSecretRef instead")
    if location == WORKING_DIR:
        what = _WORKDIR_REFUSED.get(first) or _WORKDIR_REFUSED.get(name)
        if what is None and (name in ("override.tf", "override.tf.json") or name.endswith(
                ("_override.tf", "_override.tf.json"))):
            what = "a Terraform override file, which could replace the generated backend"
        if what is not None:
            return f"path {path!r} in workingDir would replace {what}; choose another file name"
    return None


def mapping_clash(mappings: list[FileMapping]) -> str | None:
    """Two mappings to one file, or a file that another mapping needs as a directory."""
    targets = {(m.location, m.path) for m in mappings}
    seen: set[tuple[str, str]] = set()
    for i, m in enumerate(mappings):
        if (m.location, m.path) in seen:
            return f"[{i}]: a second mapping to {m.target}; map each file once"
        seen.add((m.location, m.path))
        parent = posixpath.dirname(m.path)
        while parent:
            if (m.location, parent) in targets:
                return f"[{i}]: {m.location}/{parent} is mapped as a file and is a directory of {m.target}"
            parent = posixpath.dirname(parent)
    return None
