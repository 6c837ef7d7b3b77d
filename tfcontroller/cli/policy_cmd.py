"""`tfcontroller policy test DIR --plan plan.json`: run a policy directory on a saved plan, locally.

For CI in the policy repository (and for writing a policy): the same loading (conftest layout, `_test.rego`
left out), compile check and evaluation (engine, time limit, input shape) as the controller, on the JSON
of `terraform show -json plan.out`, masked as the controller masks it, with `input.tfcontroller` from the
flags. Exit 0 when the plan passes or only warns, 1 when it is denied (or a policy cannot be evaluated:
fail closed), 2 on a usage error or a policy that does not compile (each error as file:line:col).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from tfcontroller.cli.main import CLIError

EXIT_PASSED, EXIT_DENIED, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    policy = subparsers.add_parser("policy", help="work with Rego plan policies (policy test)",
                                   description="Work with the Rego policies that gate plans (policy test DIR "
                                               "--plan plan.json).")
    sub = policy.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", parser_class=type(policy))
    test = sub.add_parser(
        "test", help="run a policy directory on a saved plan (terraform show -json), as the controller would",
        description="Run the Rego policies of DIR (every .rego file below it but *_test.rego, conftest "
                    "conventions, Rego v1) on the JSON of 'terraform show -json plan.out', masked and "
                    "completed with input.tfcontroller as the controller does. Exit 0: passed or warned; 1: "
                    "denied or a policy could not be evaluated; 2: usage error or a policy that does not "
                    "compile.")
    test.add_argument("dir", metavar="DIR", help="the policy directory (or one .rego file)")
    test.add_argument("--plan", required=True, metavar="FILE",
                      help="the plan document: the output of 'terraform show -json plan.out'")
    test.add_argument("--data", metavar="FILE", help="a JSON or YAML document available to the policies as data")
    test.add_argument("--enforcement", choices=["deny", "warn"], default="deny",
                      help="deny: denies block (the default); warn: denies are reported as warnings")
    test.add_argument("--timeout", type=float, default=5.0, help="seconds the policies may take (default 5)")
    test.add_argument("--policy-name", default="", help="the name results are reported under "
                      "(default: local/DIR's name)")
    test.add_argument("--namespace", default="default", help="input.tfcontroller.namespace (default: default)")
    test.add_argument("--name", default="local", help="input.tfcontroller.name (default: local)")
    test.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                      help="a label in input.tfcontroller.labels (repeatable)")
    test.add_argument("--revision", default="", help="input.tfcontroller.revision")
    test.add_argument("--plan-id", default="", help="input.tfcontroller.planId")
    test.add_argument("--drift", action="store_true", help="input.tfcontroller.isDrift: the plan remediates drift")
    test.add_argument("--destroy", action="store_true", help="input.tfcontroller.isDestroy: the plan destroys")
    test.add_argument("-o", "--output", choices=["text", "json"], default="text", help="output format")
    test.set_defaults(func=run_test)
    policy.set_defaults(func=_usage)


def _usage(args: argparse.Namespace) -> int:
    raise CLIError("a sub-command is required (test)", EXIT_USAGE)


def run_test(args: argparse.Namespace) -> int:
    from tfcontroller.policy.bundle import PolicySourceError, compile_check, load_policy_dir
    from tfcontroller.policy.evaluate import PolicySpecView, evaluate
    from tfcontroller.policy.input import PolicyMeta, policy_input

    directory = Path(args.dir)
    name = args.policy_name or f"local/{directory.resolve().name}"
    data = _read_doc(args.data, "--data") if args.data else None
    try:
        bundle = load_policy_dir(directory, ".", name=name, data=data)
    except PolicySourceError as exc:
        raise CLIError(f"{args.dir}: {exc}", EXIT_USAGE) from None
    errors = compile_check(bundle)
    if errors:
        for error in errors:
            where = error.file if error.file.startswith("(") else str(directory / error.file)
            print(str(replace(error, file=where)), file=sys.stderr)
        raise CLIError(f"{len(errors)} compile error(s) in {args.dir}", EXIT_USAGE)
    show = _read_doc(args.plan, "--plan")
    if not isinstance(show, dict) or "format_version" not in show:
        raise CLIError(f"--plan {args.plan}: not a 'terraform show -json' document (run terraform show -json "
                       "plan.out > plan.json)", EXIT_USAGE)
    meta = PolicyMeta(namespace=args.namespace, name=args.name, labels=_labels(args.label),
                      revision=args.revision, plan_id=args.plan_id, is_drift=args.drift, is_destroy=args.destroy)
    spec = PolicySpecView(name=name, enforcement=args.enforcement, timeout=args.timeout)
    report = evaluate([(spec, bundle)], policy_input(show, meta), timeout=args.timeout)
    _print(report, args.output)
    return EXIT_DENIED if report.blocks else EXIT_PASSED


def _print(report: Any, output: str) -> None:
    if output == "json":
        print(json.dumps({"result": report.result, "results": [
            {"policy": r.policy, "enforcement": r.enforcement, "result": r.result, "denies": r.denies,
             "warnings": r.warnings, "error": r.error} for r in report.results]}, indent=2))
        return
    for r in report.results:
        for msg in r.denies:
            print(f"FAIL - {r.policy} - {msg}")
        for msg in r.warnings:
            print(f"WARN - {r.policy} - {msg}")
        if r.error:
            print(f"ERROR - {r.policy} - {r.error}")
    denies = sum(len(r.denies) for r in report.results)
    warnings = sum(len(r.warnings) for r in report.results)
    print(f"{report.result}: {denies} denied, {warnings} warning(s), {len(report.results)} policy "
          f"({report.seconds:.2f}s)")


def _read_doc(path: str, flag: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"{flag} {path}: {exc.strerror}", EXIT_USAGE) from None
    try:
        return json.loads(text)
    except ValueError:
        pass
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise CLIError(f"{flag} {path}: neither JSON nor YAML", EXIT_USAGE) from None


def _labels(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CLIError(f"--label {pair!r}: expected KEY=VALUE", EXIT_USAGE)
        out[key] = value
    return out
