"""Requests to the controller (design.md §3): reconcile now, plan again, suspend and resume.

Each is an annotation or a spec field the controller reads, so they work with any RBAC that allows
patching the object, and do what a `kubectl annotate` would. A request goes with a new value of
`tfcontroller.io/requested-at` in the same patch: the controller echoes it into
`status.lastHandledRequestedAt` when the run that saw it ends, which is how a caller knows its request
was served (cli/waiting.py). A suspended object answers no request, so one is refused (409) instead of
waiting for nothing.
"""

from __future__ import annotations

from typing import Any

from tfcontroller.api.commands import cli_resume_command
from tfcontroller.api.constants import ANNOTATION_REPLAN, ANNOTATION_REQUESTED_AT
from tfcontroller.api.times import format_micro
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import Forbidden, NotFound
from tfcontroller.kube.resources import TERRAFORMS, Resource
from tfcontroller.kube.resources import object_label as label
from tfcontroller.operations.errors import CONFLICT, FORBIDDEN, NOT_FOUND, OperationRefused


def _get(client: KubeClient, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
    try:
        return client.get(resource, name, namespace)
    except NotFound:
        raise OperationRefused(f'{resource.kind} "{name}" not found in namespace "{namespace}"', NOT_FOUND) from None
    except Forbidden as exc:
        raise OperationRefused(f"the API server refused the request ({exc.reason}): {exc.message}",
                               FORBIDDEN) from None


def _patch(client: KubeClient, resource: Resource, namespace: str, name: str, patch: dict[str, Any]) -> None:
    try:
        client.patch(resource, name, patch, namespace)
    except NotFound:
        raise OperationRefused(f'{resource.kind} "{name}" not found in namespace "{namespace}"', NOT_FOUND) from None
    except Forbidden as exc:
        raise OperationRefused(f"the API server refused the request ({exc.reason}): {exc.message}",
                               FORBIDDEN) from None


def request(client: KubeClient, resource: Resource, namespace: str, name: str,
            annotations: dict[str, str] | None = None, value: str | None = None, *,
            queue_if_suspended: bool = False) -> str:
    """Send `annotations` with a new requested-at value (`value`, default now) in one patch; refused (409)
    for a suspended object, which no controller would answer — unless `queue_if_suspended` (a caller that
    does not wait: the request is then served when the object is resumed). Returns the requested-at value."""
    obj = _get(client, resource, namespace, name)
    if (obj.get("spec") or {}).get("suspend") and not queue_if_suspended:
        raise OperationRefused(f"{label(resource, name)} is suspended in namespace {namespace}; "
                               f"resume it first: {cli_resume_command(resource.kind, namespace, name)}", CONFLICT)
    value = value or format_micro()
    _patch(client, resource, namespace, name,
           {"metadata": {"annotations": {**(annotations or {}), ANNOTATION_REQUESTED_AT: value}}})
    return value


def request_reconcile(client: KubeClient, resource: Resource, namespace: str, name: str) -> str:
    """Reconcile the object now; returns the requested-at value the controller will echo."""
    return request(client, resource, namespace, name)


def request_replan(client: KubeClient, namespace: str, name: str, *, queue_if_suspended: bool = False) -> str:
    """Discard Terraform `namespace/name`'s pending plan and plan again; returns the value of both the
    replan and requested-at annotations (status.lastHandledReplan echoes it once re-planned)."""
    stamp = format_micro()
    return request(client, TERRAFORMS, namespace, name, {ANNOTATION_REPLAN: stamp}, stamp,
                   queue_if_suspended=queue_if_suspended)


def set_suspended(client: KubeClient, resource: Resource, namespace: str, name: str, suspend: bool) -> bool:
    """Set `spec.suspend`; returns whether it changed (False: it already was)."""
    obj = _get(client, resource, namespace, name)
    if bool((obj.get("spec") or {}).get("suspend")) == suspend:
        return False
    _patch(client, resource, namespace, name, {"spec": {"suspend": suspend}})
    return True
