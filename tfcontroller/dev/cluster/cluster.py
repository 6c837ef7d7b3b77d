"""`DevCluster`: store, API, router and HTTP server wired together, with a kubeconfig to reach them.

    with DevCluster() as cluster:
        kubernetes.config.load_kube_config(cluster.kubeconfig)

Each instance has its own fresh state (or the state file's), its own port and its own token.
"""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from tfcontroller.dev.cluster import crds
from tfcontroller.dev.cluster.api import Api
from tfcontroller.dev.cluster.gc import GarbageCollector
from tfcontroller.dev.cluster.httpserver import ApiHTTPServer
from tfcontroller.dev.cluster.kubeconfig import write_kubeconfig
from tfcontroller.dev.cluster.node.node import Node, NodeConfig
from tfcontroller.dev.cluster.node.volumes import VolumeError
from tfcontroller.dev.cluster.oidc import OIDCAuthenticator, OIDCConfig
from tfcontroller.dev.cluster.persistence import StateWriter, load_state
from tfcontroller.dev.cluster.resources import Registry
from tfcontroller.dev.cluster.router import Router
from tfcontroller.dev.cluster.store import Store
from tfcontroller.dev.cluster.tlsutil import load_or_make_certificates
from tfcontroller.dev.cluster.tokens import TokenIssuer

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class DevCluster:
    def __init__(
        self,
        port: int = 0,
        tls: bool = True,
        state_file: str | Path | None = None,
        kubeconfig: str | Path | None = None,
        bookmark_interval: float = 1.0,
        gc_interval: float = 1.0,
        node: bool | NodeConfig = False,
        oidc: OIDCConfig | None = None,
    ) -> None:
        self.tls = tls
        self.state_file = Path(state_file) if state_file else None
        # With a state file, the admin token, the CA and the ServiceAccount signing key are kept beside it
        # (`<state file>.auth/`, owner-only), so that a restart keeps every client's credentials valid.
        self._auth_dir = self.state_file.with_name(self.state_file.name + ".auth") if self.state_file else None
        self.token = _load_or_make_token(self._auth_dir)
        self._requested_port = port
        self._tmpdir: Path | None = None
        self._kubeconfig = Path(kubeconfig) if kubeconfig else None
        self.registry = Registry()
        self.store = Store()
        # ServiceAccount tokens; the signing key sits beside the state file so tokens survive a restart.
        self.tokens = TokenIssuer(self.store, self._auth_dir / "sa.key" if self._auth_dir else None)
        self.ca_pem: bytes | None = None  # the CA of the serving certificate (TLS only)
        self.ca_file: Path | None = None  # the same in a file, for a Pod's ca.crt / in-cluster config
        self.api = Api(self.store, self.registry)
        self.gc = GarbageCollector(self.api, gc_interval)
        self.api.on_delete = self.gc.wake
        self._stop = threading.Event()
        # The OpenID Connect authenticator (`--oidc-*`): id tokens of that issuer are users too (oidc.py).
        self.oidc = OIDCAuthenticator(oidc) if oidc is not None else None
        self.router = Router(self.api, self.registry, self.token, self._stop, bookmark_interval, self.tokens,
                             self.oidc)
        self._server: ApiHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._writer: StateWriter | None = None
        # The dev node (node/): runs Pods and Jobs as sandboxed processes when asked for.
        self.node_config: NodeConfig | None = (node if isinstance(node, NodeConfig) else NodeConfig()) if node else None
        self.node: Node | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> DevCluster:
        if self._server is not None:
            return self
        self._load_or_seed()
        context: ssl.SSLContext | None = None
        ca_pem: bytes | None = None
        if self.tls or self._kubeconfig is None or self.node_config is not None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="devcluster-"))
        if self.tls:
            assert self._tmpdir is not None
            certs = load_or_make_certificates(self._auth_dir or self._tmpdir / "pki")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certs.cert_path, certs.key_path)
            ca_pem = certs.ca_pem
            self.ca_pem, self.ca_file = certs.ca_pem, certs.ca_path
        self._server = ApiHTTPServer(("127.0.0.1", self._requested_port), self.router, context)
        self.router.server_address = f"127.0.0.1:{self.port}"
        if self._kubeconfig is None:
            assert self._tmpdir is not None
            self._kubeconfig = self._tmpdir / "kubeconfig"
        write_kubeconfig(self._kubeconfig, self.url, self.token, ca_pem)
        if self.state_file is not None:
            self._writer = StateWriter(self.store, self.state_file)
            self._writer.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="devcluster-http", daemon=True
        )
        self._thread.start()
        self.gc.start()
        if self.node_config is not None:
            self._start_node()
        return self

    def _start_node(self) -> None:
        assert self._tmpdir is not None and self.node_config is not None
        from tfcontroller.dev.cluster.node import Node
        from tfcontroller.dev.cluster.node.node import serve_log

        def hidden() -> list[str]:  # what a container must never read, should it sit in a visible directory
            paths = [str(self._tmpdir)] if self._tmpdir is not None else []
            for path in (self.state_file, self._kubeconfig):
                if path is not None:
                    paths.append(str(Path(path).resolve().parent))
            return paths

        issuer = self.tokens

        def token(audience: str | None, seconds: int, pod: dict[str, Any]) -> str:
            """A projected serviceAccountToken: bound to the Pod, for `audience` or the API server's."""
            meta = pod["metadata"]
            try:
                value, _ = issuer.issue(meta.get("namespace", "default"), pod["spec"].get("serviceAccountName") or "default",
                                        audiences=[audience] if audience else None, expiration_seconds=seconds,
                                        bound_object=("Pod", meta["name"], meta["uid"]))
            except LookupError as exc:
                raise VolumeError(str(exc)) from None
            return value

        node = Node(self.api, self._tmpdir / "node", self.node_config, hidden, token, self.ca_pem)
        node.server_port = self.port
        node.start()  # RuntimeError when bubblewrap is missing: the caller stops the cluster
        self.node = node
        self.router.pod_logs = lambda ns, name, query: serve_log(node, ns, name, query)

    def stop(self) -> None:
        if self._server is None:
            return
        if self.node is not None:
            self.node.stop()  # every container process ends before the API goes away
            self.node = None
            self.router.pod_logs = None
        self._stop.set()
        self.gc.stop()
        with self.store.changed:
            self.store.changed.notify_all()  # wake watch streams so they see the stop flag
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
        self._server = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
            self.ca_pem = self.ca_file = None

    def __enter__(self) -> DevCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ facts
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("DevCluster is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> str:
        if self._kubeconfig is None:
            raise RuntimeError("DevCluster is not started")
        return str(self._kubeconfig)

    def compact(self) -> None:
        """Drop the watch event log: watches from any earlier resourceVersion now get 410 Gone."""
        self.store.compact()

    # ------------------------------------------------------------------ state
    def _load_or_seed(self) -> None:
        data = load_state(self.state_file) if self.state_file is not None else None
        if data is not None:
            self.store.restore(data)
            for obj in self.store.list(crds.CRD_GROUP, crds.CRD_PLURAL):
                for info in crds.resource_infos(obj):
                    self.registry.add(info)
            self.router.policy.ensure_bootstrap()  # a state file from before RBAC, or roles deleted since
            return
        ns_info = self.registry.lookup("", "v1", "namespaces")
        assert ns_info is not None
        for name in INITIAL_NAMESPACES:
            if self.store.get("", "namespaces", "", name) is None:
                self.api.create(ns_info, None, {"metadata": {"name": name}})
        self.router.policy.ensure_bootstrap()



def _load_or_make_token(auth_dir: Path | None) -> str:
    """The admin token: kept in `auth_dir/admin-token` (0600) when there is one, else new each time."""
    path = auth_dir / "admin-token" if auth_dir is not None else None
    if path is not None and path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(24)
    if path is not None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token)
    return token
