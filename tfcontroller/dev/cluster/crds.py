"""CustomResourceDefinitions: check one, derive the resources it serves, compute its status.

The real apiextensions controller establishes a CRD asynchronously; here it happens in the same
write, so clients that wait for `Established` see it at once.
"""

from __future__ import annotations

import copy
from typing import Any

from tfcontroller.dev.cluster.meta import now
from tfcontroller.dev.cluster.resources import ResourceInfo

CRD_GROUP = "apiextensions.k8s.io"
CRD_PLURAL = "customresourcedefinitions"


def crd_problems(crd: dict[str, Any]) -> list[tuple[str, str]]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    problems: list[tuple[str, str]] = []
    group = spec.get("group") or ""
    if not group:
        problems.append(("spec.group", "Required value"))
    elif "." not in group:
        problems.append(("spec.group", f'Invalid value: "{group}": should be a domain with at least one dot'))
    for key in ("plural", "kind"):
        if not names.get(key):
            problems.append((f"spec.names.{key}", "Required value"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        problems.append(("spec.scope", f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", "Namespaced"'))
    versions = spec.get("versions") or []
    if not versions:
        problems.append(("spec.versions", "Required value: must have exactly one version marked as storage version"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        problems.append(("spec.versions", "Invalid value: must have exactly one version marked as storage version"))
    for i, version in enumerate(versions):
        if not version.get("name"):
            problems.append((f"spec.versions[{i}].name", "Required value"))
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is not None and not isinstance(schema, dict):
            problems.append((f"spec.versions[{i}].schema.openAPIV3Schema", "Invalid value: must be an object"))
    expected = f"{names.get('plural')}.{group}"
    name = (crd.get("metadata") or {}).get("name")
    if group and names.get("plural") and name != expected:
        problems.append(("metadata.name", f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group'))
    return problems


def accepted_names(crd: dict[str, Any]) -> dict[str, Any]:
    names: dict[str, Any] = copy.deepcopy(crd["spec"]["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", f"{names['kind']}List")
    return names


def resource_infos(crd: dict[str, Any]) -> list[ResourceInfo]:
    spec = crd["spec"]
    names = accepted_names(crd)
    infos = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        infos.append(
            ResourceInfo(
                group=spec["group"],
                version=version["name"],
                kind=names["kind"],
                plural=names["plural"],
                singular=names["singular"],
                namespaced=spec["scope"] == "Namespaced",
                short_names=list(names.get("shortNames") or []),
                categories=list(names.get("categories") or []),
                has_status="status" in (version.get("subresources") or {}),
                printer_columns=list(version.get("additionalPrinterColumns") or []),
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                list_kind=names["listKind"],
            )
        )
    return infos


def established_status(crd: dict[str, Any]) -> dict[str, Any]:
    """Status the apiextensions controllers would converge to; transition times kept when unchanged."""
    old = {c.get("type"): c for c in ((crd.get("status") or {}).get("conditions") or [])}
    stamp = now()

    def condition(ctype: str, reason: str, message: str) -> dict[str, Any]:
        prev = old.get(ctype)
        since = prev["lastTransitionTime"] if prev and prev.get("status") == "True" else stamp
        return {"type": ctype, "status": "True", "reason": reason, "message": message, "lastTransitionTime": since}

    storage = [v["name"] for v in crd["spec"]["versions"] if v.get("storage")]
    stored = list((crd.get("status") or {}).get("storedVersions") or [])
    for name in storage:
        if name not in stored:
            stored.append(name)
    return {
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": accepted_names(crd),
        "storedVersions": stored,
    }
