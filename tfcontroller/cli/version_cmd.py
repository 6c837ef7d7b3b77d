"""`tfcontroller version` and `tfcontroller --version`: which release this is and which API it serves.

The release is the installed distribution's version (importlib.metadata, so it is the one pip and the
wheel agree on, never a second copy in the code); the API is the group/version and kinds this release
reads and writes. Nothing here talks to a cluster, so it works without a kubeconfig.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tfcontroller.api.constants import (
    GITREPOSITORY_KIND,
    GROUP,
    MANIFESTSET_KIND,
    TERRAFORM_KIND,
    VERSION,
)

DISTRIBUTION = "tfcontroller"
KINDS = (GITREPOSITORY_KIND, TERRAFORM_KIND, MANIFESTSET_KIND)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("version", help="print the version of tfcontroller and the API it serves",
                                   description="Print the tfcontroller release and the API group/version "
                                               "and kinds it serves (no cluster needed).")
    parser.add_argument("-o", "--output", choices=["text", "json", "yaml"], default="text",
                        help="text (default), json or yaml")
    parser.set_defaults(func=run)


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def info() -> dict[str, Any]:
    return {"version": package_version(),
            "api": {"group": GROUP, "version": VERSION, "apiVersion": f"{GROUP}/{VERSION}", "kinds": list(KINDS)},
            "python": ".".join(str(p) for p in sys.version_info[:3])}


def text() -> str:
    doc = info()
    return (f"tfcontroller {doc['version']}\n"
            f"API: {doc['api']['apiVersion']} ({', '.join(doc['api']['kinds'])})\n")


def run(args: argparse.Namespace) -> int:
    if args.output == "json":
        sys.stdout.write(json.dumps(info(), indent=2) + "\n")
    elif args.output == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(info(), sort_keys=False))
    else:
        sys.stdout.write(text())
    return 0


class VersionAction(argparse.Action):
    """`--version`: `version`'s text, then exit 0 (argparse's own action would need the text up front,
    i.e. importlib.metadata on every start)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        sys.stdout.write(text())
        parser.exit(0)
