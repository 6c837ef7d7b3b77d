"""`tfcontroller run`: start the manager with every controller until SIGTERM/SIGINT.

Flags are declared in `add_run_arguments(parser)` and turned into `ControllerOptions` by
`options_from_args(args)`: the manager's own flags here, then each controller's, which its package
declares (`add_run_arguments(parser)`) and turns into its typed options (`options_from_args(args)`).
Flag values are checked while parsing, so a bad one (an address that is not HOST:PORT, a missing
kubeconfig) gives argparse's single error line and exit code 2 before anything starts.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the controllers are imported when `run` runs, not to build the CLI's parser
    from tfcontroller.controllers.setup import ControllerOptions

DEFAULT_ARTIFACT_ADDR = ":9090"
DEFAULT_METRICS_ADDR = ":8080"
DEFAULT_HEALTH_ADDR = ":9440"


def address(value: str) -> str:
    """HOST:PORT (HOST may be empty for every interface; `[::1]:80` for IPv6; port 0 picks one)."""
    from tfcontroller.runtime.httpserve import parse_addr  # imported when `run` parses its flags

    try:
        _, port = parse_addr(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r}: port must be 0-65535")
    return value


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be greater than 0")
    return number


def existing_file(value: str) -> str:
    if not os.path.isfile(value):
        raise argparse.ArgumentTypeError(f"no such file: {value!r}")
    return value


def artifact_entries(value: str) -> int:
    """`--artifact-max-entries`' type: a whole number up to the hard ceiling (api/artifact_bounds.py)."""
    from tfcontroller.api.artifact_bounds import parse_entries

    try:
        return parse_entries(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def artifact_bytes(value: str) -> int:
    """`--artifact-max-bytes`' type: bytes, or with a unit (512Mi, 1Gi), up to the hard ceiling."""
    from tfcontroller.api.artifact_bounds import parse_bytes

    try:
        return parse_bytes(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def optional_address(value: str) -> str | None:
    """An address, or `0`/empty to disable the server (as controller-runtime's `--metrics-bind-address=0`)."""
    if value in ("", "0"):
        return None
    return address(value)


_CORE: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--kubeconfig",), dict(type=existing_file, default=None,
                             help="kubeconfig file (default: in-cluster config, else $KUBECONFIG, else ~/.kube/config)")),
    (("--context",), dict(default=None, help="kubeconfig context (default: its current context)")),
    (("--namespace",), dict(default=None, help="watch only this namespace (default: all namespaces)")),
    (("--concurrent",), dict(type=positive_int, default=4, help="reconciles in parallel per kind (default 4)")),
    (("--watch-label-selector",), dict(default=None,
                                       help="only reconcile objects matching this label selector (sharding)")),
    (("--artifact-dir",), dict(default=None, help="where artifacts and git mirrors are kept")),
    (("--artifact-addr",), dict(type=optional_address, default=DEFAULT_ARTIFACT_ADDR,
                                help=f"serve artifacts at HOST:PORT, 0 to disable (default {DEFAULT_ARTIFACT_ADDR})")),
    (("--artifact-base-url",), dict(default=None,
                                    help="URL prefix advertised in status.artifact.url (default: the server's)")),
    (("--artifact-max-entries",), dict(type=artifact_entries, default=None, metavar="N",
                                       help="files, links and directories an artifact may hold, where it is packed "
                                            "and wherever it is read (default: $TFCONTROLLER_ARTIFACT_MAX_ENTRIES, "
                                            "else 5000; at most 200000)")),
    (("--artifact-max-bytes",), dict(type=artifact_bytes, default=None, metavar="SIZE",
                                     help="bytes of file content an artifact may hold, e.g. 1Gi (default: "
                                          "$TFCONTROLLER_ARTIFACT_MAX_BYTES, else 256Mi; at most 4Gi)")),
    (("--metrics-addr",), dict(type=optional_address, default=DEFAULT_METRICS_ADDR,
                               help=f"serve /metrics at HOST:PORT, 0 to disable (default {DEFAULT_METRICS_ADDR})")),
    (("--health-addr",), dict(type=optional_address, default=DEFAULT_HEALTH_ADDR,
                              help=f"serve /healthz and /readyz at HOST:PORT (default {DEFAULT_HEALTH_ADDR})")),
    (("--leader-elect",), dict(action="store_true", help="run only while holding the leader Lease")),
    (("--lease-name",), dict(default="tfcontroller-leader", help="name of the leader-election Lease")),
    (("--lease-namespace",), dict(default=None,
                                  help="namespace of the Lease (default: --namespace, else the pod's, else default)")),
    (("--retry-base",), dict(type=positive_float, default=1.0, help="first retry delay in seconds (default 1)")),
    (("--retry-cap",), dict(type=positive_float, default=300.0, help="longest retry delay in seconds (default 300)")),
    (("--shutdown-grace",), dict(type=positive_float, default=30.0,
                                 help="seconds running reconciles get to finish on SIGTERM (default 30)")),
]




def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `tfcontroller run`: the manager's, then each controller's."""
    from tfcontroller.controllers.setup import add_controller_arguments

    for flags, kwargs in _CORE:
        parser.add_argument(*flags, **kwargs)
    add_controller_arguments(parser)


def _pod_namespace() -> str | None:
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def artifact_bounds_from_args(args: argparse.Namespace, environ: Any) -> Any:
    """The artifact bounds: the flags, else the environment variables, else the defaults
    (api/artifact_bounds.py). A bad environment value stops the command as a bad flag does (exit 2)."""
    import dataclasses

    from tfcontroller.api.artifact_bounds import ArtifactBounds

    try:
        bounds = ArtifactBounds.from_env(environ)
    except ValueError as exc:
        raise SystemExit(f"tfcontroller run: error: {exc}") from None
    values = vars(args)
    entries, size = values.get("artifact_max_entries"), values.get("artifact_max_bytes")
    return dataclasses.replace(bounds, **({"max_entries": entries} if entries else {}),
                               **({"max_bytes": size} if size else {}))


def options_from_args(args: argparse.Namespace) -> ControllerOptions:
    from tfcontroller.controllers.setup import ControllerOptions, controller_options_from_args

    values = vars(args)
    opts = ControllerOptions(
        kubeconfig=args.kubeconfig,
        context=args.context,
        namespace=args.namespace,
        concurrent=args.concurrent,
        watch_label_selector=args.watch_label_selector,
        artifact_addr=args.artifact_addr,
        artifact_base_url=args.artifact_base_url,
        artifact_bounds=artifact_bounds_from_args(args, os.environ),
        metrics_addr=args.metrics_addr,
        health_addr=args.health_addr,
        leader_elect=args.leader_elect,
        lease_name=args.lease_name,
        lease_namespace=args.lease_namespace or args.namespace or _pod_namespace() or "default",
        retry_base=args.retry_base,
        retry_cap=max(args.retry_cap, args.retry_base),
        shutdown_grace=args.shutdown_grace,
        log_level=values.get("log_level") or "info",
        **controller_options_from_args(args),
    )
    if args.artifact_dir:
        opts.artifact_dir = args.artifact_dir
    return opts


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run", help="run the controller manager (GitRepository, Terraform, ManifestSet)",
        description="Run the controllers until SIGTERM or SIGINT, then shut down gracefully.",
        declare=add_run_arguments,  # the controllers' flags: imported only when `run` is the command
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tfcontroller.controllers.setup import build_manager

    manager = build_manager(options_from_args(args))
    return manager.run()
