"""`tfcontroller tenant add [NAMESPACE]`: what a namespace needs for its Terraform runs (issue 15).

    tfcontroller tenant add team-a                 # prints the YAML (kubectl apply -f - takes it)
    tfcontroller tenant add team-a --apply         # server-side applies it with your credentials

The runner's ServiceAccount (`tfcontroller-runner` unless `--service-account`), a least-privilege Role
with a comment per rule, and the RoleBinding (tfcontroller/runner/tenant.py). Applying needs the right to
grant those rules (RBAC's escalation check), i.e. a namespace or cluster admin.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tfcontroller.cli.kubectx import add_connection_args, resolve_namespace
from tfcontroller.cli.main import CLIError

FIELD_MANAGER = "tfcontroller-tenant"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tenant", help="set up a namespace for Terraform runs (runner ServiceAccount and RBAC)",
        description="Set up a namespace for Terraform runs: the runner's ServiceAccount, Role and RoleBinding.")
    commands = parser.add_subparsers(dest="tenant_command", metavar="COMMAND", required=True)
    add = commands.add_parser("add", help="print (or --apply) the runner ServiceAccount, Role and RoleBinding",
                              description="Print, or apply with --apply, the runner ServiceAccount, its "
                                          "least-privilege Role and the RoleBinding of a namespace.")
    add.add_argument("tenant_namespace", nargs="?", metavar="NAMESPACE",
                     help="the tenant namespace (default: -n, else the context's namespace, else default)")
    add.add_argument("--service-account", default=None,
                     help="the runner's ServiceAccount (default: tfcontroller-runner)")
    add.add_argument("--apply", action="store_true", help="apply (server-side) instead of printing")
    add_connection_args(add)
    add.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tfcontroller.runner.tenant import RUNNER_SERVICE_ACCOUNT, tenant_objects, tenant_yaml

    if args.tenant_namespace and args.namespace and args.tenant_namespace != args.namespace:
        raise CLIError(f"NAMESPACE {args.tenant_namespace} and -n {args.namespace} differ", exit_code=2)
    namespace = args.tenant_namespace or resolve_namespace(args)
    account = args.service_account or RUNNER_SERVICE_ACCOUNT
    try:
        text = tenant_yaml(namespace, account)
    except ValueError as exc:
        raise CLIError(str(exc), exit_code=2) from None
    if not args.apply:
        sys.stdout.write(text)
        return 0
    return _apply(args, tenant_objects(namespace, account))


def _apply(args: argparse.Namespace, objects: list[dict[str, Any]]) -> int:
    from tfcontroller.cli.kubectx import api_errors, connect

    @api_errors
    def apply(a: argparse.Namespace) -> int:
        with connect(a) as conn:
            for obj in objects:
                conn.client.apply(obj, field_manager=FIELD_MANAGER, force=True)
                print(f"{obj['kind'].lower()}/{obj['metadata']['name']} applied in {obj['metadata']['namespace']}")
        return 0

    return apply(args)
