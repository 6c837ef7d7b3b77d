"""`tfcontroller outputs NAME`: which outputs a Terraform has, and their values only when asked.

Names come from `status.availableOutputs` (never values, design.md §4.7) and from the keys of the Secret
named by `spec.writeOutputsToSecret`. Values are printed only with `--show-sensitive`, read from that
Secret, so seeing them needs the same RBAC as reading the Secret with kubectl.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tfcontroller.cli import kubectx
from tfcontroller.cli.main import CLIError
from tfcontroller.kube.errors import Forbidden, NotFound
from tfcontroller.kube.resources import TERRAFORMS

HIDDEN = "(hidden; --show-sensitive to print)"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "outputs", help="list the outputs of a Terraform (values with --show-sensitive)",
        description="List the outputs of a Terraform: the names in status.availableOutputs and the keys of "
                    "the spec.writeOutputsToSecret Secret; values only with --show-sensitive, read from that "
                    "Secret (so seeing them needs permission to read it).")
    p.add_argument("name", metavar="NAME", help="the Terraform object")
    p.add_argument("--show-sensitive", action="store_true",
                   help="print values, read from the spec.writeOutputsToSecret Secret")
    p.add_argument("-o", "--output", choices=["table", "json"], default="table",
                   help="output format: table (default) or json")
    kubectx.add_connection_args(p)
    p.set_defaults(func=run)


def _secret_values(conn: kubectx.Connection, secret: str) -> dict[str, str] | None:
    try:
        data = conn.client.read_secret_data(conn.namespace, secret)
    except NotFound:
        return None
    except Forbidden:
        raise CLIError(f"not allowed to read Secret {conn.namespace}/{secret}") from None
    return {k: v.decode("utf-8", errors="replace") for k, v in data.items()}


@kubectx.api_errors
def run(args: argparse.Namespace) -> int:
    with kubectx.connect(args) as conn:
        obj = conn.get(TERRAFORMS, args.name)
        names = list((obj.get("status") or {}).get("availableOutputs") or [])
        secret = ((obj.get("spec") or {}).get("writeOutputsToSecret") or {}).get("name")
        values: dict[str, str] | None = None
        if secret:
            try:
                values = _secret_values(conn, secret)
            except CLIError:
                if args.show_sensitive:
                    raise
                values = None  # names alone need no Secret access
            if values is None and args.show_sensitive:
                raise CLIError(f"outputs Secret {conn.namespace}/{secret} does not exist (yet)")
    if args.show_sensitive and not secret:
        raise CLIError(f"Terraform {args.name} does not write outputs to a Secret "
                       "(spec.writeOutputsToSecret); values are not stored anywhere readable")
    all_names = sorted(set(names) | set(values or {}))
    rows = []
    for name in all_names:
        in_secret = values is not None and name in values
        value = (values or {}).get(name, "") if args.show_sensitive else (HIDDEN if in_secret else "")
        rows.append((name, "yes" if in_secret else "no", value))
    if args.output == "json":
        doc = {n: ({"inSecret": s == "yes", "value": v} if args.show_sensitive else {"inSecret": s == "yes"})
               for n, s, v in rows}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return kubectx.EXIT_OK
    if not rows:
        print(f"Terraform {args.name} has no outputs (yet).")
        return kubectx.EXIT_OK
    header = ["NAME", f"IN SECRET {secret}" if secret else "IN SECRET", "VALUE"]
    kubectx.print_table(header, rows)
    return kubectx.EXIT_OK
