"""`tfcontroller tenant add [NAMESPACE] [--git-url URL] [--dry-run]`: set up a namespace for a team
(issues 15 and 16).

    tfcontroller tenant add team-a                         # creates (server-side apply) what team-a needs
    tfcontroller tenant add team-a --git-url URL --dry-run # prints it instead (kubectl apply -f - takes it)

The namespace with its `tfcontroller.io/tenant` label (what `accessFrom` selectors match), the runner's
ServiceAccount (`tfcontroller-runner` unless `--service-account`) with a least-privilege Role and
RoleBinding, the ManifestSet ServiceAccount (`tfcontroller-manifests`, the controller's
`--default-service-account`) with its Role and RoleBinding, and with `--git-url` a sample GitRepository,
Terraform and ManifestSet (tfcontroller/runner/tenant.py). Idempotent: server-side apply with our field
manager, so a second run changes nothing and says so. Creating the Roles needs the right to grant their
rules (RBAC's escalation check), i.e. a namespace or cluster admin; the Namespace needs a cluster admin.
`--apply` (the default since issue 16) is still accepted and does nothing more.
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
        "tenant", help="set up a namespace for a team (namespace, ServiceAccounts and RBAC, a sample stack)",
        description="Set up a namespace for a team: the namespace and its label, the runner's and the "
                    "ManifestSets' ServiceAccounts with least-privilege Roles, and a sample stack.")
    commands = parser.add_subparsers(dest="tenant_command", metavar="COMMAND", required=True)
    add = commands.add_parser("add", help="create (or --dry-run: print) what a team's namespace needs",
                              description="Create with server-side apply (idempotent), or print with --dry-run, "
                                          "the namespace, ServiceAccounts, Roles and RoleBindings of a team and, "
                                          "with --git-url, a sample GitRepository, Terraform and ManifestSet.")
    add.add_argument("tenant_namespace", nargs="?", metavar="NAMESPACE",
                     help="the tenant namespace (default: -n, else the context's namespace, else default)")
    add.add_argument("--service-account", default=None,
                     help="the runner's ServiceAccount (default: tfcontroller-runner)")
    add.add_argument("--git-url", default=None, metavar="URL",
                     help="also create a sample GitRepository (this URL), Terraform and ManifestSet")
    add.add_argument("--dry-run", action="store_true", help="print the YAML instead of creating it")
    add.add_argument("--apply", action="store_true",
                     help="create (the default; accepted for scripts written before --dry-run existed)")
    add_connection_args(add)
    add.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tfcontroller.runner.tenant import RUNNER_SERVICE_ACCOUNT, tenant_objects, tenant_yaml

    if args.tenant_namespace and args.namespace and args.tenant_namespace != args.namespace:
        raise CLIError(f"NAMESPACE {args.tenant_namespace} and -n {args.namespace} differ", exit_code=2)
    if args.dry_run and args.apply:
        raise CLIError("--dry-run and --apply contradict each other", exit_code=2)
    namespace = args.tenant_namespace or resolve_namespace(args)
    account = args.service_account or RUNNER_SERVICE_ACCOUNT
    try:
        text = tenant_yaml(namespace, account, git_url=args.git_url)
    except ValueError as exc:
        raise CLIError(str(exc), exit_code=2) from None
    if args.dry_run:
        sys.stdout.write(text)
        return 0
    return _apply(args, tenant_objects(namespace, account, git_url=args.git_url))


def _apply(args: argparse.Namespace, objects: list[dict[str, Any]]) -> int:
    from tfcontroller.cli.kubectx import api_errors, connect

    @api_errors
    def apply(a: argparse.Namespace) -> int:
        with connect(a) as conn:
            for obj in objects:
                meta = obj["metadata"]
                res = conn.client.resource_of(obj)
                before = conn.client.get_or_none(res, meta["name"], meta.get("namespace"))
                after = conn.client.apply(obj, field_manager=FIELD_MANAGER, force=True, resource=res)
                print(f"{obj['kind'].lower()}/{meta['name']} {_outcome(before, after, obj)}"
                      + (f" in {meta['namespace']}" if meta.get("namespace") else ""))
        return 0

    return apply(args)


def _outcome(before: dict[str, Any] | None, after: dict[str, Any], applied: dict[str, Any]) -> str:
    """kubectl's words: created, configured, or unchanged. Decided on the fields this command declares, not
    on the resourceVersion: a controller writing the sample objects' status or finalizers between our read
    and our apply bumps it, and a second `tenant add` that changed nothing must still say unchanged."""
    if before is None:
        return "created"
    return "unchanged" if declared(before, applied) == declared(after, applied) else "configured"


def declared(obj: Any, template: Any) -> Any:
    """The part of `obj` at the paths `template` (what we apply) sets: maps are followed key by key, any other
    value (a list, a scalar) is taken whole, as server-side apply's atomic and leaf fields are."""
    if isinstance(template, dict):
        source = obj if isinstance(obj, dict) else {}
        return {key: declared(source.get(key), value) for key, value in template.items()}
    return obj
