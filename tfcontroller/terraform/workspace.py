"""A directory per run, isolated from the controller and from other runs (design.md §5).

Layout of a run directory (mode 0700):
    src/                 the artifact, extracted safely; the module is src/<path>
    data/                TF_DATA_DIR (providers, modules, backend state pointer)
    home/  tmp/          HOME and TMPDIR, so nothing reads the controller's ~/.terraformrc or ~/.kube
    terraformrc.json     our CLI configuration (provider mirror or plugin cache)
    plan.tfplan          where plans are written
    vars/                the copies of spec.tfVarsFiles (NNN-<name>) and tfcontroller.tfvars.json (the
                         object's vars/varsFrom, 0600: values never on a command line, only the path)
The module directory receives only `backend_override.tf` (Terraform's override files replace the user's
backend block entirely). The files in vars/ reach Terraform as `-var-file=` arguments of every plan, in
order, ours last (`Workspace.var_file_args`): command-line files beat every automatic file of the module
(`terraform.tfvars`, `*.auto.tfvars(.json)`, whatever their names), and a later one beats an earlier one.

The environment is built from an allowlist of harmless controller variables plus the object's own
`env`/`envFrom`: a kube token, SMTP password or cloud credential of the controller never reaches a module.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from tfcontroller.terraform.archive import extract_artifact, resolve_subpath
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.errors import StallingError
from tfcontroller.terraform.reaper import Reaper
from tfcontroller.terraform.run_files import (
    GIT_SSH_COMMAND,
    RunFiles,
    cli_config_with,
    ssh_command,
    write_run_files,
)
from tfcontroller.terraform.runner import CommandListener, TerraformRunner

log = logging.getLogger(__name__)

TFVARS_FILE = "tfcontroller.tfvars.json"  # the object's vars/varsFrom, in VARS_DIR
VARS_DIR = "vars"  # of the run directory: the variables files given on the command line
BACKEND_OVERRIDE_FILE = "backend_override.tf"

# Taken from the controller's environment: locale, time zone, trust store, PATH for local-exec.
ALLOWED_CONTROLLER_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")
# Only with in-cluster configuration: the API server address, which is not a secret.
IN_CLUSTER_ENV = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
# Variables the run itself controls; an object may not set them through env/envFrom.
_RESERVED_ENV = {"HOME", "TMPDIR", "TF_DATA_DIR", "TF_CLI_CONFIG_FILE", "TF_IN_AUTOMATION", "TF_INPUT",
                 "TF_WORKSPACE", "TF_PLUGIN_CACHE_DIR", "TF_REATTACH_PROVIDERS"}
_RESERVED_ENV_PREFIXES = ("TF_LOG", "TF_CLI_ARGS")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class KubernetesBackend:
    """Terraform's built-in `kubernetes` backend: state in Secret tfstate-<workspace>-<secret_suffix>."""

    namespace: str
    secret_suffix: str
    config_path: str | None = None  # a kubeconfig file; None means in_cluster_config = true

    def hcl(self) -> str:
        for what, value in (("namespace", self.namespace), ("secret_suffix", self.secret_suffix)):
            if not _K8S_NAME.match(value) or len(value) > 253:
                raise StallingError("BackendConfigInvalid", f"invalid backend {what} {value!r}")
        lines = [f"secret_suffix = {hcl_string(self.secret_suffix)}",
                 f"namespace = {hcl_string(self.namespace)}"]
        if self.config_path is None:
            lines.append("in_cluster_config = true")
        else:
            lines.append(f"config_path = {hcl_string(self.config_path)}")
        return _backend_block("kubernetes", lines)


@dataclass(frozen=True)
class LocalBackend:
    """A state file at `path`; for tests and for running outside a cluster."""

    path: str

    def hcl(self) -> str:
        return _backend_block("local", [f"path = {hcl_string(self.path)}"])


BACKEND_CONFIG_INVALID = "BackendConfigInvalid"
_BACKEND_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")
# Backend types a run cannot use as its state store, and why (the message of the refusal).
_REFUSED_BACKENDS = {
    "local": "a local state file would be lost with the run's directory",
    "kubernetes": "the kubernetes backend is the default: remove customConfiguration and use "
                  "backendConfig.secretSuffix (the default backend has the ownership and state-loss guards)",
}


def parse_custom_backend(text: str) -> str:
    """The backend type of `spec.backendConfig.customConfiguration`, which must be exactly one HCL block
    `backend "<type>" { … }`; StallingError(BackendConfigInvalid) naming the field and the fix otherwise
    (the same text fails on every run: retrying cannot help)."""
    import hcl2.api  # lazily: the runner's start-up does not pay for the parser when no custom backend is used

    field = "spec.backendConfig.customConfiguration"
    try:
        doc = hcl2.api.loads(text if text.endswith("\n") else text + "\n")
    except Exception as exc:  # noqa: BLE001 - lark raises several types; the user needs the position
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StallingError(BACKEND_CONFIG_INVALID, f"{field} is not valid HCL ({first}); give one block "
                                                    'backend "<type>" { ... }') from None
    if "terraform" in doc:
        raise StallingError(BACKEND_CONFIG_INVALID, f"{field}: give the backend block alone, without the "
                                                    "surrounding terraform { } block")
    found = doc.get("backend")
    blocks: list[Any] = found if isinstance(found, list) else []
    others = sorted(str(k) for k in doc if k != "backend")
    if others or len(blocks) != 1 or not isinstance(blocks[0], dict) or len(blocks[0]) != 1:
        raise StallingError(BACKEND_CONFIG_INVALID, f"{field} must be exactly one block "
                                                    f'backend "<type>" {{ ... }} and nothing else; found '
                                                    f"{len(blocks)} backend blocks"
                                                    + (f" and {', '.join(others)}" if others else ""))
    kind = str(next(iter(blocks[0])))
    if not _BACKEND_TYPE.match(kind):
        raise StallingError(BACKEND_CONFIG_INVALID, f"{field}: {kind!r} is not a backend type")
    if kind in _REFUSED_BACKENDS:
        raise StallingError(BACKEND_CONFIG_INVALID, f"{field}: backend {kind!r} is refused: {_REFUSED_BACKENDS[kind]}")
    return kind


@dataclass(frozen=True)
class CustomBackend:
    """`spec.backendConfig.customConfiguration`: the team's own backend block (e.g. `s3` with a DynamoDB lock
    table), written as the run's backend override instead of the kubernetes backend. Credentials reach it
    through `env`/`envFrom` (AWS_ACCESS_KEY_ID, …), never through the block, which is in the spec."""

    configuration: str

    def hcl(self) -> str:
        """The block inside `terraform { }`, byte for byte: no line is re-indented, blanked or re-ended. A
        heredoc body (`<<EOT`) keeps every leading space, an indented one (`<<-EOT`) its own margin, and a
        whitespace-only line inside either stays, so each value reaches the backend exactly as written
        (indentation is cosmetic in HCL everywhere else). The text only gets a line end before the closing
        brace when it has none (a trailing `# comment` would otherwise swallow the brace)."""
        parse_custom_backend(self.configuration)
        text = self.configuration
        end = "" if text.endswith("\n") else "\n"
        return f"# Generated by tfcontroller: spec.backendConfig.customConfiguration.\nterraform {{\n{text}{end}}}\n"


Backend = KubernetesBackend | LocalBackend | CustomBackend


def run_backend(namespace: str, secret_suffix: str, config_path: str | None, custom: str = "") -> Backend:
    """The backend of an object's runs: its custom block when it has one, else the kubernetes backend. One
    rule for the controller's init key and the runner's override (both modes)."""
    return CustomBackend(custom) if custom else KubernetesBackend(namespace, secret_suffix, config_path)


def hcl_string(value: str) -> str:
    """A quoted HCL string literal whose content is taken literally (no `${}`/`%{}` templates)."""
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def _backend_block(kind: str, lines: list[str]) -> str:
    body = "\n".join(f"    {line}" for line in lines)
    return (f"# Generated by tfcontroller: replaces any backend the module declares.\n"
            f'terraform {{\n  backend "{kind}" {{\n{body}\n  }}\n}}\n')


def check_env(user_env: Mapping[str, str]) -> None:
    """Refuse (Stalled `EnvInvalid`) an env/envFrom entry no run can be given: a name that is not an
    environment variable name, one the controller sets itself, or a value holding a NUL byte — no process
    environment can carry one (found by the fuzz, issue 21: `ValueError: embedded null byte` when the run
    started, retried for ever). A value can come from a Secret or ConfigMap (`envFrom`, `valueFrom`), so
    the message names the variable, never the value. The controller calls this when it resolves the
    inputs, before any run; `build_env` again, in the runner."""
    for name, value in user_env.items():
        if not _ENV_NAME.match(name):
            raise StallingError("EnvInvalid", f"invalid environment variable name {name!r}")
        if name in _RESERVED_ENV or name.startswith(_RESERVED_ENV_PREFIXES):
            raise StallingError("EnvInvalid", f"environment variable {name} is set by the controller")
        if "\0" in value:
            raise StallingError("EnvInvalid", f"environment variable {name}: its value holds a NUL byte, which no "
                                              "process environment can carry; fix the value (or the Secret or "
                                              "ConfigMap key it comes from)")


def build_env(
    user_env: Mapping[str, str],
    *,
    home: Path,
    tmp: Path,
    data_dir: Path,
    cli_config: Path,
    controller_env: Mapping[str, str] | None = None,
    in_cluster: bool = False,
    workspace: str | None = None,
) -> dict[str, str]:
    """The run's whole environment: allowlist + the object's env/envFrom + what the run controls.

    `workspace` becomes TF_WORKSPACE, so that every command, `init` included, works in that workspace
    only: `init` followed by `workspace select` would first create the default workspace's state (the
    kubernetes backend writes an empty state for the workspace it opens)."""
    source = os.environ if controller_env is None else controller_env
    allowed = ALLOWED_CONTROLLER_ENV + (IN_CLUSTER_ENV if in_cluster else ())
    env = {k: source[k] for k in allowed if k in source}
    env.setdefault("PATH", os.defpath)
    check_env(user_env)
    env.update(user_env)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")  # a module source without credentials fails, never waits for input
    env.update({
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "TF_DATA_DIR": str(data_dir),
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
    })
    if workspace is not None:
        env["TF_WORKSPACE"] = workspace
    return env


# Provider plugins listen on a unix socket created in TMPDIR, and a socket path may not exceed 107 bytes
# (sun_path). go-plugin appends about 20 characters, so a deeper run directory gets its TMPDIR from the
# system temporary directory instead (still private: mkdtemp makes it 0700, and it is removed with the run).
MAX_TMPDIR_LEN = 80


def _run_tmpdir(root: Path) -> Path:
    inside = root / "tmp"
    if len(str(inside)) <= MAX_TMPDIR_LEN:
        inside.mkdir(mode=0o700)
        return inside
    return Path(tempfile.mkdtemp(prefix="tfc-run-"))


def write_private_json(path: Path, data: Any) -> None:
    """Write JSON readable by the owner only; the mode is set at creation, never widened afterwards."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2, sort_keys=True)


TFVARS_FILES_INVALID = "TfVarsFilesInvalid"


def var_file_name(index: int, source: str) -> str:
    """The name of the `index`th of spec.tfVarsFiles's copy in the run's VARS_DIR: the index keeps list
    order and distinct names, the file's own name lets Terraform's diagnostics point at it. The copy is
    not an automatic file (and not in the module directory): it is loaded only as a `-var-file`, in order."""
    name = PurePosixPath(source).name
    if len(name.encode()) > 200:  # the prefix must still fit a file name (255 bytes)
        name = "file.tfvars.json" if name.endswith(".json") else "file.tfvars"
    return f"{index:03d}-{name}"


def place_var_files(src: Path, vars_dir: Path, var_files: Sequence[str]) -> list[Path]:
    """Copy each listed file of the extracted artifact into `vars_dir` (`var_file_name`) and return the
    copies in list order. A file that is missing, not a regular file or (through a link) outside the
    artifact stalls with `TfVarsFilesInvalid`: retrying cannot help until the source or the spec changes.
    Every source is read before anything is written, so no copy can replace a file another entry names.
    Only the artifact's own text is copied: nothing secret lands here."""
    root = Path(os.path.realpath(src))
    contents = []
    for i, rel in enumerate(var_files):
        where = f"spec.tfVarsFiles[{i}]"
        path = Path(os.path.realpath(src / rel))
        if not path.is_relative_to(root):
            raise StallingError(TFVARS_FILES_INVALID, f"{where}: {rel!r} leads outside the artifact (a link?): "
                                                      "name a file inside the source")
        if not path.is_file():
            raise StallingError(TFVARS_FILES_INVALID, f"{where}: {rel!r} is not a file in the artifact (the "
                                                      "entry's path from the artifact's root): fix the entry "
                                                      "(relative to spec.path) or add the file to the source")
        contents.append((var_file_name(i, rel), path.read_bytes()))
    copies = []
    for name, data in contents:
        target = vars_dir / name
        target.unlink(missing_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        copies.append(target)
    return copies


@dataclass
class Workspace:
    root: Path
    module_dir: Path
    config: TerraformConfig
    env: dict[str, str]
    secrets: tuple[str, ...] = ()
    tmp_dir: Path | None = None  # TMPDIR, outside root when root is too deep (see _run_tmpdir)
    object_key: str = ""  # "namespace/name" of the object the run is for: its log lines name it
    mapped_files: tuple[Path, ...] = ()  # spec.fileMappings written into the run (issue 20)
    var_files: tuple[Path, ...] = ()  # copies of spec.tfVarsFiles, in order (VARS_DIR); ours is tfvars_path
    reaper: Reaper | None = None  # removes the directory in the background (issue 21); None: at once
    removed: bool = field(default=False, init=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def plan_path(self) -> Path:
        return self.root / "plan.tfplan"

    @property
    def tfvars_path(self) -> Path:
        return self.root / VARS_DIR / TFVARS_FILE

    @property
    def var_file_args(self) -> tuple[str, ...]:
        """The `-var-file` paths of every command that reads variables, lowest precedence first: the
        tfVarsFiles copies in list order, then the object's vars/varsFrom. Terraform applies command-line
        variables files after every automatic file of the module, each later one overriding earlier ones,
        so this order is the documented one whatever the module's own files are called."""
        return (*(str(p) for p in self.var_files), str(self.tfvars_path))

    @classmethod
    def create(
        cls,
        base_dir: str | os.PathLike[str],
        artifact_tar_path: str | os.PathLike[str],
        subpath: str,
        *,
        config: TerraformConfig,
        backend: Backend | None = None,
        variables: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        name_hint: str = "run",
        controller_env: Mapping[str, str] | None = None,
        workspace: str | None = None,
        object_key: str = "",
        var_files: Sequence[str] = (),
        run_files: RunFiles | None = None,
        reaper: Reaper | None = None,
    ) -> Workspace:
        """Prepare a run directory; on any failure nothing is left behind.

        `variables` are JSON values by name; `env` is the resolved env/envFrom; `secrets` are values to
        scrub from errors (those that came from Secrets or sealed values). `var_files` are artifact-relative
        `.tfvars`/`.tfvars.json` files (spec.tfVarsFiles), loaded in order before `variables`
        (`place_var_files`, `var_file_args`), both after the module's own variables files. `run_files` are
        the team's CLI configuration fragment and mapped files (terraform/run_files.py). `reaper` removes the
        directory after the run off the caller's thread (terraform/reaper.py). Check the module
        with `inspect.inspect_module` first: a `cloud` block cannot be overridden by our backend.
        """
        # absolute: Terraform runs in the module's directory, so every path given to it (the `-var-file`s,
        # the CLI configuration, HOME, TF_DATA_DIR) must not depend on the current one (review s19, finding 6)
        base = Path(os.path.abspath(base_dir))
        base.mkdir(parents=True, exist_ok=True)
        prefix = re.sub(r"[^a-zA-Z0-9_.-]", "-", name_hint)[:60] + "-"
        root = Path(tempfile.mkdtemp(prefix=prefix, dir=base))  # 0700
        try:
            src = root / "src"
            extract_artifact(artifact_tar_path, src)
            module_dir = resolve_subpath(src, subpath)
            for sub in ("data", "home"):
                (root / sub).mkdir(mode=0o700)
            tmp = _run_tmpdir(root)
            cli_config = config.write_cli_config(root / "terraformrc.json")
            files = run_files or RunFiles()
            if files.cli_config is not None:
                write_private_json(cli_config, cli_config_with(config.cli_config(), files))
            mapped = write_run_files(root / "home", module_dir, files.files)
            if backend is not None:
                (module_dir / BACKEND_OVERRIDE_FILE).unlink(missing_ok=True)
                (module_dir / BACKEND_OVERRIDE_FILE).write_text(backend.hcl())
            (root / VARS_DIR).mkdir(mode=0o700)
            copies = place_var_files(src, root / VARS_DIR, var_files)
            write_private_json(root / VARS_DIR / TFVARS_FILE, dict(variables or {}))
            run_env = build_env(
                env or {},
                home=root / "home",
                tmp=tmp,
                data_dir=root / "data",
                cli_config=cli_config,
                controller_env=controller_env,
                in_cluster=isinstance(backend, KubernetesBackend) and backend.config_path is None,
                workspace=workspace,
            )
            git_ssh = ssh_command(root / "home", files.files, run_env)
            if git_ssh is not None:
                run_env[GIT_SSH_COMMAND] = git_ssh
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            if "tmp" in locals() and not tmp.is_relative_to(root):
                shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls(root=root, module_dir=module_dir, config=config, env=run_env, secrets=tuple(secrets),
                   tmp_dir=tmp, object_key=object_key, mapped_files=tuple(mapped), var_files=tuple(copies),
                   reaper=reaper)

    def runner(self, listener: CommandListener | None = None) -> TerraformRunner:
        """The run's Terraform; `listener` hears its commands live (the runner's log lines)."""
        return TerraformRunner(self.module_dir, self.env, self.config, secrets=self.secrets,
                               object_key=self.object_key, listener=listener, var_files=self.var_file_args)

    def cleanup(self, success: bool) -> bool:
        """Remove the run directory; returns False when it is kept (a failure with keep_failed_workspaces).

        A kept directory loses its variables file and mapped files anyway: secrets do not linger on disk
        for debugging.
        """
        if self.removed:
            return True
        if not success and self.config.keep_failed_workspaces:
            self.tfvars_path.unlink(missing_ok=True)
            for path in self.mapped_files:  # credentials neither
                path.unlink(missing_ok=True)
            log.info("kept failed workspace dir=%s", self.root,
                     extra={"obj": self.object_key} if self.object_key else {})
            return False
        paths = [self.root]
        if self.tmp_dir is not None and not self.tmp_dir.is_relative_to(self.root):
            paths.append(self.tmp_dir)
        for path in paths:
            if self.reaper is not None:
                self.reaper.discard(path)  # a rename; the files go on the reaper's thread
            else:
                shutil.rmtree(path, ignore_errors=True)
        self.removed = True
        return True
