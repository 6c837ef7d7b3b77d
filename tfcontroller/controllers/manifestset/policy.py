"""The pure decisions of the ManifestSet controller that are not about relations (deps.py): the digest
that tells drift from a new render, the ServiceAccount a ManifestSet applies as (issue 16:
`spec.serviceAccountName`, else `--default-service-account`, else none: the controller's identity) and
the user that is, and the words of an apply refused or cut short."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.controllers.manifestset.context import Obj

SERVICE_ACCOUNT_USER = "system:serviceaccount:{namespace}:{name}"


def desired_digest(objs: list[Obj]) -> str:
    """sha256 over the canonical JSON of the objects to apply (reveals nothing of their values)."""
    text = json.dumps(objs, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def service_account_user(namespace: str, name: str) -> str:
    return SERVICE_ACCOUNT_USER.format(namespace=namespace, name=name)


def applying_service_account(spec_name: str | None, default_name: str | None) -> str | None:
    """The ServiceAccount of the ManifestSet's own namespace to apply as; None: the controller itself."""
    return spec_name or default_name or None


def outputs_written(terraform: Obj) -> bool:
    """From a Terraform's *status* only (its OutputsWritten condition): used for a dependency in another
    namespace, whose outputs Secret the controller does not read on a ManifestSet's behalf."""
    return c.is_true((terraform.get("status") or {}).get("conditions") or [], c.OUTPUTS_WRITTEN)


def access_refused_message(user: str, refused: Sequence[str]) -> str:
    return (f"RBAC refuses {user} {len(refused)} object(s) of this render: " + "; ".join(refused)
            + "; nothing was applied and nothing pruned in this run: remove the object(s) from the render, "
            "or have an admin grant the ServiceAccount that access (a Role of its namespace; cluster-scoped "
            "objects and other namespaces need a cluster admin's binding)")


def applied_before(changes: Sequence[Any]) -> str:
    """What an apply that stopped part-way had already applied (Change.describe of each), for the message."""
    done = [ch.describe() for ch in changes]
    return ("applied before the failure: " + ", ".join(done)) if done else "nothing was applied in this run"
