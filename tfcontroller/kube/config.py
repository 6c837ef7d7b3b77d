"""Where the client's credentials and TLS settings come from: a kubeconfig file when one is named,
else the in-cluster service account, else the default kubeconfig. The `kubernetes` package does the
loading (tokens, client certificates, exec plugins); the pool size is ours.

`load_static` is the operator CLI's fast path: importing `kubernetes` costs a quarter of a second (its
package imports every generated model), more than a whole kubectl command. A kubeconfig whose context
uses only static material (server, CA, token or token file, client certificate and key, basic auth,
insecure-skip-tls-verify) is read here with PyYAML instead, into a `StaticConfiguration` that offers the
few attributes `KubeClient` reads. Anything else (exec and auth-provider plugins, proxies, impersonation,
tls-server-name …) returns None, and the caller falls back to `kubernetes`' loader, so no kubeconfig is
read differently: tests/unit/kube/test_config.py compares both loaders on the same files.
"""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POOL_SIZE = 64  # informers hold one connection each while watching; workers need the rest

# The kubeconfig keys the static loader understands; any other key selects `kubernetes`' loader.
_CLUSTER_KEYS = {"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify",
                 "extensions"}
_USER_KEYS = {"token", "tokenFile", "client-certificate", "client-certificate-data", "client-key",
              "client-key-data", "username", "password", "extensions"}


def load_configuration(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """Kubeconfig when a path is given; else in-cluster; else the default kubeconfig location.
    Returns a `kubernetes.client.Configuration` (imported here, not at module import: see above)."""
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    cfg = k8s_client.Configuration()
    if kubeconfig:
        k8s_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)  # type: ignore[no-untyped-call]
    else:
        try:
            k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException:
            k8s_config.load_kube_config(context=context, client_configuration=cfg)  # type: ignore[no-untyped-call]
    cfg.connection_pool_maxsize = POOL_SIZE
    return cfg


@dataclass
class StaticConfiguration:
    """What `KubeClient` reads of a `kubernetes.client.Configuration`, for static credentials."""

    host: str
    api_key: dict[str, str] = field(default_factory=dict)
    api_key_prefix: dict[str, str] = field(default_factory=dict)
    username: str | None = None
    password: str | None = None
    verify_ssl: bool = True
    ssl_ca_cert: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    refresh_api_key_hook: Any = None

    def get_api_key_with_prefix(self, identifier: str, alias: str | None = None) -> str | None:
        key = self.api_key.get(identifier, self.api_key.get(alias) if alias is not None else None)
        if key is None:
            return None
        prefix = self.api_key_prefix.get(identifier)
        return f"{prefix} {key}" if prefix else key

    def get_basic_auth_token(self) -> str | None:
        if self.username is None and self.password is None:
            return None
        raw = f"{self.username or ''}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def pool_manager(self) -> Any:
        """A urllib3 pool with this configuration's TLS settings (what `kubernetes.client.ApiClient`
        builds from a Configuration)."""
        import ssl

        import urllib3

        kwargs: dict[str, Any] = {"num_pools": 4, "maxsize": POOL_SIZE}
        if self.verify_ssl:
            kwargs.update(cert_reqs=ssl.CERT_REQUIRED, ca_certs=self.ssl_ca_cert)
        else:
            kwargs.update(cert_reqs=ssl.CERT_NONE)
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        if self.cert_file:
            kwargs.update(cert_file=self.cert_file, key_file=self.key_file)
        return urllib3.PoolManager(**kwargs)


def _selected(doc: dict[str, Any], section: str, name: Any) -> dict[str, Any] | None:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(section[:-1])
            return body if isinstance(body, dict) else {}
    return None


_data_dir: str | None = None


def _data_file(data: str, suffix: str) -> str:
    """A `*-data` field (base64) as a private file, as `kubernetes`' loader writes it; removed at exit."""
    global _data_dir
    if _data_dir is None:
        _data_dir = tempfile.mkdtemp(prefix="tfcontroller-kubeconfig-")
        atexit.register(shutil.rmtree, _data_dir, True)
    fd, path = tempfile.mkstemp(suffix=suffix, dir=_data_dir)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64decode(data))
    return path


def _path(value: Any, base: Path) -> str:
    """A file a kubeconfig names: relative paths are relative to the kubeconfig (as kubectl reads them)."""
    path = Path(os.path.expanduser(str(value)))
    return str(path if path.is_absolute() else base / path)


def load_static(kubeconfig: str, context: str | None = None) -> StaticConfiguration | None:
    """The configuration of `context` (default: the current one) when it uses only static credentials;
    None when `kubernetes`' loader is needed (a plugin, an unknown key, an unreadable file, no such
    context: that loader then reports the problem in its own words)."""
    import yaml

    try:
        doc = yaml.safe_load(Path(kubeconfig).read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    ctx = _selected(doc, "contexts", context or doc.get("current-context"))
    if not ctx:
        return None
    cluster = _selected(doc, "clusters", ctx.get("cluster"))
    user = _selected(doc, "users", ctx.get("user")) if ctx.get("user") else {}
    if not cluster or user is None or not cluster.get("server"):
        return None
    if set(cluster) - _CLUSTER_KEYS or set(user) - _USER_KEYS:
        return None
    base = Path(kubeconfig).resolve().parent
    cfg = StaticConfiguration(host=str(cluster["server"]).rstrip("/"))
    cfg.verify_ssl = not bool(cluster.get("insecure-skip-tls-verify"))
    if cluster.get("certificate-authority-data"):
        cfg.ssl_ca_cert = _data_file(str(cluster["certificate-authority-data"]), ".crt")
    elif cluster.get("certificate-authority"):
        cfg.ssl_ca_cert = _path(cluster["certificate-authority"], base)
    token = user.get("token")
    if not token and user.get("tokenFile"):
        try:
            token = Path(_path(user["tokenFile"], base)).read_text().strip()
        except OSError:
            return None
    if token:
        cfg.api_key = {"authorization": f"Bearer {token}"}
    cfg.username, cfg.password = user.get("username"), user.get("password")
    for key, attr, suffix in (("client-certificate", "cert_file", ".crt"), ("client-key", "key_file", ".key")):
        if user.get(f"{key}-data"):
            setattr(cfg, attr, _data_file(str(user[f"{key}-data"]), suffix))
        elif user.get(key):
            setattr(cfg, attr, _path(user[key], base))
    return cfg
