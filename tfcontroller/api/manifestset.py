"""Typed view of a ManifestSet (design.md §3): what to render, what to substitute, how to apply."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.constants import MANIFESTSET_KIND, TERRAFORM_KIND
from tfcontroller.api.errors import SpecError
from tfcontroller.api.fields import DNS_LABEL, DNS_SUBDOMAIN, Fields
from tfcontroller.api.meta import ObjectMeta
from tfcontroller.api.refs import ObjectRef, ValuesFrom, clean_path, parse_source_ref, parse_values_from

DEFAULT_TIMEOUT = 5 * 60.0
DEPENDENCY_KINDS = (TERRAFORM_KIND, MANIFESTSET_KIND)
VARIABLE_NAME = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")


@dataclass(frozen=True)
class ManifestSetSpec:
    source_ref: ObjectRef
    interval: float
    path: str = "."
    retry_interval: float = 0.0
    depends_on: tuple[ObjectRef, ...] = ()
    substitute: dict[str, str] = field(default_factory=dict)
    substitute_from: tuple[ValuesFrom, ...] = ()
    target_namespace: str | None = None
    prune: bool = False
    force: bool = False
    service_account_name: str | None = None
    wait: bool = False
    timeout: float = DEFAULT_TIMEOUT
    suspend: bool = False


@dataclass(frozen=True)
class ManifestSet:
    meta: ObjectMeta
    spec: ManifestSetSpec
    status: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> ManifestSet:
        if obj.get("kind", MANIFESTSET_KIND) != MANIFESTSET_KIND:
            raise SpecError("kind", f"expected {MANIFESTSET_KIND}, got {obj.get('kind')!r}")
        meta = ObjectMeta.from_dict(obj)
        return cls(meta, parse_spec(Fields.at(obj.get("spec"), "spec"), meta), dict(obj.get("status") or {}))

    @property
    def inventory(self) -> list[dict[str, str]]:
        inv = self.status.get("inventory")
        return list(inv) if isinstance(inv, list) else []


def parse_spec(f: Fields, meta: ObjectMeta) -> ManifestSetSpec:
    interval = f.duration("interval", required=True)
    assert interval is not None
    return ManifestSetSpec(
        source_ref=parse_source_ref(f, meta.namespace),
        interval=interval,
        path=clean_path(f),
        retry_interval=f.duration("retryInterval") or interval,
        depends_on=_depends_on(f, meta),
        substitute=_substitute(f),
        substitute_from=tuple(parse_values_from(f, "substituteFrom")),
        target_namespace=f.str("targetNamespace", pattern=DNS_LABEL, max_len=63),
        prune=f.bool("prune"),
        force=f.bool("force"),
        service_account_name=f.str("serviceAccountName", pattern=DNS_SUBDOMAIN, max_len=253),
        wait=f.bool("wait"),
        timeout=f.duration("timeout", default=DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT,
        suspend=f.bool("suspend"),
    )


def _depends_on(f: Fields, meta: ObjectMeta) -> tuple[ObjectRef, ...]:
    out = []
    for item in f.objects("dependsOn"):
        ref = ObjectRef(item.req_str("kind", enum=DEPENDENCY_KINDS), item.name("name") or "",
                        item.name("namespace", required=False, label=True) or meta.namespace)
        if (ref.kind, ref.namespace, ref.name) == (MANIFESTSET_KIND, meta.namespace, meta.name):
            raise SpecError(item.path, "a ManifestSet cannot depend on itself")
        out.append(ref)
    return tuple(out)


def _substitute(f: Fields) -> dict[str, str]:
    sub = f.obj("substitute")
    if sub is None:
        return {}
    out = {}
    for key, value in sub.data.items():
        if not VARIABLE_NAME.match(key):
            raise SpecError(sub.field(key), "variable names must match [_a-zA-Z][_a-zA-Z0-9]*")
        if not isinstance(value, str):
            raise SpecError(sub.field(key), f"must be a string, not {type(value).__name__}")
        out[key] = value
    return out
