"""`tfcontroller approve NAME`: approve the pending plan of a Terraform, and only that plan.

An approval names a plan id (design.md §4.2), so this command refuses when nothing is pending or when
`--plan` names another plan than the pending one: the operator approves exactly what they reviewed.
With `--in-file` the approval goes through Git instead of the API (teams that approve by pull request):
the object's YAML gets `spec.approvePlan: <id>` and the command prints the git command to commit it.
Approving a plan that is already approved, being applied or applied changes nothing and says so (exit 0).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfcontroller.api.commands import approve_hint, cli_resume_command
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN
from tfcontroller.api.terraform_status import PendingPlan, TerraformStatus
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


@dataclass(frozen=True)
class Approval:
    """What `approve` does: patch the annotation for `plan`, or (`done` set) nothing, because the plan is
    already approved, being applied or applied; `done` says which, for the printed line."""

    plan: str
    done: str = ""


def check_approvable(obj: dict[str, Any], wanted: str | None) -> Approval:
    """The approval to make, or a CLIError saying why not. A plan already being applied or already applied
    is not approved again: nothing changes, and the command says so and succeeds (exit 0), as a repeated
    `kubectl apply` reports "unchanged" — the request is already satisfied."""
    meta = obj["metadata"]
    name, namespace = meta["name"], meta.get("namespace") or ""
    status = TerraformStatus.of(obj.get("status"))
    pending = status.pending.id
    where = f"{namespace}/{name}"
    target = wanted or pending
    if target and status.applying_plan == target:
        return Approval(target, "is already being applied")
    if target and not pending and status.last_applied_plan == target:
        return Approval(target, "was already applied")
    if not pending:
        raise CLIError(f"Terraform {where} has no pending plan: nothing to approve")
    if wanted and wanted != pending:
        raise CLIError(f"plan {wanted} is not the pending plan of Terraform {where} (pending: {pending}); "
                       f"review it with `tfcontroller plan show {name} -n {namespace}`, then "
                       f"{approve_hint(namespace, name, pending)}")
    if (meta.get("annotations") or {}).get(ANNOTATION_APPROVE_PLAN) == pending:
        applies = "it is applied once the object is resumed" if _suspended(obj) else "the controller applies it"
        return Approval(pending, f"is already approved; {applies}")
    return Approval(pending)


def _suspended(obj: dict[str, Any]) -> bool:
    return bool((obj.get("spec") or {}).get("suspend"))


def suspended_note(obj: dict[str, Any]) -> str | None:
    """What an approval of a suspended Terraform leaves to do: the approval stands (it names the plan), but
    nothing is applied until `resume`, so "approved" alone would promise an apply that does not come."""
    if not _suspended(obj):
        return None
    meta = obj["metadata"]
    name, namespace = meta["name"], meta.get("namespace") or "default"
    return (f"note: terraform.tfcontroller.io/{name} is suspended: the plan is applied once it is resumed "
            f"({cli_resume_command('Terraform', namespace, name)})")


@kubectx.api_errors
def run(args: argparse.Namespace) -> int:
    with kubectx.connect(args) as conn:
        obj = conn.get(TERRAFORMS, args.name)
        approval = check_approvable(obj, args.plan)
        plan = approval.plan
        if approval.done and not args.in_file:
            print(f"terraform.tfcontroller.io/{args.name} plan {plan} {approval.done}")
            return kubectx.EXIT_OK
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
    note = suspended_note(obj)
    if note:
        print(note, file=sys.stderr)
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
