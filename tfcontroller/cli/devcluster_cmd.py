"""`tfcontroller dev-cluster`: serve the development Kubernetes API until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

HELP = (
    "Serve a development Kubernetes API server on 127.0.0.1 for tests and the demo. "
    "NOT for production: no real authorization, no controllers, simplified semantics "
    "(see docs/dev-cluster.md)."
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("dev-cluster", help="development Kubernetes API server (not for production)",
                                   description=HELP)
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0 picks a free one)")
    parser.add_argument("--kubeconfig", required=True, help="where to write the kubeconfig for this server")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a fresh self-signed CA")
    parser.add_argument("--state-file", default=None, help="persist objects here and reload them at start")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tfcontroller.dev.cluster import DevCluster

    done = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    cluster = DevCluster(port=args.port, tls=args.tls, state_file=args.state_file, kubeconfig=args.kubeconfig)
    cluster.start()
    try:
        print(f"dev-cluster ready at {cluster.url} (kubeconfig {cluster.kubeconfig})", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        cluster.stop()
    print("dev-cluster stopped", file=sys.stderr, flush=True)
    return 0
