"""`tfcontroller get KIND [NAME...]`: the state of tfcontroller objects at a glance, kubectl-style.

The table answers what operators ask first: is it Ready, why not (the Ready reason and message), which
revision is live, and — for Terraform — which plan waits for approval. The arguments, `-o name|wide|yaml|
json`, `-A` and `-w` behave as kubectl's (cli/get_format.py holds the pure rules); `-w` prints the table,
then one line per change until Ctrl-C, which ends it with exit code 0.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from typing import Any

from tfcontroller.cli import get_format as fmt
from tfcontroller.cli import kubectx
from tfcontroller.cli.main import CLIError
from tfcontroller.kube.errors import Gone
from tfcontroller.kube.resources import Resource

OUTPUTS = ["table", "wide", "name", "yaml", "json"]
WATCH_TIMEOUT = 300  # seconds a watch request stays open before it is renewed from the last resourceVersion


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "get", help="list tfcontroller objects (Terraform, GitRepository, ManifestSet)",
        description="Show Terraform, GitRepository or ManifestSet objects: Ready, reason, revision, pending "
                    "plan (Terraform), age and the Ready message. KIND may be terraform|tf, gitrepository|gitrepo, "
                    "manifestset|ms (plural forms too), several separated by commas, or all; objects may be "
                    "named as KIND NAME... or KIND/NAME...")
    parser.add_argument("words", metavar="KIND[,KIND] [NAME...] | KIND/NAME...", nargs="*",
                        help="what to show (kubectl's forms)")
    parser.add_argument("-o", "--output", choices=OUTPUTS, default="table",
                        help="table (default), wide (more columns, whole messages), name (kind.group/name), "
                             "yaml or json (the objects, without managedFields)")
    parser.add_argument("-w", "--watch", action="store_true",
                        help="after listing, print a line for every change until Ctrl-C")
    kubectx.add_connection_args(parser, all_namespaces=True)
    parser.set_defaults(func=run)


def terminal_columns() -> int | None:
    """The width MESSAGE is shortened to fit: `$COLUMNS`, else the terminal's; None (whole messages)
    when the output is not a terminal, so that a script or `grep` reads every word, as with kubectl."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size((120, 24)).columns


class TablePrinter:
    """Prints tables and, for `-w`, later rows under the same columns (kubectl keeps the first widths)."""

    def __init__(self, wide: bool, namespaces: bool, qualified: bool) -> None:
        self.wide, self.namespaces, self.qualified = wide, namespaces, qualified
        self.columns = None if wide else terminal_columns()
        self.widths: list[int] | None = None

    def table(self, resource: Resource, items: list[dict[str, Any]]) -> None:
        head = fmt.headers(resource, wide=self.wide, namespaces=self.namespaces)
        rows = fmt.fit_messages(head, [self._row(o, resource) for o in items], self.columns)
        lines = fmt.format_table(head, rows)
        self.widths = fmt.column_widths([head, *rows])
        _write(lines)

    def line(self, resource: Resource, obj: dict[str, Any]) -> None:
        cells = self._row(obj, resource)
        if self.widths is None:  # the list was empty: the first change brings the headers
            self.table(resource, [obj])
            return
        widths = [max(w, len(c)) for w, c in zip(self.widths[:-1], cells[:-1], strict=False)]
        if self.columns is not None:
            room = max(fmt.MIN_MESSAGE, self.columns - sum(widths) - 3 * len(widths))
            cells[-1] = fmt.shorten(cells[-1], room)
        _write(fmt.format_table([], [cells], [*widths, len(cells[-1])]))

    def _row(self, obj: dict[str, Any], resource: Resource) -> list[str]:
        return fmt.row(obj, resource, wide=self.wide, namespaces=self.namespaces, qualified=self.qualified)


def _write(lines: list[str]) -> None:
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()  # `-w` output is read line by line (a pipe is block-buffered otherwise)


def _fetch(conn: kubectx.Connection, target: fmt.Target) -> tuple[list[dict[str, Any]], str, list[str]]:
    """The target's objects (sorted as kubectl lists them), the resourceVersion a watch starts from, and
    a not-found message per named object that does not exist (kubectl shows the others, then says which
    were not found: one missing name does not hide the rest)."""
    if target.names:
        items, missing = [], []
        for name in target.names:
            try:
                items.append(conn.get(target.resource, name))
            except CLIError as exc:
                if exc.exit_code != kubectx.EXIT_NOT_FOUND:
                    raise
                missing.append(str(exc))
        rv = max((str(o["metadata"].get("resourceVersion") or "") for o in items), key=_rv_key, default="")
        return items, rv, missing
    items, rv = conn.client.list_all(target.resource, conn.list_namespace)
    items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
    for item in items:
        item.setdefault("apiVersion", target.resource.api_version)
        item.setdefault("kind", target.resource.kind)
    return items, rv, []


def _rv_key(rv: str) -> tuple[int, str]:
    return (int(rv), rv) if rv.isdigit() else (0, rv)


@kubectx.api_errors
def run(args: argparse.Namespace) -> int:
    targets = fmt.parse_targets(args.words)
    named = any(t.names for t in targets)
    if named and args.all_namespaces:
        raise CLIError("a NAME cannot be combined with -A (objects are named within one namespace)",
                       kubectx.EXIT_USAGE)
    if args.watch and len(targets) != 1:
        raise CLIError("-w/--watch follows one kind at a time", kubectx.EXIT_USAGE)
    with kubectx.connect(args) as conn:
        fetched = [(t, *_fetch(conn, t)) for t in targets]
        emit = _show(args, conn, [(t, items) for t, items, _, _ in fetched], named)
        missing = [message for *_, messages in fetched for message in messages]
        if missing:  # after what was found, as kubectl does; exit 3 (not found), also ending a -w
            for message in missing[:-1]:
                print(f"error: {message}", file=sys.stderr)
            raise CLIError(missing[-1], kubectx.EXIT_NOT_FOUND)
        if not args.watch:
            return kubectx.EXIT_OK
        target, _, rv, _ = fetched[0]
        try:
            _watch(conn, target, rv, emit)
        except KeyboardInterrupt:  # Ctrl-C is how a watch ends: not a failure
            return kubectx.EXIT_OK
    return kubectx.EXIT_OK


def _show(args: argparse.Namespace, conn: kubectx.Connection, shown: list[tuple[fmt.Target, list[dict[str, Any]]]],
          named: bool) -> Callable[[Resource, dict[str, Any]], None]:
    """Print what was fetched; returns how `-w` prints one changed object in the same format."""
    output = args.output
    if output == "name":
        _write([fmt.qualified_name(t.resource, o["metadata"]["name"]) for t, items in shown for o in items])
        return lambda res, obj: _write([fmt.qualified_name(res, obj["metadata"]["name"])])
    if output in ("yaml", "json"):
        items = [o for _, objs in shown for o in objs]
        single = len(shown) == 1 and len(shown[0][0].names) == 1
        if items or not named:  # the one object named does not exist: nothing to print, only the error
            sys.stdout.write(fmt.render(fmt.document(items, single), output))
        return lambda res, obj: _write([("---\n" if output == "yaml" else "") + fmt.render(fmt.clean(obj), output)
                                        .rstrip("\n")])
    printer = TablePrinter(output == "wide", conn.all_namespaces, qualified=len(shown) > 1)
    first = True
    for target, items in shown:
        if not items:
            continue
        if not first:
            _write([""])
        printer.table(target.resource, items)
        first = False
    if first and not named:
        where = "any namespace" if conn.all_namespaces else f"namespace {conn.namespace}"
        what = shown[0][0].resource.plural if len(shown) == 1 else "resources"
        print(f"No {what} found in {where}.", flush=True)
    return printer.line


def _watch(conn: kubectx.Connection, target: fmt.Target, rv: str,
           emit: Callable[[Resource, dict[str, Any]], None]) -> None:
    """Follow the target's objects from `rv` and emit each change, until interrupted. A watch that
    expires is renewed from the last resourceVersion; one that is too old (410) restarts from now."""
    names = set(target.names)
    selector = f"metadata.name={target.names[0]}" if len(names) == 1 else None
    while True:
        try:
            for etype, obj in conn.client.watch(target.resource, conn.list_namespace, field_selector=selector,
                                                resource_version=rv or None, timeout_seconds=WATCH_TIMEOUT):
                rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                if etype == "BOOKMARK" or (names and obj.get("metadata", {}).get("name") not in names):
                    continue
                obj.setdefault("apiVersion", target.resource.api_version)
                obj.setdefault("kind", target.resource.kind)
                emit(target.resource, obj)
        except Gone:
            _, rv = conn.client.list_all(target.resource, conn.list_namespace)
