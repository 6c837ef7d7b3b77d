"""`tfcontroller outputs NAME`: a Terraform's outputs with their values, sensitive ones hidden unless asked.

Where each part lives (design.md §4.7: values never leave Secrets): the names in `status.availableOutputs`,
which of them Terraform marks sensitive in `status.sensitiveOutputs` (names only, written by the
controller from the state), the values in the Secret named by `spec.writeOutputsToSecret`. So plain values
are shown as they are, sensitive ones as `<sensitive>`, and `--show-sensitive` reveals those — all read
from that Secret, so seeing any value needs the same RBAC as reading the Secret with kubectl. A status
without `sensitiveOutputs` (written before it existed, until the next reconcile) hides every value: not
knowing which output is sensitive is treated as sensitive.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.terraform import renamed_outputs
from tfcontroller.cli import kubectx
from tfcontroller.cli.main import CLIError
from tfcontroller.kube.errors import Forbidden, NotFound
from tfcontroller.kube.resources import TERRAFORMS

SENSITIVE = "<sensitive>"
NOT_STORED = "<not in Secret>"  # an output left out of spec.writeOutputsToSecret.outputs, or no Secret at all
UNREADABLE = "<no access>"  # the Secret exists but reading it is forbidden


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "outputs", help="show the outputs of a Terraform (sensitive values with --show-sensitive)",
        description="Show a Terraform's outputs: plain values as they are, sensitive ones as <sensitive>. "
                    "Values are read from the spec.writeOutputsToSecret Secret.")
    p.add_argument("name", metavar="NAME", help="the Terraform object")
    p.add_argument("--show-sensitive", action="store_true",
                   help="also print the values of sensitive outputs (read from the outputs Secret)")
    p.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table",
                   help="table (default), json or yaml")
    kubectx.add_connection_args(p)
    p.set_defaults(func=run)


@dataclass(frozen=True)
class OutputRow:
    name: str
    sensitive: bool
    in_secret: bool
    value: str | None  # None: not shown (sensitive and not asked, not stored, or not readable)
    placeholder: str = ""  # what a table shows instead of a value

    def cell(self) -> str:
        return self.placeholder if self.value is None else self.value.replace("\n", "\\n")

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"sensitive": self.sensitive, "inSecret": self.in_secret}
        if self.value is not None:
            doc["value"] = self.value
        return doc


def output_rows(status: dict[str, Any], values: dict[str, str] | None, *, readable: bool,
                show_sensitive: bool) -> list[OutputRow]:
    """One row per output (status names and Secret keys), its value when it may be shown. Pure: the
    rule of what is revealed is unit-tested on plain dicts."""
    names = sorted(set(status.get("availableOutputs") or []) | set(values or {}))
    marked = status.get("sensitiveOutputs")
    rows = []
    for name in names:
        sensitive = marked is None or name in marked  # unknown sensitivity is treated as sensitive
        in_secret = values is not None and name in values
        if not readable:
            rows.append(OutputRow(name, sensitive, in_secret, None, UNREADABLE))
        elif not in_secret:
            rows.append(OutputRow(name, sensitive, False, None, NOT_STORED))
        elif sensitive and not show_sensitive:
            rows.append(OutputRow(name, True, True, None, SENSITIVE))
        else:
            rows.append(OutputRow(name, sensitive, True, (values or {})[name]))
    return rows


def _secret_values(conn: kubectx.Connection, secret: str) -> tuple[dict[str, str] | None, bool]:
    """The outputs Secret's values (None when it does not exist) and whether it could be read."""
    try:
        data = conn.client.read_secret_data(conn.namespace, secret)
    except NotFound:
        return None, True
    except Forbidden:
        return None, False
    return {k: v.decode("utf-8", errors="replace") for k, v in data.items()}, True


def by_output_name(values: dict[str, str] | None, renamed: dict[str, str]) -> dict[str, str] | None:
    """The Secret's values keyed by output name: a renamed output (`output:key`) is read from its key."""
    if values is None or not renamed:
        return values
    keys = set(renamed.values())
    out = {k: v for k, v in values.items() if k not in keys}
    out.update({name: values[key] for name, key in renamed.items() if key in values})
    return out


@kubectx.api_errors
def run(args: argparse.Namespace) -> int:
    with kubectx.connect(args) as conn:
        obj = conn.get(TERRAFORMS, args.name)
        status = obj.get("status") or {}
        wanted = (obj.get("spec") or {}).get("writeOutputsToSecret") or {}
        secret = wanted.get("name")
        values, readable = _secret_values(conn, secret) if secret else (None, True)
        values = by_output_name(values, renamed_outputs(wanted))
        namespace = conn.namespace
    if args.show_sensitive and not secret:
        raise CLIError(f"Terraform {namespace}/{args.name} does not write outputs to a Secret "
                       "(spec.writeOutputsToSecret): no value is stored anywhere readable")
    if args.show_sensitive and not readable:
        raise CLIError(f"not allowed to read Secret {namespace}/{secret}, which holds the outputs")
    if args.show_sensitive and values is None:
        raise CLIError(f"the outputs Secret {namespace}/{secret} does not exist (yet)")
    rows = output_rows(status, values, readable=readable, show_sensitive=args.show_sensitive)
    if args.output != "table":
        doc = {r.name: r.as_dict() for r in rows}
        kubectx.dump(doc, args.output)
        return kubectx.EXIT_OK
    if not rows:
        print(f"Terraform {namespace}/{args.name} has no outputs (yet).")
        return kubectx.EXIT_OK
    kubectx.print_table(["NAME", "SENSITIVE", "VALUE"], [(r.name, str(r.sensitive).lower(), r.cell()) for r in rows])
    _notes(rows, secret, namespace, readable)
    return kubectx.EXIT_OK


def _notes(rows: list[OutputRow], secret: str | None, namespace: str, readable: bool) -> None:
    """Why values are missing, once, on stderr (the table stays parseable on stdout)."""
    if not readable:
        print(f"note: not allowed to read Secret {namespace}/{secret}: values not shown", file=sys.stderr)
    elif not secret:
        print("note: values are stored only in a Secret named by spec.writeOutputsToSecret", file=sys.stderr)
    elif any(r.placeholder == SENSITIVE for r in rows):
        print("note: --show-sensitive prints the values marked <sensitive>", file=sys.stderr)
