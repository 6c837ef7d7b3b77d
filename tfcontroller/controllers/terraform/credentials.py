"""The identity of a local run (`--runner=local`, issue 15): the kubeconfig the runner and Terraform's
kubernetes backend use, written by the controller for each run of an object.

Rule: when the object's namespace has the runner ServiceAccount (`runner_service_account`, by default
`tfcontroller-runner`), a run's credential is a short-lived TokenRequest token of it, valid for the run's
bound (`token_seconds`), so RBAC of the tenant namespace decides what a run may read and write — in
local mode as in pod mode. Otherwise the run carries the controller's own credential ("module authors are
as trusted as the controller", said once per namespace in the log). Either way the file is built from the
controller's connection (server, CA; in a cluster the in-cluster configuration), never a copy of the
controller's kubeconfig, so `--runner=local` needs no `--kubeconfig`.

The file sits at one path per object (`<work dir>/credentials/<namespace>_<name>/kubeconfig`, 0600 in a
0700 directory) and is rewritten before every run: a saved plan records the backend's kubeconfig path and
the init cache key depends on it, so the path must not change between runs of an object.

`token_seconds`, `kubeconfig_document` are pure (tests/unit/controllers/terraform/test_credentials.py);
`run_kubeconfig` talks to the API server.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tfcontroller.api.errors import TransientError
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError

log = logging.getLogger(__name__)

DEFAULT_RUNNER_SERVICE_ACCOUNT = "tfcontroller-runner"
MIN_TOKEN_SECONDS = 600  # the API server refuses shorter TokenRequests
RUNNER_CREDENTIAL_FAILED = "RunnerCredentialFailed"
_COMMANDS_PER_RUN = 3  # init, then plan + show or apply + output: each bounded by spec.timeout
_MARGIN_SECONDS = 60
_SAFE = re.compile(r"[^a-zA-Z0-9_.-]")


@dataclass(frozen=True)
class Connection:
    """How the controller reaches the API server, as a run needs it: never a path the sandbox hides."""

    server: str
    ca_pem: bytes | None  # None: the system trust store
    insecure: bool = False


@dataclass(frozen=True)
class Credential:
    token: str | None = None
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None
    username: str | None = None
    password: str | None = None


def runner_service_account(tf: Any) -> str:
    """The ServiceAccount whose token a run of `tf` carries: `spec.runnerPod.serviceAccountName` when the
    spec has it (pod mode adds the field), else the default. The one place that decides the name."""
    runner_pod = getattr(getattr(tf, "spec", None), "runner_pod", None)
    name = getattr(runner_pod, "service_account_name", None)
    return name if isinstance(name, str) and name else DEFAULT_RUNNER_SERVICE_ACCOUNT


def token_seconds(spec_timeout: float, grace: float) -> int:
    """The lifetime of a run's token: the run's bound (each of its commands limited by spec.timeout plus
    the grace between SIGINT and SIGKILL) and a margin, never below the API server's minimum. Pure."""
    bound = _COMMANDS_PER_RUN * (max(spec_timeout, 0.0) + max(grace, 0.0)) + _MARGIN_SECONDS
    return max(MIN_TOKEN_SECONDS, math.ceil(bound))


def kubeconfig_document(connection: Connection, credential: Credential, namespace: str) -> dict[str, Any]:
    """A one-context kubeconfig with every value inline (`*-data`): the run's sandbox mounts only this
    file, so it may not point at other files. Pure."""
    cluster: dict[str, Any] = {"server": connection.server}
    if connection.insecure:
        cluster["insecure-skip-tls-verify"] = True
    elif connection.ca_pem:
        cluster["certificate-authority-data"] = _b64(connection.ca_pem)
    user: dict[str, Any] = {}
    if credential.token:
        user["token"] = credential.token
    if credential.client_cert_pem and credential.client_key_pem:
        user["client-certificate-data"] = _b64(credential.client_cert_pem)
        user["client-key-data"] = _b64(credential.client_key_pem)
    if credential.username is not None:
        user.update({"username": credential.username, "password": credential.password or ""})
    return {"apiVersion": "v1", "kind": "Config", "current-context": "run",
            "clusters": [{"name": "run", "cluster": cluster}],
            "users": [{"name": "run", "user": user}],
            "contexts": [{"name": "run", "context": {"cluster": "run", "user": "run", "namespace": namespace}}]}


def kubeconfig_path(work_dir: Path, object_key: str) -> Path:
    """The object's one kubeconfig path (see the module docstring for why it is stable)."""
    return work_dir / "credentials" / _SAFE.sub("_", object_key.replace("/", "_")) / "kubeconfig"


class RunCredentials:
    """Writes a run's kubeconfig; remembers the namespaces already told that they run as the controller."""

    def __init__(self, kube: KubeClient, work_dir: Path) -> None:
        self.kube = kube
        self.work_dir = work_dir
        self._told: set[str] = set()
        self._lock = threading.Lock()

    def run_kubeconfig(self, namespace: str, object_key: str, service_account: str, seconds: int) -> Path:
        """Write the kubeconfig of the next run of `object_key` and return its path."""
        connection = connection_of(self.kube)
        token = self._runner_token(namespace, service_account, seconds)
        if token is not None:
            credential = Credential(token=token)
        else:
            self._tell_once(namespace, service_account)
            credential = controller_credential(self.kube)
        path = kubeconfig_path(self.work_dir, object_key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(path, yaml.safe_dump(kubeconfig_document(connection, credential, namespace)))
        return path

    def forget(self, object_key: str) -> None:
        """The object is gone: its kubeconfig (and its last token) with it."""
        path = kubeconfig_path(self.work_dir, object_key)
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()
        except OSError:
            pass

    def _runner_token(self, namespace: str, service_account: str, seconds: int) -> str | None:
        """A TokenRequest token of the runner ServiceAccount; None when the namespace has none."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": seconds}}
        try:
            answer = self.kube.request(
                "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token", body=body)
        except ApiError as exc:
            if exc.status == 404:
                return None
            # The account exists but no token could be had: running as the controller instead would
            # widen the run's rights behind the tenant's back, so the run waits for the grant instead.
            raise TransientError(RUNNER_CREDENTIAL_FAILED, f"cannot request a token of ServiceAccount "
                                                           f"{namespace}/{service_account} for the run: "
                                                           f"{exc.message} (the controller needs 'create' on "
                                                           f"serviceaccounts/token)") from None
        token = ((answer or {}).get("status") or {}).get("token")
        if not isinstance(token, str) or not token:
            raise TransientError(RUNNER_CREDENTIAL_FAILED, f"the TokenRequest of {namespace}/{service_account} "
                                                           f"answered without a token")
        return token

    def _tell_once(self, namespace: str, service_account: str) -> None:
        with self._lock:
            if namespace in self._told:
                return
            self._told.add(namespace)
        log.info("namespace %s has no ServiceAccount %s: local runs there use the controller's own identity "
                 "(module authors are as trusted as the controller); 'tfcontroller tenant add %s' creates it",
                 namespace, service_account, namespace)


def connection_of(kube: KubeClient) -> Connection:
    cfg = kube.configuration
    ca_file = getattr(cfg, "ssl_ca_cert", None)
    ca_pem = Path(ca_file).read_bytes() if ca_file else None
    return Connection(server=kube.host, ca_pem=ca_pem, insecure=not getattr(cfg, "verify_ssl", True))


def controller_credential(kube: KubeClient) -> Credential:
    """The controller's own credential, from its live configuration (a kubeconfig's token or client
    certificate, or the in-cluster token as last refreshed)."""
    cfg = kube.configuration
    hook = getattr(cfg, "refresh_api_key_hook", None)
    if hook is not None:
        hook(cfg)  # in-cluster: the projected token is re-read from its file
    header = cfg.get_api_key_with_prefix("BearerToken", alias="authorization") or ""
    token = header.split(" ", 1)[1] if header.lower().startswith("bearer ") else (header or None)
    cert_file, key_file = getattr(cfg, "cert_file", None), getattr(cfg, "key_file", None)
    return Credential(token=token,
                      client_cert_pem=Path(cert_file).read_bytes() if cert_file else None,
                      client_key_pem=Path(key_file).read_bytes() if key_file else None,
                      username=getattr(cfg, "username", None) or None,
                      password=getattr(cfg, "password", None) or None)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)
