"""What every operator command shares: the kubeconfig context, the namespace, kinds, errors and tables.

The commands behave like kubectl so that operators need nothing new: `--kubeconfig` (else `$KUBECONFIG`,
else `~/.kube/config`, else the in-cluster service account), `--context`, `-n/--namespace` (default: the
context's namespace, else `default`), `-A` where listing across namespaces makes sense. API errors become
one line and an exit code (see docs/cli.md), never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from tfcontroller.api.constants import GITREPOSITORY_KIND, MANIFESTSET_KIND, TERRAFORM_KIND
from tfcontroller.api.times import parse_rfc3339
from tfcontroller.cli.main import CLIError
from tfcontroller.kube.errors import ApiError, Forbidden, NotFound, Unauthorized
from tfcontroller.kube.resources import GITREPOSITORIES, MANIFESTSETS, TERRAFORMS, Resource

if TYPE_CHECKING:  # the client (urllib3, TLS) is imported when a command connects, not for --help
    from tfcontroller.kube.client import KubeClient

# Exit codes (documented in docs/cli.md).
EXIT_OK = 0
EXIT_FAILED = 1  # the operation failed or was refused, or the object is not Ready
EXIT_USAGE = 2  # bad flags or arguments (argparse uses 2 as well)
EXIT_NOT_FOUND = 3  # the object (or the kind's CRD) does not exist
EXIT_TIMEOUT = 4  # waiting for the controller took longer than --timeout

IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

# Every spelling an operator may type for a kind, like kubectl's names and short names.
KIND_ALIASES: dict[str, Resource] = {
    "terraform": TERRAFORMS, "terraforms": TERRAFORMS, "tf": TERRAFORMS,
    "gitrepository": GITREPOSITORIES, "gitrepositories": GITREPOSITORIES, "gitrepo": GITREPOSITORIES,
    "gitrepos": GITREPOSITORIES,
    "manifestset": MANIFESTSETS, "manifestsets": MANIFESTSETS, "ms": MANIFESTSETS,
}
KIND_CHOICES = "terraform|tf, gitrepository|gitrepo, manifestset|ms"


def resource_for_kind(text: str) -> Resource:
    res = KIND_ALIASES.get(text.lower().split(".", 1)[0])
    if res is None:
        raise CLIError(f"unknown kind {text!r} (one of: {KIND_CHOICES})", EXIT_USAGE)
    return res


def kind_and_name(words: Sequence[str], default: Resource = TERRAFORMS) -> tuple[Resource, str]:
    """`NAME`, `KIND NAME` or `KIND/NAME` (kubectl style) → (resource, name); KIND defaults to terraform."""
    if len(words) == 1 and "/" in words[0]:
        kind, name = words[0].split("/", 1)
        return resource_for_kind(kind), name
    if len(words) == 1:
        return default, words[0]
    if len(words) == 2:
        return resource_for_kind(words[0]), words[1]
    raise CLIError("expected NAME or KIND NAME", EXIT_USAGE)


# ---- connection ------------------------------------------------------------------------------------


def add_connection_args(parser: argparse.ArgumentParser, *, all_namespaces: bool = False) -> None:
    group = parser.add_argument_group("cluster")
    group.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    group.add_argument("--context", default=None, help="kubeconfig context (default: the current context)")
    group.add_argument("-n", "--namespace", default=None, help="namespace (default: the context's, or default)")
    if all_namespaces:
        group.add_argument("-A", "--all-namespaces", action="store_true", help="list across all namespaces")


def _kubeconfig_path(explicit: str | None) -> str | None:
    """The one kubeconfig file to read; None means in-cluster (or the client's own default)."""
    if explicit:
        if not Path(explicit).is_file():
            raise CLIError(f"kubeconfig {explicit} does not exist")
        return explicit
    env = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    for candidate in env:
        if Path(candidate).is_file():
            return candidate
    default = Path.home() / ".kube" / "config"
    return str(default) if default.is_file() else None


def _context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    """The namespace the selected context names, read from the kubeconfig (as kubectl does)."""
    if kubeconfig is None:
        try:
            return IN_CLUSTER_NAMESPACE.read_text().strip() or None
        except OSError:
            return None
    try:
        doc = yaml.safe_load(Path(kubeconfig).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    wanted = context or doc.get("current-context")
    for entry in doc.get("contexts") or []:
        if isinstance(entry, dict) and entry.get("name") == wanted:
            return (entry.get("context") or {}).get("namespace") or None
    return None


def resolve_namespace(args: argparse.Namespace) -> str:
    """The one namespace rule of every command, as kubectl's: `-n/--namespace`, else the namespace of
    the kubeconfig context (`--context`, else the current one; in a pod, the service account's), else
    `default`. Needs no connection, so `seal --cert FILE` (offline) follows it too."""
    explicit = getattr(args, "namespace", None)
    if explicit:
        return str(explicit)
    kubeconfig = _kubeconfig_path(getattr(args, "kubeconfig", None))
    return _context_namespace(kubeconfig, getattr(args, "context", None)) or "default"


@dataclass
class Connection:
    client: KubeClient
    namespace: str  # where single objects are looked up
    all_namespaces: bool = False

    @property
    def list_namespace(self) -> str | None:
        return None if self.all_namespaces else self.namespace

    def get(self, resource: Resource, name: str) -> dict[str, Any]:
        """The object, or a one-line not-found error naming kind, name and namespace."""
        try:
            return self.client.get(resource, name, self.namespace)
        except NotFound:
            raise CLIError(f'{resource.kind} "{name}" not found in namespace "{self.namespace}"',
                           EXIT_NOT_FOUND) from None

    def annotate(self, resource: Resource, name: str, annotations: dict[str, str | None]) -> dict[str, Any]:
        self.get(resource, name)  # a clear not-found first
        return self.client.patch(resource, name, {"metadata": {"annotations": annotations}}, self.namespace)


@contextmanager
def connect(args: argparse.Namespace) -> Iterator[Connection]:
    from tfcontroller.kube.client import KubeClient

    kubeconfig = _kubeconfig_path(getattr(args, "kubeconfig", None))
    context = getattr(args, "context", None)
    try:
        client = KubeClient.load(kubeconfig, context, static=True)
    except Exception as exc:  # noqa: BLE001 - the loaders raise several types; the operator needs one line
        raise CLIError(f"cannot load the cluster configuration: {exc}") from None
    namespace = resolve_namespace(args)
    try:
        yield Connection(client, namespace, bool(getattr(args, "all_namespaces", False)))
    finally:
        client.close()


def api_errors(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn API errors into one line and an exit code (the CLI's main prints CLIError)."""

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except NotFound as exc:
            raise CLIError(_crd_hint(exc), EXIT_NOT_FOUND) from None
        except (Unauthorized, Forbidden) as exc:
            raise CLIError(f"the API server refused the request ({exc.reason}): {exc.message}") from None
        except ApiError as exc:
            raise CLIError(str(exc)) from None

    return wrapper


def _crd_hint(exc: NotFound) -> str:
    if "tfcontroller.io" in exc.message or "the server could not find the requested resource" in exc.message:
        return f"{exc.message} (are the tfcontroller CRDs installed? kubectl apply -k deploy/)"
    return exc.message


# ---- reading objects ------------------------------------------------------------------------------


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == type_:
            return c
    return None


def age(stamp: str | None, now: dt.datetime | None = None) -> str:
    """kubectl's short age: `45s`, `12m`, `5h`, `3d`."""
    when = parse_rfc3339(stamp)
    if when is None:
        return "<unknown>"
    seconds = max(0, int(((now or dt.datetime.now(dt.UTC)) - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def revision(obj: dict[str, Any]) -> str:
    """The revision a row shows: the artifact for a GitRepository, the last applied one otherwise."""
    status = obj.get("status") or {}
    if obj.get("kind") == GITREPOSITORY_KIND:
        return str((status.get("artifact") or {}).get("revision") or "")
    return str(status.get("lastAppliedRevision") or status.get("lastAttemptedRevision") or "")


def is_terraform(resource: Resource) -> bool:
    return resource.kind == TERRAFORM_KIND


def has_source(resource: Resource) -> bool:
    return resource.kind in (TERRAFORM_KIND, MANIFESTSET_KIND)


# ---- output ----------------------------------------------------------------------------------------


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO | None = None) -> None:
    """kubectl's plain table: upper-case headers, columns padded to the widest cell plus three spaces."""
    out = out or sys.stdout
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    for row in [list(headers), *rows]:
        cells = [str(c).ljust(widths[i]) for i, c in enumerate(row)]
        out.write("   ".join(cells).rstrip() + "\n")


def dump(doc: Any, fmt: str, out: TextIO | None = None) -> None:
    """`-o yaml|json` output."""
    import json

    out = out or sys.stdout
    if fmt == "json":
        out.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    else:
        out.write(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))

