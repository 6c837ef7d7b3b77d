"""What a viewer does from the browser: approve the plan they look at, re-plan, reconcile, suspend, resume.

Every action is a POST carrying the session's CSRF token (checked by Flask-WTF before this code runs) and
goes through `tfcontroller.operations` — the same code as the CLI — with the viewer's client, so the API
server's RBAC is the judge: a 403 from it answers 403 with its message, and nothing was written. An
approval names the plan id the viewer was shown (the form's hidden `plan`): another plan pending, or the
object changed meanwhile, answers 409 and writes nothing. Success answers 303 to the object's page with
a flash message (post/redirect/get: a reload does not repeat the action).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from tfcontroller.dashboard.auth import current_viewer
from tfcontroller.kube.resources import GITREPOSITORIES, MANIFESTSETS, TERRAFORMS, Resource
from tfcontroller.operations.approval import Approver, approve
from tfcontroller.operations.control import request_reconcile, request_replan, set_suspended
from tfcontroller.operations.errors import OperationRefused

VIA_DASHBOARD = "dashboard"

bp = Blueprint("actions", __name__)

PAGE_OF = {TERRAFORMS.kind: "terraform_page", MANIFESTSETS.kind: "manifestset_page",
           GITREPOSITORIES.kind: "gitrepository_page"}
KINDS = {"terraform": TERRAFORMS, "manifestset": MANIFESTSETS, "gitrepository": GITREPOSITORIES}


def _back(resource: Resource, namespace: str, name: str, message: str) -> Response:
    flash(message)
    return redirect(url_for(PAGE_OF[resource.kind], namespace=namespace, name=name), 303)


def _label(resource: Resource, name: str) -> str:
    return f"{resource.kind} {name}"


@bp.post("/terraform/<namespace>/<name>/approve")
def approve_plan(namespace: str, name: str) -> Response:
    plan = (request.form.get("plan") or "").strip()
    if not plan:
        abort(400, "the approval names no plan: approve from the Terraform's page, which names the plan you see")
    viewer = current_viewer()
    obj = viewer.client.get(TERRAFORMS, name, namespace)
    approver = Approver(viewer.username, tuple(viewer.groups), VIA_DASHBOARD)
    approval = approve(viewer.client, obj, plan, approver)
    if approval.done:
        return _back(TERRAFORMS, namespace, name, f"Plan {approval.plan} {approval.done}.")
    note = " It is applied once the Terraform is resumed." if (obj.get("spec") or {}).get("suspend") else ""
    return _back(TERRAFORMS, namespace, name, f"Approved plan {approval.plan}.{note}")


@bp.post("/terraform/<namespace>/<name>/replan")
def replan(namespace: str, name: str) -> Response:
    request_replan(current_viewer().client, namespace, name)
    return _back(TERRAFORMS, namespace, name, "Re-plan requested: the pending plan is discarded and planned again.")


@bp.post("/<any(terraform, manifestset, gitrepository):kind>/<namespace>/<name>/reconcile")
def reconcile(kind: str, namespace: str, name: str) -> Response:
    resource = KINDS[kind]
    request_reconcile(current_viewer().client, resource, namespace, name)
    return _back(resource, namespace, name, f"Reconcile of {_label(resource, name)} requested.")


@bp.post("/<any(terraform, manifestset):kind>/<namespace>/<name>/<any(suspend, resume):verb>")
def suspend_or_resume(kind: str, namespace: str, name: str, verb: str) -> Response:
    resource = KINDS[kind]
    changed = set_suspended(current_viewer().client, resource, namespace, name, verb == "suspend")
    done = "suspended" if verb == "suspend" else "resumed"
    return _back(resource, namespace, name,
                 f"{_label(resource, name)} {done}." if changed else f"{_label(resource, name)} was already {done}.")


def refusal_status(exc: OperationRefused) -> int:
    """The HTTP status of a refused operation (its own, 409 when it names none usable). Pure."""
    return exc.status if exc.status in (400, 403, 404, 409) else 409

