"""`tfcontroller plan show NAME`: the pending plan of a Terraform, readable, with sensitive values masked.

The readable diff comes from the plan's readable form, which the controller stores beside the plan
(Secret `tfplanview-<workspace>-<name>`, terraform/plan_view_store.py; already masked: sensitive values,
unknown values, variable values, texts that came from Secrets). Reading it needs nothing but read
access to Secrets in the Terraform's namespace: no Terraform, no providers, no controller keys.

`--json` prints the full `terraform show -json` document instead, which only the encrypted plan holds
(terraform/plan_store.py): it is read with the controller's keys Secret (the same trust as reading the
plan), from the `show -json` the controller stored with it, or, for a plan stored without it, rendered by
`terraform show -json` in a throw-away directory (only the providers named in the plan's lock file are
installed there, from the same filesystem mirror the controller uses, so no module code runs and nothing
is downloaded). That document is masked too — sensitive attributes by Terraform's own `*_sensitive`
markers, and every input variable's value — before anything is printed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfcontroller.api.commands import approve_hint
from tfcontroller.api.policy_verdict import policy_of, policy_report_lines, verdict
from tfcontroller.api.show_mask import mask_show_json
from tfcontroller.api.terraform_status import PendingPlan
from tfcontroller.cli import kubectx
from tfcontroller.cli.main import CLIError
from tfcontroller.kube.errors import Forbidden
from tfcontroller.kube.resources import TERRAFORMS

# The readable plan, the keys, the plan store and the Terraform runner are imported when `plan show` runs, so that building
# the CLI's parser stays light (tests/unit/cli/test_lazy_imports.py).
if TYPE_CHECKING:
    from tfcontroller.crypto.aead import KeyRing
    from tfcontroller.terraform.plan_view import DiffLine

DEFAULT_CONTROLLER_NAMESPACES = ("tfcontroller-system", "default")
_LOCK_PROVIDER = re.compile(r'provider\s+"([^"]+)"\s*\{[^}]*?version\s*=\s*"([^"]+)"', re.S)

# ANSI colours of the readable plan's line kinds (terraform/plan_view.py: the dashboard's CSS has the same kinds)
_COLORS = {"create": "\033[32m", "delete": "\033[31m", "update": "\033[33m", "replace": "\033[35m",
           "read": "\033[36m", "forget": "\033[2m", "import": "\033[34m", "move": "\033[34m", "summary": "\033[1m",
           "heading": "\033[1m"}
_RESET = "\033[0m"


def register(subparsers: Any) -> None:
    plan = subparsers.add_parser("plan", help="inspect the pending plan of a Terraform",
                                 description="Inspect the pending plan of a Terraform (plan show NAME).")
    sub = plan.add_subparsers(dest="plan_command", metavar="SUBCOMMAND", parser_class=type(plan))
    show = sub.add_parser("show", help="print the pending plan, sensitive values masked",
                          description="Print the pending plan of a Terraform as a readable diff, with sensitive values "
                                      "and input variables masked, from the readable form the controller "
                                      "stores with the plan: needs read access to Secrets in the "
                                      "Terraform's namespace, not terraform, the providers or the "
                                      "controller's keys. --json prints the whole masked 'terraform show "
                                      "-json' document, which needs read access to the controller's keys "
                                      "Secret (and, for a plan stored without it, terraform and the "
                                      "provider mirror).")
    show.add_argument("name", metavar="NAME", help="the Terraform object whose pending plan to show")
    show.add_argument("--json", action="store_true", help="print the masked document of 'terraform show -json' "
                      "(reads the encrypted plan: needs the controller's keys Secret)")
    show.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                      help="colour the diff (auto: only on a terminal, and not when NO_COLOR is set)")
    show.add_argument("--controller-namespace", default=None,
                      help="namespace of the controller's keys Secret (default: tfcontroller-system, else default)")
    kubectx.add_connection_args(show)
    show.set_defaults(func=run_show)
    plan.set_defaults(func=_usage)


def _usage(args: argparse.Namespace) -> int:
    """`tfcontroller plan` alone: the one usage-error line every command gives."""
    raise CLIError("a sub-command is required (show)", kubectx.EXIT_USAGE)


def colorize(line: DiffLine) -> str:
    """One line of the readable plan as text, coloured by its kind (attribute and output lines stay plain)."""
    text = "  " * line.indent + line.text
    color = _COLORS.get(line.kind)
    return f"{color}{text}{_RESET}" if color else text


def use_color(choice: str, stream: Any) -> bool:
    if choice != "auto":
        return choice == "always"
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")


# ---- reading and rendering ---------------------------------------------------------------------------


def read_keyring(conn: kubectx.Connection, namespace: str | None) -> KeyRing:
    """The controller's plan key ring, read (never created) from its keys Secret."""
    from tfcontroller.crypto import keys as controller_keys

    candidates = (namespace,) if namespace else DEFAULT_CONTROLLER_NAMESPACES
    for ns in candidates:
        try:
            keys = controller_keys.read_keys(conn.client, ns)
        except Forbidden:
            raise CLIError(f"not allowed to read Secret {ns}/{controller_keys.KEYS_SECRET}, which holds the "
                           "key the plan is encrypted with") from None
        except controller_keys.KeysIncompleteError:
            raise CLIError(f"Secret {ns}/{controller_keys.KEYS_SECRET} is incomplete") from None
        if keys is None:
            continue
        return keys.keyring
    raise CLIError(f"the controller's keys Secret {controller_keys.KEYS_SECRET} is not in namespace "
                   f"{' or '.join(candidates)}; pass --controller-namespace", kubectx.EXIT_NOT_FOUND)


def _provider_requirements(planfile: bytes) -> tuple[str, str]:
    """A root module that requires exactly the providers (and versions) the plan's lock file names."""
    try:
        with zipfile.ZipFile(io.BytesIO(planfile)) as archive:
            lock = archive.read(".terraform.lock.hcl").decode() if ".terraform.lock.hcl" in archive.namelist() else ""
    except zipfile.BadZipFile:
        raise CLIError("the stored plan is not a Terraform plan file") from None
    entries = []
    for i, (source, version) in enumerate(_LOCK_PROVIDER.findall(lock)):
        entries.append(f'    p{i} = {{\n      source  = {json.dumps(source)}\n      version = {json.dumps(version)}\n    }}')
    return "terraform {\n  required_providers {\n" + "\n".join(entries) + "\n  }\n}\n", lock


def show_json(planfile: bytes) -> dict[str, Any]:
    """`terraform show -json` of a plan file, run in an isolated temporary directory."""
    from tfcontroller.terraform.config import TerraformConfig
    from tfcontroller.terraform.errors import StallingError, TransientError, WaitingError
    from tfcontroller.terraform.runner import TerraformRunner
    from tfcontroller.terraform.workspace import build_env

    try:
        config = TerraformConfig.from_env()
    except FileNotFoundError as exc:
        raise CLIError(f"rendering a plan needs terraform: {exc}") from None
    if shutil.which(config.binary) is None:
        raise CLIError(f"rendering a plan needs terraform: {config.binary} is not an executable; put terraform on "
                       "PATH or set TFCONTROLLER_TERRAFORM_BINARY")
    requirements, lock = _provider_requirements(planfile)
    with tempfile.TemporaryDirectory(prefix="tfcontroller-plan-") as tmp:
        root = Path(tmp)
        work, home, temp, data = (root / d for d in ("work", "home", "tmp", "data"))
        for d in (work, home, temp, data):
            d.mkdir(mode=0o700)
        (work / "providers.tf").write_text(requirements)
        if lock:
            (work / ".terraform.lock.hcl").write_text(lock)
        plan_path = root / "plan.tfplan"
        fd = os.open(plan_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(planfile)
        cli_config = config.write_cli_config(root / "cli.tfrc.json")
        env = build_env({}, home=home, tmp=temp, data_dir=data, cli_config=cli_config)
        runner = TerraformRunner(work, env, config)
        try:
            runner.init()
            return runner.show_json(plan_path)
        except (StallingError, WaitingError, TransientError) as exc:  # `TerraformError` is a type alias, not catchable
            raise CLIError(f"terraform could not read the stored plan: {exc}") from None


def _header(obj: dict[str, Any], plan_id: str, view: dict[str, Any]) -> str:
    """Which plan this is: the Terraform, the plan id, when and from which revision it was made, and
    whether it remediates drift or destroys everything (the readable plan records them; the status too)."""
    status = obj.get("status") or {}
    plan = status.get("plan") or {}
    meta = obj["metadata"]
    bits = [f"Terraform {meta.get('namespace')}/{meta['name']}: pending plan {plan_id}"]
    created = view.get("createdAt") or plan.get("createdAt")
    if created:
        bits.append(f"created {created}")
    revision = view.get("revision") or status.get("lastPlannedRevision")
    if revision:
        bits.append(f"revision {revision}")
    if view.get("isDrift", plan.get("isDrift")):
        bits.append("drift remediation")
    elif view.get("isDestroy", plan.get("isDestroy")):
        bits.append("destroys everything")
    return ", ".join(bits)


def _stored_show(conn: kubectx.Connection, name: str, workspace: str, plan_id: str,
                 keyring: KeyRing) -> dict[str, Any] | bytes:
    """What the controller's `show -json` said about the plan, stored with it (no Terraform needed); else
    the plan file, for Terraform to render (a plan stored without it: too large, or an older version)."""
    from tfcontroller.crypto.errors import DecryptionError
    from tfcontroller.terraform.plan_store import PlanNotFoundError, load_plan, load_show

    try:
        stored = load_show(conn.client, conn.namespace, name, workspace, plan_id, keyring)
        return stored if stored is not None else load_plan(conn.client, conn.namespace, name, workspace,
                                                           plan_id, keyring)
    except PlanNotFoundError:
        raise CLIError(f"plan {plan_id} is pending but not stored (yet, or any more); try again shortly",
                       kubectx.EXIT_NOT_FOUND) from None
    except (DecryptionError, ValueError, OSError) as exc:  # OSError: gzip's BadGzipFile
        raise CLIError(f"the stored plan {plan_id} does not decrypt: {exc}") from None


def _readable(conn: kubectx.Connection, name: str, workspace: str, plan_id: str) -> dict[str, Any]:
    """The readable plan the controller stored for `plan_id`."""
    from tfcontroller.api.constants import tfplanview_secret_name
    from tfcontroller.terraform.plan_view_store import PlanViewNotFoundError, load_plan_view

    try:
        return load_plan_view(conn.client, conn.namespace, name, workspace, plan_id)
    except PlanViewNotFoundError:
        raise CLIError(f"plan {plan_id} is pending but its readable form (Secret "
                       f"{tfplanview_secret_name(workspace, name)}) is not stored: the plan was made by an "
                       "earlier controller version, or it is being replaced; show it with "
                       f"`tfcontroller plan show {name} --json -n {conn.namespace}` (needs the controller's keys) or "
                       f"plan again with `tfcontroller replan {name} -n {conn.namespace}`",
                       kubectx.EXIT_NOT_FOUND) from None
    except Forbidden:
        raise CLIError(f"not allowed to read Secret {conn.namespace}/{tfplanview_secret_name(workspace, name)}, "
                       "which holds the readable plan") from None
    except ValueError as exc:
        raise CLIError(f"the readable plan stored for {plan_id} cannot be read: {exc}") from None


def _full_json(conn: kubectx.Connection, name: str, workspace: str, plan_id: str,
               controller_namespace: str | None) -> dict[str, Any]:
    """`--json`: the masked `show -json` document of the encrypted plan (needs the keys)."""
    keyring = read_keyring(conn, controller_namespace)
    shown = _stored_show(conn, name, workspace, plan_id, keyring)
    return mask_show_json(shown if isinstance(shown, dict) else show_json(shown))


@kubectx.api_errors
def run_show(args: argparse.Namespace) -> int:
    from tfcontroller.terraform.plan_view import diff_lines

    with kubectx.connect(args) as conn:
        obj = conn.get(TERRAFORMS, args.name)
        plan_id = PendingPlan.of(obj.get("status")).id
        if not plan_id:
            raise CLIError(f"Terraform {conn.namespace}/{args.name} has no pending plan")
        workspace = str((obj.get("spec") or {}).get("workspace") or "default")
        if args.json:
            doc = _full_json(conn, args.name, workspace, plan_id, args.controller_namespace)
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
            return kubectx.EXIT_OK
        view = _readable(conn, args.name, workspace, plan_id)
    color = use_color(args.color, sys.stdout)
    print(_header(obj, plan_id, view))
    for line in diff_lines(view):
        print(colorize(line) if color else "  " * line.indent + line.text)
    recorded = policy_of(obj.get("status"))
    for i, text in enumerate(policy_report_lines(recorded)):  # issue 18: under the diff
        print(("\n" if i == 0 else "") + text)
    namespace = obj["metadata"].get("namespace") or conn.namespace
    blocked = verdict(recorded, plan_id) if recorded is not None else None
    hint = blocked.message if blocked is not None and blocked.blocked else approve_hint(namespace, args.name, plan_id)
    print(f"\n{hint[:1].upper()}{hint[1:]}")
    return kubectx.EXIT_OK
