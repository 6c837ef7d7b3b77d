"""`tfcontroller get KIND [NAME]`: the state of tfcontroller objects at a glance, kubectl-style.

The table answers what operators ask first: is it Ready, why not (the Ready reason), which revision is
live, and — for Terraform — which plan waits for approval. `-o yaml|json` prints the objects themselves.
"""

from __future__ import annotations

import argparse
from typing import Any

from tfcontroller.api.terraform_status import PendingPlan
from tfcontroller.cli import kubectx
from tfcontroller.cli.main import CLIError
from tfcontroller.kube.resources import Resource


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "get", help="list tfcontroller objects (Terraform, GitRepository, ManifestSet)",
        description="Show Terraform, GitRepository or ManifestSet objects: Ready, reason, revision, "
                    "pending plan (Terraform) and age.")
    parser.add_argument("kind", metavar="KIND", help=kubectx.KIND_CHOICES)
    parser.add_argument("name", metavar="NAME", nargs="?", help="one object (default: all in the namespace)")
    parser.add_argument("-o", "--output", choices=["table", "yaml", "json"], default="table",
                        help="output format: table (default), or the objects as yaml or json")
    kubectx.add_connection_args(parser, all_namespaces=True)
    parser.set_defaults(func=run)


def row(obj: dict[str, Any], resource: Resource, with_namespace: bool) -> list[str]:
    meta = obj.get("metadata") or {}
    ready = kubectx.condition(obj, "Ready") or {}
    cells = [str(meta.get("name", "")), str(ready.get("status") or "Unknown"), str(ready.get("reason") or ""),
             kubectx.revision(obj)]
    if kubectx.is_terraform(resource):
        cells.append(PendingPlan.of(obj.get("status")).id)
    cells.append(kubectx.age(meta.get("creationTimestamp")))
    if (obj.get("spec") or {}).get("suspend"):
        cells[2] = "Suspended"
    return [str(meta.get("namespace", "")), *cells] if with_namespace else cells


def headers(resource: Resource, with_namespace: bool) -> list[str]:
    cols = ["NAME", "READY", "REASON", "REVISION"]
    if kubectx.is_terraform(resource):
        cols.append("PLAN")
    cols.append("AGE")
    return ["NAMESPACE", *cols] if with_namespace else cols


@kubectx.api_errors
def run(args: argparse.Namespace) -> int:
    resource = kubectx.resource_for_kind(args.kind)
    if args.name and args.all_namespaces:
        raise CLIError("a NAME cannot be combined with -A", kubectx.EXIT_USAGE)
    with kubectx.connect(args) as conn:
        if args.name:
            items = [conn.get(resource, args.name)]
        else:
            items, _ = conn.client.list_all(resource, conn.list_namespace)
            items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
    for item in items:
        item.setdefault("apiVersion", resource.api_version)
        item.setdefault("kind", resource.kind)
    if args.output != "table":
        doc: Any = items[0] if args.name else {"apiVersion": "v1", "kind": "List", "items": items}
        kubectx.dump(doc, args.output)
        return kubectx.EXIT_OK
    if not items:
        where = "any namespace" if conn.all_namespaces else f"namespace {conn.namespace}"
        print(f"No {resource.plural} found in {where}.")
        return kubectx.EXIT_OK
    wide = conn.all_namespaces
    kubectx.print_table(headers(resource, wide), [row(o, resource, wide) for o in items])
    return kubectx.EXIT_OK
