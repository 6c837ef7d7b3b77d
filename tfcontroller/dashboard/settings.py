"""What one dashboard process is: its mode, its own API identity, its signing key, where it is reached.

Built by `tfcontroller dashboard` (cli/dashboard_cmd.py) or by a test, and handed to `create_app`; nothing
in the app reads flags or the environment itself, so two apps with different settings can run side by side.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the CLI's parser reads the defaults here without loading the client
    from tfcontroller.kube.client import KubeClient

Mode = Literal["local", "in-cluster"]
LOCAL: Mode = "local"
IN_CLUSTER: Mode = "in-cluster"

DEFAULT_PORT = 9090
DEFAULT_THREADS = 32  # each open page holds one for its live stream (SSE); the rest serve requests
LOCAL_SESSION_LIFETIME = dt.timedelta(hours=12)  # a laptop session: the working day
IN_CLUSTER_SESSION_LIFETIME = dt.timedelta(hours=8)


class SettingsError(ValueError):
    """A setting that cannot work (e.g. local mode on a non-loopback address); the message says what to do."""


@dataclass(frozen=True)
class DashboardSettings:
    """`client`: the dashboard's own identity (local: the kubeconfig's, which is also the viewer's;
    in-cluster: its ServiceAccount, which only reviews tokens and impersonates viewers).
    `login_token`: local mode's one-time token (None in-cluster). `secure`: cookies only over https."""

    mode: Mode
    client: KubeClient
    secret_key: bytes
    default_namespace: str = "default"
    external_url: str = ""
    secure: bool = False
    login_token: str | None = None
    session_lifetime: dt.timedelta = LOCAL_SESSION_LIFETIME
    live_debounce: float = 0.3  # seconds of quiet after a change before `changed` is sent (well under 2 s)
    live_heartbeat: float = 15.0  # seconds between SSE comments that keep proxies and the browser connected
    # open live streams at most, in all and per viewer (each holds a request thread while its page is open;
    # the rest of the threads keep serving pages and actions): `tfcontroller dashboard` sets the total from
    # --threads
    live_streams: int = DEFAULT_THREADS - 8
    live_streams_per_viewer: int = 8
    token_audiences: tuple[str, ...] = ()  # TokenReview audiences in-cluster (empty: the API server's)

    @property
    def in_cluster(self) -> bool:
        return self.mode == IN_CLUSTER


def is_loopback(address: str) -> bool:
    """Does `address` (an IP or a host name) only listen on this machine? Pure."""
    if address.strip("[]").lower() in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str:
    """The name in a Host header, without its port: `127.0.0.1:9090` → `127.0.0.1`, `[::1]:80` → `::1`. Pure."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def check_listen_address(mode: Mode, address: str) -> None:
    """Local mode acts with the kubeconfig's identity: listening beyond loopback would lend that identity
    to anyone on the network, so it is refused. Pure."""
    if mode == LOCAL and not is_loopback(address):
        raise SettingsError(
            f"--address {address}: local mode serves with your kubeconfig's identity, so it listens on loopback "
            "only (127.0.0.1 or ::1); to serve others, run it in-cluster (--in-cluster, deploy/dashboard/), where "
            "each viewer logs in as themselves")


def is_https(external_url: str) -> bool:
    """Cookies are `Secure` when viewers reach the dashboard over https. Pure."""
    return urlsplit(external_url).scheme.lower() == "https"


def listen_url(address: str, port: int) -> str:
    """The URL a local viewer opens for a listener. Pure."""
    host = f"[{address}]" if ":" in address and not address.startswith("[") else address
    return f"http://{host}:{port}/"
