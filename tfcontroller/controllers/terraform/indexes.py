"""The field indexes the Terraform controller's watches use: a GitRepository change re-enqueues the
Terraforms whose `sourceRef` names it; a Terraform change re-enqueues those that `dependsOn` it (and a
deletion waits for those). Pure functions of the object."""

from __future__ import annotations

from typing import Any

INDEX_SOURCE = "sourceRef"
INDEX_DEPENDS_ON = "dependsOn"


def source_index(obj: dict[str, Any]) -> list[str]:
    spec = obj.get("spec") or {}
    ref = spec.get("sourceRef") or {}
    ns = ref.get("namespace") or (obj.get("metadata") or {}).get("namespace") or "default"
    return [f"{ns}/{ref['name']}"] if ref.get("name") else []


def depends_on_index(obj: dict[str, Any]) -> list[str]:
    own_ns = (obj.get("metadata") or {}).get("namespace") or "default"
    return [f"{d.get('namespace') or own_ns}/{d['name']}" for d in (obj.get("spec") or {}).get("dependsOn") or []
            if isinstance(d, dict) and d.get("name")]


INDEX_PENDING_PLAN = "pendingPlan"
ALL_NAMESPACES = "*"


def pending_plan_index(obj: dict[str, Any]) -> list[str]:
    """Issue 18: the Terraforms with a pending plan, by namespace and under "*": a PlanPolicy change
    re-checks only those (of its namespace; of every namespace for a cluster-wide one), never plans."""
    if not str(((obj.get("status") or {}).get("plan") or {}).get("pending") or ""):
        return []
    return [str((obj.get("metadata") or {}).get("namespace") or "default"), ALL_NAMESPACES]


def policy_scope(controller_namespace: str) -> Any:
    """The pending-plan index value a PlanPolicy reaches: its namespace, or all for the controller's."""
    def value(policy: dict[str, Any]) -> str:
        ns = str((policy.get("metadata") or {}).get("namespace") or "default")
        return ALL_NAMESPACES if ns == controller_namespace else ns

    return value


def exception_target(exc: dict[str, Any]) -> list[str]:
    """A PolicyException re-checks the Terraform it names (its own namespace only)."""
    ns = (exc.get("metadata") or {}).get("namespace") or "default"
    name = ((exc.get("spec") or {}).get("terraformRef") or {}).get("name")
    return [f"{ns}/{name}"] if name else []
