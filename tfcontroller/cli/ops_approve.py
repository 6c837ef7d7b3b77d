"""`tfcontroller approve NAME`: approve the pending plan of a Terraform, and only that plan.

An approval names a plan id (design.md §4.2), so this command refuses when nothing is pending or when
`--plan` names another plan than the pending one: the operator approves exactly what they reviewed. It
refuses, saying why, a pending plan no approval can apply (`spec.planOnly`, an object being deleted, a plan
the policies block: api/approvable.py).
With `--in-file` the approval goes through Git instead of the API (teams that approve by pull request):
the object's YAML gets `spec.approvePlan: <id>` and the command prints the git command to commit it.
Approving a plan that is already approved, being applied or applied changes nothing and says so (exit 0).
The rules and the patch are operations/approval.py (shared with the dashboard); the approval records
who approved (SelfSubjectReview) in `tfcontroller.io/approved-by`, which the controller copies into
`status.history`.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfcontroller.api.approvable import AUTO_APPROVED
from tfcontroller.api.commands import cli_resume_command
from tfcontroller.api.history import VIA_CLI, Approver
from tfcontroller.api.terraform_status import PendingPlan
from tfcontroller.cli import kubectx
from tfcontroller.cli.main import CLIError
from tfcontroller.cli.ops_yamledit import EditError, set_approve_plan
from tfcontroller.kube.errors import Forbidden, NotFound
from tfcontroller.kube.resources import TERRAFORMS
from tfcontroller.operations.errors import OperationRefused

if TYPE_CHECKING:  # operations.approval imports the kube client: loaded when the command runs
    from tfcontroller.operations.approval import Approval


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


def check_approvable(obj: dict[str, Any], wanted: str | None) -> Approval:
    """operations.approval.check_approvable, its refusal as a CLIError (exit 1)."""
    from tfcontroller.operations.approval import check_approvable as check

    try:
        return check(obj, wanted)
    except OperationRefused as exc:
        raise CLIError(exc.message) from None


def suspended_note(obj: dict[str, Any]) -> str | None:
    """What an approval of a suspended Terraform leaves to do: the approval stands (it names the plan), but
    nothing is applied until `resume`, so "approved" alone would promise an apply that does not come."""
    if not bool((obj.get("spec") or {}).get("suspend")):
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
        # `auto` needs no approval, and writing spec.approvePlan: <id> into the file would switch it off
        if approval.done and (not args.in_file or approval.reason == AUTO_APPROVED):
            print(f"terraform.tfcontroller.io/{args.name} plan {plan} {approval.done}")
            return kubectx.EXIT_OK
        if args.in_file:
            return _approve_in_file(Path(args.in_file), args.name, plan, obj["metadata"].get("namespace"))
        from tfcontroller.operations.approval import approve

        try:
            approve(conn.client, obj, plan, _approver(conn))
        except OperationRefused as exc:
            raise CLIError(exc.message) from None
    print(f"terraform.tfcontroller.io/{args.name} approved plan {plan}")
    note = suspended_note(obj)
    if note:
        print(note, file=sys.stderr)
    return kubectx.EXIT_OK


def _approver(conn: kubectx.Connection) -> Approver | None:
    """Who approves: the kubeconfig's identity as the API server sees it (SelfSubjectReview), recorded in
    the approved-by annotation. A server without that API (before Kubernetes 1.28) or a user not allowed
    to ask approves without the claim: the controller then records a bare annotation."""
    from tfcontroller.kube.reviews import whoami

    try:
        user = whoami(conn.client)
    except (NotFound, Forbidden) as exc:
        print(f"warning: cannot tell who you are ({exc.reason}); the approval is recorded without your name",
              file=sys.stderr)
        return None
    return Approver(user.username, user.groups, VIA_CLI) if user.username else None


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
