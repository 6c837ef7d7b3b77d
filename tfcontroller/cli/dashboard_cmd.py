"""`tfcontroller dashboard`: serve the web dashboard (docs/dashboard.md).

Local (default): listens on loopback only and acts with the kubeconfig's identity, like `kubectl proxy`;
the printed URL carries a one-time login token. In-cluster (`--in-cluster`, deploy/dashboard/): viewers
log in with a bearer token and the dashboard impersonates them. Serves until SIGINT or SIGTERM (exit 0).
The parser imports nothing heavy: Flask, waitress and the client load when the command runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import signal
import sys
import threading
from typing import Any

from tfcontroller.cli import kubectx
from tfcontroller.cli.main import CLIError

DEFAULT_ADDRESS = "127.0.0.1"


def register(subparsers: Any) -> None:
    from tfcontroller.dashboard.settings import DEFAULT_PORT, DEFAULT_THREADS

    p = subparsers.add_parser(
        "dashboard", help="serve the web dashboard (local: as you, on 127.0.0.1; --in-cluster: viewers log in)",
        description="Serve the web dashboard: what is deployed, what waits for approval, what drifted. Local "
                    "mode listens on loopback and acts with your kubeconfig's identity (open the printed link, "
                    "which logs you in once); --in-cluster serves viewers who log in with a Kubernetes token "
                    "and acts as each of them (impersonation).")
    p.add_argument("--address", default=DEFAULT_ADDRESS,
                   help="address to listen on (default 127.0.0.1; local mode accepts loopback only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--in-cluster", action="store_true",
                   help="serve viewers who log in with a bearer token, impersonating each of them")
    p.add_argument("--external-url", default="",
                   help="the URL viewers reach it at (https: cookies are sent over https only)")
    p.add_argument("--open", action="store_true", help="open the dashboard in a browser")
    p.add_argument("--session-secret", default=None, metavar="NAME",
                   help="in-cluster: Secret (in the dashboard's namespace) holding the session signing key, "
                        "created if missing, so replicas and restarts share sessions (default: a key per process)")
    p.add_argument("--session-lifetime", default=None, metavar="DURATION",
                   help="how long a login lasts (Go duration; default 12h locally, 8h in-cluster)")
    p.add_argument("--token-audience", action="append", default=[], metavar="AUD",
                   help="in-cluster: audience the login tokens must be issued for (repeatable; default: the "
                        "API server's own)")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"request threads; each open page holds one for its live updates (default {DEFAULT_THREADS})")
    kubectx.add_connection_args(p)
    p.set_defaults(func=run)


def _lifetime(text: str | None, in_cluster: bool) -> dt.timedelta:
    from tfcontroller.api.duration import DurationError, parse_duration
    from tfcontroller.dashboard.settings import IN_CLUSTER_SESSION_LIFETIME, LOCAL_SESSION_LIFETIME

    if not text:
        return IN_CLUSTER_SESSION_LIFETIME if in_cluster else LOCAL_SESSION_LIFETIME
    try:
        seconds = parse_duration(text)
    except DurationError as exc:
        raise CLIError(f"--session-lifetime: {exc}", kubectx.EXIT_USAGE) from None
    if seconds <= 0:
        raise CLIError("--session-lifetime must be positive", kubectx.EXIT_USAGE)
    return dt.timedelta(seconds=seconds)


def _check_args(args: argparse.Namespace) -> None:
    from tfcontroller.dashboard.settings import IN_CLUSTER, LOCAL, SettingsError, check_listen_address

    try:
        check_listen_address(IN_CLUSTER if args.in_cluster else LOCAL, args.address)
    except SettingsError as exc:
        raise CLIError(str(exc), kubectx.EXIT_USAGE) from None
    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port {args.port}: not a port number", kubectx.EXIT_USAGE)
    if args.threads < 2:
        raise CLIError("--threads must be at least 2 (live pages hold one each)", kubectx.EXIT_USAGE)
    if args.session_secret and not args.in_cluster:
        raise CLIError("--session-secret is for --in-cluster (local sessions end with the process)", kubectx.EXIT_USAGE)


@kubectx.api_errors
def run(args: argparse.Namespace) -> int:
    _check_args(args)
    lifetime = _lifetime(args.session_lifetime, args.in_cluster)
    from tfcontroller.dashboard.app import create_app
    from tfcontroller.dashboard.serve import DashboardServer
    from tfcontroller.dashboard.session import load_or_create_key, random_key
    from tfcontroller.dashboard.settings import IN_CLUSTER, LOCAL, DashboardSettings, is_https, listen_url

    with kubectx.connect(args) as conn:
        key = (load_or_create_key(conn.client, conn.namespace, args.session_secret) if args.session_secret
               else random_key())
        token = None if args.in_cluster else secrets.token_urlsafe(32)
        settings = DashboardSettings(
            mode=IN_CLUSTER if args.in_cluster else LOCAL, client=conn.client, secret_key=key,
            default_namespace=conn.namespace, external_url=args.external_url, secure=is_https(args.external_url),
            login_token=token, session_lifetime=lifetime, token_audiences=tuple(args.token_audience),
            live_streams=live_stream_bound(args.threads))
        app = create_app(settings)
        if args.in_cluster and not args.session_secret:
            print("note: no --session-secret: sessions are signed with a key of this process only, so they end "
                  "with it and other replicas do not accept them", file=sys.stderr)
        if not args.in_cluster:
            print(f"Acting as {_local_user(app)} (your kubeconfig's identity)", file=sys.stderr)
        server = DashboardServer(app, args.address, args.port, threads=args.threads)
        url = listen_url(server.host if args.address in ("0.0.0.0", "::") else args.address, server.port)
        shown = f"{url}?token={token}" if token else url
        stop = _stop_on_signals()
        with server:
            print(f"Starting to serve on {shown}", flush=True)
            if args.external_url:
                print(f"Viewers reach it at {args.external_url}", flush=True)
            if args.open:
                import webbrowser

                webbrowser.open(shown)
            stop.wait()
    return kubectx.EXIT_OK


def live_stream_bound(threads: int) -> int:
    """How many live streams may be open at once: all request threads but a quarter (at least one), which
    stay free for pages and actions. Pure."""
    return max(1, threads - max(1, threads // 4))


def _local_user(app: Any) -> str:
    """Who the kubeconfig is, asked once at start so that a refused or unknown identity fails here, in one
    line, rather than at the first page."""
    from tfcontroller.dashboard.app import state_of
    from tfcontroller.kube.errors import NotFound

    try:
        return state_of(app).identity.user().username
    except NotFound:
        raise CLIError("the API server does not serve SelfSubjectReview (authentication.k8s.io/v1, Kubernetes "
                       "1.28 and later): the dashboard needs it to know who you are, to record who approves") from None


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop
