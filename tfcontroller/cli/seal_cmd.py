"""`tfcontroller seal`: encrypt a value for one Terraform object, so that it can be committed to Git.

    echo -n 's3cret' | tfcontroller seal -n team-a --name app
    tfcontroller seal --fetch-cert > sealing.pem     # then offline: --cert sealing.pem

The value is read from stdin (never from the command line, where it would land in shell history and
`ps`), sealed with the controller's public certificate (RSA-OAEP 4096 wrapping an AES-256-GCM key) and
bound to `namespace/name`: the result goes into `spec.vars[].sealedValue` of that object and opens
nowhere else. The certificate is read from the ConfigMap the controller publishes
(`tfcontroller-sealing-cert` in its namespace), which needs no access to Secrets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tfcontroller.cli.kubectx import add_connection_args, resolve_namespace
from tfcontroller.cli.main import CLIError

# Where `deploy/` installs the controller, then where a controller without POD_NAMESPACE keeps its keys.
DEFAULT_CONTROLLER_NAMESPACES = ("tfcontroller-system", "default")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "seal", help="encrypt a value (stdin) for spec.vars[].sealedValue of one Terraform",
        description="Encrypt a value read from stdin for spec.vars[].sealedValue of one Terraform object, so "
                    "that it can be committed to Git: it opens only for that namespace and name.")
    parser.add_argument("--name", help="name of the Terraform object the value is for")
    parser.add_argument("--fetch-cert", action="store_true", help="print the controller's public certificate")
    parser.add_argument("--cert", help="seal with this certificate file instead of fetching it")
    parser.add_argument("--controller-namespace", default=None,
                        help="where the controller runs (default: tfcontroller-system, else default)")
    add_connection_args(parser)  # -n/--namespace: of the Terraform object (default: the context's)
    parser.set_defaults(func=run)


def fetch_cert(args: argparse.Namespace) -> bytes:
    from tfcontroller.cli.kubectx import api_errors, connect
    from tfcontroller.crypto.keys import CERT_CONFIGMAP, CERT_KEY
    from tfcontroller.kube.resources import CONFIGMAPS

    namespaces = (args.controller_namespace,) if args.controller_namespace else DEFAULT_CONTROLLER_NAMESPACES

    @api_errors
    def read(a: argparse.Namespace) -> Any:
        with connect(a) as conn:
            for ns in namespaces:
                cm = conn.client.get_or_none(CONFIGMAPS, CERT_CONFIGMAP, ns)
                pem = ((cm or {}).get("data") or {}).get(CERT_KEY)
                if pem:
                    return pem
        return None

    pem = read(args)
    if not pem:
        where = " or ".join(f"{ns}/{CERT_CONFIGMAP}" for ns in namespaces)
        raise CLIError(f"no sealing certificate in ConfigMap {where}: "
                       "is the controller running there (see --controller-namespace)?", 3)
    return str(pem).encode()


def run(args: argparse.Namespace) -> int:
    from tfcontroller.crypto.sealed import seal

    if args.fetch_cert:
        sys.stdout.write(fetch_cert(args).decode())
        return 0
    if not args.name:
        raise CLIError("--name (of the Terraform object the value is for) is required", 2)
    namespace = resolve_namespace(args)
    cert = Path(args.cert).read_bytes() if args.cert else fetch_cert(args)
    value = sys.stdin.buffer.read()
    if not value:
        raise CLIError("no value on stdin (pipe the value in: echo -n VALUE | tfcontroller seal ...)", 2)
    try:
        sealed = seal(cert, namespace, args.name, value)
    except ValueError as exc:
        raise CLIError(f"cannot seal: {exc}") from None
    sys.stdout.write(sealed + "\n")
    return 0
