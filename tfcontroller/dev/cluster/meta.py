"""ObjectMeta rules: name and label validation, generated names, timestamps, the spec/metadata split
that decides whether `metadata.generation` moves.
"""

from __future__ import annotations

import copy
import random
import re
from datetime import UTC, datetime
from typing import Any

from tfcontroller.dev.cluster.resources import ResourceInfo

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# Same alphabet as apimachinery's utilrand: no vowels, so generated names never spell words.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generated_name(prefix: str) -> str:
    return prefix + "".join(random.choice(_NAME_ALPHABET) for _ in range(5))


def name_problems(info: ResourceInfo, name: str) -> list[str]:
    """Why `name` is not acceptable for this resource (empty when it is)."""
    if info.group == "rbac.authorization.k8s.io":  # RBAC names are path segments ("system:foo")
        if name in (".", "..") or "/" in name or "%" in name:
            return ["may not contain '/' or '%' and may not be '.' or '..'"]
        return []
    if info.plural == "namespaces" and info.group == "":
        if len(name) > 63 or not _DNS_LABEL.match(name):
            return ["a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                    "and must start and end with an alphanumeric character"]
        return []
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        return ["a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                "'.', and must start and end with an alphanumeric character"]
    return []


def _key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return bool(name) and len(name) <= 63 and bool(_QUALIFIED_NAME.match(name))


def metadata_problems(meta: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict):
        return [("metadata.labels", "Invalid value: must be a map of strings")]
    for key, value in labels.items():
        if not _key_ok(str(key)):
            problems.append(("metadata.labels", f'Invalid value: "{key}": name part must consist of alphanumeric '
                             "characters, '-', '_' or '.', and must start and end with an alphanumeric character"))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            problems.append(("metadata.labels", f'Invalid value: "{value}": a valid label must be an empty string '
                             "or consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                             "an alphanumeric character"))
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, dict) or any(not isinstance(v, str) for v in annotations.values()):
        problems.append(("metadata.annotations", "Invalid value: annotation values must be strings"))
    else:
        for key in annotations:
            if not _key_ok(str(key)):
                problems.append(("metadata.annotations", f'Invalid value: "{key}": must be a qualified name'))
    return problems


def spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything generation tracks: the object without metadata, status and type fields."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def without_volatile(obj: dict[str, Any]) -> dict[str, Any]:
    """The object minus what every write changes anyway, to detect no-op writes."""
    out = copy.deepcopy(obj)
    meta = out.get("metadata", {})
    meta.pop("resourceVersion", None)
    for entry in meta.get("managedFields") or []:
        entry.pop("time", None)  # a re-apply of the same values is still a no-op
    return out
