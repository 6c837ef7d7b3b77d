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
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from tfcontroller.api.constants import MANIFESTSET_KIND, TERRAFORM_KIND
from tfcontroller.api.meta import shown_revision
from tfcontroller.api.times import short_age
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


IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
CONTEXTS_HINT = "kubectl config get-contexts lists them"


@dataclass(frozen=True)
class Kubeconfig:
    """The one kubeconfig file a command reads (None: the in-cluster service account) and where its name
    came from, so that every error can say which file and how it was chosen."""

    path: str | None
    origin: str  # "--kubeconfig", "$KUBECONFIG", "~/.kube/config" or "in-cluster"

    @property
    def where(self) -> str:
        return "the in-cluster service account" if self.path is None else f"kubeconfig {self.path} (from {self.origin})"


def choose_kubeconfig(explicit: str | None, env_value: str | None, home: Path, in_cluster: bool) -> Kubeconfig:
    """kubectl's order: --kubeconfig, else the first existing file of $KUBECONFIG, else ~/.kube/config,
    else the in-cluster service account. Each way of missing them is one line that says what to do.
    Pure apart from checking that the files exist."""
    if explicit:
        if not Path(explicit).is_file():
            raise CLIError(f"kubeconfig {explicit} (from --kubeconfig) {_not_a_file(explicit)}; pass the path of a "
                           "kubeconfig file")
        return Kubeconfig(explicit, "--kubeconfig")
    named = [p for p in (env_value or "").split(os.pathsep) if p]
    if named:
        for candidate in named:
            if Path(candidate).is_file():
                return Kubeconfig(candidate, "$KUBECONFIG")
        listed = os.pathsep.join(named)
        why = f"which {_not_a_file(named[0])}" if len(named) == 1 else "none of which is an existing file"
        raise CLIError(f"$KUBECONFIG names {listed}, {why}; point KUBECONFIG at a kubeconfig "
                       "file, or unset it to use ~/.kube/config")
    default = home / ".kube" / "config"
    if default.is_file():
        return Kubeconfig(str(default), "~/.kube/config")
    if in_cluster:
        return Kubeconfig(None, "in-cluster")
    raise CLIError(f"no kubeconfig: KUBECONFIG is not set, {default} {_not_a_file(str(default))} and this is not "
                   "a pod in a cluster; pass --kubeconfig PATH or set KUBECONFIG (the file kubectl uses)")


def _not_a_file(path: str) -> str:
    """Why a named kubeconfig cannot be read as a file: it is missing, or something else (a directory)
    is at that path; "does not exist" would send the user looking for a file that is there."""
    if Path(path).is_dir():
        return "is a directory, not a file"
    return "is not a regular file" if Path(path).exists() else "does not exist"


def read_kubeconfig(config: Kubeconfig) -> dict[str, Any]:
    """The kubeconfig as a mapping, or one line naming the file and the YAML problem."""
    assert config.path is not None
    try:
        doc = yaml.safe_load(Path(config.path).read_text())
    except OSError as exc:
        raise CLIError(f"cannot read {config.where}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CLIError(f"{config.where} is not valid YAML ({problem}{at}); fix it or use another file") from None
    if not isinstance(doc, dict) or not any(doc.get(k) for k in ("clusters", "contexts", "users")):
        raise CLIError(f"{config.where} is not a kubeconfig (it has no clusters, users or contexts); fix it or "
                       "use another file")
    return doc


def select_context(doc: dict[str, Any], wanted: str | None, config: Kubeconfig) -> dict[str, Any]:
    """The context `--context` (else current-context) names, with its `name`; one line naming the file
    and the contexts it has when there is no such context. Pure."""
    contexts = {str(e.get("name")): e.get("context") or {} for e in doc.get("contexts") or [] if isinstance(e, dict)}
    names = ", ".join(sorted(contexts)) or "none"
    name = wanted or doc.get("current-context")
    if not name:
        raise CLIError(f"{config.where} has no current-context; pass --context NAME (contexts: {names})")
    if name not in contexts:
        which = f'context "{name}"' if wanted else f'the current-context "{name}"'
        raise CLIError(f"{which} does not exist in {config.where} (contexts: {names}; {CONTEXTS_HINT})")
    entry = contexts[name] if isinstance(contexts[name], dict) else {}
    clusters = {str(e.get("name")) for e in doc.get("clusters") or [] if isinstance(e, dict)}
    if entry.get("cluster") not in clusters:
        raise CLIError(f'context "{name}" names cluster "{entry.get("cluster")}", which is not in {config.where}')
    return {**entry, "name": name}


def resolve_namespace(args: argparse.Namespace) -> str:
    """The one namespace rule of every command, as kubectl's: `-n/--namespace`, else the namespace of
    the kubeconfig context (`--context`, else the current one; in a pod, the service account's), else
    `default`. Needs no connection, so `seal --cert FILE` (offline) follows it too; with no kubeconfig
    at all it is `default`, while a named context that does not exist is an error as in `connect`."""
    explicit = getattr(args, "namespace", None)
    if explicit:
        return str(explicit)
    try:
        config = choose_kubeconfig(getattr(args, "kubeconfig", None), os.environ.get("KUBECONFIG"), Path.home(),
                                   _in_cluster())
    except CLIError:
        if getattr(args, "kubeconfig", None) or getattr(args, "context", None):
            raise
        return "default"
    context = (select_context(read_kubeconfig(config), getattr(args, "context", None), config)
               if config.path is not None else {})
    return _namespace_of(args, context, config)


def _namespace_of(args: argparse.Namespace, context: dict[str, Any], config: Kubeconfig) -> str:
    in_cluster_ns = _in_cluster_namespace() if config.path is None else None
    return str(getattr(args, "namespace", None) or context.get("namespace") or in_cluster_ns or "default")


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


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and IN_CLUSTER_TOKEN.is_file()


def _in_cluster_namespace() -> str | None:
    try:
        return IN_CLUSTER_NAMESPACE.read_text().strip() or None
    except OSError:
        return None


def unreachable(host: str, cause: str, context: str | None, config: Kubeconfig) -> str:
    """kubectl's "The connection to the server … was refused", with the context and file that named it."""
    which = f'context "{context}" of {config.where}' if context else config.where
    return (f"cannot reach the API server {host} ({cause}), named by {which}; is the cluster running, and "
            "is this the right context?")


@contextmanager
def connect(args: argparse.Namespace) -> Iterator[Connection]:
    """A client for the chosen kubeconfig and context. Configuration problems and an API server that
    does not answer are one line naming the file, context and server, as kubectl's errors do."""
    from tfcontroller.kube.client import CONNECTION_FAILED, KubeClient

    config = choose_kubeconfig(getattr(args, "kubeconfig", None), os.environ.get("KUBECONFIG"), Path.home(),
                               _in_cluster())
    wanted = getattr(args, "context", None)
    context: dict[str, Any] = {}
    if config.path is not None:
        context = select_context(read_kubeconfig(config), wanted, config)
    try:
        client = KubeClient.load(config.path, wanted, static=True)
    except Exception as exc:  # noqa: BLE001 - the loaders raise several types; the operator needs one line
        raise CLIError(f"cannot use {config.where}: {exc}") from None
    namespace = _namespace_of(args, context, config)
    try:
        yield Connection(client, namespace, bool(getattr(args, "all_namespaces", False)))
    except Unauthorized:
        raise CLIError(unauthorized(client.host, context.get("user"), context.get("name"), config)) from None
    except ApiError as exc:
        if exc.reason != CONNECTION_FAILED:
            raise
        cause = failure_cause(exc.message, client.host)
        raise CLIError(unreachable(client.host, cause, context.get("name"), config)) from None
    finally:
        client.close()


_SSL_SOURCE = re.compile(r"\s*\(_ssl\.c:\d+\)")  # OpenSSL's source line, e.g. "(_ssl.c:1006)": no help to anyone


def failure_cause(message: str, host: str) -> str:
    """The cause inside the client's "…: cannot reach the API server HOST (CAUSE)": all of it, not just its
    last parenthesis (a TLS error ends in "(_ssl.c:1006)", which once was all the operator saw). Pure."""
    marker = f"cannot reach the API server {host} ("
    cause = message.split(marker, 1)[1][:-1] if marker in message and message.endswith(")") else message
    return _SSL_SOURCE.sub("", cause).strip() or message


def unauthorized(host: str, user: str | None, context: str | None, config: Kubeconfig) -> str:
    """kubectl's "You must be logged in to the server (Unauthorized)", saying whose credentials (the
    context's user) the server refused and where they came from, so the fix is clear. Pure."""
    whose = f'the credentials of user "{user}"' if user else "the credentials"
    which = f'context "{context}" of {config.where}' if context else config.where
    return (f"the API server {host} refused {whose} (Unauthorized), named by {which}; log in again or "
            "fix the user's credentials (token, client certificate) in the kubeconfig")


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
    """kubectl's short age: `45s`, `12m`, `5h`, `3d` (`api.times.short_age`, shared with the dashboard)."""
    return short_age(stamp, now)


def revision(obj: dict[str, Any]) -> str:
    """The revision a row shows (`api.meta.shown_revision`, shared with the dashboard)."""
    return shown_revision(obj)


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

