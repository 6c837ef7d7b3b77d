"""Which parts of a file mapped from a Secret are secret (terraform/file_secrets.py; second review of s19,
finding 4). The rule, for the digest and the scrubber alike: only secret material is replaced; what decides
what a run fetches (an `insteadOf` target and its URL path, an ssh `Host`/`HostName`, a `.netrc` machine,
a `.git-credentials` host and user) counts in the digest and stays readable in a scrubbed message."""

from __future__ import annotations

import pytest

from tfcontroller.api.redact import scrub
from tfcontroller.terraform.file_secrets import key_material, secret_forms, structure_of
from tfcontroller.terraform.run_files import RunFile, RunFiles, file_secret_forms

GITCONFIG = """# the platform team's rewrites
[url "https://oauth2:{token}@git.internal.example/{org}/terraform-Modules/"]
\tinsteadOf = https://git.internal.example/{org}/
\tpushInsteadOf = git@git.internal.example:{org}/
[http "https://git.internal.example/"]
\textraHeader = "AUTHORIZATION: bearer {header}" ; from the vault
\tsslVerify = {verify}
[credential]
\thelper = store --file ~/.git-credentials-{token}
[credential "https://team@git.internal.example"]
\tusername = {user}
[hub]
\toauthtoken = {token}
"""
SSH_CONFIG = """Host {alias}
  HostName {host}
  Port 2222
  User git
  IdentityFile ~/.ssh/{key}
  StrictHostKeyChecking yes
"""
NETRC = "machine {host}\nlogin {user}\npassword {password}\naccount {password}x\n"
CREDENTIALS = "https://{user}:{password}@{host}/org\n"
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n"
DEFAULTS = {"token": "glpat-Xy12abcDEF34ghiJKL56", "org": "Platform2", "header": "Tok3nAAAAbbbbCCCC1234",
            "verify": "true", "user": "team", "alias": "modules", "host": "git.internal.example",
            "key": "id_ed25519", "password": "s3cr3t-pass"}
TOKENS = {"token": "glpat-Zz98zyxWVU76tsrQPO10", "header": "Tok3nZZZZyyyyXXXX9876", "password": "n3w-pass"}


def _digest(path: str, template: str, **values: str) -> dict:
    return RunFiles(None, (RunFile("home", path, template.format(**{**DEFAULTS, **values})),)).digest_document()


FILES = [(".gitconfig", GITCONFIG), (".ssh/config", SSH_CONFIG), (".netrc", NETRC), (".git-credentials", CREDENTIALS)]


@pytest.mark.parametrize(("path", "template"), FILES, ids=[p for p, _ in FILES])
def test_rotating_a_token_or_password_keeps_the_digest(path: str, template: str) -> None:
    assert _digest(path, template) == _digest(path, template, **TOKENS)


@pytest.mark.parametrize(("path", "template", "changed", "change"), [
    (".gitconfig", GITCONFIG, GITCONFIG, {"org": "Platform3"}),  # the insteadOf target, one path segment
    (".gitconfig", GITCONFIG, GITCONFIG.replace("terraform-Modules/", "terraform-modules/"), {}),
    (".gitconfig", GITCONFIG, GITCONFIG.replace("insteadOf = https://git.", "insteadOf = https://src."), {}),
    (".gitconfig", GITCONFIG, GITCONFIG, {"verify": "false"}),  # an http.<url>.* setting
    (".gitconfig", GITCONFIG, GITCONFIG, {"user": "other"}),  # credential.<url>.username
    (".gitconfig", GITCONFIG, GITCONFIG.replace("helper = store", "helper = cache"), {}),  # the helper's name
    (".ssh/config", SSH_CONFIG, SSH_CONFIG, {"alias": "modules2"}),  # Host
    (".ssh/config", SSH_CONFIG, SSH_CONFIG, {"host": "git2.internal.example"}),  # HostName
    (".ssh/config", SSH_CONFIG, SSH_CONFIG.replace("2222", "22"), {}),  # Port
    (".ssh/config", SSH_CONFIG, SSH_CONFIG, {"key": "id_rsa"}),  # IdentityFile path
    (".netrc", NETRC, NETRC, {"host": "src.internal.example"}),  # machine
    (".netrc", NETRC, NETRC, {"user": "robot"}),  # login
    (".git-credentials", CREDENTIALS, CREDENTIALS, {"host": "git2.internal.example"}),
    (".git-credentials", CREDENTIALS, CREDENTIALS, {"user": "robot"}),
    (".git-credentials", CREDENTIALS, CREDENTIALS.replace("https://", "http://"), {}),
], ids=["insteadof-path-segment", "url-path-case", "insteadof-host", "http-setting", "credential-username",
        "helper-name", "ssh-host", "ssh-hostname", "ssh-port", "ssh-identityfile", "netrc-machine", "netrc-login",
        "credentials-host", "credentials-user", "credentials-scheme"])
def test_what_decides_the_fetch_changes_the_digest(path: str, template: str, changed: str,
                                                   change: dict[str, str]) -> None:
    assert _digest(path, template) != _digest(path, changed, **change)
    assert _digest(path, changed, **change) == _digest(path, changed, **change, **TOKENS)  # and rotation still not


def test_the_second_review_case_two_orgs_differ() -> None:
    """The reviewer's input: `structure_of` made `Platform2` and `Platform3` identical (a `/` in the key
    pattern turned the URL path into key material)."""
    line = '[url "https://git.internal.example/{}/terraform-Modules/"]\n\tinsteadOf = https://x.example/\n'
    for path in (".gitconfig", "some/other-file"):  # the parser and the conservative patterns
        assert structure_of(line.format("Platform2"), path) != structure_of(line.format("Platform3"), path)
        assert structure_of(line.format("Platform2"), path) == line.format("Platform2")


@pytest.mark.parametrize(("path", "template", "hidden", "readable"), [
    (".gitconfig", GITCONFIG, ["glpat-Xy12abcDEF34ghiJKL56", "Tok3nAAAAbbbbCCCC1234"],
     ["git.internal.example/Platform2/terraform-Modules/", "https://git.internal.example/Platform2/",
      "git@git.internal.example:Platform2/", "AUTHORIZATION", "store", "team"]),
    (".ssh/config", SSH_CONFIG, [], ["modules", "git.internal.example", "2222", "~/.ssh/id_ed25519", "git"]),
    (".netrc", NETRC, ["s3cr3t-pass"], ["git.internal.example", "team"]),
    (".git-credentials", CREDENTIALS, ["s3cr3t-pass"], ["git.internal.example/org", "team"]),
], ids=[p for p, _ in FILES])
def test_hosts_and_url_paths_stay_readable_in_a_scrubbed_message(path: str, template: str, hidden: list[str],
                                                                 readable: list[str]) -> None:
    content = template.format(**DEFAULTS)
    forms = file_secret_forms(content, path)
    for public in readable:
        message = f"Error: Failed to download module from {public}: {hidden[0] if hidden else 'denied'}"
        scrubbed = scrub(message, forms)
        assert public in scrubbed, (public, scrubbed)
        for secret in hidden:
            assert secret not in scrubbed
    for secret in hidden:
        assert secret in forms


@pytest.mark.parametrize(("path", "content", "wanted"), [
    (".gitconfig", '[http]\n\textraHeader = Authorization: Basic dXNlcjpnaHBfYWJjZGVm\n',
     ["Basic dXNlcjpnaHBfYWJjZGVm", "dXNlcjpnaHBfYWJjZGVm"]),
    (".gitconfig", "[sendemail]\n\tsmtpPass = hunter2\n[gitlab \"gitlab.example.com\"]\n\ttoken = abc\n",
     ["hunter2", "abc"]),
    (".gitconfig", '[url "https://ghp_Tok3nValue@github.com/"]\n\tinsteadOf = https://github.com/\n',
     ["ghp_Tok3nValue"]),  # a bare https user is the token
    (".gitconfig", '[credential]\n\thelper = "!f() { echo password=s3cr3t-inline; }; f"\n', ["s3cr3t-inline"]),
    (".gitconfig", "# old: ghp_Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9\n[core]\n", ["ghp_Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9"]),
    (".netrc", 'machine h login u password "two words"\n', ["two words"]),
    (".netrc", "machine h login u password x\n", ["x"]),  # any length (filtered by scrub's rule later)
    (".netrc", "default login anonymous account acct-9\n", ["acct-9"]),
    (".git-credentials", "https://team:p%40ss-w0rd@git.example.com\n", ["p%40ss-w0rd", "p@ss-w0rd"]),
    (".git-credentials", "https://ghp_Tok3n@github.com\n", ["ghp_Tok3n"]),
    (".ssh/id_ed25519", PEM.format("b3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACBk=="),
     [PEM.format("b3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACBk=="), "b3BlbnNzaC1rZXktdjEAAAAA", "QyNTUxOQAAACBk=="]),
])
def test_secret_parts_of_known_files(path: str, content: str, wanted: list[str]) -> None:
    forms = secret_forms(content, path)
    for part in wanted:
        assert part in forms, (part, forms)
    assert all(s not in structure_of(content, path) for s in wanted if len(s) > 1)


@pytest.mark.parametrize(("path", "content", "public"), [
    (".gitconfig", '[credential "https://team@git.example.com"]\n\tusername = team\n', ["team"]),
    (".gitconfig", "[http]\n\tsslCertPasswordProtected = true\n\tproxy = http://proxy.example:3128\n",
     ["true", "http://proxy.example:3128"]),
    (".ssh/known_hosts", "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
     ["AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]),
    (".ssh/id_ed25519.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl team\n",
     ["AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]),
    (".ssh/config", "Host ci\n  ProxyJump bastion.Example2024Platform.internal\n", ["bastion"]),
])
def test_public_parts_of_known_files_are_not_secret(path: str, content: str, public: list[str]) -> None:
    forms = secret_forms(content, path)
    assert not any(p in form for p in public for form in forms), forms


def test_known_hosts_counts_whole_and_a_key_pair_not_at_all() -> None:
    hosts = "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    assert structure_of(hosts, ".ssh/known_hosts") == hosts
    for path in (".ssh/id_ed25519", ".ssh/id_ed25519.pub"):  # the public half rotates with the key
        assert structure_of("one key", path) == structure_of("another key", path) == "***"


@pytest.mark.parametrize(("run", "material"), [
    ("glpat-JMp41FDg5v5KhsDLRPY4", True), ("ghp_16C7e42F292c6912E7710c838347Ae178B4a", True),
    ("dXNlcjpnaHBfYWJjZGVmMTIzNDU2Nzg5", True), ("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9u", True),
    ("TerraformModules2024Platform", False), ("Terraform-Modules-2024-Platform", False),
    ("team-Platform2-modules-v10", False), ("PlatformTeamModules2", False), ("StrictHostKeyChecking", False),
    ("infra_modules_for_team_2024", False),
])
def test_key_material_is_random_looking_text_not_words(run: str, material: bool) -> None:
    assert key_material(run) is material


@pytest.mark.parametrize("public", [
    "https://git.internal.example/Platform2/terraform-Modules-2024/",  # a URL path: `/` splits it
    "git.Internal2Platform.example.com",  # a dotted host name: `.` splits it
    "git@github.com:Platform2/Terraform-Modules-2024-Platform.git",
])
def test_unknown_files_keep_url_paths_and_host_names(public: str) -> None:
    content = f"source = {public}\napi_key = s3cr3t\n"
    assert structure_of(content, "tools/config.yaml") == f"source = {public}\napi_key = ***\n"
    assert secret_forms(content, "tools/config.yaml") == ["s3cr3t"]
