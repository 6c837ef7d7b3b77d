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
    structure_of,
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
    assert with_files and with_files != RunFiles(None, (RunFile("home", ".netrc", "machine other"),)).digest_document()


# Review of issue 20, finding 9: rotating a credential must not re-plan (nor discard a pending manual approval);
# what changes what is fetched, or what the module reads, must.
NETRC = "machine git.example.com\nlogin team\npassword {}\n"
GITCONFIG = '[url "https://oauth2:{}@gitlab.example.com/"]\n\tinsteadOf = https://gitlab.example.com/\n' \
            "[http]\n\textraheader = AUTHORIZATION: bearer {}\n"
SSH_CONFIG = "Host git.example.com\n  User git\n  IdentityFile ~/.ssh/id_ed25519\n  StrictHostKeyChecking yes\n"
CREDS = 'credentials "registry.example.test" {{\n  token = "{}"\n}}\n'
HELPER = 'credentials_helper "vault" {{\n  args = ["--token", "{}"]\n}}\n'


def _pem(body: str) -> str:
    return f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----\n"


def _document(fragment: str = "", **home: str) -> dict:
    cli = parse_fragment(fragment, "x") if fragment else None
    return RunFiles(cli, tuple(RunFile("home", path, content) for path, content in home.items())).digest_document()


@pytest.mark.parametrize(("before", "after"), [
    (_document(CREDS.format("tok-1")), _document(CREDS.format("tok-2-rotated-longer"))),
    (_document(HELPER.format("s.vault1")), _document(HELPER.format("s.vault2"))),
    (_document(**{".netrc": NETRC.format("pw1")}), _document(**{".netrc": NETRC.format("pw2")})),
    (_document(**{".netrc": NETRC.format("x")}), _document(**{".netrc": NETRC.format("y")})),  # one character
    (_document(**{".gitconfig": GITCONFIG.format("glpat-Aa1", "Tok3nAAAAbbbbCCCC1234")}),
     _document(**{".gitconfig": GITCONFIG.format("glpat-Bb2", "Tok3nZZZZyyyyXXXX9876")})),
    (_document(**{".ssh/id_ed25519": _pem("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9u\nQyNTUxOQAAACBk==")}),
     _document(**{".ssh/id_ed25519": _pem("c4CmcnNzaC1rZXktdjEBBBBBCG5vbmUAAAAEbm9u\nRzNTUxOQAAACBkAA\nAB==")})),
    (_document(**{".git-credentials": "https://team:ghp_Aa11@github.com\n"}),
     _document(**{".git-credentials": "https://team:ghp_Bb22@github.com\n"})),
], ids=["cli-token", "helper-args", "netrc", "netrc-1-char", "gitconfig-tokens", "ssh-key", "git-credentials"])
def test_rotating_a_credential_keeps_the_digest_document(before: dict, after: dict) -> None:
    assert before == after


@pytest.mark.parametrize(("before", "after"), [
    (_document(CREDS.format("t")), _document(CREDS.replace("registry.example", "other.example").format("t"))),
    (_document(CREDS.format("t")), _document(CREDS.format("t") + 'host "registry.example.test" {\n'
                                             '  services = { "modules.v1" = "https://m.example.test/v1/" }\n}\n')),
    (_document(**{".netrc": NETRC.format("pw")}), _document(**{".netrc": NETRC.replace("git.", "src.").format("pw")})),
    (_document(**{".gitconfig": GITCONFIG.format("a", "b")}),
     _document(**{".gitconfig": GITCONFIG.replace("insteadOf = https://gitlab", "insteadOf = https://mirror")
                  .format("a", "b")})),
    (_document(**{".ssh/config": SSH_CONFIG}), _document(**{".ssh/config": SSH_CONFIG.replace("Host git.", "Host src.")})),
    (_document(**{".gitconfig": '[url "https://git.example/Platform2/terraform-Modules/"]\n\tinsteadOf = x\n'}),
     _document(**{".gitconfig": '[url "https://git.example/Platform3/terraform-Modules/"]\n\tinsteadOf = x\n'})),
    (_document(**{".netrc": NETRC.format("pw")}), _document(**{".netrc.bak": NETRC.format("pw")})),  # another path
    (RunFiles(None, (RunFile("workingDir", "db.auto.tfvars", 'db = "a"'),)).digest_document(),
     RunFiles(None, (RunFile("workingDir", "db.auto.tfvars", 'db = "b"'),)).digest_document()),  # module input
], ids=["credentials-host", "host-block", "netrc-machine", "insteadof", "ssh-host", "url-path", "path",
        "working-dir-content"])
def test_what_changes_the_fetch_or_the_module_changes_the_digest_document(before: dict, after: dict) -> None:
    assert before != after


# Review of issue 20, finding 4 and finding 9: the parts of a mapped file that are secret on their own.
@pytest.mark.parametrize("public", [
    "Host github.com", "  User git", '[url "git@github.com:"]', "\tinsteadOf = https://github.com/",
    "StrictHostKeyChecking yes", "PasswordAuthentication no", "IdentityFile ~/.ssh/id_ed25519",
    '[credential "https://github.com"]', "\thelper = store", "git@github.com:org/terraform-modules-2024.git",
    "machine git.example.com", "login team", "[http]", "}", "UserKnownHostsFile ~/.ssh/known_hosts",
])
def test_public_lines_are_not_scrubbed_on_their_own(public: str) -> None:
    content = "\n".join([SSH_CONFIG, public, "password s3cr3t", ""])
    forms = file_secret_forms(content)
    assert all(public.strip() not in form or form in (content, content.strip()) for form in forms), forms
    for part in public.split():
        assert part not in forms


PEM_BODY = ["b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW", "QyNTUxOQAAACBk=="]


@pytest.mark.parametrize(("path", "content", "wanted"), [
    (".netrc", "machine h login team password ab1\n", ["ab1"]),  # short: the word, not the line
    (".netrc", "machine h\nlogin team\npassword s3cr3t-pass\n", ["s3cr3t-pass"]),
    (".ssh/id_ed25519", _pem("\n".join(PEM_BODY)), [*PEM_BODY, "".join(PEM_BODY)]),
    (".gitconfig", "[http]\n\textraheader = AUTHORIZATION: basic dXNlcjpnaHBfYWJjZGVmMTIzNDU2Nzg5\n",
     ["dXNlcjpnaHBfYWJjZGVmMTIzNDU2Nzg5"]),
    (".gitconfig", "[http]\n\ttoken = s3cr3t-t0ken\n", ["s3cr3t-t0ken"]),
    (".git-credentials", "https://oauth2:glpat-Xy12abc@gitlab.example.com\nhttps://ghp_Tok3n@github.com\n",
     ["glpat-Xy12abc", "ghp_Tok3n"]),
    (".npmrc", "//registry.npmjs.org/:_authToken=npm_abc123\n", ["npm_abc123"]),
    ("creds.json", '{"client_secret": "c1i3nt", "api_key": "k3y", "region": "eu-west-1"}', ["c1i3nt", "k3y"]),
    ("sa-token", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]),
    ("db.auto.tfvars", 'db_password = "hunter2"\ndb_name = "orders-7x"\nport = 5432\n',
     ["hunter2", "orders-7x", "5432"]),  # a .tfvars file: every value, as varsFrom
    ("db.auto.tfvars.json", '{"db_name": "orders-7x"}', ["orders-7x"]),
    ("token.txt", "  tok-with-newline\n", ["  tok-with-newline\n", "tok-with-newline"]),  # whole, and trimmed
])
def test_secret_parts_are_scrubbed_on_their_own(path: str, content: str, wanted: list[str]) -> None:
    forms = file_secret_forms(content, path)
    assert content in forms
    for part in wanted:
        assert part in forms, (part, forms)


def test_a_public_value_in_a_non_tfvars_file_is_kept() -> None:
    assert "eu-west-1" not in file_secret_forms('{"region": "eu-west-1"}', "creds.json")
    assert "orders-7x" not in file_secret_forms('db_name = "orders-7x"\n', "notes.txt")


def test_structure_of_a_home_file() -> None:
    assert structure_of(NETRC.format("pw"), ".netrc") == NETRC.format("***")
    assert structure_of(_pem("AAAA"), ".ssh/deploy_key") == "***\n"  # any file: a PEM block
    assert structure_of(_pem("AAAA"), ".ssh/id_ed25519") == "***"  # a key: all of it
    assert structure_of(SSH_CONFIG, ".ssh/config") == SSH_CONFIG  # nothing secret in it
