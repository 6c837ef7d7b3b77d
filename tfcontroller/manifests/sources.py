"""Variables for substitution: `spec.substituteFrom` Secrets and ConfigMaps, then `spec.substitute`.

Precedence (as Flux's postBuild): sources in list order, later ones overriding earlier ones, and the
inline `substitute` map over all of them. A missing source that is not `optional` is an error naming it.
Secret values are decoded as UTF-8 and never appear in errors; `Variables.secrets` lists them so that
messages built after substitution (an API server's 422 may quote a substituted field) can be scrubbed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tfcontroller.api.refs import ValuesFrom
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.values import read_values


class SourceError(Exception):
    """A substituteFrom source could not be read."""


@dataclass(frozen=True)
class Variables:
    values: dict[str, str]
    secrets: tuple[str, ...] = ()  # the values read from Secrets


def merge_variables(sources: Iterable[Mapping[str, str]], inline: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for s in sources:
        out.update(s)
    out.update(inline)
    return out


def read_source(kube: KubeClient, namespace: str, ref: ValuesFrom) -> dict[str, str] | None:
    """The key/values of one source; None when it is missing and optional."""
    values = read_values(kube, namespace, ref.kind, ref.name)  # the reader Terraform inputs use too
    if values is None:
        if ref.optional:
            return None
        raise SourceError(
            f"substituteFrom {ref.kind} {namespace}/{ref.name} not found (mark it optional: true if it may be absent)"
        )
    return values


def read_variables(
    kube: KubeClient, namespace: str, refs: Iterable[ValuesFrom], inline: Mapping[str, str]
) -> Variables:
    found = [(r, read_source(kube, namespace, r)) for r in refs]
    secrets = tuple(v for r, f in found if f is not None and r.kind == "Secret" for v in f.values())
    return Variables(merge_variables([f for _, f in found if f is not None], inline), secrets)
