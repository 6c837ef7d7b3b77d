"""`tfcontroller dev-cluster`: serve the development Kubernetes API until SIGTERM or SIGINT.

The server lives in the development tools (`tfcontroller.dev`, the `tfcontroller-dev` distribution), which
`pip install tfcontroller` does not bring. Without them the command says how to get them (one line,
exit 1) instead of a traceback; the sub-command stays listed so that `--help` shows it exists.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from tfcontroller.cli.main import CLIError

DEV_TOOLS = "tfcontroller.dev"
INSTALL_HINT = "install them with: pip install 'tfcontroller[dev]' (in a clone of the repository: make setup)"

HELP = (
    "Serve a development Kubernetes API server on 127.0.0.1 for tests and the demo. "
    "NOT for production: a throw-away CA and admin token, no controllers, simplified semantics "
    "(see docs/dev-cluster.md)."
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("dev-cluster", help="development Kubernetes API server (not for production)",
                                   description=HELP)
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0 picks a free one)")
    parser.add_argument("--kubeconfig", required=True, help="where to write the kubeconfig for this server")
    parser.add_argument("--tls", action=argparse.BooleanOptionalAction, default=True,
                        help="serve HTTPS with a self-signed CA (the default; the kubeconfig carries the CA and the "
                             "admin token; both are kept beside --state-file). --no-tls serves plain HTTP, where "
                             "kubectl sends no token and is anonymous")
    parser.add_argument("--state-file", default=None, help="persist objects here and reload them at start")
    parser.add_argument("--no-node", dest="node", action="store_false",
                        help="run no node: Pods are stored but never scheduled nor run (by default the dev node runs "
                             "them as sandboxed local processes; it needs bubblewrap)")
    parser.add_argument("--image", dest="images", action="append", default=[], metavar="NAME=DIR[:DIR...]",
                        help="let the node run image NAME: its containers see these host directories read-only at "
                             "the same path, with each DIR/bin in front of PATH (repeatable; tfcontroller:dev, the "
                             "running interpreter and package, is always there; see docs/dev-cluster.md)")
    _add_oidc_args(parser)
    parser.set_defaults(func=run)


def _add_oidc_args(parser: Any) -> None:
    """kube-apiserver's OpenID Connect flags, same names and defaults (docs/dev-cluster.md says what is left out)."""
    group = parser.add_argument_group("OpenID Connect", "accept id tokens of one issuer, as kube-apiserver's --oidc-* "
                                                        "flags do")
    group.add_argument("--oidc-issuer-url", default=None, metavar="URL",
                       help="the issuer (https://); its /.well-known/openid-configuration gives the signing keys, "
                            "and tokens must carry it as iss")
    group.add_argument("--oidc-client-id", default=None, help="the audience (aud) every id token must carry")
    group.add_argument("--oidc-username-claim", default=None,
                       help="the claim holding the user name (default sub; any but email gets the issuer URL and # "
                            "as prefix unless --oidc-username-prefix says otherwise)")
    group.add_argument("--oidc-username-prefix", default=None,
                       help="prefix for user names (- for none; default: <issuer URL># unless the claim is email)")
    group.add_argument("--oidc-groups-claim", default=None, help="the claim holding the groups (a string or a list)")
    group.add_argument("--oidc-groups-prefix", default=None, help="prefix for every group name")
    group.add_argument("--oidc-ca-file", default=None, metavar="FILE",
                       help="the CA bundle that signed the issuer's serving certificate (default: the system's)")
    group.add_argument("--oidc-signing-algs", default=None, metavar="ALG[,ALG...]",
                       help="accepted JOSE signing algorithms (default RS256)")


def missing_dev_tools(exc: ModuleNotFoundError) -> str | None:
    """What to tell the operator when importing or starting the dev tools failed on a missing module:
    the tools themselves, or a third-party package they need, are not installed. None when the missing
    module is part of the controller (a broken install, reported as any other error)."""
    name = exc.name or ""
    if name == DEV_TOOLS or name.startswith(DEV_TOOLS + "."):
        return f"the development tools (the tfcontroller-dev package) are not installed; {INSTALL_HINT}"
    top = name.split(".")[0]
    if top and top != "tfcontroller":
        return f"the development tools need the Python package {top!r}, which is not installed; {INSTALL_HINT}"
    return None


def run(args: argparse.Namespace) -> int:
    try:
        return _serve(args)
    except ModuleNotFoundError as exc:
        hint = missing_dev_tools(exc)
        if hint is None:
            raise
        raise CLIError(hint) from None


def _node_config(args: argparse.Namespace) -> Any:
    """False without a node, else the node's configuration with the `--image` mappings added."""
    if not getattr(args, "node", True):
        return False
    from tfcontroller.dev.cluster import node_config

    try:
        return node_config(getattr(args, "images", None) or [])
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _oidc_config(args: argparse.Namespace) -> Any:
    """The OpenID Connect authenticator's configuration from the --oidc-* flags, or None without them."""
    from tfcontroller.dev.cluster import oidc_config

    try:
        return oidc_config(
            getattr(args, "oidc_issuer_url", None), getattr(args, "oidc_client_id", None),
            username_claim=getattr(args, "oidc_username_claim", None),
            username_prefix=getattr(args, "oidc_username_prefix", None),
            groups_claim=getattr(args, "oidc_groups_claim", None),
            groups_prefix=getattr(args, "oidc_groups_prefix", None),
            ca_file=getattr(args, "oidc_ca_file", None),
            signing_algs=getattr(args, "oidc_signing_algs", None))
    except ValueError as exc:
        raise CLIError(str(exc), exit_code=2) from None


def _serve(args: argparse.Namespace) -> int:
    from tfcontroller.dev.cluster import DevCluster

    done = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        cluster = DevCluster(port=args.port, tls=args.tls, state_file=args.state_file, kubeconfig=args.kubeconfig,
                             node=_node_config(args), oidc=_oidc_config(args))
    except ValueError as exc:  # an unreadable --oidc-ca-file
        raise CLIError(str(exc), exit_code=2) from None
    try:
        cluster.start()
    except RuntimeError as exc:  # the node's sandbox tools are missing
        cluster.stop()
        raise CLIError(str(exc)) from None
    try:
        print(f"dev-cluster ready at {cluster.url} (kubeconfig {cluster.kubeconfig})", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        cluster.stop()
    print("dev-cluster stopped", file=sys.stderr, flush=True)
    return 0
