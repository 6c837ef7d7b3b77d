"""The files a run gets from Secrets (terraform/run_files.py, issue 20), written into a real run directory
(`Workspace.create`): mapped files are 0600 under the run's HOME or module directory (parents 0700), never
written through a link or a file the artifact planted, and gone with the run — also from a failed workspace
that is kept; the team's fragment is merged into the generated CLI configuration with our mirror kept;
ssh is pointed at keys mapped under home/.ssh (it ignores $HOME), unless the object sets GIT_SSH_COMMAND.
The digest document is empty without these fields (an existing object keeps its inputs digest)."""

from __future__ import annotations

import io
import json
import shlex
import stat
import tarfile
from pathlib import Path

import pytest

from tfcontroller.api.errors import StallingError
from tfcontroller.terraform.cli_config import parse_fragment
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.run_files import (
    FILE_MAPPING_FAILED,
    RunFile,
    RunFiles,
    file_secret_forms,
    ssh_command,
    write_run_files,
)
from tfcontroller.terraform.workspace import Workspace

FRAGMENT = 'credentials "registry.example.test" {\n  token = "tok-1"\n}\n'


def _artifact(tmp_path: Path, links: dict[str, str] | None = None, files: dict[str, str] | None = None) -> Path:
    path = tmp_path / "artifact.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, content in {"infra/main.tf": "", **(files or {})}.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def _workspace(tmp_path: Path, files: RunFiles, config: TerraformConfig | None = None, **kwargs) -> Workspace:
    mirror = tmp_path / "mirror"
    mirror.mkdir(exist_ok=True)
    return Workspace.create(tmp_path / "runs", kwargs.pop("artifact", None) or _artifact(tmp_path), "infra",
                            config=config or TerraformConfig("terraform", plugin_mirror_dir=mirror),
                            controller_env={"PATH": "/usr/bin"}, run_files=files, **kwargs)


FILES = (RunFile("home", ".netrc", "machine h login u password p\n"),
         RunFile("home", ".ssh/id_ed25519", "KEY\n"), RunFile("home", ".ssh/known_hosts", "h ssh-ed25519 AAA\n"),
         RunFile("workingDir", "certs/ca.pem", "CA\n"))


def test_files_are_private_and_go_with_the_run(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, RunFiles(None, FILES))
    for f in FILES:
        path = (ws.home if f.location == "home" else ws.module_dir) / f.path
        assert path.read_text() == f.content and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((ws.home / ".ssh").stat().st_mode) == 0o700
    assert ws.env["HOME"] == str(ws.home)
    ws.cleanup(success=True)
    assert not ws.root.exists()


def test_a_kept_failed_workspace_loses_the_files(tmp_path: Path) -> None:
    config = TerraformConfig("terraform", keep_failed_workspaces=True)
    ws = _workspace(tmp_path, RunFiles(None, FILES), config)
    assert ws.cleanup(success=False) is False
    assert ws.root.exists() and not (ws.home / ".netrc").exists() and not (ws.module_dir / "certs/ca.pem").exists()


def test_the_fragment_is_merged_and_our_mirror_stays(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, RunFiles(parse_fragment(FRAGMENT, "x"), ()))
    config_file = Path(ws.env["TF_CLI_CONFIG_FILE"])
    written = json.loads(config_file.read_text())
    assert written["credentials"] == {"registry.example.test": {"token": "tok-1"}}
    assert written["provider_installation"] == [{"filesystem_mirror": [{"path": str(tmp_path / "mirror")}]}]
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    without = _workspace(tmp_path, RunFiles())
    assert "credentials" not in json.loads(Path(without.env["TF_CLI_CONFIG_FILE"]).read_text())


@pytest.mark.parametrize(("links", "files", "mapped"), [
    ({"infra/certs": "../elsewhere"}, {"elsewhere/keep": "k"}, RunFile("workingDir", "certs/ca.pem", "x")),
    ({}, {"infra/certs": "a file"}, RunFile("workingDir", "certs/ca.pem", "x")),
    ({}, {"infra/ca.pem/x": "a directory"}, RunFile("workingDir", "ca.pem", "x")),
])
def test_never_written_into_what_the_artifact_planted(tmp_path: Path, links: dict[str, str],
                                                      files: dict[str, str], mapped: RunFile) -> None:
    with pytest.raises(StallingError) as refused:
        _workspace(tmp_path, RunFiles(None, (mapped,)), artifact=_artifact(tmp_path, links, files))
    assert refused.value.reason == FILE_MAPPING_FAILED and "spec.fileMappings" in refused.value.message
    assert not list((tmp_path / "runs").iterdir())  # nothing left behind


def test_a_planted_file_link_is_replaced_not_written_through(tmp_path: Path) -> None:
    artifact = _artifact(tmp_path, {"infra/ca.pem": "../elsewhere/keep"}, {"elsewhere/keep": "theirs"})
    ws = _workspace(tmp_path, RunFiles(None, (RunFile("workingDir", "ca.pem", "mine"),)), artifact=artifact)
    assert (ws.module_dir / "ca.pem").read_text() == "mine" and not (ws.module_dir / "ca.pem").is_symlink()
    assert (ws.root / "src/elsewhere/keep").read_text() == "theirs"


def test_write_run_files_returns_what_it_wrote(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    assert write_run_files(home, work, FILES) == [home / ".netrc", home / ".ssh/id_ed25519",
                                                 home / ".ssh/known_hosts", work / "certs/ca.pem"]


def test_ssh_is_pointed_at_mapped_keys(tmp_path: Path) -> None:
    home = tmp_path / "home"
    command = ssh_command(home, FILES, {})
    assert command is not None
    args = shlex.split(command)
    assert args[0] == "ssh" and ["-i", str(home / ".ssh/id_ed25519")] == args[args.index("-i"):args.index("-i") + 2]
    assert f"UserKnownHostsFile={home / '.ssh/known_hosts'}" in args and "StrictHostKeyChecking=yes" in args
    assert "-F" not in args
    with_config = ssh_command(home, (*FILES, RunFile("home", ".ssh/config", "Host *\n")), {})
    assert with_config is not None and ["-F", str(home / ".ssh/config")] == shlex.split(with_config)[1:3]
    assert ssh_command(home, FILES, {"GIT_SSH_COMMAND": "ssh -v"}) is None
    assert ssh_command(home, (RunFile("home", ".netrc", "x"), RunFile("workingDir", ".ssh/id_rsa", "k")), {}) is None


def test_workspace_sets_git_ssh_command_only_for_ssh_files(tmp_path: Path) -> None:
    assert "GIT_SSH_COMMAND" in _workspace(tmp_path, RunFiles(None, FILES)).env
    assert "GIT_SSH_COMMAND" not in _workspace(tmp_path, RunFiles(None, FILES[:1])).env
    kept = _workspace(tmp_path, RunFiles(None, FILES), env={"GIT_SSH_COMMAND": "ssh -v"})
    assert kept.env["GIT_SSH_COMMAND"] == "ssh -v"


def test_digest_document() -> None:
    assert RunFiles().digest_document() == {}
    with_files = RunFiles(None, FILES[:1]).digest_document()
    assert with_files and with_files != RunFiles(None, (RunFile("home", ".netrc", "other"),)).digest_document()


def test_parts_of_a_mapped_file_that_are_scrubbed_on_their_own() -> None:
    forms = file_secret_forms("machine git.example.com\nlogin team\npassword s3cr3t-pass\n")
    assert "s3cr3t-pass" in forms and "password s3cr3t-pass" in forms
    assert "s3cr3t-t0ken" in file_secret_forms("[http]\n\ttoken = s3cr3t-t0ken\n")
    assert "AAAAC3NzaC1lZDI1NTE5" in file_secret_forms("-----BEGIN KEY-----\nAAAAC3NzaC1lZDI1NTE5\n-----END KEY-----\n")
    assert file_secret_forms("one-line-value") == []  # the whole value is scrubbed already


def test_short_parts_are_not_scrubbed_on_their_own() -> None:
    forms = file_secret_forms('{\n  "a": 1\n}\n[http]\n\ttoken = x\n')
    assert "}" not in forms and "[http]" not in forms and "x" not in forms
