"""`tfcontroller state import NAME --from FILE` and `tfcontroller state pull NAME` (issue 20).

Moving an existing stack in: the state pulled from S3, Terraform Cloud or a local file is written into the
object's kubernetes-backend state Secret, so its first plan shows no changes for an unchanged stack; `pull`
prints that state (the reverse, e.g. to move back out or to look before `--force`). The rules that keep a
state from being lost live in `terraform/state_transfer.py`; this module reads the object and the file and
prints the outcome. Whether the object may have that state Secret at all is the controller's own rule
(design.md §4.8, `terraform/state_ownership.py`): an import the controller would refuse to plan on
(`StateInUse`, `StateTakeOverRequired`, `BackendConfigInvalid`) is refused with the same reason and
message, so an import can never hand one object's resources to another. After the write the object is
asked to plan again (the `tfcontroller.io/replan` and `requested-at` annotations, as `tfcontroller
replan` sends them): requested-at alone would not plan an object already applied with the same inputs,
and a plan pending from before was made against the old state; a suspended object keeps the request
until it is resumed. A state holds every attribute, sensitive ones too: `pull` prints it only to stdout
(as `terraform state pull` does) and nothing here logs it. Reading and writing it needs the same RBAC as
`kubectl get/create/update secret` on the state Secret.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tfcontroller.api.errors import SpecError
from tfcontroller.api.terraform import Terraform
from tfcontroller.cli import kubectx
from tfcontroller.cli.main import CLIError
from tfcontroller.kube.errors import Conflict
from tfcontroller.kube.resources import TERRAFORMS


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("state", help="import an existing Terraform state into an object, or pull it",
                              description="Move a Terraform's state: import an existing state (from S3, "
                                          "Terraform Cloud or a local file) into its state Secret, or pull it.")
    sub = p.add_subparsers(dest="state_command", metavar="SUBCOMMAND", required=True, parser_class=type(p))
    imp = sub.add_parser("import", help="write an existing state into the object's state Secret",
                         description="Write an existing state (e.g. the output of terraform state pull) into the "
                                     "Terraform's state Secret. A state that holds resources is replaced only "
                                     "with --force and its current serial.")
    imp.add_argument("name", metavar="NAME", help="the Terraform object")
    imp.add_argument("--from", dest="source", metavar="FILE", required=True,
                     help="the state file (JSON, format version 4), or - for stdin")
    imp.add_argument("--force", metavar="SERIAL", type=int, default=None,
                     help="replace an existing state: its current serial (see tfcontroller state pull)")
    kubectx.add_connection_args(imp)
    imp.set_defaults(func=run_import)
    pull = sub.add_parser("pull", help="print the object's state (JSON) on stdout",
                          description="Print the Terraform's state as terraform state pull would.")
    pull.add_argument("name", metavar="NAME", help="the Terraform object")
    kubectx.add_connection_args(pull)
    pull.set_defaults(func=run_pull)


def _read_source(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise CLIError(f"cannot read {source}: {exc.strerror or exc}") from None


def _terraform(conn: kubectx.Connection, name: str) -> Terraform:
    """The object, parsed; one whose state is not in a kubernetes-backend Secret is refused."""
    obj = conn.get(TERRAFORMS, name)
    try:
        tf = Terraform.from_dict(obj)
    except SpecError as exc:
        raise CLIError(f"Terraform {conn.namespace}/{name} has an invalid spec ({exc}); fix it first") from None
    if custom_backend(obj):
        raise CLIError(f"Terraform {conn.namespace}/{name} keeps its state in its own backend "
                       "(spec.backendConfig.customConfiguration): use `terraform state push/pull` there")
    return tf


def custom_backend(obj: dict[str, Any]) -> bool:
    backend = ((obj.get("spec") or {}).get("backendConfig") or {})
    return bool(str(backend.get("customConfiguration") or "").strip())


@kubectx.api_errors
def run_import(args: argparse.Namespace) -> int:
    from tfcontroller.terraform.state_ownership import LABEL_SUFFIX, LABEL_TFSTATE, LABEL_WORKSPACE
    from tfcontroller.terraform.state_transfer import (
        ImportRefused,
        StateFileError,
        check_unlocked,
        describe,
        parse_state_file,
        plan_import,
        read_stored_state,
        write_state,
    )

    raw = _read_source(args.source)
    try:
        incoming = parse_state_file(raw)
    except StateFileError as exc:
        raise CLIError(f"{args.source}: {exc}") from None
    with kubectx.connect(args) as conn:
        tf = _terraform(conn, args.name)
        ns, secret_name = conn.namespace, tf.state_secret_name
        try:
            stored = read_stored_state(conn.client, ns, secret_name)
            notes = ownership_notes(conn, tf, stored.secret)
            check_unlocked(conn.client, ns, tf.state_lease_name)
            plan = plan_import(stored.document, incoming, args.force)
            labels = {LABEL_TFSTATE: "true", LABEL_SUFFIX: tf.spec.secret_suffix, LABEL_WORKSPACE: tf.spec.workspace,
                      "app.kubernetes.io/managed-by": "terraform"}
            write_state(conn.client, stored, plan.document, namespace=ns, secret_name=secret_name, labels=labels,
                        owner=tf.meta.name, owner_uid=tf.meta.uid or "")
        except (ImportRefused, StateFileError) as exc:
            raise CLIError(f"state of Terraform {ns}/{args.name} not imported: {exc}") from None
        except Conflict:
            raise CLIError(f"state of Terraform {ns}/{args.name} not imported: state Secret {secret_name} "
                           "changed while it was written (a run?); check it and try again") from None
        for note in (*notes, *plan.notes):
            print(f"note: {note}", file=sys.stderr)
        print(f"imported the state ({describe(plan.document)}) into Secret {ns}/{secret_name} of Terraform "
              f"{args.name}", flush=True)
        request_plan(conn, tf)
    return kubectx.EXIT_OK


def ownership_notes(conn: kubectx.Connection, tf: Terraform, secret: dict[str, Any] | None) -> list[str]:
    """The controller's own ownership rule (design.md §4.8) on the state Secret the import would write:
    ImportRefused with the reason and message the controller's Stalled condition would carry when it would
    refuse to plan on it; otherwise what the decision says (a take-over, an adoption), to print."""
    from tfcontroller.terraform.state_ownership import REFUSE, ownership_of
    from tfcontroller.terraform.state_transfer import ImportRefused

    decision = ownership_of(conn.client, tf, secret)
    if decision.action == REFUSE:
        raise ImportRefused(f"{decision.reason}: {decision.message}")
    return [decision.message] if decision.message else []


def request_plan(conn: kubectx.Connection, tf: Terraform) -> None:
    """Ask the controller to plan on the imported state (replan + requested-at, as `tfcontroller replan`
    sends them, without waiting). A suspended object keeps the request until it is resumed. The state is
    written whatever happens here: an error is a note, not a failure."""
    from tfcontroller.api.commands import cli_replan_command, cli_resume_command
    from tfcontroller.operations.control import request_replan
    from tfcontroller.operations.errors import OperationRefused

    ns, name = conn.namespace, tf.meta.name
    try:
        request_replan(conn.client, ns, name, queue_if_suspended=True)
    except OperationRefused as exc:
        print(f"note: no plan requested ({exc.message}); to plan on the imported state: "
              f"{cli_replan_command(ns, name)}", file=sys.stderr)
        return
    if tf.spec.suspend:
        print(f"Terraform {ns}/{name} is suspended: it plans on the imported state once resumed "
              f"({cli_resume_command('Terraform', ns, name)})")
    else:
        print(f"Terraform {ns}/{name}: plan requested (the first plan on the imported state)")


@kubectx.api_errors
def run_pull(args: argparse.Namespace) -> int:
    from tfcontroller.terraform.state_transfer import StateFileError, read_stored_state

    with kubectx.connect(args) as conn:
        tf = _terraform(conn, args.name)
        try:
            stored = read_stored_state(conn.client, conn.namespace, tf.state_secret_name)
        except StateFileError as exc:
            raise CLIError(str(exc)) from None
    if stored.document is None:
        raise CLIError(f"Terraform {conn.namespace}/{args.name} has no state yet (Secret {tf.state_secret_name})",
                       kubectx.EXIT_NOT_FOUND)
    sys.stdout.write(json.dumps(stored.document, indent=2) + "\n")
    return kubectx.EXIT_OK
