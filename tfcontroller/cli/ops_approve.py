"""`tfcontroller approve NAME`: approve the pending plan of a Terraform, and only that plan.

An approval names a plan id (design.md §4.2), so this command refuses when nothing is pending or when
`--plan` names another plan than the pending one: the operator approves exactly what they reviewed.
With `--in-file` the approval goes through Git instead of the API (teams that approve by pull request):
the object's YAML gets `spec.approvePlan: <id>` and the command prints the git command to commit it.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
from pathlib import Path
from typing import Any

from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN
from tfcontroller.api.terraform_status import PendingPlan
from tfcontroller.cli import kubectx
from tfcontroller.cli.main import CLIError
from tfcontroller.cli.ops_yamledit import EditError, set_approve_plan
from tfcontroller.kube.errors import Conflict
from tfcontroller.kube.resources import TERRAFORMS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "approve", help="approve the pending plan of a Terraform",
        description="Approve the pending plan of a Terraform (annotation tfcontroller.io/approve-plan), or "
                    "with --in-file write spec.approvePlan into the object's YAML in a Git checkout.")
    parser.add_argument("name", metavar="NAME", help="the Terraform object whose pending plan to approve")
    parser.add_argument("--plan", default=None, metavar="ID", help="refuse unless this is the pending plan id")
    parser.add_argument("--in-file", default=None, metavar="PATH",
                        help="edit spec.approvePlan in this YAML file instead of annotating the object")
    kubectx.add_connection_args(parser)
    parser.set_defaults(func=run)


def pending_plan(obj: dict[str, Any]) -> str:
    return PendingPlan.of(obj.get("status")).id


def check_approvable(obj: dict[str, Any], wanted: str | None) -> str:
    """The id to approve, or a CLIError saying why not."""
    meta = obj["metadata"]
    pending = pending_plan(obj)
    where = f"{meta.get('namespace')}/{meta['name']}"
    if not pending:
        raise CLIError(f"Terraform {where} has no pending plan: nothing to approve")
    if wanted and wanted != pending:
        raise CLIError(f"plan {wanted} is not the pending plan of Terraform {where} (pending: {pending}); "
                       "review it with `tfcontroller plan show` and approve that id")
    return pending


@kubectx.api_errors
def run(args: argparse.Namespace) -> int:
    with kubectx.connect(args) as conn:
        obj = conn.get(TERRAFORMS, args.name)
        plan = check_approvable(obj, args.plan)
        if args.in_file:
            return _approve_in_file(Path(args.in_file), args.name, plan, obj["metadata"].get("namespace"))
        patch = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"],
                              "annotations": {ANNOTATION_APPROVE_PLAN: plan}}}
        try:
            conn.client.patch(TERRAFORMS, args.name, patch, conn.namespace)
        except Conflict:
            raise CLIError(f"Terraform {conn.namespace}/{args.name} changed while approving; "
                           "check the pending plan and try again") from None
    print(f"terraform.tfcontroller.io/{args.name} approved plan {plan}")
    return kubectx.EXIT_OK


def _approve_in_file(path: Path, name: str, plan: str, namespace: str | None) -> int:
    try:
        text = path.read_text()
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror}") from None
    try:
        edit = set_approve_plan(text, name, plan, namespace)
    except EditError as exc:
        raise CLIError(f"{path}: {exc}") from None
    if edit.changed:
        path.write_text(edit.text)
        print(f"{path}: spec.approvePlan set to {plan}")
    else:
        print(f"{path}: spec.approvePlan is already {plan}")
    top = _git_toplevel(path)
    if top is None:
        print(f"warning: {path} is not in a Git checkout; commit it where the GitRepository reads from")
        return kubectx.EXIT_OK
    rel = path.resolve().relative_to(top)
    message = f"Approve {plan} for Terraform {namespace}/{name}" if namespace else f"Approve {plan} for {name}"
    print("commit it with:")
    print(f"  git -C {shlex.quote(str(top))} commit -m {shlex.quote(message)} -- {shlex.quote(str(rel))}")
    return kubectx.EXIT_OK


def _git_toplevel(path: Path) -> Path | None:
    try:
        proc = subprocess.run(["git", "-C", str(path.resolve().parent), "rev-parse", "--show-toplevel"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(proc.stdout.strip()).resolve() if proc.returncode == 0 and proc.stdout.strip() else None
