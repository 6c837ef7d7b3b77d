"""The readable form of the pending plan in Kubernetes: Secret `tfplanview-<workspace>-<name>`.

What it holds: the document of plan_view.py (resource changes with every sensitive value masked, counts,
output changes, variable *names*), gzip-compressed JSON, cut into chunks like the plan itself
(secret_chunks.py: `<name>-0`, `-1`, … above PLAN_CHUNK_BYTES), labelled like the plan Secret, annotated
with the plan id and owned by the Terraform, so it is garbage-collected with it.

Why a Secret and why not encrypted: it is what a reviewer reads to approve, so it must be readable without
Terraform, the providers or the controller's keys (`tfcontroller plan show`, the dashboard). Nothing in it
is sensitive — plan_view.py masks before anything is stored — but it does describe infrastructure, so it
sits where Kubernetes RBAC guards it like any Secret: whoever may read a namespace's Secrets may read it,
nobody else.

The controller writes it before the status names the plan, and deletes it wherever it deletes the plan
(plan_store.delete_plan removes both), so a reader that sees a pending plan id finds its view, and a view
never outlives its plan.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from tfcontroller.api.constants import ANNOTATION_PLAN_ID, GROUP, PLAN_CHUNK_BYTES, tfplanview_secret_name
from tfcontroller.kube.client import KubeClient
from tfcontroller.terraform.secret_chunks import (
    ChunkedSecret,
    cut,
    delete_chunked,
    main_secret,
    owner_reference,
    plan_labels,
    read_chunks,
    write_chunks,
)

DATA_KEY = "view"
LABEL_PLAN_VIEW_PART = f"{GROUP}/plan-view-part"


class PlanViewNotFoundError(Exception):
    """No readable plan stored for the expected plan id (none yet, deleted, replaced by a newer plan, or
    the plan was stored by a version that did not write one)."""


def _where(namespace: str, name: str, workspace: str) -> ChunkedSecret:
    return ChunkedSecret(namespace, name, workspace, tfplanview_secret_name(workspace, name), LABEL_PLAN_VIEW_PART,
                         DATA_KEY)


def encode_view(view: dict[str, Any]) -> bytes:
    """The document as stored: compact JSON, gzip (mtime 0, so the same view gives the same bytes). Pure."""
    return gzip.compress(json.dumps(view, separators=(",", ":"), sort_keys=True).encode(), mtime=0)


def decode_view(blob: bytes) -> dict[str, Any]:
    """Raises ValueError when the bytes are not a stored view (OSError from gzip included)."""
    try:
        doc = json.loads(gzip.decompress(blob))
    except (OSError, EOFError) as exc:
        raise ValueError(f"the stored readable plan is not gzip-compressed JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("the stored readable plan is not a JSON object")
    return doc


def save_plan_view(kube: KubeClient, obj: dict[str, Any], workspace: str, plan_id: str, view: dict[str, Any],
                   chunk_bytes: int = PLAN_CHUNK_BYTES) -> int:
    """Store `view` (plan_view.build_plan_view) for plan `plan_id` of the Terraform `obj`; returns the
    number of Secrets written (for delete_plan_view's `saved`)."""
    meta = obj["metadata"]
    ns, name = meta["namespace"], meta["name"]
    return write_chunks(kube, _where(ns, name, workspace), cut(encode_view(view), chunk_bytes), plan_id=plan_id,
                        labels=plan_labels(name, workspace), owner=[owner_reference(obj)])


def load_plan_view(kube: KubeClient, namespace: str, name: str, workspace: str,
                   plan_id: str | None = None) -> dict[str, Any]:
    """The readable plan stored for `plan_id` (whatever plan is stored, when None). PlanViewNotFoundError
    when there is none or it names another plan; ValueError when it does not decode. kube's Forbidden
    passes through (the reader may not read Secrets in this namespace)."""
    where = _where(namespace, name, workspace)
    main = main_secret(kube, where, plan_id)
    if main is None:
        raise PlanViewNotFoundError(f"no readable plan stored{f' for plan {plan_id}' if plan_id else ''}")

    def missing(i: int) -> Exception:
        return PlanViewNotFoundError(f"chunk {i} of the readable plan {plan_id or ''} is missing (replaced meanwhile)")

    try:
        view = decode_view(b"".join(read_chunks(kube, where, main, missing)))
    except ValueError:
        if main_secret(kube, where, _plan_of(main)) is None:  # replaced while its chunks were read
            raise missing(0) from None
        raise
    if plan_id is not None and view.get("planId") != plan_id:
        raise PlanViewNotFoundError(f"the readable plan stored is of plan {view.get('planId')}, not {plan_id}")
    return view


def _plan_of(secret: dict[str, Any]) -> str:
    return str(((secret.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_PLAN_ID) or "")


def delete_plan_view(kube: KubeClient, namespace: str, name: str, workspace: str, saved: int | None = None) -> None:
    """Remove the readable plan and its chunks. `saved`: what save_plan_view returned in this same run
    (its chunks are then deleted by name, without listing)."""
    delete_chunked(kube, _where(namespace, name, workspace), saved)
