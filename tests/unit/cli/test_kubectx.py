"""Where the CLI's cluster configuration comes from, and the one-line errors when it cannot be used,
as kubectl users expect (issue 13, point 14): a missing file named by --kubeconfig or $KUBECONFIG, no
configuration at all, a file that is not YAML or not a kubeconfig, an unknown or missing context, a
context naming no cluster, and an API server that does not answer. Each error says which file, context
or server, and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfcontroller.cli.kubectx import (
    Kubeconfig,
    choose_kubeconfig,
    failure_cause,
    read_kubeconfig,
    revision,
    select_context,
    unauthorized,
    unreachable,
)
from tfcontroller.cli.main import CLIError

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: dev, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts:
- {name: dev, context: {cluster: dev, user: u, namespace: team}}
- {name: broken, context: {cluster: gone, user: u}}
current-context: dev
"""


def error(fn, *args) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(CLIError) as info:
        fn(*args)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_choose_in_kubectls_order(tmp_path: Path) -> None:
    home, one, two = tmp_path / "home", tmp_path / "one", tmp_path / "two"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text(KUBECONFIG)
    two.write_text(KUBECONFIG)
    assert choose_kubeconfig(str(two), str(one), home, True) == Kubeconfig(str(two), "--kubeconfig")
    assert choose_kubeconfig(None, f"{one}:{two}", home, True) == Kubeconfig(str(two), "$KUBECONFIG")
    assert choose_kubeconfig(None, "", home, True) == Kubeconfig(str(home / ".kube" / "config"), "~/.kube/config")
    assert choose_kubeconfig(None, None, tmp_path / "nobody", True) == Kubeconfig(None, "in-cluster")


def test_missing_configuration_says_which_file_and_what_to_do(tmp_path: Path) -> None:
    home = tmp_path / "home"
    text = error(choose_kubeconfig, str(tmp_path / "nope"), None, home, False)
    assert text == f"kubeconfig {tmp_path / 'nope'} (from --kubeconfig) does not exist; pass the path of a kubeconfig file"
    text = error(choose_kubeconfig, None, str(tmp_path / "nope"), home, False)
    assert text.startswith(f"$KUBECONFIG names {tmp_path / 'nope'}, which does not exist; point KUBECONFIG at")
    text = error(choose_kubeconfig, None, None, home, False)
    assert text.startswith(f"no kubeconfig: KUBECONFIG is not set, {home / '.kube' / 'config'} does not exist")
    assert "pass --kubeconfig PATH or set KUBECONFIG" in text


def test_a_path_that_is_there_but_no_file_is_not_called_missing(tmp_path: Path) -> None:
    """A directory (or a device) where a kubeconfig file is expected is named for what it is: "does not
    exist" would send the user looking for a file that is there. Several $KUBECONFIG entries, none a file,
    are one clause."""
    home, folder = tmp_path / "home", tmp_path / "kube"
    folder.mkdir()
    text = error(choose_kubeconfig, str(folder), None, home, False)
    assert text == f"kubeconfig {folder} (from --kubeconfig) is a directory, not a file; pass the path of a kubeconfig file"
    text = error(choose_kubeconfig, None, str(folder), home, False)
    assert text.startswith(f"$KUBECONFIG names {folder}, which is a directory, not a file; point KUBECONFIG at")
    text = error(choose_kubeconfig, None, "/dev/null", home, False)
    assert text.startswith("$KUBECONFIG names /dev/null, which is not a regular file;")
    text = error(choose_kubeconfig, None, f"{folder}:{tmp_path / 'nope'}", home, False)
    assert text.startswith(f"$KUBECONFIG names {folder}:{tmp_path / 'nope'}, none of which is an existing file;")
    (home / ".kube" / "config").mkdir(parents=True)
    text = error(choose_kubeconfig, None, None, home, False)
    assert text.startswith(f"no kubeconfig: KUBECONFIG is not set, {home / '.kube' / 'config'} is a directory")


@pytest.mark.parametrize(("content", "want"), [
    ("clusters: [\n", "is not valid YAML (expected the node content, but found '<stream end>' at line 2, column 1)"),
    ("a: b: c\n", "is not valid YAML (mapping values are not allowed here at line 1, column 5)"),
    ("just text\n", "is not a kubeconfig (it has no clusters, users or contexts)"),
    ("", "is not a kubeconfig (it has no clusters, users or contexts)"),
])
def test_invalid_file_names_it_and_the_problem(tmp_path: Path, content: str, want: str) -> None:
    path = tmp_path / "config"
    path.write_text(content)
    text = error(read_kubeconfig, Kubeconfig(str(path), "$KUBECONFIG"))
    assert text.startswith(f"kubeconfig {path} (from $KUBECONFIG) {want}"), text


def test_contexts(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(KUBECONFIG)
    config = Kubeconfig(str(path), "--kubeconfig")
    doc = read_kubeconfig(config)
    assert select_context(doc, None, config)["namespace"] == "team"
    assert select_context(doc, "dev", config)["name"] == "dev"
    text = error(select_context, doc, "prod", config)
    assert text == (f'context "prod" does not exist in kubeconfig {path} (from --kubeconfig) '
                    "(contexts: broken, dev; kubectl config get-contexts lists them)")
    text = error(select_context, {**doc, "current-context": "old"}, None, config)
    assert text.startswith('the current-context "old" does not exist in kubeconfig')
    text = error(select_context, {**doc, "current-context": ""}, None, config)
    assert text.endswith("has no current-context; pass --context NAME (contexts: broken, dev)")
    text = error(select_context, doc, "broken", config)
    assert text == f'context "broken" names cluster "gone", which is not in kubeconfig {path} (from --kubeconfig)'


def test_unreachable_server_names_server_context_and_file() -> None:
    text = unreachable("https://10.0.0.1:6443", "connection refused", "dev", Kubeconfig("/k", "$KUBECONFIG"))
    assert text == ('cannot reach the API server https://10.0.0.1:6443 (connection refused), named by context '
                    '"dev" of kubeconfig /k (from $KUBECONFIG); is the cluster running, and is this the right '
                    "context?")


@pytest.mark.parametrize(("message", "want"), [
    ("GET /api: cannot reach the API server http://h:1 (connection refused)", "connection refused"),
    ("GET /api: cannot reach the API server https://h:1 (TLS failed: [SSL: WRONG_VERSION_NUMBER] wrong version "
     "number (_ssl.c:1006))", "TLS failed: [SSL: WRONG_VERSION_NUMBER] wrong version number"),
    ("GET /api: cannot reach the API server https://h:1 (TLS failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate "
     "verify failed: self-signed certificate (_ssl.c:1006))",
     "TLS failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"),
    ("GET /api: cannot reach the API server http://h:1 (timed out)", "timed out"),
    ("something else entirely", "something else entirely"),
])
def test_the_whole_cause_of_a_failed_connection_is_kept(message: str, want: str) -> None:
    """The cause is everything inside the client's parenthesis, nested ones included: a TLS failure once
    read "(_ssl.c:1006)" and nothing else. OpenSSL's source line is dropped."""
    host = "https://h:1" if "https" in message else "http://h:1"
    assert failure_cause(message, host) == want


def test_refused_credentials_name_the_user_context_and_file() -> None:
    text = unauthorized("https://10.0.0.1:6443", "alice", "dev", Kubeconfig("/k", "$KUBECONFIG"))
    assert text == ('the API server https://10.0.0.1:6443 refused the credentials of user "alice" (Unauthorized), '
                    'named by context "dev" of kubeconfig /k (from $KUBECONFIG); log in again or fix the '
                    "user's credentials (token, client certificate) in the kubeconfig")
    text = unauthorized("https://10.0.0.1:443", None, None, Kubeconfig(None, "in-cluster"))
    assert text.startswith("the API server https://10.0.0.1:443 refused the credentials (Unauthorized), named by "
                           "the in-cluster service account;")


def test_revision_is_the_applied_one_never_the_attempted_one() -> None:
    """REVISION of `get`: a GitRepository's artifact, else the last applied revision (as `flux get`), empty
    while nothing was applied, whatever was attempted (a first plan waiting for approval)."""
    assert revision({"kind": "GitRepository", "status": {"artifact": {"revision": "main@sha1:a"}}}) == "main@sha1:a"
    assert revision({"kind": "Terraform", "status": {"lastAttemptedRevision": "main@sha1:b"}}) == ""
    assert revision({"kind": "Terraform", "status": {"lastAttemptedRevision": "main@sha1:b",
                                                     "lastAppliedRevision": "main@sha1:a"}}) == "main@sha1:a"
    assert revision({"kind": "ManifestSet", "status": {"lastAttemptedRevision": "main@sha1:b"}}) == ""
    assert revision({"kind": "ManifestSet"}) == ""
