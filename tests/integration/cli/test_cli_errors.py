"""Configuration and connection errors of the real `tfcontroller` process, as an operator meets them
(issue 13, point 14): $KUBECONFIG naming a missing file, a kubeconfig that is not YAML, no configuration
at all, an unknown --context, and an API server that does not answer. Each is one line on stderr naming
the file, context or server (no traceback), exit 1; the same environment with a good kubeconfig works."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tfcontroller.dev.cluster import DevCluster

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{server}"}}}}]
users: [{{name: u, user: {{}}}}]
contexts: [{{name: here, context: {{cluster: c, user: u}}}}]
current-context: here
"""


def tfcontroller(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", os.defpath)}
    if os.environ.get("PYTHONPATH"):  # the worktree's code, as the tests run it
        base["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run([sys.executable, "-m", "tfcontroller", *argv], capture_output=True, text=True,
                          env={**base, **env}, timeout=60)


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: "), proc.stderr
    return proc.stderr.strip()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_configuration_errors_name_the_file_and_what_to_do(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    text = one_line(tfcontroller({"HOME": str(home), "KUBECONFIG": str(missing)}, "get", "tf"))
    assert text.startswith(f"error: $KUBECONFIG names {missing}, which does not exist;"), text

    bad = tmp_path / "bad.yaml"
    bad.write_text("clusters:\n  - name: [unclosed\n")
    text = one_line(tfcontroller({"HOME": str(home), "KUBECONFIG": str(bad)}, "reconcile", "app"))
    assert text.startswith(f"error: kubeconfig {bad} (from $KUBECONFIG) is not valid YAML ("), text
    assert "line 3" in text, text

    text = one_line(tfcontroller({"HOME": str(home)}, "approve", "app"))
    assert text.startswith(f"error: no kubeconfig: KUBECONFIG is not set, {home}/.kube/config does not exist"), text

    good = tmp_path / "good.yaml"
    good.write_text(KUBECONFIG.format(server="http://127.0.0.1:1"))
    text = one_line(tfcontroller({"HOME": str(home), "KUBECONFIG": str(good)}, "get", "tf", "--context", "prod"))
    assert text == (f'error: context "prod" does not exist in kubeconfig {good} (from $KUBECONFIG) '
                    "(contexts: here; kubectl config get-contexts lists them)")


def test_unreachable_api_server_names_server_and_context(home: Path, tmp_path: Path,
                                                         dev_cluster: DevCluster) -> None:
    server = f"http://127.0.0.1:{closed_port()}"
    config = home / ".kube" / "config"
    config.parent.mkdir()
    config.write_text(KUBECONFIG.format(server=server))
    text = one_line(tfcontroller({"HOME": str(home)}, "suspend", "app"))
    assert text == (f'error: cannot reach the API server {server} (connection refused), named by context "here" '
                    f"of kubeconfig {config} (from ~/.kube/config); is the cluster running, and is this the "
                    "right context?")
    ok = tfcontroller({"HOME": str(home), "KUBECONFIG": str(dev_cluster.kubeconfig)}, "get", "tf")
    assert ok.returncode in (0, 3), ok.stderr  # reached the server (3: the CRDs are not installed here)
    assert "cannot reach" not in ok.stderr


def test_refused_credentials_and_a_failed_handshake_name_server_context_and_file(
        home: Path, tmp_path: Path, dev_cluster: DevCluster) -> None:
    """A token the server does not accept, and a server whose certificate is not trusted: each is one
    line naming the server, the context (and its user) and the file, and what to do; a kubeconfig path
    that is a directory is called one, not missing."""
    good = Path(dev_cluster.kubeconfig).read_text()
    server = next(line.split("server:", 1)[1].strip() for line in good.splitlines() if "server:" in line)
    token = next(line.split("token:", 1)[1].strip() for line in good.splitlines() if "token:" in line)
    bad_token = tmp_path / "bad-token.yaml"
    bad_token.write_text(good.replace(token, "not-the-token"))
    text = one_line(tfcontroller({"HOME": str(home), "KUBECONFIG": str(bad_token)}, "get", "tf"))
    assert text.startswith(f'error: the API server {server} refused the credentials of user "'), text
    assert "(Unauthorized), named by context " in text and f"of kubeconfig {bad_token} (from $KUBECONFIG)" in text
    assert text.endswith("log in again or fix the user's credentials (token, client certificate) in the kubeconfig")

    # the dev cluster serves HTTPS with its own CA: without that CA the handshake fails verification
    assert server.startswith("https://")
    untrusted = tmp_path / "untrusted.yaml"
    untrusted.write_text("\n".join(line for line in good.splitlines() if "certificate-authority" not in line) + "\n")
    text = one_line(tfcontroller({"HOME": str(home), "KUBECONFIG": str(untrusted)}, "reconcile", "app"))
    assert text.startswith(f"error: cannot reach the API server {server} (TLS failed: "), text
    assert "_ssl.c" not in text and f"of kubeconfig {untrusted} (from $KUBECONFIG)" in text

    text = one_line(tfcontroller({"HOME": str(home)}, "get", "tf", "--kubeconfig", str(tmp_path)))
    assert text == (f"error: kubeconfig {tmp_path} (from --kubeconfig) is a directory, not a file; pass the path "
                    "of a kubeconfig file")
