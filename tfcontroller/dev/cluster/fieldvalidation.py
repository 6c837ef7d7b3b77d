"""Server-side field validation: what a write does with fields the server does not know.

Clients choose with `?fieldValidation=Strict|Warn|Ignore` on create, update and patch (kubectl 1.32
sends `Strict` because our OpenAPI v3 documents advertise the parameter; `--validate=false` sends
`Ignore`); without the parameter the real server warns. The unknown fields themselves are found
elsewhere — by schema pruning for custom objects (schema.py), along the real schemas for built-in kinds
(builtin.py), and by `metadata_unknown_fields` for the ObjectMeta of every kind — and the store never
keeps them. This module only turns a list of unknown field paths into the real server's answer for
the directive and the kind of request:

- create/update (the body is decoded): 400 `<Kind> in version "<v>" cannot be handled as a <Kind>:
  strict decoding error: unknown field "spec.bogus"`; warnings `unknown field "spec.bogus"`;
- JSON and merge patches: 400 `strict decoding error: unknown field "spec.bogus"`;
- server-side apply (the structured-merge-diff type check): 400 `failed to create typed patch object
  (<ns>/<name>; <group/version>, Kind=<Kind>): .spec.bogus: field not declared in schema`; warnings
  `.spec.bogus: field not declared in schema`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.dev.cluster import errors
from tfcontroller.dev.cluster.errors import ApiError

STRICT = "Strict"
WARN = "Warn"
IGNORE = "Ignore"
DIRECTIVES = (IGNORE, STRICT, WARN)

DECODE = "decode"  # create and update: the request body is decoded into the kind
PATCH = "patch"  # JSON patch and merge patch: the patched object is decoded
APPLY = "apply"  # server-side apply: the applied configuration is typed against the schema

# The fields of ObjectMeta (metav1.ObjectMeta) as served by every kind; anything else under
# `metadata` is dropped by the real server when it decodes the object.
OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields",
})


def typed_patch_error(obj: dict[str, Any], messages: list[str]) -> ApiError:
    """Server-side apply's 400 when the applied configuration does not fit the schema (structured-merge-
    diff's typing: unknown fields, values of the wrong type)."""
    meta = obj.get("metadata") or {}
    where = "/".join(p for p in (meta.get("namespace"), meta.get("name")) if p)
    api_version = str(obj.get("apiVersion", ""))
    group_version = api_version if "/" in api_version else f"/{api_version}"
    detail = messages[0] if len(messages) == 1 else "errors:\n  " + "\n  ".join(messages)
    return errors.bad_request(
        f"failed to create typed patch object ({where}; {group_version}, Kind={obj.get('kind', '')}): {detail}"
    )


def parse_directive(value: str | None) -> str:
    """The directive of a request; a missing parameter means Warn, as on the real server."""
    if not value:
        return WARN
    if value not in DIRECTIVES:
        supported = ", ".join(f'"{d}"' for d in DIRECTIVES)
        raise errors.bad_request(f'fieldValidation: Unsupported value: "{value}": supported values: {supported}')
    return value


def metadata_unknown_fields(obj: dict[str, Any]) -> list[str]:
    """Drop the keys of `obj["metadata"]` that ObjectMeta does not have; return their paths."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return []
    unknown = sorted(k for k in meta if k not in OBJECT_META_FIELDS)
    for key in unknown:
        del meta[key]
    return [f"metadata.{key}" for key in unknown]


@dataclass
class FieldValidation:
    """The directive of one write request and the warnings it collected (sent back as `Warning`
    response headers). `style` is the request shape (DECODE, PATCH or APPLY), set by the API verb."""

    directive: str = IGNORE
    style: str = DECODE
    warnings: list[str] = field(default_factory=list)

    def report(self, obj: dict[str, Any], unknown: list[str]) -> None:
        """Act on the unknown field paths of the object being written: raise under Strict, record
        warnings under Warn, nothing under Ignore (the fields are already gone)."""
        if not unknown or self.directive == IGNORE:
            return
        paths = sorted(set(unknown))
        if self.style == APPLY:
            messages = [f".{p}: field not declared in schema" for p in paths]
        else:
            messages = [f"unknown field {json.dumps(p)}" for p in paths]
        if self.directive == WARN:
            self.warnings.extend(m for m in messages if m not in self.warnings)
            return
        raise self._strict_error(obj, messages)

    def _strict_error(self, obj: dict[str, Any], messages: list[str]) -> ApiError:
        kind = str(obj.get("kind", ""))
        api_version = str(obj.get("apiVersion", ""))
        if self.style == APPLY:
            return typed_patch_error(obj, messages)
        strict = "strict decoding error: " + ", ".join(messages)
        if self.style == PATCH:
            return errors.bad_request(strict)
        version = api_version.rsplit("/", 1)[-1]
        return errors.bad_request(f"{kind} in version {json.dumps(version)} cannot be handled as a {kind}: {strict}")

    def warning_header(self) -> str | None:
        """The `Warning` header value (RFC 7234: code 299, agent `-`, quoted text; comma-separated
        when there are several, which client-go splits again)."""
        if not self.warnings:
            return None
        return ", ".join(f"299 - {json.dumps(w)}" for w in self.warnings)
